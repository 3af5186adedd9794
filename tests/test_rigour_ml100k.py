"""Issue 9 acceptance on real data: ml-100k from ../shared (skipped when absent).

The comparison of the issue (``--split user-holdout:0.25 --algos
ease,item-knn,user-knn,als,popularity --baseline ease``), run once through the CLI with the
beyond-accuracy metrics coverage and novelty added to the table, then checked for marks,
adjusted p-values, intervals in every cell and the beyond-accuracy ordering; and ``--repeats 5``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from recbench.render import JSON_SCHEMA

from .helpers import ML100K

pytestmark = [
    pytest.mark.ml100k,
    pytest.mark.slow,
    pytest.mark.skipif(not ML100K.exists(), reason="shared ml-100k is not present"),
]

DATA = ["-d", str(ML100K), "--columns", "user,item,rating,timestamp", "--sep", "\\t"]
SPLIT = ["--split", "user-holdout:0.25"]
ALGOS = "ease,item-knn,user-knn,als,popularity"


def _compare(args: list[str], data_dir: Path, out: Path) -> tuple[dict[str, Any], str]:
    """Run compare in process writing JSON to ``out``; (document, table text on stdout)."""
    import contextlib
    import io

    from recbench.cli.app import main

    buf = io.StringIO()
    os.environ["RECBENCH_DATA"] = str(data_dir)
    try:
        with contextlib.redirect_stdout(buf):
            try:
                main(["compare", *DATA, *SPLIT, "--no-store", *args, "-o", str(out)])
            except SystemExit as exc:
                assert not exc.code, exc.code
    finally:
        os.environ.pop("RECBENCH_DATA", None)
    return json.loads(out.read_text()), buf.getvalue()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def acceptance(data_dir: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    metrics = "rmse,mae,precision,recall,ndcg,coverage,novelty"
    out = tmp_path_factory.mktemp("out") / "r.json"
    return _compare(["--algos", ALGOS, "--baseline", "ease", "--metrics", metrics], data_dir, out)


def _metrics(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["name"]: a["metrics"] for a in doc["algorithms"]}


def test_ease_is_significantly_better_than_als_and_popularity(acceptance) -> None:  # type: ignore[no-untyped-def]
    doc, table = acceptance
    jsonschema.validate(doc, JSON_SCHEMA)
    m = _metrics(doc)
    for algo in ("als", "popularity"):
        comp = m[algo]["ndcg@10"]["comparison"]
        assert comp["baseline"] == "ease" and comp["verdict"] == "worse"
        assert comp["p_adjusted"] < 1e-3
        assert comp["diff_high"] < 0  # the whole interval of the paired difference is below 0
    assert "comparison" not in m["ease"]["ndcg@10"]
    assert "▼" in table and "significantly better / worse than ease" in " ".join(table.split())


def test_every_cell_has_an_interval_in_json_and_table(acceptance) -> None:  # type: ignore[no-untyped-def]
    doc, table = acceptance
    n_cells = 0
    for name, metrics in _metrics(doc).items():
        for key, cell in metrics.items():
            if key.startswith("coverage"):  # aggregate: one value on a single split
                assert cell["ci"]["method"] == "none" and cell["ci"]["low"] is None
                continue
            ci = cell["ci"]
            assert ci["method"] == "bootstrap-bca" and ci["over"] == "users", (name, key)
            assert ci["low"] < cell["mean"] < ci["high"], (name, key)
            if key.partition("@")[0] in ("rmse", "mae", "precision", "recall", "ndcg", "novelty"):
                n_cells += 1
    # every shown cell with per-user values shows its ±; one more in the caption's legend
    flat = " ".join(table.split())
    assert table.count("±") == n_cells + 1 and "±: half-width of the interval, 95% BCa over" in flat


def test_popularity_has_the_lowest_coverage_and_novelty_and_random_the_highest_coverage(
    acceptance, data_dir: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    doc, _ = acceptance
    m = _metrics(doc)
    for key in ("coverage@10", "novelty@10"):
        values = {a: v[key]["mean"] for a, v in m.items()}
        assert min(values, key=values.__getitem__) == "popularity", values
    rnd, _ = _compare(
        ["--algos", "random", "--metrics", "coverage", "--no-ci"], data_dir, tmp_path / "r.json"
    )
    random_cov = _metrics(rnd)["random"]["coverage@10"]["mean"]
    assert random_cov > max(v["coverage@10"]["mean"] for v in m.values())
    assert random_cov > 0.9


def test_repeats_report_eases_interval_over_repeats(data_dir: Path, tmp_path: Path) -> None:
    args = ["--algos", "ease,popularity", "--baseline", "ease", "--repeats", "5"]
    doc, table = _compare(args, data_dir, tmp_path / "r.json")
    cell = _metrics(doc)["ease"]["ndcg@10"]
    ci = cell["ci"]
    assert ci["method"] == "corrected-t" and ci["over"] == "repeats" and ci["n"] == 5
    assert ci["kind"] == "95% corrected t over 5 repeats"
    assert ci["low"] < cell["mean"] < ci["high"]
    # issue 22's audit computed the Nadeau-Bengio interval independently: ±0.0086 (plain t over
    # the repeats ±0.0053, per-user BCa on one split ±0.017)
    assert (ci["high"] - ci["low"]) / 2 == pytest.approx(0.0086, abs=5e-5)
    assert len(cell["folds"]) == 5 and 0.46 < min(cell["folds"]) <= max(cell["folds"]) < 0.50
    assert doc["statistics"]["repeats"] == 5 and doc["statistics"]["test"] == "corrected-t"
    assert "repeated 5 times with seeds 0..4" in doc["protocol"]["description"]
    assert "95% corrected t over 5 repeats" in " ".join(table.split())
    comp = _metrics(doc)["popularity"]["ndcg@10"]["comparison"]
    assert comp["verdict"] == "worse" and comp["test"] == "corrected-t" and comp["n_runs"] == 5
