"""The Python API: the docs' notebook example runs, and results match the CLI's store."""

from __future__ import annotations

import os
import re
import runpy
from pathlib import Path

import pytest

import recbench
from recbench.errors import UsageError

from .helpers import REPO

EXAMPLE = REPO / "examples" / "notebook.py"


def test_notebook_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RECBENCH_DATA", str(tmp_path))
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    assert "best NDCG@" in out and "baseline[n_epochs=10]" in out
    runs = recbench.runs(tmp_path)
    assert list(runs["kind"]) == ["compare", "run"]
    assert list(runs["status"]) == ["complete", "complete"]


@pytest.mark.parametrize("page", ["docs/guides/studies.md", "README.md"])
def test_shown_example_is_the_tested_one(page: str) -> None:
    """The API example the studies guide shows (and the README, if it shows one) is
    examples/notebook.py verbatim."""
    text = (REPO / page).read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    api_blocks = [b for b in blocks if "recbench.compare(" in b]
    if not api_blocks:
        assert page == "README.md", f"{page} lost its Python API example"
        pytest.skip("the README shows no Python API example (the studies guide does)")
    body = "\n".join(
        line for line in EXAMPLE.read_text().splitlines() if not line.startswith("# A notebook")
    ).strip()
    assert api_blocks[0].strip() == body


def test_result_object(tmp_path: Path) -> None:
    res = recbench.compare("popularity", k=5, data_dir=tmp_path, store=False)
    assert res.run_id is None
    assert recbench.runs(tmp_path).empty
    summ = res.summary()
    assert set(summ["metric"]) >= {"ndcg", "precision"}
    assert "<table" in res._repr_html_()
    assert "popularity" in res.table()
    with pytest.raises(UsageError, match="table must be"):
        res.to_frame("nope")


def test_bad_input_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"algorithms\[0\]\.name"):
        recbench.compare(["svdd"], data_dir=tmp_path)
    assert not (tmp_path / "runs").exists()


def test_lazy_import_keeps_import_fast() -> None:
    import subprocess
    import sys

    code = "import recbench, sys; print('recbench.api' in sys.modules)"
    env = {**os.environ}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "False"
