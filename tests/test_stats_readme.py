"""``make readme-tables`` (benchmarks/readme_tables.py): the marker blocks exist in the README
and the docs pages it rewrites, and the block renderers turn real (tiny) compare documents into
their text. The ml-100k run
itself is not repeated here; it takes minutes."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from recbench.evaluation import EvalConfig
from recbench.executors import run_cells
from recbench.experiment import AlgoSpec, ExperimentResult, run_repeats
from recbench.render import to_json
from recbench.render.tables import table_text
from recbench.significance import StatsOptions, analyse
from recbench.split import parse_split

from .helpers import checkerboard

REPO = Path(__file__).resolve().parent.parent
BLOCKS = ("demo", "parity", "stats")
#: where each block lives (the script's own TARGETS must say the same)
WHERE = [
    ("demo", "README.md"),
    ("demo", "docs/getting-started.md"),
    ("parity", "docs/results/surprise.md"),
    ("stats", "docs/guides/trustworthy.md"),
]


@pytest.fixture(scope="module")
def script() -> ModuleType:
    path = REPO / "benchmarks" / "readme_tables.py"
    spec = importlib.util.spec_from_file_location("readme_tables", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["readme_tables"] = mod
    spec.loader.exec_module(mod)
    return mod


def _doc(res: ExperimentResult, opts: StatsOptions) -> dict[str, Any]:
    res.stats = analyse(res, opts)
    return to_json(res)


@pytest.mark.parametrize(("name", "where"), WHERE)
def test_each_target_has_its_marker_pair_once(name: str, where: str) -> None:
    text = (REPO / where).read_text(encoding="utf-8")
    begin, end = f"<!-- readme-tables:{name} begin -->", f"<!-- readme-tables:{name} end -->"
    assert text.count(begin) == 1 and text.count(end) == 1
    assert text.index(begin) < text.index(end)


def test_targets_cover_every_block(script: ModuleType) -> None:
    assert sorted((n, w) for n, ws in script.TARGETS.items() for w in ws) == sorted(WHERE)
    assert set(script.TARGETS) == set(BLOCKS)


def test_replace_block(script: ModuleType) -> None:
    text = "a\n<!-- readme-tables:x begin -->\nold\n<!-- readme-tables:x end -->\nb\n"
    new = script.replace_block(text, "x", "new 1\nnew 2\n")
    assert (
        new == "a\n<!-- readme-tables:x begin -->\nnew 1\nnew 2\n<!-- readme-tables:x end -->\nb\n"
    )
    assert script.replace_block(new, "x", "new 1\nnew 2") == new  # idempotent
    with pytest.raises(SystemExit, match="exactly one"):
        script.replace_block("no markers", "x", "body")


def test_blocks_render_a_tiny_case(script: ModuleType) -> None:
    ds = checkerboard(40, 30)
    cfg = EvalConfig(ks=(10,))
    algos = [AlgoSpec("popularity"), AlgoSpec("random")]

    def once(seed: int) -> ExperimentResult:
        return run_cells(ds, parse_split("holdout:0.3"), algos, seed, cfg)

    single = once(0)
    doc = _doc(single, StatsOptions(baseline="popularity"))
    wil = _doc(once(0), StatsOptions(baseline="popularity", test="wilcoxon"))
    rep = _doc(run_repeats(once, seed=0, repeats=3), StatsOptions(baseline="popularity"))
    text = table_text(single, ("precision", "recall", "ndcg"))
    block = script.stats_block(doc, text, wil, rep)
    assert "--baseline popularity`:" in block
    assert "\n algorithm" in block and "random" in block
    flat = " ".join(block.split())
    assert "±: half-width of the interval, 95% BCa over" in flat
    assert "Holm-adjusted p on NDCG@10 against POPULARITY (randomization test): random " in flat
    assert "95% corrected t over 3 repeats [" in flat
    assert "(per repeat " in flat and "The paired test is the corrected t too: random" in flat
    prose = [ln for ln in block.splitlines() if not ln.startswith((" ", "`"))]
    assert max(len(ln) for ln in prose) <= 100

    kfold = run_cells(ds, parse_split("kfold:3"), [AlgoSpec("baseline"), AlgoSpec("svd")], 0, cfg)
    table = script.parity_block(_doc(kfold, StatsOptions()))
    lines = table.splitlines()
    assert lines[0] == "| algorithm | RMSE (recbench) | MAE (recbench) | Surprise README |"
    assert lines[2].startswith("| baseline | ") and lines[2].endswith(" | 0.944 / 0.748 |")
    assert lines[3].endswith(" | 0.934 / 0.737 |")
    assert " ± " in lines[2]
    assert lines[-1] == "±: half-width of the interval, 95% t over 3 folds."
    demo = script.demo_block("\n  title\n\n" + text + "\nwrote x\n")
    assert demo.startswith("```\n  title") and demo.endswith("```") and "wrote" not in demo


def test_main_rewrites_every_target(
    script: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One block into each of its files, the others untouched; a file without the markers
    stops the run before anything is written."""
    for _, where in WHERE:
        (tmp_path / where).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / where).write_text((REPO / where).read_text(encoding="utf-8"))
    monkeypatch.setattr(script, "REPO", tmp_path)
    monkeypatch.setattr(script, "build", lambda only, tmp: {"demo": "```\nNEW DEMO\n```"})
    assert script.main(["--only", "demo"]) == 0
    for name, where in WHERE:
        text = (tmp_path / where).read_text(encoding="utf-8")
        assert ("NEW DEMO" in text) == (name == "demo")
    (tmp_path / "docs/getting-started.md").write_text("no markers\n")
    readme = (tmp_path / "README.md").read_text(encoding="utf-8")
    monkeypatch.setattr(script, "build", lambda only, tmp: {"demo": "```\nNEWER\n```"})
    with pytest.raises(SystemExit, match=r"docs/getting-started\.md needs exactly one"):
        script.main(["--only", "demo"])
    assert (tmp_path / "README.md").read_text(encoding="utf-8") == readme
