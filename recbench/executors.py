"""Where experiment cells run: in this process, on a Dask ``LocalCluster``, or on a Dask cluster.

A comparison is a grid of cells (algorithm x fold), each fitted and evaluated independently by
:func:`recbench.experiment.run_cell`. :func:`run_experiment` first asks every algorithm whether it
would refuse the dataset (data it lacks, memory over its budget: :meth:`Recommender.refusal`)
*before any work starts*: a refusing algorithm is reported ``unable`` with its reason while the
others run, and only when nothing can run is it an error. The cells then go to an
:class:`Executor`:

- :class:`InProcess`: one cell after another in this process (splits made once per fold);
- :class:`DaskExecutor`: cells as Dask tasks, on a ``LocalCluster`` of N worker processes
  (``--workers N``) or an existing cluster started with ``dask scheduler`` / ``dask worker``
  (``--scheduler tcp://HOST:PORT``). The dataset is scattered once to every worker; each task
  makes its fold's split there (seeded, so identical to the serial split) and returns the tidy
  rows. A worker that dies mid-task is replaced by its nanny and Dask reruns the task elsewhere;
  results are assembled in the serial order, so the output equals the serial run's.

Dask is an optional extra (``pip install 'recbench[scale]'``); it is imported only here, only when
asked for.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import pandas as pd

from recbench.algorithms import plugins
from recbench.data.model import Dataset
from recbench.errors import UsageError
from recbench.evaluation import EvalConfig
from recbench.experiment import (
    SEGMENT_COLUMNS,
    AlgoSpec,
    Event,
    ExperimentResult,
    result_rows,
    results_frame,
    run_cell,
    segment_rows,
)
from recbench.split import Split, SplitSpec, make_split, make_splits

#: the pip extra that installs Dask
DASK_EXTRA = "scale"
#: seconds to wait for an existing scheduler to answer before giving up
CONNECT_TIMEOUT = 10.0
OnEvent = Callable[[Event], None]


@dataclass
class CellOutcome:
    """What one (algorithm, fold) cell produced, in the tidy forms the results frame takes."""

    index: int  # position of the algorithm in the request
    label: str
    fold: int
    protocol: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    segments: list[dict[str, Any]] = field(default_factory=list)
    per_user: pd.DataFrame = field(default_factory=pd.DataFrame)
    n_cold: int = 0
    unable: str | None = None
    #: the cell raised a refusal while running (``unable`` holds it)
    refused: bool = False


def evaluate_cell(
    dataset_name: str,
    index: int,
    algo: AlgoSpec,
    split: Split,
    seed: int,
    eval_config: EvalConfig,
    n_folds: int,
    on_event: OnEvent | None = None,
    tolerate: bool = False,
) -> CellOutcome:
    """Fit and evaluate one cell. With ``tolerate``, a refusal raised while it runs (a
    :class:`UsageError` or running out of memory) makes the cell ``unable`` instead of failing
    the whole comparison."""
    out = CellOutcome(index, algo.label, split.fold, split.protocol)
    try:
        _, res, fit_s = run_cell(algo, split, seed, eval_config, on_event, n_folds)
    except (UsageError, MemoryError) as exc:
        if not tolerate:
            raise
        out.unable = str(exc) or "ran out of memory"
        out.refused = True
        return out
    out.n_cold = res.n_cold_users
    out.unable = res.unable
    out.rows = result_rows(dataset_name, split, algo.label, algo.params, res, fit_s, seed)
    out.segments = segment_rows(split, algo.label, res)
    if len(res.per_user):
        pu = res.per_user.copy()
        pu.insert(0, "fold", split.fold)
        pu.insert(0, "algorithm", algo.label)
        out.per_user = pu
    return out


# --- executors ---------------------------------------------------------------------------------


class Executor(ABC):
    """Runs the cells of one experiment; a context manager that releases what it started."""

    #: short description for notes and benchmarks, e.g. "dask LocalCluster, 2 processes"
    description: str = ""

    @property
    @abstractmethod
    def cores(self) -> int:
        """Worker threads available to cells (1 in process)."""

    @abstractmethod
    def run(
        self,
        dataset: Dataset,
        split_spec: SplitSpec,
        algos: list[tuple[int, AlgoSpec]],
        seed: int,
        eval_config: EvalConfig,
        on_event: OnEvent | None,
        tolerate: bool,
    ) -> list[CellOutcome]:
        """Every (algorithm, fold) cell's outcome, in any order."""

    def close(self) -> None:
        return None

    def __enter__(self) -> Executor:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class InProcess(Executor):
    """Cells one after another in this process; each fold's split is made once."""

    description = "in process"

    @property
    def cores(self) -> int:
        return 1

    def run(
        self,
        dataset: Dataset,
        split_spec: SplitSpec,
        algos: list[tuple[int, AlgoSpec]],
        seed: int,
        eval_config: EvalConfig,
        on_event: OnEvent | None,
        tolerate: bool,
    ) -> list[CellOutcome]:
        outcomes = []
        n_folds = split_spec.n_folds
        for split in make_splits(dataset, split_spec, seed):
            for index, algo in algos:
                if on_event:
                    on_event(Event("cell-start", algo.label, split.fold, n_folds))
                outcomes.append(
                    evaluate_cell(
                        dataset.name,
                        index,
                        algo,
                        split,
                        seed,
                        eval_config,
                        n_folds,
                        on_event,
                        tolerate,
                    )
                )
                if on_event:
                    on_event(Event("cell-done", algo.label, split.fold, n_folds))
        return outcomes


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
    ) -> None:
        if client is None and startup is None:
            raise ValueError("DaskExecutor needs a client or a start-up")
        self._client = client
        self._cluster = cluster
        self._startup = startup
        self.local_cells = local_cells
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
    ) -> list[CellOutcome]:
        n_folds = split_spec.n_folds
        cells = schedule(algos, n_folds)
        args = (dataset, split_spec, seed, eval_config, tolerate)
        self.ran_locally = 0
        startup = self._startup
        if not self.local_cells or self._client is not None or startup is None:
            return self._gather(self._submit(cells, *args), n_folds, on_event)
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
            if on_event:
                on_event(Event("cell-start", algo.label, fold, n_folds))
            outcomes.append(evaluate_cell(dataset.name, index, algo, split, seed, eval_config,
                                          n_folds, on_event, tolerate))  # fmt: skip
            self.ran_locally += 1
            if on_event:
                on_event(Event("cell-done", algo.label, fold, n_folds))
        if not shared.taken:  # every cell ran here before the cluster came up
            return outcomes
        shared.submitted.wait()
        if shared.error is not None:
            raise shared.error
        assert shared.sent is not None
        return outcomes + self._gather(shared.sent, n_folds, on_event)

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
        self, submitted: Submitted, n_folds: int, on_event: OnEvent | None
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


