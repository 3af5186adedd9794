"""Cells on Dask: a :class:`DaskExecutor` over a LocalCluster it starts (``--workers N``) or
an existing cluster (``--scheduler ADDRESS``), and the options that choose it.

``--workers N`` starts its LocalCluster in a background thread (workers forked from a fork
server that imported recbench once, :mod:`recbench.forkserver`) and, until it is up, runs
cells in this process, costliest first, unless the ``recbench`` command started that fork
server early (the wait is short then); the cluster takes the rest. See
:mod:`recbench.executors`.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from recbench import forkserver
from recbench.algorithms import plugins
from recbench.data.model import Dataset
from recbench.errors import UsageError
from recbench.evaluation import EvalConfig
from recbench.executors import (
    CellOutcome,
    Executor,
    InProcess,
    OnEvent,
    OnOutcome,
    Skip,
    cell_here,
    evaluate_cell,
)
from recbench.experiment import AlgoSpec, Event
from recbench.split import Split, SplitSpec, make_split

#: the pip extra that installs Dask
DASK_EXTRA = "scale"
#: seconds to wait for an existing scheduler to answer before giving up
CONNECT_TIMEOUT = 10.0


#: the last splits a worker process made, so cells of one fold share it: key -> Split
_SPLITS: dict[tuple[str, str, int, int, int], Split] = {}
#: splits kept per process (a few folds: cells of neighbouring folds interleave on a worker)
_KEEP_SPLITS = 2


def _split_for(dataset: Dataset, split_spec: SplitSpec, seed: int, fold: int) -> Split:
    """The fold's split (seeded: the serial split), made once per process while it is recent."""
    key = (dataset.checksum, str(split_spec), id(dataset), seed, fold)
    split = _SPLITS.pop(key, None)
    if split is None:
        split = make_split(dataset, split_spec, seed, fold)
    _SPLITS[key] = split  # most recent last
    while len(_SPLITS) > _KEEP_SPLITS:  # memory stays bounded
        del _SPLITS[next(iter(_SPLITS))]
    return split


def _remote_cell(
    dataset: Dataset,
    split_spec: SplitSpec,
    seed: int,
    fold: int,
    index: int,
    algo: AlgoSpec,
    eval_config: EvalConfig,
    tolerate: bool,
) -> CellOutcome:
    """A Dask task: make the fold's split on the worker (seeded: the serial split) and run."""
    split = _split_for(dataset, split_spec, seed, fold)
    return evaluate_cell(
        dataset.name, index, algo, split, seed, eval_config, split_spec.n_folds, None, tolerate
    )


Cell = tuple[int, int, AlgoSpec]  # (fold, index, algorithm)
Submitted = tuple[dict[Any, tuple[str, int]], Any]  # futures -> (label, fold); the data's future


def schedule(algos: list[tuple[int, AlgoSpec]], n_folds: int) -> list[Cell]:
    """The order cells are handed out: the costly ones fold by fold, then the cheap ones
    (family ``baseline``: popularity, random, biases), which fill the schedule's tail."""

    def cheap(algo: AlgoSpec) -> bool:
        return plugins.load(algo.name).family == "baseline"

    order = sorted(algos, key=lambda ia: cheap(ia[1]))  # stable: request order otherwise
    costly = [(f, i, a) for f in range(n_folds) for i, a in order if not cheap(a)]
    return costly + [(f, i, a) for f in range(n_folds) for i, a in order if cheap(a)]


class _Shared:
    """Cells shared by this process (one at a time) and a cluster that takes the rest once up."""

    def __init__(self, cells: list[Cell]) -> None:
        self._queue = deque(cells)
        self._lock = threading.Lock()
        self.taken = False
        self.submitted = threading.Event()
        self.sent: Submitted | None = None
        self.error: BaseException | None = None

    def next(self) -> Cell | None:
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def take_rest(self) -> list[Cell]:
        with self._lock:
            rest, self.taken = list(self._queue), bool(self._queue)
            self._queue.clear()
        return rest


