"""Drive an Optuna study: trials fit on the validation split's training part and are scored on
its validation part; the best configuration is then refitted on the outer training part and
evaluated once on the outer test part.

Trials run in this process (``jobs=1``) or in ``jobs`` spawned worker processes that share the
study's journal file. Each new trial is asked for under a lock, after counting the study's
trials, so a study never runs more than the trial budget. The sampler is TPE, seeded per trial
from the seed and the trial number, so a sequential tune is reproducible and a resumed one
continues deterministically from its stored history. Trials of algorithms that report during
their fit are pruned by default (``TuneSpec.prune``; :mod:`recbench.tuning.pruning`): a pruned
trial uses budget, is recorded as ``pruned`` and is never the best.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from recbench.algorithms import plugins
from recbench.algorithms.space import Categorical, Float, Int, Space, describe_space
from recbench.atomic import file_lock
from recbench.data.model import Dataset
from recbench.errors import UsageError
from recbench.evaluation import EvalConfig, capability_gap
from recbench.experiment import AlgoSpec, run_cell
from recbench.split import Split, SplitSpec, make_split
from recbench.tuning.problem import (
    Objective,
    carve_validation,
    check_produces,
    validation_spec,
)
from recbench.tuning.pruning import PruneSpec, TrialHook, fit_and_score, probe_split, prunable
from recbench.tuning.records import (
    TrialRecord,
    TuneProgress,
    best_so_far,
    progress_of,
)
from recbench.tuning.records import best_trial as _best
from recbench.tuning.records import counted as _counted
from recbench.tuning.records import record as _record
from recbench.tuning.study import (
    ERROR,
    INTERRUPTED,
    StudyFiles,
    check_identity,
    fail_interrupted,
    hold,
    open_storage,
    repair_journal,
    temporary_study,
)

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution

#: the Optuna study name inside each journal file (one study per file)
STUDY = "recbench"
#: give up when this many trials failed before any completed
_EARLY_FAILURES = 3


@dataclass(frozen=True)
class TuneSpec:
    """What to tune and with what budget."""

    algorithm: str
    space: Space
    fixed: dict[str, Any]
    objective: Objective
    n_trials: int | None = 20
    timeout: float | None = None
    jobs: int = 1
    seed: int = 0
    relevance_threshold: float | None = None
    memory_mb: int = 256
    #: pruning of algorithms that report during fit (recbench.tuning.pruning); None: off
    prune: PruneSpec | None = field(default_factory=PruneSpec)

    def __post_init__(self) -> None:
        if self.n_trials is None and self.timeout is None:
            raise UsageError("give --trials N, --timeout SECONDS, or both")
        if self.n_trials is not None and self.n_trials < 1:
            raise UsageError(f"--trials must be at least 1, got {self.n_trials}")
        if self.timeout is not None and not self.timeout > 0:
            raise UsageError(f"--timeout must be positive, got {self.timeout:g}")
        if self.jobs < 1:
            raise UsageError(f"--jobs must be at least 1, got {self.jobs}")

    def eval_config(self) -> EvalConfig:
        ks = (self.objective.k,) if self.objective.k is not None else (10,)
        return EvalConfig(ks=ks, relevance_threshold=self.relevance_threshold,
                          memory_mb=self.memory_mb)  # fmt: skip


@dataclass
class TuneResult:
    """The search and the one evaluation on the outer test part."""

    spec: TuneSpec
    dataset: str
    protocol: str
    val_protocol: str
    study: str | None
    trials: list[TrialRecord]
    best: TrialRecord
    #: fixed parameters plus the best trial's: the configuration refitted and tested
    params: dict[str, Any]
    importances: dict[str, float]
    #: outer-test metrics of the best configuration refitted on the outer training part
    test: dict[str, float]
    #: outer-test metrics of the algorithm's defaults (fixed parameters kept), for reference
    default_test: dict[str, float] | None
    #: trials the study had finished before this run (a resumed study)
    resumed: int
    #: trials found running from a dead process, marked failed and not counted
    interrupted: int
    seconds: float
    fit_seconds: float
    n_validation: int
    n_train: int
    history: list[float] = field(default_factory=list)
    #: how trials were pruned (PruneSpec.describe), None when they were not
    pruning: str | None = None


# -- Optuna glue -----------------------------------------------------------------------------


def distributions(space: Space) -> dict[str, BaseDistribution]:
    """Optuna distributions for recbench's dimension records."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    out: dict[str, BaseDistribution] = {}
    for name, dim in space.items():
        if isinstance(dim, Float):
            out[name] = FloatDistribution(dim.low, dim.high, log=dim.log)
        elif isinstance(dim, Int):
            out[name] = IntDistribution(dim.low, dim.high, log=dim.log)
        else:
            assert isinstance(dim, Categorical)
            out[name] = CategoricalDistribution(list(dim.choices))
    return out


