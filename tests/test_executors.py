"""Executors and refusals: the serial, LocalCluster and killed-worker runs give the same table;
a refusing algorithm is reported unable before any work while the others run; bad input exits 2.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from recbench import executors, experiment
from recbench.data.model import Dataset
from recbench.errors import UsageError
from recbench.evaluation import EvalConfig
from recbench.executors import cluster
from recbench.experiment import AlgoSpec, Event, assemble, cell_here
from recbench.split import make_splits, parse_split

from .helpers import run_cli

KEY = ["algorithm", "fold", "metric", "k", "value", "n_users", "n_test", "n_fallback"]
#: five quick algorithms of different families
FIVE = [
    AlgoSpec("random"),
    AlgoSpec("popularity"),
    AlgoSpec("baseline"),
    AlgoSpec("als", {"factors": 16, "iterations": 5}),
    AlgoSpec("svd", {"n_epochs": 5}),
]
REFUSING = AlgoSpec("ease", {"max_memory_gb": 1e-6}, variant="max_memory_gb=1e-6")

dask_needed = pytest.mark.skipif(
    importlib.util.find_spec("distributed") is None,
    reason="needs the scale extra (dask[distributed])",
)


def _nanny_environ() -> dict[str, str | None]:
    names = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "PYTHONHASHSEED")
    return {name: os.environ.get(name) for name in names}


def _same(a: Any, b: Any) -> None:
    pd.testing.assert_frame_equal(
        a.results[KEY].reset_index(drop=True), b.results[KEY].reset_index(drop=True)
    )
    pd.testing.assert_frame_equal(a.per_user, b.per_user)
    assert a.unable == b.unable and a.algorithms == b.algorithms


@pytest.fixture(scope="module")
def serial_kfold(ml_small: Dataset) -> Any:
    return executors.run_cells(ml_small, parse_split("kfold:2"), FIVE, seed=0)


def test_in_process_equals_the_cells_run_one_by_one(ml_small: Dataset, serial_kfold: Any) -> None:
    spec, config = parse_split("kfold:2"), EvalConfig()
    outcomes = [
        cell_here(ml_small.name, i, algo, split, 0, config, spec.n_folds, None, False)
        for split in make_splits(ml_small, spec, 0)
        for i, algo in enumerate(FIVE)
    ]
    reference = assemble(ml_small, spec, FIVE, 0, config, outcomes)
    _same(serial_kfold, reference)
    assert serial_kfold.protocol == reference.protocol


# --- refusals ----------------------------------------------------------------------------------


def test_refusal_is_unable_before_any_work_and_others_run(board: Dataset) -> None:
    events: list[Event] = []
    algos = [REFUSING, AlgoSpec("popularity")]
    res = executors.run_cells(board, parse_split("holdout:0.2"), algos, 0, None, events.append)
    assert "needs about" in res.unable[REFUSING.label]
    assert "--min-item-ratings" in res.unable[REFUSING.label]
    assert set(res.results["algorithm"]) == {"popularity"}
    assert res.algorithms == [REFUSING.label, "popularity"]
    assert all(e.algorithm == "popularity" for e in events)  # never started, never fitted


def test_preflight_names_every_refusal(board: Dataset) -> None:
    knn = AlgoSpec("item-knn", {"max_memory_gb": 1e-9})
    refused = executors.preflight(board, [REFUSING, knn, AlgoSpec("popularity")])
    assert set(refused) == {REFUSING.label, "item-knn"}
    assert "dense similarity" in refused["item-knn"]


def test_everything_refusing_is_a_one_line_usage_error(board: Dataset) -> None:
    with pytest.raises(UsageError) as info:
        executors.run_cells(board, parse_split("holdout:0.2"), [REFUSING], 0)
    assert "needs about" in str(info.value) and "\n" not in str(info.value)


def test_refusal_while_running_does_not_sink_the_others(
    board: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = experiment.run_cell  # evaluate_cell's, wherever the cell runs in this process

    def flaky(algo: AlgoSpec, *args: Any, **kwargs: Any) -> Any:
        if algo.name == "baseline":
            raise MemoryError()
        return real(algo, *args, **kwargs)

    monkeypatch.setattr(experiment, "run_cell", flaky)
    algos = [AlgoSpec("baseline"), AlgoSpec("popularity")]
    res = executors.run_cells(board, parse_split("kfold:2"), algos, 0)
    assert res.unable == {"baseline": "ran out of memory"}
    assert set(res.results["algorithm"]) == {"popularity"}
    with pytest.raises(MemoryError):  # one algorithm: nothing else to show, the error stands
        executors.run_cells(board, parse_split("kfold:2"), algos[:1], 0)


def test_cli_compare_skips_refusing_algorithm(capsys: pytest.CaptureFixture[str]) -> None:
    algos = "popularity,ease[max_memory_gb=0.000001]"
    res = run_cli(["-q", "compare", "--algos", algos, "--format", "json"], capsys)
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    by_name = {a["name"]: a for a in doc["algorithms"]}
    assert "needs about" in by_name["ease[max_memory_gb=0.000001]"]["unable"]
    assert by_name["popularity"]["metrics"]
    res = run_cli(["compare", "--algos", "ease[max_memory_gb=0.000001]"], capsys)
    assert res.code == 2 and "needs about" in res.err
    assert len(res.err.strip().splitlines()) == 1


# --- bad input ---------------------------------------------------------------------------------


def test_bad_worker_options(capsys: pytest.CaptureFixture[str]) -> None:
    res = run_cli(["compare", "--algos", "popularity", "--workers", "0"], capsys)
    assert res.code == 2 and "--workers must be at least 1" in res.err
    res = run_cli(["compare", "--workers", "2", "--scheduler", "tcp://h:1"], capsys)
    assert res.code == 2 and "not both" in res.err
    res = run_cli(["compare", "--scheduler", "no address"], capsys)
    assert res.code == 2 and "not a Dask address" in res.err


def test_dask_missing_names_the_extra(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails as if not installed
    res = run_cli(["compare", "--algos", "popularity", "--workers", "2"], capsys)
    assert res.code == 2 and "recbench[scale]" in res.err
    assert executors.check_options(1, None) is False  # one worker: in process, no Dask needed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dask_needed
def test_scheduler_nobody_listens_is_a_bounded_one_line_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    address = f"tcp://127.0.0.1:{_free_port()}"
    with pytest.raises(UsageError, match="no Dask scheduler answered"):
        executors.make_executor(scheduler=address, connect_timeout=1.0)
    res = run_cli(["compare", "--algos", "popularity", "--scheduler", address], capsys)
    assert res.code == 2 and "no Dask scheduler answered" in res.err
    assert len(res.err.strip().splitlines()) == 1


# --- Dask --------------------------------------------------------------------------------------


def test_schedule_puts_costly_cells_first_and_cheap_ones_last() -> None:
    algos = list(enumerate(FIVE))
    cells = executors.schedule(algos, 2)
    assert [(f, a.label) for f, _, a in cells] == [
        (0, FIVE[3].label), (0, "svd"), (1, FIVE[3].label), (1, "svd"),
        (0, "random"), (0, "popularity"), (0, "baseline"),
        (1, "random"), (1, "popularity"), (1, "baseline"),
    ]  # fmt: skip
    assert sorted((f, i) for f, i, _ in cells) == [(f, i) for f in range(2) for i in range(5)]


@dask_needed
@pytest.mark.slow
def test_local_cluster_gives_the_serial_results(ml_small: Dataset, serial_kfold: Any) -> None:
    events: list[Event] = []
    with executors.make_executor(workers=2) as ex:
        assert isinstance(ex, executors.DaskExecutor) and ex.cores == 2  # waits for the cluster
        res = executors.run_cells(
            ml_small, parse_split("kfold:2"), FIVE, 0, None, events.append, ex
        )
        assert ex.ran_locally == 0  # the cluster was up: every cell ran there
    _same(res, serial_kfold)
    assert sum(e.kind == "cell-done" for e in events) == len(FIVE) * 2


@dask_needed
@pytest.mark.slow
def test_cells_run_here_while_the_cluster_starts(ml_small: Dataset, serial_kfold: Any) -> None:
    """The cluster comes up after this process finished two cells; it runs the rest."""
    go = threading.Event()
    events: list[Event] = []

    def on_event(e: Event) -> None:
        events.append(e)
        if e.kind == "cell-done" and sum(x.kind == "cell-done" for x in events) == 2:
            go.set()  # start the cluster, and wait here until it took the other cells
            deadline = time.monotonic() + 300
            while not any(str(k).startswith("recbench-cell") for k in ex.client.futures):
                assert time.monotonic() < deadline
                time.sleep(0.01)

    def start() -> tuple[Any, Any]:
        go.wait(300)
        return cluster._start_local_cluster(2)

    ex = executors.DaskExecutor(description="test", startup=cluster._Startup(start))
    with ex:
        res = executors.run_cells(ml_small, parse_split("kfold:2"), FIVE, 0, None, on_event, ex)
        assert ex.ran_locally == 2
        assert ex.startup_seconds is not None
    _same(res, serial_kfold)
    assert sum(e.kind == "cell-done" for e in events) == len(FIVE) * 2


@dask_needed
@pytest.mark.slow
def test_killed_worker_mid_run_still_completes(
    ml_small: Dataset, serial_kfold: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Dask's nanny writes one BLAS/OpenMP thread and PYTHONHASHSEED into this process's
    # environment before it starts (or restarts) a worker; the executor puts it back
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    mine = _nanny_environ()
    out: dict[str, Any] = {}

    def compare(ex: executors.Executor) -> None:
        try:
            out["res"] = executors.run_cells(ml_small, parse_split("kfold:2"), FIVE, 0, executor=ex)
        except BaseException as exc:  # re-raised in the test thread
            out["error"] = exc

    with executors.make_executor(workers=2) as ex:
        assert isinstance(ex, executors.DaskExecutor)
        before = ex.client.run(os.getpid)
        assert _nanny_environ() == mine  # once the cluster is up
        thread = threading.Thread(target=compare, args=(ex,))
        thread.start()
        victim = None
        deadline = time.monotonic() + 300
        while victim is None and time.monotonic() < deadline and thread.is_alive():
            busy = [w for w, keys in ex.client.processing().items() if keys]
            victim = busy[0] if busy else None
            time.sleep(0.02)
        assert victim is not None, "no cell was ever running"
        os.kill(before[victim], signal.SIGKILL)
        thread.join(timeout=600)
        assert not thread.is_alive()
        after = ex.client.run(os.getpid)
    assert _nanny_environ() == mine  # after a nanny restarted the killed worker
    if "error" in out:
        raise out["error"]
    assert before[victim] not in after.values()  # the worker really died (and was replaced)
    _same(out["res"], serial_kfold)


@dask_needed
@pytest.mark.slow
def test_cli_workers_two_matches_serial(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["-q", "compare", "--algos", "popularity,baseline", "--split", "kfold:2"]
    serial = run_cli([*args, "--format", "json"], capsys)
    parallel = run_cli([*args, "--workers", "2", "--format", "json"], capsys)
    assert serial.code == 0 and parallel.code == 0, parallel.err

    def values(text: str) -> list[tuple[Any, ...]]:
        rows = json.loads(text)["rows"]
        return [(r["algorithm"], r["fold"], r["metric"], r["k"], r["value"]) for r in rows]

    assert values(serial.out) == values(parallel.out)


@dask_needed
@pytest.mark.slow
def test_cli_scheduler_sends_cells_to_an_existing_cluster(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from distributed import LocalCluster

    args = ["-q", "compare", "--algos", "popularity,baseline", "--split", "kfold:2"]
    serial = run_cli([*args, "--format", "json"], capsys)
    with LocalCluster(
        n_workers=1,
        processes=False,
        threads_per_worker=1,
        dashboard_address=None,
        protocol="tcp://",
    ) as cluster:
        address = cluster.scheduler_address
        remote = run_cli([*args, "--scheduler", address, "--format", "json"], capsys)
        assert remote.code == 0, remote.err
        assert cluster.scheduler.transition_counter > 0  # the cells ran there

    def values(text: str) -> list[tuple[Any, ...]]:
        rows = json.loads(text)["rows"]
        return [(r["algorithm"], r["fold"], r["metric"], r["k"], r["value"]) for r in rows]

    assert values(serial.out) == values(remote.out)
