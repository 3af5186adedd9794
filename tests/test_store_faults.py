"""Results store under faults: a killed compare (interrupted, warned, resumed), runs missing
cells (summaries over complete folds only), a failed store write, corrupt store files."""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from recbench.store import Store
from recbench.store.runs import is_locked

from .helpers import REPO, run_cli

COMPARE = ["compare", "--algos", "popularity,baseline", "--k", "5"]
TIMING = ["fit_seconds", "score_seconds", "run_id", "cell_id"]


def _values(frame: pd.DataFrame) -> pd.DataFrame:
    keep = [c for c in frame.columns if c not in TIMING]
    cols = ["algorithm", "seed", "fold", "metric", "k"]
    return frame[keep].sort_values(cols).reset_index(drop=True)


def _cells(data: Path) -> list[Path]:
    return [c for c in (data / "runs").glob("*/cells/*") if not c.name.startswith(".")]


def _untimed(table: str) -> list[str]:
    return [re.sub(r"(\s+\d+\.\d+){2}\s*$", "", line) for line in table.splitlines()]


def _interrupt(run_dir: Path) -> None:
    """Make a complete run look like one whose process died: status running, lock free."""
    manifest = json.loads((run_dir / "run.json").read_text())
    manifest.update(status="running", ended=None)
    (run_dir / "run.json").write_text(json.dumps(manifest))


def _one_line_error(res_err: str) -> str:
    lines = [x for x in res_err.strip().splitlines() if x.strip()]
    assert len(lines) == 1, res_err
    assert "Traceback" not in res_err
    return lines[0]