def _sampler(seed: int, number: int, parallel: bool) -> optuna.samplers.BaseSampler:
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant_liar is marked experimental
        return optuna.samplers.TPESampler(seed=seed * 100_003 + number, constant_liar=parallel)


def _quiet_optuna() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


# -- trials ----------------------------------------------------------------------------------


@dataclass
class _Work:
    """Everything a worker needs (pickled once per worker process)."""

    spec: TuneSpec
    files: StudyFiles
    val_split: Split
    deadline: float | None  # time.time() after which no trial starts
    overrides: dict[str, Any]
    #: the validation users scored while a trial trains, when it is pruned (else None)
    probe: Split | None = None


def _objective(work: _Work, params: dict[str, Any], trial: optuna.Trial | None = None) -> float:
    spec = work.spec
    algo = AlgoSpec(spec.algorithm, {**spec.fixed, **work.overrides, **params})
    if trial is not None and work.probe is not None:
        hook = TrialHook(trial, work.probe, spec.eval_config(), spec.objective.key)
        res = fit_and_score(algo, work.val_split, spec.seed, spec.eval_config(), hook)
    else:
        _, res, _ = run_cell(algo, work.val_split, spec.seed, spec.eval_config())
    if res.unable:
        raise UsageError(f"{spec.algorithm} cannot be evaluated on the validation split: "
                         f"{res.unable}")  # fmt: skip
    value = res.metrics.get(spec.objective.key)
    if value is None or not math.isfinite(value):
        raise RuntimeError(f"the validation split gave no finite {spec.objective.key}")
    return float(value)


def run_trials(work: _Work, stop: Any = None, on_trial: Callable[[], None] | None = None) -> None:
    """Ask, evaluate and tell trials until the budget, the deadline or ``stop`` is reached."""
    import optuna
    from optuna.trial import TrialState

    _quiet_optuna()
    spec = work.spec
    study = optuna.load_study(study_name=STUDY, storage=open_storage(work.files))
    if work.probe is not None and spec.prune is not None:
        study.pruner = spec.prune.pruner()
    dists = distributions(spec.space)
    while stop is None or not stop.is_set():
        with file_lock(work.files.ask_lock):
            records = [_record(t) for t in study.get_trials(deepcopy=False)]
            if spec.n_trials is not None and _counted(records) >= spec.n_trials:
                return
            if work.deadline is not None and time.time() >= work.deadline:
                return
            failed = sum(r.state == "failed" for r in records)
            if failed >= _EARLY_FAILURES and not any(r.state == "complete" for r in records):
                return
            study.sampler = _sampler(spec.seed, len(records), spec.jobs > 1)
            trial = study.ask(dists)
        try:
            value = _objective(work, dict(trial.params), trial)
        except optuna.TrialPruned:
            study.tell(trial, state=TrialState.PRUNED)
        except BaseException as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            trial.set_user_attr(ERROR, f"{type(exc).__name__}: {message}")
            if not isinstance(exc, Exception):  # KeyboardInterrupt, SystemExit: rerun it later
                trial.set_user_attr(INTERRUPTED, True)
                study.tell(trial, state=TrialState.FAIL)
                raise
            study.tell(trial, state=TrialState.FAIL)
        else:
            study.tell(trial, value)
        if on_trial is not None:
            on_trial()


_WORK: _Work | None = None
_STOP: Any = None


