"""Results store: kill -9 and resume, atomic cells, runs list/show/diff/rm/export, --no-store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import recbench
from recbench.store import Store
from recbench.study import load_study, make_plan

from .helpers import REPO, run_cli

STUDY = """\
name = "resume"
splits = ["kfold:5"]
k = [5, 10]

[[algorithms]]
name = "popularity"

[[algorithms]]
name = "baseline"

[[algorithms]]
name = "user-knn"
params = { k = 20 }
"""

TIMING = ["fit_seconds", "score_seconds", "run_id", "cell_id"]


def _values(frame: pd.DataFrame) -> pd.DataFrame:
    keep = [c for c in frame.columns if c not in TIMING]
    return frame[keep].reset_index(drop=True)


def _cells(data: Path) -> list[Path]:
    root = data / "runs"
    if not root.is_dir():
        return []
    return [
        c
        for run in root.iterdir()
        if (run / "cells").is_dir()
        for c in (run / "cells").iterdir()
        if not c.name.startswith(".")
    ]


def test_kill_9_then_resume_gives_the_uninterrupted_results(tmp_path: Path) -> None:
    study = tmp_path / "study.toml"
    study.write_text(STUDY)
    n_cells = len(make_plan(load_study(study)).cells())
    killed_data = tmp_path / "killed"
    env = {**os.environ, "RECBENCH_DATA": str(killed_data), "OPENBLAS_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "recbench", "-q", "run", str(study)]
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while len(_cells(killed_data)) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    recorded = len(_cells(killed_data))
    assert 2 <= recorded < n_cells
    store = Store.in_data_dir(killed_data)
    (run,) = store.runs()
    assert run.status == "interrupted"  # its process is gone: the lock is free

    # started again with the same study file: resumes the same run, runs only what is missing
    again = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr
    (resumed,) = store.runs()
    assert resumed.run_id == run.run_id
    assert resumed.status == "complete"
    assert resumed.manifest["resumed"]
    ids = resumed.cell_ids()
    assert len(ids) == n_cells == len(set(ids))
    results = store.results(resumed)
    assert not results.duplicated(["cell_id", "metric", "k"]).any()

    # an uninterrupted run of the same study elsewhere gives identical values
    fresh = recbench.run(study, data_dir=tmp_path / "fresh")
    ref_store = Store.in_data_dir(tmp_path / "fresh")
    reference = ref_store.results(ref_store.get(fresh.run_id or ""))
    pd.testing.assert_frame_equal(_values(results), _values(reference))
    pu = _values(store.table(resumed, "per_user"))
    ref_pu = _values(ref_store.table(ref_store.get(fresh.run_id or ""), "per_user"))
    pd.testing.assert_frame_equal(pu, ref_pu)
    # the printed table after resume is the uninterrupted one's
    assert "user-knn[k=20]" not in again.stdout  # fixed params keep the plain label
    assert "user-knn" in again.stdout


def test_half_written_cell_is_ignored_and_cleaned(tmp_path: Path) -> None:
    study = tmp_path / "study.toml"
    study.write_text('k = [5]\n[[algorithms]]\nname = "popularity"\n')
    store = Store.in_data_dir(tmp_path)
    plan = make_plan(load_study(study))
    from recbench.study import execute
    from recbench.study.runner import load_datasets

    datasets, _ = load_datasets(plan, tmp_path)
    writer = store.create({"fingerprint": plan.fingerprint([d.checksum for d in datasets])})
    run_dir = writer.run.path
    writer.close()
    # a dead writer's staging directory (pid 999999 is not running)
    stale = run_dir / "cells" / f".{plan.cells()[0].id}.rbtmp-tmp-999999-abcd"
    stale.mkdir()
    (stale / "results.parquet").write_bytes(b"partial")
    os.utime(stale, (0, 0))
    assert store.runs()[0].cell_ids() == []
    done = execute(plan, tmp_path, store)
    assert done.run_id == writer.run_id and done.ran == 1
    assert not stale.exists()


def test_compare_records_a_run_and_no_store_does_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["compare", "--algos", "popularity,baseline", "--k", "5"]
    res = run_cli([*args, "--no-store"], capsys, data_dir=tmp_path)
    assert res.code == 0, res.err
    assert Store.in_data_dir(tmp_path).runs() == []
    res = run_cli(args, capsys, data_dir=tmp_path)
    assert res.code == 0, res.err
    (run,) = Store.in_data_dir(tmp_path).runs()
    m = run.manifest
    assert m["kind"] == "compare" and m["status"] == "complete"
    assert m["datasets"][0]["checksum"] and m["recbench_version"] and m["machine"]["cpus"]
    assert "numpy" in m["dependencies"]
    assert "[[algorithms]]" in m["study"]
    stored = Store.in_data_dir(tmp_path).results(run)
    assert set(stored["algorithm"]) == {"popularity", "baseline"}
    assert len(Store.in_data_dir(tmp_path).table(run, "per_user")) > 0


def _compare(tmp_path: Path, capsys: pytest.CaptureFixture[str], epochs: int) -> str:
    args = ["compare", "--algos", "popularity,baseline", "--k", "5"]
    res = run_cli([*args, "--param", f"n_epochs={epochs}"], capsys, data_dir=tmp_path)
    assert res.code == 0, res.err
    return Store.in_data_dir(tmp_path).runs()[-1].run_id


def test_runs_list_show_diff_export_rm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _compare(tmp_path, capsys, 1)
    b = _compare(tmp_path, capsys, 10)
    listed = run_cli(["runs", "list", "--json"], capsys, data_dir=tmp_path)
    assert [r["run_id"] for r in json.loads(listed.out)] == [a, b]
    # the shortest prefix of a that b does not share (two runs may start in the same second)
    prefix = next(a[:n] for n in range(16, len(a) + 1) if not b.startswith(a[:n]))
    shown = run_cli(["runs", "show", prefix], capsys, data_dir=tmp_path)
    assert shown.code == 0 and a in shown.out and "baseline" in shown.out

    diff = run_cli(["runs", "diff", a, b], capsys, data_dir=tmp_path)
    assert diff.code == 0, diff.err
    assert "changed params.baseline.n_epochs: 1 -> 10" in diff.flat
    doc = json.loads(run_cli(["runs", "diff", a, b, "--json"], capsys, tmp_path).out)
    assert doc["changes"] == [{"key": "params.baseline.n_epochs", "a": 1, "b": 10}]
    rmse = [d for d in doc["deltas"] if d["algorithm"] == "baseline" and d["metric"] == "rmse"]
    assert len(rmse) == 1 and rmse[0]["delta"] == pytest.approx(rmse[0]["b"] - rmse[0]["a"])
    assert abs(rmse[0]["delta"]) > 0
    pop = [d for d in doc["deltas"] if d["algorithm"] == "popularity" and d["metric"] == "ndcg"]
    assert pop[0]["delta"] == 0
    assert f"{rmse[0]['delta']:+.4f}" in diff.out

    out = tmp_path / "rows.csv"
    exported = run_cli(["runs", "export", b, "-o", str(out)], capsys, data_dir=tmp_path)
    assert exported.code == 0, exported.err
    rows = pd.read_csv(out)
    assert {"run_id", "cell_id", "algorithm", "metric", "k", "value"} <= set(rows.columns)
    pq = tmp_path / "pu.parquet"
    run_cli(["runs", "export", b, "--table", "per_user", "-o", str(pq)], capsys, tmp_path)
    assert len(pd.read_parquet(pq)) > 0

    assert run_cli(["runs", "rm", a], capsys, data_dir=tmp_path).code == 0
    assert [r.run_id for r in Store.in_data_dir(tmp_path).runs()] == [b]
    missing = run_cli(["runs", "show", a], capsys, data_dir=tmp_path)
    assert missing.code == 2 and "no run" in missing.err


def test_store_is_queryable_as_plain_parquet(tmp_path: Path) -> None:
    res = recbench.compare(["popularity"], k=[5], data_dir=tmp_path)
    files = sorted((tmp_path / "runs").glob("*/cells/*/results.parquet"))
    assert len(files) == 1
    frame = pd.read_parquet(files[0])
    assert set(frame["run_id"]) == {res.run_id}
    assert set(frame["metric"]) >= {"ndcg", "precision", "recall"}


def test_tune_records_tuned_and_default_test_metrics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["tune", "baseline", "--trials", "2", "--metric", "rmse"]
    res = run_cli([*args, "--no-store"], capsys, data_dir=tmp_path)
    assert res.code == 0, res.err
    assert Store.in_data_dir(tmp_path).runs() == []
    res = run_cli(args, capsys, data_dir=tmp_path)
    assert res.code == 0, res.err
    store = Store.in_data_dir(tmp_path)
    (run,) = store.runs()
    assert run.kind == "tune" and run.manifest["tuning"]["n_trials"] == 2
    rows = store.results(run)
    assert set(rows["algorithm"]) == {"baseline[tuned]", "baseline[defaults]"}
    shown = run_cli(["runs", "show", run.run_id], capsys, data_dir=tmp_path)
    assert "baseline[tuned]" in shown.out


def test_repeats_are_recorded_as_one_cell_per_seed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--repeats 2`` keeps each repeat's rows and per-user values in a cell of its own."""
    args = ["compare", "--algos", "popularity", "--split", "holdout:0.2", "--repeats", "2"]
    res = run_cli(args, capsys, data_dir=tmp_path)
    assert res.code == 0, res.err
    (run,) = Store.in_data_dir(tmp_path).runs()
    cells = _cells(tmp_path)
    assert len(cells) == 2
    seeds = sorted(json.loads((c / "cell.json").read_text())["seed"] for c in cells)
    assert seeds == [0, 1]
    for cell in cells:
        rows = pd.read_parquet(cell / "results.parquet")
        assert rows["seed"].nunique() == 1
        assert len(rows) == rows[["metric", "k"]].drop_duplicates().shape[0]
    assert run.manifest["seeds"] == [0, 1]