def test_killed_compare_is_interrupted_warned_and_resumed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real kill -9 of `recbench compare` mid-run: the finished cells survive, the run is
    listed as interrupted, `runs show` warns, and the same command resumes it."""
    data = tmp_path / "killed"
    args = [*COMPARE, "--split", "kfold:5"]
    env = {**os.environ, "RECBENCH_DATA": str(data), "OPENBLAS_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "recbench", "-q", *args]
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not _cells(data) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "the compare ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = Store.in_data_dir(data)
    (run,) = store.runs()
    recorded = run.cell_ids()
    assert 1 <= len(recorded) < 10  # recorded as they finished, not at the end
    assert run.status == "interrupted" and run.manifest["status"] == "running"
    assert is_locked(run.path) is False

    listed = run_cli(["runs", "list", "--json"], capsys, data_dir=data)
    (brief,) = json.loads(listed.out)
    assert brief["status"] == "interrupted" and brief["cells"] == len(recorded)
    assert "interrupted" in run_cli(["runs", "list"], capsys, data_dir=data).out
    shown = run_cli(["runs", "show", run.run_id], capsys, data_dir=data)
    assert shown.code == 0, shown.err
    assert f"run {run.run_id} was interrupted" in shown.err
    assert f"{len(recorded)} of 10 cells recorded" in " ".join(shown.err.split())
    assert "interrupted" in shown.out
    kept = store.results(run)
    assert set(kept["cell_id"]) == set(recorded)  # the finished cells survive

    # the same command again resumes the run: only the missing cells are run
    again = run_cli(args, capsys, data_dir=data)
    assert again.code == 0, again.err
    assert f"resuming run {run.run_id}: {len(recorded)} of 10 cells" in " ".join(again.err.split())
    (resumed,) = store.runs()
    assert resumed.run_id == run.run_id and resumed.status == "complete"
    assert len(resumed.cell_ids()) == 10 and resumed.manifest["resumed"]
    results = store.results(resumed)
    assert not results.duplicated(["cell_id", "metric", "k"]).any()
    # identical to an uninterrupted compare
    fresh = run_cli(args, capsys, data_dir=tmp_path / "fresh")
    assert fresh.code == 0, fresh.err
    ref_store = Store.in_data_dir(tmp_path / "fresh")
    reference = ref_store.results(ref_store.runs()[0])
    pd.testing.assert_frame_equal(_values(results), _values(reference))
    # the printed table too, but for its two timing columns (fit s, score s)
    assert _untimed(again.out) == _untimed(fresh.out)


def test_missing_cells_are_warned_and_never_averaged_over_unequal_folds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    res = run_cli([*COMPARE, "--split", "kfold:3"], capsys, data_dir=tmp_path)
    assert res.code == 0, res.err
    store = Store.in_data_dir(tmp_path)
    (run,) = store.runs()
    full = store.results(run)
    # baseline's fold 2 was never recorded: the run was killed while it ran
    (gone,) = [
        c
        for c in store.cells(run)
        if c["label"] == "baseline" and c["fold"] == 2  # type: ignore[index]
    ]
    import shutil

    shutil.rmtree(run.path / "cells" / gone["cell_id"])
    _interrupt(run.path)

    doc = json.loads(run_cli(["runs", "show", run.run_id, "--json"], capsys, tmp_path).out)
    assert doc["status"] == "interrupted"
    cov = doc["coverage"]
    assert cov["cells_recorded"] == 5 and cov["n_cells"] == 6 and not cov["complete"]
    assert cov["missing"] == [
        {"dataset": "ml-latest-small", "split": "kfold:3", "algorithm": "baseline", "seed": 0,
         "fold": 2}
    ]  # fmt: skip
    assert cov["summarised_over"][0]["folds"] == [{"seed": 0, "fold": 0}, {"seed": 0, "fold": 1}]
    summ = pd.DataFrame(doc["summary"])
    assert set(summ["n"]) == {2}  # both algorithms over the same two folds
    pop = full[(full["algorithm"] == "popularity") & (full["metric"] == "ndcg")]
    shown_pop = summ[(summ["algorithm"] == "popularity") & (summ["metric"] == "ndcg")]
    assert shown_pop["mean"].iloc[0] == pytest.approx(pop[pop["fold"] < 2]["value"].mean())
    assert shown_pop["mean"].iloc[0] != pytest.approx(pop["value"].mean())

    shown = run_cli(["runs", "show", run.run_id], capsys, data_dir=tmp_path)
    err = " ".join(shown.err.split())
    assert "missing baseline fold 2" in err
    assert "means are over folds 0,1, which every algorithm finished" in err
    assert "5 of 6 cells" in shown.out

    # diff, export and report say so too
    other = [*COMPARE, "--split", "kfold:3", "--param", "n_epochs=3"]  # not a resume of it
    assert run_cli(other, capsys, data_dir=tmp_path).code == 0
    b = store.runs()[-1].run_id
    assert b != run.run_id
    diff = run_cli(["runs", "diff", run.run_id, b, "--json"], capsys, tmp_path)
    assert diff.code == 0 and "missing baseline fold 2" in diff.err
    deltas = pd.DataFrame(json.loads(diff.out)["deltas"])
    d = deltas[(deltas["algorithm"] == "popularity") & (deltas["metric"] == "ndcg")]
    assert d["a"].iloc[0] == pytest.approx(pop[pop["fold"] < 2]["value"].mean())
    out = tmp_path / "rows.json"
    exported = run_cli(["runs", "export", run.run_id, "-o", str(out)], capsys, tmp_path)
    assert exported.code == 0 and "missing baseline fold 2" in exported.err
    exported_doc = json.loads(out.read_text())
    assert exported_doc["manifest"]["status"] == "interrupted"
    assert len(exported_doc["results"]) == len(full) - len(full[full["cell_id"] == gone["cell_id"]])

    from recbench.report import build, read_runs

    report = build(read_runs(store, [run.run_id]))
    assert any("missing baseline fold 2" in n for n in report.notes)
    assert set(report.summary["n"]) == {2}
    from recbench.report.html import _manifest_text

    text = _manifest_text(report)
    assert "interrupted" in text and "ended None" not in text


def test_a_live_run_is_never_resumed_by_another_process(tmp_path: Path) -> None:
    store = Store.in_data_dir(tmp_path)
    writer = store.create({"fingerprint": "f"})
    try:
        (run,) = store.runs()
        assert run.status == "running" and run.live is True
        assert store.find_resumable("f") is None  # its writer holds the lock
    finally:
        writer.close()
    assert store.runs()[0].status == "interrupted"
    assert store.find_resumable("f") is not None


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))


def test_failed_store_write_leaves_no_run_marked_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Under a 20 kB file size limit (ulimit -f) the first cell fits and the second does not:
    compare still prints its results, and the run is marked failed, saying so."""
    warm = run_cli([*COMPARE, "--no-store"], capsys, data_dir=tmp_path)  # the dataset cache
    assert warm.code == 0, warm.err
    env = {**os.environ, "RECBENCH_DATA": str(tmp_path), "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "recbench", *COMPARE],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_limit_file_size,
    )
    assert proc.returncode == 0, proc.stderr
    assert "popularity" in proc.stdout and "baseline" in proc.stdout  # the results are printed
    assert "Traceback" not in proc.stderr
    store = Store.in_data_dir(tmp_path)
    (run,) = store.runs()
    assert run.status == "failed" and run.manifest["error"] == "File too large"
    flat = " ".join(proc.stderr.split())
    assert f"run not recorded in full in the results store (File too large): run {run.run_id} " \
        f"kept as failed with {len(run.cell_ids())}/2 cells" in flat  # fmt: skip
    listed = json.loads(run_cli(["runs", "list", "--json"], capsys, tmp_path).out)
    assert [r["status"] for r in listed] == ["failed"]
    shown = run_cli(["runs", "show", run.run_id], capsys, data_dir=tmp_path)
    assert shown.code == 0 and "failed" in shown.err and "File too large" in shown.out
    # without the limit, the same compare resumes the failed run and completes it
    again = run_cli(COMPARE, capsys, data_dir=tmp_path)
    assert again.code == 0 and f"resuming run {run.run_id}" in again.err
    (done,) = store.runs()
    assert done.status == "complete" and "error" not in done.manifest
    assert len(done.cell_ids()) == 2