def _init_worker(work: _Work, stop: Any, threads: int) -> None:
    global _WORK, _STOP
    _WORK, _STOP = work, stop
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)


def _worker_main() -> None:
    assert _WORK is not None
    run_trials(_WORK, _STOP)


#: runs a study's trial loops elsewhere, e.g. on Dask (:mod:`recbench.tuning.distributed`):
#: ``runner(work, on_poll)`` returns when they are done, calling ``on_poll`` now and then
TrialRunner = Callable[[_Work, Callable[[], None]], None]


def _run_parallel(work: _Work, on_poll: Callable[[], None]) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    threads = max(1, (multiprocessing.cpu_count() or 1) // work.spec.jobs)
    jobs = work.spec.jobs
    with ProcessPoolExecutor(jobs, ctx, _init_worker, (work, stop, threads)) as pool:
        futures: list[Future[None]] = [pool.submit(_worker_main) for _ in range(jobs)]
        try:
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_EXCEPTION)
                on_poll()
                for f in done:
                    if f.exception() is not None:
                        stop.set()
        except BaseException:
            stop.set()
            raise
        for f in futures:
            f.result()  # re-raise a worker's error


# -- the tune --------------------------------------------------------------------------------


def prepare(
    dataset: Dataset, split_spec: SplitSpec, spec: TuneSpec, val_split: str | None = None
) -> tuple[Split, Split, SplitSpec]:
    """Validate the algorithm (and ask it whether it refuses the data), metric and splits;
    (outer split, validation split, its spec)."""
    cls = plugins.load(spec.algorithm)
    plugins.ensure_available(spec.algorithm, cls)
    reason = cls.unsuitable(dataset)
    if reason:
        raise UsageError(f"{spec.algorithm} {reason}, and {dataset.name} has none")
    check_produces(spec.objective, spec.algorithm, cls, dataset)
    if not split_spec.holds_out:
        raise UsageError(f"tune needs a split with test data (not '{split_spec}')")
    outer = make_split(dataset, split_spec, spec.seed)
    model = plugins.make(spec.algorithm, spec.fixed, seed=spec.seed)
    gap = capability_gap(model, outer)
    if gap:
        raise UsageError(f"{spec.algorithm} {gap}, which split '{split_spec}' needs")
    refusal = model.refusal(dataset)  # as a compare asks before any work: else every trial fails
    if refusal:
        raise UsageError(f"{spec.algorithm}: {refusal}")
    vspec = validation_spec(split_spec, val_split)
    val = carve_validation(outer, vspec, spec.seed)
    if not len(val.test):
        raise UsageError(f"--val-split {vspec} leaves no validation data")
    return outer, val, vspec


@dataclass
class SearchResult:
    """The search alone (no test): trials, the best one, and where they ran."""

    outer: Split
    validation: Split
    trials: list[TrialRecord]
    best: TrialRecord
    importances: dict[str, float]
    resumed: int
    interrupted: int
    seconds: float
    pruning: str | None = None


