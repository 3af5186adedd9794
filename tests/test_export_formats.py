"""`runs export --to csv|jsonl|json|parquet` (tidy rows for notebooks) and `recbench --version`
naming the extras."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pandas as pd
import pytest

from recbench.extras import USES, extras, version_text
from recbench.store import Store

from .helpers import run_cli


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A recorded two-fold compare of one fast algorithm."""
    root = tmp_path_factory.mktemp("export")
    res = subprocess.run(
        [sys.executable, "-m", "recbench", "-q", "compare", "--algos", "popularity,random",
         "--split", "kfold:2"],
        env={**os.environ, "RECBENCH_DATA": str(root)},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    return root


def _stored(data: Path, table: str = "results") -> pd.DataFrame:
    store = Store.in_data_dir(data)
    return store.table(store.get("latest"), table)


def test_each_format_holds_the_stored_rows(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stored = _stored(data)
    lines = run_cli(["runs", "export", "latest", "--to", "jsonl"], capsys, data)
    assert lines.code == 0, lines.err
    rows = [json.loads(line) for line in lines.out.splitlines()]
    assert len(rows) == len(stored) and rows[0].keys() == set(stored.columns)
    assert [r["value"] for r in rows] == stored["value"].tolist()

    text = run_cli(["runs", "export", "latest", "--to", "csv"], capsys, data)
    assert pd.read_csv(io.StringIO(text.out))["value"].tolist() == stored["value"].tolist()

    pq = tmp_path / "rows.data"  # --to wins over the suffix
    res = run_cli(["runs", "export", "latest", "--to", "parquet", "-o", str(pq)], capsys, data)
    assert res.code == 0, res.err
    back = pd.read_parquet(pq)
    pd.testing.assert_frame_equal(back, stored.reset_index(drop=True), check_dtype=False)

    per_user = tmp_path / "pu.jsonl"  # by suffix
    res = run_cli(["runs", "export", "latest", "--table", "per_user", "-o", str(per_user)],
                  capsys, data)  # fmt: skip
    assert res.code == 0, res.err
    assert len(per_user.read_text().splitlines()) == len(_stored(data, "per_user"))

    doc = json.loads(run_cli(["runs", "export", "latest", "--to", "json"], capsys, data).out)
    assert doc["manifest"]["status"] == "complete" and len(doc["results"]) == len(stored)


def test_bad_formats_are_one_line(data: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "rows.xlsx"
    res = run_cli(["runs", "export", "latest", "-o", str(out)], capsys, data)
    assert res.code == 2 and "--to FORMAT" in res.err and not out.exists()
    res = run_cli(["runs", "export", "latest", "--to", "mlflow", "-o", "x.csv"], capsys, data)
    assert res.code == 2 and "--output does not apply" in res.err


def test_version_names_every_extra_and_what_it_enables() -> None:
    found = extras()
    if found is None:
        pytest.skip("recbench is not installed (source tree on PYTHONPATH)")
    declared = set(metadata.metadata("recbench").get_all("Provides-Extra") or [])
    assert {e.name for e in found} == declared
    assert {"deep", "scale", "mlflow"} <= declared
    text = version_text()
    for e in found:
        line = next(x for x in text.splitlines() if x.split()[:1] == [e.name])
        assert ("installed" in line) == e.installed
        if e.name in USES:
            assert USES[e.name] in line
        for pkg in e.missing:
            assert pkg in line
    res = subprocess.run(
        [sys.executable, "-m", "recbench", "--version"], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0 and res.stdout.strip() == text


def test_a_missing_package_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """An extra whose package is absent says which one (found from the requirement's marker)."""
    real = metadata.version

    def version(dist: str) -> str:
        if dist == "torch":
            raise metadata.PackageNotFoundError(dist)
        return real(dist)

    monkeypatch.setattr(metadata, "version", version)
    found = extras()
    if found is None:
        pytest.skip("recbench is not installed")
    deep = next(e for e in found if e.name == "deep")
    assert deep.missing == ("torch",) and not deep.installed
    assert "missing: torch" in version_text()