class _Startup:
    """A Dask client (and the cluster it owns) being started in a background thread, so that
    the cluster's start-up overlaps the caller's own work."""

    def __init__(self, start: Callable[[], tuple[Any, Any]]) -> None:
        self.done = threading.Event()
        self.client: Any = None
        self.cluster: Any = None
        self.error: BaseException | None = None
        self.seconds = 0.0
        self._thread = threading.Thread(
            target=self._run, args=(start,), name="recbench-dask-start", daemon=True
        )
        self._thread.start()

    def _run(self, start: Callable[[], tuple[Any, Any]]) -> None:
        t0 = time.perf_counter()
        try:
            self.client, self.cluster = start()
        except BaseException as exc:  # re-raised in the caller's thread by wait()
            self.error = exc
        finally:
            self.seconds = time.perf_counter() - t0
            self.done.set()

    def wait(self) -> tuple[Any, Any]:
        """(client, cluster) once started; the start-up's error if it failed."""
        self._thread.join()
        if self.error is not None:
            raise self.error
        return self.client, self.cluster


class DaskExecutor(Executor):
    """Cells as Dask tasks on a client's cluster (a LocalCluster it started, or an existing one).

    Given a start-up still under way (``--workers N`` starts its LocalCluster in the
    background), :meth:`run` runs cells in this process, costliest first, until the cluster is
    up, then hands the rest to it: start-up time is not lost to waiting.
    """

    def __init__(
        self,
        client: Any = None,
        cluster: Any = None,
        description: str = "",
        startup: _Startup | None = None,
        local_cells: bool = True,
        environ: dict[str, str | None] | None = None,
    ) -> None:
        if client is None and startup is None:
            raise ValueError("DaskExecutor needs a client or a start-up")
        self._client = client
        self._cluster = cluster
        self._startup = startup
        self.local_cells = local_cells
        #: this process's environment before its nannies wrote into it, put back on close
        self._environ = environ
        self.description = description or f"dask {client.scheduler.address}"
        #: cells the last :meth:`run` ran in this process while the cluster was starting
        self.ran_locally = 0

    @property
    def client(self) -> Any:
        """The Dask client (waits for a start-up under way)."""
        if self._client is None:
            assert self._startup is not None
            self._client, self._cluster = self._startup.wait()
        return self._client

    @property
    def cluster(self) -> Any:
        self.client  # noqa: B018 - waits for the start-up
        return self._cluster

    @property
    def startup_seconds(self) -> float | None:
        """How long the background start-up took (None: none, or still under way)."""
        s = self._startup
        return s.seconds if s is not None and s.done.is_set() else None

    @property
    def cores(self) -> int:
        workers = self.client.scheduler_info().get("workers", {})
        return int(sum(w.get("nthreads", 1) for w in workers.values())) or 1

    def run(
        self,
        dataset: Dataset,
        split_spec: SplitSpec,
        algos: list[tuple[int, AlgoSpec]],
        seed: int,
        eval_config: EvalConfig,
        on_event: OnEvent | None,
        tolerate: bool,
        skip: Skip = frozenset(),
        on_outcome: OnOutcome | None = None,
    ) -> list[CellOutcome]:
        n_folds = split_spec.n_folds
        cells = [c for c in schedule(algos, n_folds) if (c[0], c[2].label) not in skip]
        args = (dataset, split_spec, seed, eval_config, tolerate)
        self.ran_locally = 0
        if not cells:
            return []
        startup = self._startup
        if not self.local_cells or startup is None or startup.done.is_set():
            return self._gather(self._submit(cells, *args), n_folds, on_event, on_outcome)
        shared = _Shared(cells)
        outcomes: list[CellOutcome] = []

        def hand_over() -> None:  # a helper thread: the rest goes out once the cluster is up
            startup.done.wait()
            rest = shared.take_rest() if startup.error is None else []
            try:
                shared.sent = self._submit(rest, *args) if rest else ({}, None)
            except BaseException as exc:  # re-raised below, in the caller's thread
                shared.error = exc
            finally:
                shared.submitted.set()

        threading.Thread(target=hand_over, name="recbench-hand-over", daemon=True).start()
        while (cell := shared.next()) is not None:
            fold, index, algo = cell
            if startup.error is not None:
                self.client  # noqa: B018 - raises the start-up's error here
            split = _split_for(dataset, split_spec, seed, fold)
            outcomes.append(cell_here(dataset.name, index, algo, split, seed, eval_config,
                                       n_folds, on_event, tolerate))  # fmt: skip
            if on_outcome is not None:
                on_outcome(outcomes[-1])
            self.ran_locally += 1
        if not shared.taken:  # every cell ran here before the cluster came up
            return outcomes
        shared.submitted.wait()
        if shared.error is not None:
            raise shared.error
        assert shared.sent is not None
        return outcomes + self._gather(shared.sent, n_folds, on_event, on_outcome)

    def _submit(
        self,
        cells: list[Cell],
        dataset: Dataset,
        split_spec: SplitSpec,
        seed: int,
        eval_config: EvalConfig,
        tolerate: bool,
    ) -> Submitted:
        """Scatter the dataset, submit ``cells`` in schedule order: (future -> (label, fold),
        the dataset's future)."""
        client = self.client
        data = client.scatter(dataset, broadcast=True, hash=False)
        futures = {}
        for rank, (fold, index, algo) in enumerate(cells):
            fut = client.submit(
                _remote_cell, data, split_spec, seed, fold, index, algo, eval_config, tolerate,
                pure=False,
                priority=len(cells) - rank,  # handed out in schedule order
                key=f"recbench-cell-{index}-{fold}-{os.urandom(4).hex()}",
            )  # fmt: skip
            futures[fut] = (algo.label, fold)
        return futures, data

    def _gather(
        self,
        submitted: Submitted,
        n_folds: int,
        on_event: OnEvent | None,
        on_outcome: OnOutcome | None = None,
    ) -> list[CellOutcome]:
        """The submitted cells' outcomes as they finish, with progress events."""
        from distributed import as_completed

        futures, data = submitted
        pending = dict(futures)
        if on_event and pending:
            label, fold = next(iter(pending.values()))
            on_event(Event("cell-start", label, fold, n_folds))
        outcomes = []
        try:
            for fut in as_completed(list(futures)):
                outcomes.append(fut.result())
                if on_outcome is not None:
                    on_outcome(outcomes[-1])
                label, fold = pending.pop(fut)
                if on_event:
                    on_event(Event("cell-done", label, fold, n_folds))
                    if pending:
                        nxt = next(iter(pending.values()))
                        on_event(Event("cell-start", nxt[0], nxt[1], n_folds))
        finally:
            for fut in futures:
                fut.release()
            if data is not None:
                data.release()
        return outcomes

    def close(self) -> None:
        if self._client is None:
            assert self._startup is not None
            try:
                self._client, self._cluster = self._startup.wait()
            except Exception:  # it never started: nothing to close
                return
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        if self._environ:  # a nanny that restarted a worker wrote into it again
            _restore_environ(self._environ)