def search(
    dataset: Dataset,
    split_spec: SplitSpec,
    spec: TuneSpec,
    files: StudyFiles | None = None,
    val_split: str | None = None,
    on_progress: Callable[[TuneProgress], None] | None = None,
    trial_runner: TrialRunner | None = None,
) -> SearchResult:
    """Search ``spec.space`` on a validation split cut from the training part of
    ``split_spec``; the outer test part is not touched. ``files`` names a stored (resumable)
    study; None uses a temporary one. ``trial_runner`` runs the trial loops (default: here,
    or ``spec.jobs`` worker processes)."""
    import optuna

    _quiet_optuna()
    t0 = time.perf_counter()
    outer, val, vspec = prepare(dataset, split_spec, spec, val_split)
    identity = {
        "algorithm": spec.algorithm,
        "dataset": dataset.name,
        "checksum": dataset.checksum,
        "split": str(split_spec),
        "val_split": str(vspec),
        "metric": spec.objective.key,
        "relevance_threshold": spec.relevance_threshold,
        "seed": spec.seed,
        "space": describe_space(spec.space),
        "fixed": spec.fixed,
    }
    cls = plugins.load(spec.algorithm)
    overrides: dict[str, Any] = {}
    threads_param = "num_threads" in cls.Config.model_fields
    if spec.jobs > 1 and threads_param and "num_threads" not in spec.fixed:
        overrides["num_threads"] = 1  # workers share the cores
    with _study_files(files) as sfiles, hold(sfiles):
        repair_journal(sfiles)
        study = optuna.create_study(
            study_name=STUDY,
            storage=open_storage(sfiles),
            direction=spec.objective.direction,
            load_if_exists=True,
        )
        check_identity(study, identity, sfiles.name)
        interrupted = fail_interrupted(study)
        resumed = _counted([_record(t) for t in study.get_trials(deepcopy=False)])
        deadline = time.time() + spec.timeout if spec.timeout is not None else None
        pruning = spec.prune is not None and prunable(spec.algorithm, val)
        probe = probe_split(val, spec.seed) if pruning else None
        work = _Work(spec, sfiles, val, deadline, overrides, probe)

        def poll() -> None:
            if on_progress is not None:
                records = [_record(t) for t in study.get_trials(deepcopy=False)]
                on_progress(progress_of(records, spec.objective, spec.n_trials, t0))

        poll()
        if trial_runner is not None:
            trial_runner(work, poll)
        elif spec.jobs == 1:
            run_trials(work, on_trial=poll)
        else:
            _run_parallel(work, poll)
        poll()
        records = [_record(t) for t in study.get_trials(deepcopy=False)]
        best = _best(records, spec.objective)
        if best is None:
            errors = [r.error for r in records if r.error]
            raise UsageError(
                f"no trial of {spec.algorithm} completed"
                + (f"; first error: {errors[0]}" if errors else "")
            )
        importances = _importances(study)
    seconds = time.perf_counter() - t0
    how = spec.prune.describe() if probe is not None and spec.prune is not None else None
    return SearchResult(outer, val, records, best, importances, resumed, interrupted, seconds, how)


def tune(
    dataset: Dataset,
    split_spec: SplitSpec,
    spec: TuneSpec,
    files: StudyFiles | None = None,
    val_split: str | None = None,
    on_progress: Callable[[TuneProgress], None] | None = None,
    reference: bool = True,
    trial_runner: TrialRunner | None = None,
) -> TuneResult:
    """:func:`search`, then refit the best configuration on the outer training part and test
    it once. ``reference`` also tests the algorithm's defaults, for comparison (reported
    beside the tuned result, never used to choose). No printing, no files besides the study.
    """
    t0 = time.perf_counter()
    found = search(dataset, split_spec, spec, files, val_split, on_progress, trial_runner)
    outer, val, best = found.outer, found.validation, found.best
    params = {**spec.fixed, **best.params}
    config = spec.eval_config()
    _, res, fit_s = run_cell(AlgoSpec(spec.algorithm, params), outer, spec.seed, config)
    default_test = None
    if reference:
        _, ref, _ = run_cell(AlgoSpec(spec.algorithm, dict(spec.fixed)), outer, spec.seed, config)
        default_test = ref.metrics
    return TuneResult(
        spec=spec,
        dataset=dataset.name,
        protocol=outer.protocol,
        val_protocol=val.protocol,
        study=files.name if files is not None else None,
        trials=found.trials,
        best=best,
        params=params,
        importances=found.importances,
        test=res.metrics,
        default_test=default_test,
        resumed=found.resumed,
        interrupted=found.interrupted,
        seconds=time.perf_counter() - t0,
        fit_seconds=fit_s,
        n_validation=len(val.test),
        n_train=len(val.train.interactions),
        history=best_so_far(found.trials, spec.objective),
        pruning=found.pruning,
    )


@contextlib.contextmanager
def _study_files(files: StudyFiles | None) -> Iterator[StudyFiles]:
    if files is not None:
        yield files
        return
    with temporary_study() as tmp:
        yield tmp


def _importances(study: optuna.Study) -> dict[str, float]:
    """Optuna's parameter importances (PED-ANOVA); empty when too few trials completed."""
    import optuna

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return dict(optuna.importance.get_param_importances(study))
    except (RuntimeError, ValueError, ZeroDivisionError):
        return {}
