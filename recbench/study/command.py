"""What a compare/evaluate run's manifest keeps of the command that made it: the equivalent
study file (also what ``--save-study`` writes) and the metrics its table showed; and the
recording of those runs in the results store (:func:`open_live`, :func:`record_run`), which
returns what to tell the user instead of printing it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recbench.experiment import AlgoSpec, ExperimentResult

if TYPE_CHECKING:
    from recbench.data.model import Dataset
    from recbench.evaluation import EvalConfig
    from recbench.split import SplitSpec
    from recbench.store.live import LiveRun
    from recbench.store.runs import Store


def study_text(
    command: str, specs: list[AlgoSpec] | None, options: dict[str, Any] | None, seed: int
) -> str | None:
    """The study file equivalent to a compare/evaluate call (paths made absolute), or None
    without the algorithm rows and options."""
    if specs is None or options is None:
        return None
    from recbench.study.save import compare_study

    opts = dict(options)
    ds = opts.get("dataset")
    if ds and ("/" in ds or "." in ds) and Path(ds).exists():
        opts["dataset"] = str(Path(ds).resolve())
    if opts.get("output") is not None:
        opts["output"] = str(Path(opts["output"]).resolve())
    return compare_study(specs, opts, seed, command)


def manifest_extra(text: str | None, options: dict[str, Any] | None) -> dict[str, Any]:
    """The manifest keys a compare/evaluate run adds: ``study`` (text) and ``metrics``."""
    extra: dict[str, Any] = {"study": text} if text else {}
    if options is not None:
        from recbench.render import parse_metrics

        extra["metrics"] = list(parse_metrics(options.get("metrics")))
    return extra


#: compare/evaluate keyword arguments that a saved study keeps
OPTION_KEYS = (
    "dataset",
    "columns",
    "sep",
    "split",
    "k",
    "metrics",
    "relevance_threshold",
    "fmt",
    "output",
    "fail_if",
    "by_segment",
    "min_user_ratings",
    "min_item_ratings",
    "implicit_threshold",
    "memory_mb",
    "repeats",
    "ci",
    "baseline",
    "test",
    "correction",
    "alpha",
    "tune_trials",
    "tune_metric",
    "workers",
    "scheduler",
)


def study_options(scope: dict[str, Any]) -> dict[str, Any]:
    """The options of a compare/evaluate call (its ``locals()``) that a study file keeps."""
    return {k: scope.get(k) for k in OPTION_KEYS}


def open_live(
    store: Store,
    dataset: Dataset,
    split: SplitSpec,
    rows: dict[int, list[AlgoSpec]],
    eval_config: EvalConfig,
    asked: list[AlgoSpec],
    options: dict[str, Any],
    seed: int,
) -> tuple[LiveRun, str | None, str | None]:
    """A compare's store run, recorded cell by cell, resuming a matching interrupted or failed
    one: the run, a note when one is resumed, a warning when the store cannot be searched."""
    from recbench.store.live import LiveRun

    extra = manifest_extra(study_text("compare", asked, options, seed), options)
    live = LiveRun(store, dataset, split, rows, eval_config, "compare", extra)
    warning = note = None
    try:
        live.open()
    except OSError as exc:  # an unreadable store: run without resuming
        warning = f"could not look for a run to resume in the results store ({exc.strerror or exc})"
    if live.resumed is not None:
        run_id, n = live.resumed
        note = (f"resuming run {run_id}: {n} of {live.n_cells} cells were recorded; running "
                "the rest (remove it with `recbench runs rm` to start over)")  # fmt: skip
    return live, note, warning


def record_run(
    store: Store,
    res: ExperimentResult,
    command: str,
    text: str | None,
    options: dict[str, Any] | None,
    live: LiveRun | None = None,
) -> Callable[[], str | None]:
    """What records a finished compare/evaluate (its cells are recorded already with
    ``live``: that run is marked complete); called by the caller, which reports failures."""
    from recbench.store.record import record_experiment

    extra = manifest_extra(text, options)
    if live is not None:
        return lambda: live.finish(protocol=res.protocol, **extra)
    return lambda: record_experiment(store, res, command, extra)


def recording_failure(exc: Exception) -> str:
    """The warning for a run that could not be recorded (the results are shown all the same)."""
    from recbench.store.runs import StoreWriteError

    if isinstance(exc, StoreWriteError):
        return (f"run not recorded in full in the results store ({exc.reason}): {exc.outcome}; "
                "see --no-store")  # fmt: skip
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
    return f"run not recorded in the results store ({reason}); see --no-store"