def _require_dask() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise UsageError(
            f"--workers/--scheduler need Dask: install the '{DASK_EXTRA}' extra "
            f"(pip install 'recbench[{DASK_EXTRA}]')"
        ) from None


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
    cell's memory besides the workers')."""
    if not check_options(workers, scheduler):
        return InProcess()
    from distributed import Client

    if scheduler is not None:
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
    executor = DaskExecutor(
        description=f"dask LocalCluster, {n} processes",
        startup=_Startup(lambda: _start_local_cluster(n)),
        local_cells=local_cells,
    )
    return executor


#: modules each worker needs, imported once by the fork server that forks the workers
_WORKER_MODULES = ["__main__", "distributed", "numpy", "pandas", "scipy.sparse", __name__]


def _start_local_cluster(workers: int) -> tuple[Any, Any]:
    """A LocalCluster of ``workers`` single-threaded processes and its client.

    Workers are forked from a fork server that imported what cells need once (where the
    platform has one), instead of each spawned worker importing it again: start-up costs one
    import, not one per worker, and leaves the other cores to the caller.
    """
    import dask
    from distributed import Client, LocalCluster
    from distributed.utils import get_mp_context

    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    with dask.config.set({"distributed.worker.multiprocessing-method": method}):
        if method == "forkserver":
            get_mp_context().set_forkserver_preload(_WORKER_MODULES)  # after Dask's own list
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            # no dashboard; its HTTP server on any free port (no warning when 8787 is taken)
            scheduler_kwargs={"dashboard": False, "dashboard_address": ":0"},
            silence_logs=logging.ERROR,
        )
        try:
            return Client(cluster), cluster
        except BaseException:
            cluster.close()
            raise


# --- the experiment ----------------------------------------------------------------------------


def preflight(dataset: Dataset, algos: list[AlgoSpec], seed: int = 0) -> dict[str, str]:
    """Validate every algorithm and its parameters, and ask each configured instance whether it
    would refuse ``dataset`` (memory, missing data): label -> reason, before any work starts."""
    refused = {}
    for a in algos:
        cls = plugins.load(a.name)
        plugins.ensure_available(a.name, cls)
        plugins.make_config(a.name, cls, a.params)
        reason = plugins.make(a.name, a.params, seed=seed).refusal(dataset)
        if reason:
            refused[a.label] = reason
    return refused


def run_experiment(
    dataset: Dataset,
    split_spec: SplitSpec,
    algos: list[AlgoSpec],
    seed: int = 0,
    eval_config: EvalConfig | None = None,
    on_event: OnEvent | None = None,
    executor: Executor | None = None,
) -> ExperimentResult:
    """:func:`recbench.experiment.run_experiment` with refusals checked up front and the cells
    run by ``executor`` (in process by default). Same results, rows in the same order.

    An algorithm that refuses (before or, when others remain, while it runs) is reported in
    ``unable`` with its reason; when every algorithm refuses, the reasons are a UsageError.
    """
    eval_config = eval_config or EvalConfig()
    refused = preflight(dataset, algos, seed)
    runnable = [(i, a) for i, a in enumerate(algos) if a.label not in refused]
    if not runnable:
        raise UsageError("; ".join(f"{label}: {why}" for label, why in refused.items()))
    tolerate = len(algos) > 1
    outcomes = (executor or InProcess()).run(
        dataset, split_spec, runnable, seed, eval_config, on_event, tolerate
    )
    outcomes.sort(key=lambda o: (o.fold, o.index))
    unable = dict(refused)
    failed = {o.label: o.unable or "" for o in outcomes if o.refused}
    if len(refused) + len(failed) == len(algos):
        reasons = {**refused, **failed}
        raise UsageError("; ".join(f"{label}: {why}" for label, why in reasons.items()))
    rows: list[dict[str, Any]] = []
    segments: list[dict[str, Any]] = []
    per_user: list[pd.DataFrame] = []
    cold: dict[str, int] = {}
    for o in outcomes:
        cold[o.label] = cold.get(o.label, 0) + o.n_cold
        if o.unable:
            unable[o.label] = o.unable
        rows += o.rows
        segments += o.segments
        if len(o.per_user):
            per_user.append(o.per_user)
    protocol = outcomes[-1].protocol if outcomes else split_spec.describe(seed)
    order = [a.label for a in algos]
    return ExperimentResult(
        results_frame(rows),
        pd.concat(per_user, ignore_index=True) if per_user else pd.DataFrame(),
        dataset,
        split_spec,
        protocol,
        seed,
        eval_config,
        cold,
        order,
        {label: unable[label] for label in order if label in unable},
        pd.DataFrame(segments, columns=SEGMENT_COLUMNS),
        {a.label: a.params for a in algos},
    )