_NO_DASK = (
    f"--workers/--scheduler need Dask: install the '{DASK_EXTRA}' extra "
    f"(pip install 'recbench[{DASK_EXTRA}]')"
)


def _require_dask() -> None:
    """Dask is installed (found, not imported: the import, 0.4 s, is left to the cluster's
    start-up, which runs beside the caller's own work)."""
    try:
        found = importlib.util.find_spec("distributed") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise UsageError(_NO_DASK)


_ADDRESS = re.compile(r"(?:(tcp|tls|ws|wss|inproc|ucx)://)?\[?[\w.:-]+\]?:\d{1,5}")


def check_options(workers: int | None, scheduler: str | None) -> bool:
    """Validate ``--workers`` / ``--scheduler`` without starting anything; True when Dask is
    to be used (and is installed)."""
    if workers is not None and scheduler is not None:
        raise UsageError("give --workers N or --scheduler ADDRESS, not both")
    if workers is not None and workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    if scheduler is not None and not _ADDRESS.fullmatch(scheduler):
        raise UsageError(
            f"--scheduler '{scheduler}' is not a Dask address (e.g. tcp://10.0.0.5:8786)"
        )
    if scheduler is None and (workers is None or workers == 1):
        return False
    _require_dask()
    return True


def make_executor(
    workers: int | None = None,
    scheduler: str | None = None,
    connect_timeout: float = CONNECT_TIMEOUT,
    local_cells: bool = True,
) -> Executor:
    """The executor for ``--workers N`` / ``--scheduler ADDRESS`` (in process when neither).

    ``--workers N`` returns at once: the LocalCluster starts in a background thread while the
    caller goes on (loading data, checking algorithms); with ``local_cells`` the first cells
    run in this process until it is up (set it False where this process should not hold a
    cell's memory besides the workers'), unless the ``recbench`` command started the
    workers' fork server early (:mod:`recbench.forkserver`): the wait is short then."""
    if not check_options(workers, scheduler):
        return InProcess()
    if scheduler is not None:
        from distributed import Client

        address = scheduler if "://" in scheduler else f"tcp://{scheduler}"
        try:
            client = Client(address, timeout=connect_timeout)
        except (OSError, TimeoutError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise UsageError(
                f"no Dask scheduler answered at {address} within {connect_timeout:g} s "
                f"(start one with `dask scheduler`, workers with `dask worker {address}`): "
                f"{first}"
            ) from None
        return DaskExecutor(client, None, f"dask cluster {address}")
    assert workers is not None
    n = workers
    environ: dict[str, str | None] = {}
    executor = DaskExecutor(
        description=f"dask LocalCluster, {n} processes",
        startup=_Startup(lambda: _start_local_cluster(n, environ)),
        # cells in this process only while a slow start-up is under way: a cell that holds
        # the GIL (Surprise's SVD does, for its whole fit) stalls the scheduler running in
        # this process, and with a fork server started early the wait is short
        # (measured: 0.77x vs 0.82x of serial end to end, `make bench-scale`)
        local_cells=local_cells and not forkserver.started_early(),
        environ=environ,
    )
    return executor


def _restore_environ(saved: dict[str, str | None]) -> None:
    """Put ``saved`` (name -> value, None: unset) back into this process's environment."""
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _start_local_cluster(
    workers: int, environ: dict[str, str | None] | None = None
) -> tuple[Any, Any]:
    """A LocalCluster of ``workers`` single-threaded processes and its client.

    Dask's nanny writes its ``pre-spawn-environ`` (one BLAS/OpenMP thread) and PYTHONHASHSEED
    into *this* process's environment before it starts a worker, and leaves them there: every
    later subprocess of the caller (a serial ``recbench`` run, a notebook's shell command)
    would run single-threaded. Their values from before are kept in ``environ`` and put back
    once the cluster is up (and again by :meth:`DaskExecutor.close`, after any restart).

    Workers are forked from a fork server that imported what cells need once (where the
    platform has one; :mod:`recbench.forkserver`), instead of each spawned worker importing it
    again: start-up costs one import, not one per worker. The ``recbench`` command starts that
    server as it starts, when ``--workers`` asks for one, so it is usually ready by now.
    """
    try:
        import dask
        from distributed import Client, LocalCluster
        from distributed.utils import get_mp_context
    except ImportError:  # found by check_options, but does not import
        raise UsageError(_NO_DASK) from None

    method = "forkserver" if forkserver.available() else "spawn"
    config = {
        "distributed.worker.multiprocessing-method": method,
        # Dask's memory trimming makes every large array freed and allocated again a fresh
        # mmap (page faults: item-kNN cells 40% slower); short-lived workers do not need it
        "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
        # the statistical profiler (for the dashboard, which is off) takes the GIL every 10 ms
        "distributed.worker.profile.enabled": False,
    }
    with dask.config.set(config):
        if method == "forkserver":
            get_mp_context()  # Dask sets its preload list here; ours replaces it
            forkserver.preload()  # (no effect when the server runs already)
        written = {*dask.config.get("distributed.nanny.pre-spawn-environ"), "PYTHONHASHSEED"}
        environ = {} if environ is None else environ
        environ.update({name: os.environ.get(name) for name in written})
        try:
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                # no dashboard; its HTTP server on any free port (no warning when 8787 is taken)
                scheduler_kwargs={"dashboard": False, "dashboard_address": ":0"},
                silence_logs=logging.ERROR,
            )
        finally:
            _restore_environ(environ)
        try:
            return Client(cluster), cluster
        except BaseException:
            cluster.close()
            raise
