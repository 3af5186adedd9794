"""Where experiment cells run: in this process, on a Dask ``LocalCluster``, or on a Dask cluster.

A comparison is a grid of cells (algorithm x fold), each fitted and evaluated independently by
:func:`recbench.experiment.run_cell`. :func:`run_cells` first asks every algorithm whether it
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
  results are assembled in the serial order, so the output equals the serial run's. Cells go
  out costliest first (the ``baseline`` family last, filling the tail); a LocalCluster starts
  in the background, and cells run in this process until it is up unless its fork server was
  started early (:mod:`recbench.cli.launch`).

Dask is an optional extra (``pip install 'recbench[scale]'``); it is imported only by
:mod:`recbench.executors.cluster`, only when asked for.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from types import TracebackType

from recbench.algorithms import plugins
from recbench.data.model import Dataset
from recbench.errors import UsageError
from recbench.evaluation import EvalConfig
from recbench.experiment import (
    AlgoSpec,
    CellOutcome,
    Event,
    ExperimentResult,
    assemble,
    cell_here,
    evaluate_cell,
    validate_algos,
)
from recbench.split import SplitSpec, make_splits

OnEvent = Callable[[Event], None]
#: called with each cell's outcome as soon as it is known (to record it), in the caller's thread
OnOutcome = Callable[[CellOutcome], None]
#: (fold, label) of cells not to run (recorded by an earlier, interrupted run)
Skip = frozenset[tuple[int, str]]


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
        skip: Skip = frozenset(),
        on_outcome: OnOutcome | None = None,
    ) -> list[CellOutcome]:
        """Every (algorithm, fold) cell's outcome but those in ``skip``, in any order; each
        passed to ``on_outcome`` as it finishes."""

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
        skip: Skip = frozenset(),
        on_outcome: OnOutcome | None = None,
    ) -> list[CellOutcome]:
        n_folds = split_spec.n_folds
        outcomes = []
        for split in make_splits(dataset, split_spec, seed):
            for index, algo in algos:
                if (split.fold, algo.label) in skip:
                    continue
                outcome = cell_here(dataset.name, index, algo, split, seed, eval_config,
                                    n_folds, on_event, tolerate)  # fmt: skip
                if on_outcome is not None:
                    on_outcome(outcome)
                outcomes.append(outcome)
        return outcomes


# --- the experiment ----------------------------------------------------------------------------


def preflight(dataset: Dataset, algos: list[AlgoSpec], seed: int = 0) -> dict[str, str]:
    """Validate every algorithm and its parameters, and ask each configured instance whether it
    would refuse ``dataset`` (memory, missing data): label -> reason, before any work starts."""
    validate_algos(algos)
    refused = {}
    for a in algos:
        reason = plugins.make(a.name, a.params, seed=seed).refusal(dataset)
        if reason:
            refused[a.label] = reason
    return refused


def run_cells(
    dataset: Dataset,
    split_spec: SplitSpec,
    algos: list[AlgoSpec],
    seed: int = 0,
    eval_config: EvalConfig | None = None,
    on_event: OnEvent | None = None,
    executor: Executor | None = None,
    recorded: dict[tuple[int, str], CellOutcome] | None = None,
    on_outcome: OnOutcome | None = None,
) -> ExperimentResult:
    """Every algorithm on every fold of ``split_spec`` (one seed), refusals checked up front and
    the cells run by ``executor`` (in process by default); rows in the serial order. The
    commands reach it through :func:`recbench.pipeline.run_experiment`, which adds the rules.

    An algorithm that refuses (before or, when others remain, while it runs) is reported in
    ``unable`` with its reason; when every algorithm refuses, the reasons are a UsageError.

    ``recorded`` ((fold, label) -> outcome) are cells an interrupted run already holds: they are
    not run again. ``on_outcome`` gets every other cell's outcome as it finishes (an algorithm
    refused up front gets one per fold), so the caller can record it at once.
    """
    eval_config = eval_config or EvalConfig()
    recorded = recorded or {}
    refused = preflight(dataset, algos, seed)
    runnable = [(i, a) for i, a in enumerate(algos) if a.label not in refused]
    if not runnable:
        raise UsageError("; ".join(f"{label}: {why}" for label, why in refused.items()))
    tolerate = len(algos) > 1
    n_folds = split_spec.n_folds
    if on_outcome is not None:  # refused up front: recorded as cells unable to run
        for i, a in enumerate(algos):
            for fold in range(n_folds) if a.label in refused else ():
                if (fold, a.label) not in recorded:
                    on_outcome(CellOutcome(i, a.label, fold, split_spec.describe(seed),
                                           unable=refused[a.label]))  # fmt: skip
    reused = [o for o in recorded.values() if o.label not in refused]
    for o in reused if on_event is not None else ():
        assert on_event is not None
        on_event(Event("cell-done", o.label, o.fold, n_folds))
    outcomes = (executor or InProcess()).run(
        dataset, split_spec, runnable, seed, eval_config, on_event, tolerate,
        frozenset(recorded), on_outcome,
    )  # fmt: skip
    outcomes += reused
    outcomes.sort(key=lambda o: (o.fold, o.index))
    failed = {o.label: o.unable or "" for o in outcomes if o.refused}
    if len(refused) + len(failed) == len(algos):
        reasons = {**refused, **failed}
        raise UsageError("; ".join(f"{label}: {why}" for label, why in reasons.items()))
    return assemble(dataset, split_spec, algos, seed, eval_config, outcomes, refused)


# the Dask side (its names re-exported here; it imports this module's, defined above)
from recbench.executors.cluster import (  # noqa: E402
    CONNECT_TIMEOUT,
    DASK_EXTRA,
    DaskExecutor,
    check_options,
    make_executor,
    schedule,
)

__all__ = [
    "CONNECT_TIMEOUT",
    "DASK_EXTRA",
    "CellOutcome",
    "DaskExecutor",
    "Executor",
    "InProcess",
    "cell_here",
    "check_options",
    "evaluate_cell",
    "make_executor",
    "preflight",
    "run_cells",
    "schedule",
]
