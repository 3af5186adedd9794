"""One experiment path: the rules every command that fits and evaluates follows, in one place.

``compare``, ``evaluate --algo``, :func:`recbench.api.compare`, the offline half of ``abtest
plan`` and ``compare --tune`` call :func:`run_experiment` with an :class:`ExperimentRequest`;
a study's ``run`` (:mod:`recbench.study.runner`), which records cell by cell across datasets,
applies the same checks through :func:`check_split` and tunes through :func:`tune_request`.
The rules:

- the split must hold test data out (:func:`check_split`), and accept the data
  (:func:`recbench.split.check_split_data`: leave-one-out refuses one-item users);
- sampled candidates (``--candidates``) must be drawable for every split of every repeat
  (:func:`recbench.evaluation.check_candidates`);
- every K is capped at the catalogue size, with a note (:func:`cap_ks`);
- every algorithm is validated and asked whether it refuses the data before any fit
  (:func:`recbench.executors.run_cells`);
- a stored study's best parameters are checked for every repeat's seed before any work
  (:mod:`recbench.tuning.reuse`), and tuning (``tune_trials``) is done per repeat on the
  repeat's own training part (:mod:`recbench.tuning.repeats`), its note added to the protocol.

Nothing here prints or writes files: notes and warnings come back on the result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from recbench import executors
from recbench.algorithms import plugins
from recbench.algorithms.base import Recommender
from recbench.data.model import Dataset
from recbench.errors import UsageError
from recbench.evaluation import EvalConfig, check_candidates, evaluate
from recbench.experiment import (
    AlgoSpec,
    CellOutcome,
    Event,
    ExperimentResult,
    run_repeats,
    single_result,
)
from recbench.split import Split, SplitSpec, check_split_data
from recbench.tuning.problem import Objective, parse_objective
from recbench.tuning.repeats import OnProgress, RowTuning, tune_rows
from recbench.tuning.reuse import StoredBest, check_reuse

#: the rows to run in the repeat with a seed (tuned rows differ by repeat)
RowsFor = Callable[[int], list[AlgoSpec]]
#: per seed: cells recorded by an interrupted run, and where to record each finished cell
Recording = Callable[
    [int],
    tuple[dict[tuple[int, str], CellOutcome] | None, Callable[[CellOutcome], None] | None],
]


@dataclass
class ExperimentRequest:
    """What to run: algorithms on one dataset and split, evaluated as ``eval`` says."""

    dataset: Dataset
    split: SplitSpec
    algos: list[AlgoSpec]
    eval: EvalConfig = field(default_factory=EvalConfig)
    seed: int = 0
    repeats: int = 1
    #: the command named in messages ("compare", "evaluate", ...)
    command: str = "compare"
    #: the default set of algorithms: drop those unsuitable for the data, with a note
    default_set: bool = False
    #: a paired test follows: refuse data with fewer than two pairable users up front
    paired: bool = False
    #: ``--tune N``: trials per algorithm and repeat (0: no tuning), and the metric optimised
    tune_trials: int = 0
    tune_metric: str | None = None
    #: rows taking a stored study's best parameters: label -> that study's best
    stored: dict[str, StoredBest] = field(default_factory=dict)


@dataclass
class Hooks:
    """How the caller follows and places the work; all optional."""

    on_event: Callable[[Event], None] | None = None
    #: where cells run (in process by default); on Dask the tuning trials run there too
    executor: executors.Executor | None = None
    on_tune_progress: OnProgress | None = None
    #: called once the rows and evaluation are settled, before any cell: the recording
    #: (the rows per seed, the evaluation, the rows as asked, unsuitable ones dropped)
    start: Callable[[RowsFor, EvalConfig, list[AlgoSpec]], Recording | None] | None = None


def check_split(split: SplitSpec, command: str) -> None:
    """An experiment needs test data: refuse a split that holds nothing out."""
    if not split.holds_out:
        raise UsageError(f"{command} needs a split with test data (not '{split}')")


def check_saved_options(
    dataset: str | None,
    columns: str | None,
    sep: str | None,
    param: list[str] | None,
    prep: tuple[int, int, float | None],
) -> None:
    """A saved model is evaluated as its manifest says: refuse options that would not apply."""
    given = (("--dataset", dataset), ("--columns", columns), ("--sep", sep))
    ignored = [n for n, v in given if v is not None]
    if ignored:
        raise UsageError(
            f"{', '.join(ignored)} applies to --algo; a saved model is evaluated on the dataset "
            "recorded in its manifest"
        )
    if param:
        raise UsageError("--param applies to --algo; a saved model keeps its parameters")
    if prep[0] or prep[1] or prep[2] is not None:
        raise UsageError("a saved model keeps the preprocessing recorded in its manifest")


def model_data(
    model: Path, manifest: dict[str, Any], split: str | None, load: Callable[..., Dataset]
) -> tuple[Dataset, Split, SplitSpec, int]:
    """The dataset (read with ``load(spec, preprocessing)``) and split a model was fitted on,
    checked against its manifest: another --split, or data changed since, is refused."""
    from recbench.errors import ModelDirError
    from recbench.persistence import model_origin
    from recbench.split import make_split, parse_split

    origin = model_origin(model, manifest)
    if split is not None and str(parse_split(split)) != str(origin.split):
        raise UsageError(
            f"model {model} was fitted on split '{origin.split}'; it is evaluated on that split "
            f"(drop --split, or fit again with --split {split})"
        )
    ds = load(origin.dataset, origin.preprocessing)
    if ds.checksum != origin.checksum:
        raise ModelDirError(
            f"dataset {origin.dataset.dataset} has changed since model {model} was fitted "
            "(checksum differs); fit the model again"
        )
    return ds, make_split(ds, origin.split, origin.seed, origin.fold), origin.split, origin.seed


def cap_ks(config: EvalConfig, dataset: Dataset) -> tuple[EvalConfig, str | None]:
    """Every K capped at the catalogue size (a longer list cannot exist), and the note saying
    so (None when no K was over)."""
    n = dataset.n_items
    if max(config.ks) <= n:
        return config, None
    big = ",".join(str(k) for k in config.ks if k > n)
    note = f"--k {big} is more than the {n:,} items of {dataset.name}; using K={n}"
    return replace(config, ks=tuple(dict.fromkeys(min(k, n) for k in config.ks))), note


def suitable(dataset: Dataset, algos: list[AlgoSpec]) -> tuple[list[AlgoSpec], list[str]]:
    """The algorithms that suit ``dataset`` (the default set), and a note per one dropped."""
    kept, notes = [], []
    for spec in algos:
        reason = plugins.load(spec.name).unsuitable(dataset)
        if reason:
            notes.append(f"skipping {spec.name}: it {reason}, and {dataset.name} has none")
        else:
            kept.append(spec)
    return kept, notes


def tune_request(
    dataset: Dataset,
    split: SplitSpec,
    algos: list[AlgoSpec],
    n_trials: int,
    objective: Objective | str,
    seeds: list[int],
    eval_config: EvalConfig,
    on_progress: OnProgress | None = None,
    executor: executors.Executor | None = None,
) -> RowTuning:
    """The one tuning entry point of comparisons (``compare --tune``, a study's ``tune``):
    each seed's rows tuned on validation cut from that seed's training part; on a Dask
    executor the trial loops run on its workers."""
    from recbench.tuning.distributed import trials_on

    if isinstance(objective, str):
        objective = parse_objective(objective)
    runner_for = None
    if isinstance(executor, executors.DaskExecutor):
        dask = executor
        runner_for = lambda spec: trials_on(dask, spec)  # noqa: E731
    return tune_rows(dataset, split, algos, n_trials, objective, seeds,
                     eval_config.relevance_threshold, eval_config.memory_mb, on_progress,
                     runner_for)  # fmt: skip


def run_experiment(request: ExperimentRequest, hooks: Hooks | None = None) -> ExperimentResult:
    """Run ``request`` (every repeat, every algorithm, every fold) under the rules above; the
    result carries the notes (:attr:`ExperimentResult.notes`) and warnings to show."""
    hooks = hooks or Hooks()
    ds, split = request.dataset, request.split
    check_split(split, request.command)
    check_split_data(ds, split)
    eval_config, note = cap_ks(request.eval, ds)
    seeds = [request.seed + r for r in range(request.repeats)]
    for seed in seeds:  # sampled candidates must be drawable for every split of every repeat
        check_candidates(ds, split, seed, eval_config)
    notes = [note] if note else []
    warnings: list[str] = []
    if request.paired:
        from recbench.significance import check_pairable

        check_pairable(ds, split, request.seed, eval_config.relevance_threshold)
    algos = request.algos
    if request.default_set:
        algos, dropped = suitable(ds, algos)
        notes += dropped
    # a stored study is checked for every repeat's seed, before any work (reuse.py: the rule)
    reused = [check_reuse(b, label, ds.checksum, str(split), seeds)
              for label, b in request.stored.items()]  # fmt: skip
    tuning = None
    if request.tune_trials:
        metric = request.tune_metric or f"ndcg@{eval_config.ks[0]}"
        tuning = tune_request(ds, split, algos, request.tune_trials, metric, seeds, eval_config,
                              hooks.on_tune_progress, hooks.executor)  # fmt: skip
    rows_for: RowsFor = tuning.specs_for if tuning is not None else (lambda seed: algos)
    recording = hooks.start(rows_for, eval_config, algos) if hooks.start is not None else None

    def one(seed: int) -> ExperimentResult:
        recorded, on_outcome = recording(seed) if recording is not None else (None, None)
        rows = rows_for(seed)
        return executors.run_cells(ds, split, rows, seed, eval_config, hooks.on_event,
                                   hooks.executor, recorded, on_outcome)  # fmt: skip

    res = run_repeats(one, request.seed, request.repeats)
    if tuning is not None:
        res.protocol = f"{res.protocol}; {tuning.note()}"
        res.tuning = tuning.to_json()
    for line, leak_free in reused:
        res.protocol = f"{res.protocol}; {line}"
        if not leak_free:
            warnings.append(line)
    res.notes = notes
    res.warnings = warnings
    return res


def evaluate_saved(
    model_dir: Path,
    fitted: Recommender,
    config: dict[str, Any],
    manifest: dict[str, Any],
    dataset: Dataset,
    split: Split,
    split_spec: SplitSpec,
    seed: int,
    eval_config: EvalConfig,
) -> ExperimentResult:
    """A saved model evaluated on the split it was fitted on, under the same rules as a run
    (test data needed, K capped, the note on the result)."""
    if not split_spec.holds_out:
        raise UsageError(
            f"model {model_dir} was fitted on all ratings (split '{split_spec}'): no test data"
        )
    eval_config, note = cap_ks(eval_config, dataset)
    res = single_result(dataset, split, split_spec, config["algorithm"],
                        config.get("params") or {}, evaluate(fitted, split, eval_config),
                        float(manifest.get("fit_seconds", 0.0)), seed, eval_config)  # fmt: skip
    res.notes = [note] if note else []
    return res


def offline_per_user(request: ExperimentRequest, column: str) -> np.ndarray:
    """Per-user values of one offline metric column (e.g. ``ndcg@10``) of the one algorithm in
    ``request``, on the first fold of its split (the offline half of ``abtest plan``)."""
    res = run_experiment(request)
    per_user = res.per_user
    if "fold" in per_user:
        per_user = per_user[per_user["fold"] == 0]
    label = request.algos[0].label
    if column not in per_user.columns:
        have = ", ".join(c for c in per_user.columns if c not in ("user", "fold", "algorithm"))
        raise UsageError(f"{label} has no per-user '{column}' (it has: {have or 'none'})")
    return per_user[column].to_numpy(np.float64)