def _recorded_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Store, str]:
    res = run_cli(["compare", "--algos", "popularity", "--k", "5"], capsys, data_dir=tmp_path)
    assert res.code == 0, res.err
    store = Store.in_data_dir(tmp_path)
    return store, store.runs()[-1].run_id


def test_corrupt_run_json_is_listed_shown_with_exit_2_and_removable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, run_id = _recorded_run(tmp_path, capsys)
    monkeypatch.chdir(tmp_path)
    manifest = tmp_path / "runs" / run_id / "run.json"
    manifest.write_text('{"run_id": "trunc')
    (run,) = store.runs()
    assert run.status == "corrupt"
    listed = run_cli(["runs", "list", "--json"], capsys, data_dir=tmp_path)
    (brief,) = json.loads(listed.out)
    assert brief["run_id"] == run_id and brief["status"] == "corrupt"
    assert str(manifest) in brief["problem"]
    table = run_cli(["runs", "list"], capsys, data_dir=tmp_path)
    assert "corrupt" in table.out and f"recbench runs rm {run_id}" in table.err
    for cmd in (["runs", "show", run_id], ["runs", "export", run_id], ["report", run_id]):
        res = run_cli(cmd, capsys, data_dir=tmp_path)
        assert res.code == 2, (cmd, res.err)
        line = _one_line_error(res.err)
        assert str(manifest) in line and "not valid JSON" in line
    assert not (tmp_path / "report.html").exists()
    removed = run_cli(["runs", "rm", run_id], capsys, data_dir=tmp_path)
    assert removed.code == 0, removed.err
    assert store.runs() == [] and not (tmp_path / "runs" / run_id).exists()


def test_truncated_parquet_gives_exit_2_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, run_id = _recorded_run(tmp_path, capsys)
    (cell,) = _cells(tmp_path)
    table = cell / "results.parquet"
    table.write_bytes(table.read_bytes()[:100])
    monkeypatch.chdir(tmp_path)
    for cmd in (
        ["runs", "show", run_id],
        ["runs", "export", run_id, "-o", "out.csv"],
        ["runs", "diff", run_id, run_id],
        ["report", run_id, "-o", "report.html"],
    ):
        res = run_cli(cmd, capsys, data_dir=tmp_path)
        assert res.code == 2, (cmd, res.err)
        line = _one_line_error(res.err)
        assert str(table) in line and "not a readable Parquet file" in line
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "report.html").exists()
    # the run is still listed (its manifest is fine) and can be removed
    assert [r.status for r in store.runs()] == ["complete"]
    assert run_cli(["runs", "rm", run_id], capsys, data_dir=tmp_path).code == 0


def test_compare_on_dask_resumes_only_the_missing_cell(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--workers``: recorded cells are skipped on the cluster too; the missing one is run."""
    pytest.importorskip("distributed")
    args = [*COMPARE, "--split", "kfold:3"]
    assert run_cli(args, capsys, data_dir=tmp_path).code == 0
    store = Store.in_data_dir(tmp_path)
    (run,) = store.runs()
    before = store.results(run)
    (gone,) = [c for c in store.cells(run) if c["label"] == "popularity" and c["fold"] == 1]
    import shutil

    shutil.rmtree(run.path / "cells" / gone["cell_id"])
    _interrupt(run.path)
    kept = {p.parent.name: p.stat().st_mtime_ns for p in run.path.glob("cells/*/results.parquet")}
    again = run_cli([*args, "--workers", "2"], capsys, data_dir=tmp_path)
    assert again.code == 0, again.err
    assert f"resuming run {run.run_id}: 5 of 6 cells" in " ".join(again.err.split())
    (done,) = store.runs()
    assert done.status == "complete" and len(done.cell_ids()) == 6
    after = {p.parent.name: p.stat().st_mtime_ns for p in run.path.glob("cells/*/results.parquet")}
    assert len(kept) == 5 and set(after) == {*kept, gone["cell_id"]}
    assert {c: after[c] for c in kept} == kept  # the recorded cells were not written again
    pd.testing.assert_frame_equal(_values(store.results(done)), _values(before))


def test_ctrl_c_during_compare_says_what_was_kept(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT) mid-compare: exit 130 and one line saying the finished cells are kept and
    the same command resumes; the run is then listed as interrupted."""
    data = tmp_path / "sigint"
    env = {**os.environ, "RECBENCH_DATA": str(data), "OPENBLAS_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "recbench", "-q", *COMPARE, "--split", "kfold:5"]
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        # a shell's background job ignores SIGINT, and a child inherits that: restore it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 300
    while not _cells(data) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "the compare ended before it could be interrupted"
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    line = _one_line_error(err)
    assert line.startswith("error: interrupted;") and "resumes" in line
    (run,) = Store.in_data_dir(data).runs()
    assert run.status == "interrupted" and len(run.cell_ids()) >= 1
