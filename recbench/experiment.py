"""Experiments: algorithms x splits -> one tidy results DataFrame.

Each (algorithm, fold) cell is fitted, timed and evaluated; results are long-format rows
``dataset, split, fold, algorithm, params, metric, k, value, fit_seconds, score_seconds,
n_users, n_test, n_fallback, seed`` and per-user values are kept beside them.

``--repeats N`` (:func:`run_repeats`) reruns the whole experiment (split, fit, evaluate) with
seeds ``seed .. seed+N-1`` and stacks the results: rows carry their repeat's ``seed``, and the
per-user frame gains a ``seed`` column, so per-user values are kept per repeat.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from recbench.algorithms import plugins
from recbench.algorithms.base import Recommender
from recbench.data.model import Dataset
from recbench.errors import UsageError
from recbench.evaluation import EvalConfig, EvalResult, evaluate
from recbench.split import Split, SplitSpec
from recbench.stats.table import TableStats

RESULT_COLUMNS = [
    "dataset",
    "split",
    "fold",
    "algorithm",
    "params",
    "metric",
    "k",
    "value",
    "fit_seconds",
    "score_seconds",
    "n_users",
    "n_test",
    "n_fallback",
    "seed",
]


@dataclass(frozen=True)
class AlgoSpec:
    """An algorithm to run: registry name, parameter overrides, and the row label.

    ``variant`` is set for configurations written ``name[k=v,...]``; the row label is then
    ``name[k=v,...]`` so several configurations of one algorithm can share a table.
    """

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    variant: str | None = None

    @property
    def label(self) -> str:
        return f"{self.name}[{self.variant}]" if self.variant else self.name


@dataclass
class Event:
    """Progress report from a running experiment, for the CLI to display."""

    kind: str  # "cell-start", "train-progress", "fit-done", "eval-progress", "cell-done"
    algorithm: str
    fold: int
    n_folds: int
    done: int = 0
    total: int = 0
    loss: float | None = None


@dataclass
class ExperimentResult:
    results: pd.DataFrame
    per_user: pd.DataFrame
    dataset: Dataset
    split: SplitSpec
    protocol: str
    seed: int
    eval_config: EvalConfig
    cold_users: dict[str, int] = field(default_factory=dict)
    #: row labels in run order (including algorithms that were unable to run)
    algorithms: list[str] = field(default_factory=list)
    #: label -> why it could not be evaluated under this protocol
    unable: dict[str, str] = field(default_factory=dict)
    #: tidy per-segment metrics: algorithm, fold, segment, metric, value
    segments: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: label -> parameters (validated), for every algorithm run
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: how many repeats (seeds seed..seed+repeats-1) the results stack
    repeats: int = 1
    #: intervals and baseline comparisons (recbench.significance.analyse), when computed
    stats: TableStats | None = None
    #: ``--tune`` / a study's ``tune``: parameters chosen per repeat and their spread
    #: (recbench.tuning.repeats.RowTuning.to_json), None when nothing was tuned
    tuning: dict[str, Any] | None = None
    #: lines for the user about how the request was adjusted (a K capped, rows skipped)
    notes: list[str] = field(default_factory=list)
    #: lines for the user about a risk in the protocol (a stored study's parameters that leak)
    warnings: list[str] = field(default_factory=list)
    #: (label, seed, fold) -> the fit's learning curve, for models that record one
    curves: dict[tuple[str, int, int], list[list[float]]] = field(default_factory=dict)

    def summary(self) -> pd.DataFrame:
        """Mean and standard deviation over folds per (algorithm, metric, k)."""
        return fold_summary(self.results)


def run_repeats(
    run: Callable[[int], ExperimentResult], seed: int = 0, repeats: int = 1
) -> ExperimentResult:
    """``run(seed + r)`` for each repeat ``r`` (the whole experiment: split, fit, evaluate),
    stacked into one result whose ``seed`` is the first repeat's.

    With one repeat this is ``run(seed)`` unchanged. Otherwise rows keep their repeat's seed,
    the per-user frame gains a ``seed`` column, and the protocol names the seeds.
    """
    if repeats < 1:
        raise UsageError(f"--repeats must be a positive integer, got {repeats}")
    if repeats == 1:
        return run(seed)
    parts = [run(seed + r) for r in range(repeats)]
    first = parts[0]
    per_user = []
    for part in parts:
        if len(part.per_user):
            pu = part.per_user.copy()
            pu.insert(2 if "fold" in pu else 0, "seed", part.seed)
            per_user.append(pu)
    unable: dict[str, str] = {}
    for part in parts:
        unable.update(part.unable)
    return replace(
        first,
        results=results_frame([r for part in parts for r in part.results.to_dict("records")]),
        per_user=pd.concat(per_user, ignore_index=True) if per_user else pd.DataFrame(),
        protocol=f"{first.protocol}; repeated {repeats} times with seeds "
        f"{seed}..{seed + repeats - 1}",
        unable=unable,
        segments=pd.concat([p.segments for p in parts], ignore_index=True),
        repeats=repeats,
        curves={k: v for part in parts for k, v in part.curves.items()},
    )


def run_cell(
    algo: AlgoSpec,
    split: Split,
    seed: int,
    eval_config: EvalConfig,
    on_event: Callable[[Event], None] | None = None,
    n_folds: int = 1,
) -> tuple[Recommender, EvalResult, float]:
    """Fit one algorithm on one split and evaluate it; returns model, result, fit seconds."""
    model = plugins.make(algo.name, algo.params, seed=seed)

    def trained(step: int, of: int, loss: float) -> None:
        if on_event is not None:
            on_event(Event("train-progress", algo.label, split.fold, n_folds, step, of, loss))

    t0 = time.perf_counter()
    model.fit(split.train, progress=trained if on_event is not None else None)
    fit_seconds = time.perf_counter() - t0
    if on_event:
        on_event(Event("fit-done", algo.label, split.fold, n_folds))

    def progress(done: int, total: int) -> None:
        if on_event:
            on_event(Event("eval-progress", algo.label, split.fold, n_folds, done, total))

    return model, evaluate(model, split, eval_config, progress), fit_seconds


def validate_algos(algos: list[AlgoSpec]) -> None:
    """Every algorithm known, installed and its parameters valid, before any fit starts."""
    for a in algos:
        cls = plugins.load(a.name)
        plugins.ensure_available(a.name, cls)
        plugins.make_config(a.name, cls, a.params)


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
    #: the fit's learning curve, (epoch, validation value) pairs (Recommender.learning_curve)
    curve: list[list[float]] | None = None


def evaluate_cell(
    dataset_name: str,
    index: int,
    algo: AlgoSpec,
    split: Split,
    seed: int,
    eval_config: EvalConfig,
    n_folds: int,
    on_event: Callable[[Event], None] | None = None,
    tolerate: bool = False,
) -> CellOutcome:
    """Fit and evaluate one cell. With ``tolerate``, a refusal raised while it runs (a
    :class:`UsageError` or running out of memory) makes the cell ``unable`` instead of failing
    the whole comparison."""
    out = CellOutcome(index, algo.label, split.fold, split.protocol)
    try:
        model, res, fit_s = run_cell(algo, split, seed, eval_config, on_event, n_folds)
    except (UsageError, MemoryError) as exc:
        if not tolerate:
            raise
        out.unable = str(exc) or "ran out of memory"
        out.refused = True
        return out
    out.n_cold = res.n_cold_users
    out.unable = res.unable
    out.curve = model.learning_curve()
    out.rows = result_rows(dataset_name, split, algo.label, algo.params, res, fit_s, seed)
    out.segments = segment_rows(split, algo.label, res)
    if len(res.per_user):
        pu = res.per_user.copy()
        pu.insert(0, "fold", split.fold)
        pu.insert(0, "algorithm", algo.label)
        out.per_user = pu
    return out


def cell_here(
    dataset_name: str,
    index: int,
    algo: AlgoSpec,
    split: Split,
    seed: int,
    eval_config: EvalConfig,
    n_folds: int,
    on_event: Callable[[Event], None] | None,
    tolerate: bool,
) -> CellOutcome:
    """:func:`evaluate_cell` in this process, between its start and done events."""
    if on_event:
        on_event(Event("cell-start", algo.label, split.fold, n_folds))
    out = evaluate_cell(dataset_name, index, algo, split, seed, eval_config, n_folds, on_event,
                        tolerate)  # fmt: skip
    if on_event:
        on_event(Event("cell-done", algo.label, split.fold, n_folds))
    return out


def assemble(
    dataset: Dataset,
    split_spec: SplitSpec,
    algos: list[AlgoSpec],
    seed: int,
    eval_config: EvalConfig,
    outcomes: list[CellOutcome],
    refused: dict[str, str] | None = None,
) -> ExperimentResult:
    """The experiment's result from its cells' outcomes (any order; put in the serial order)
    and the algorithms ``refused`` before any work (label -> reason)."""
    outcomes = sorted(outcomes, key=lambda o: (o.fold, o.index))
    unable = dict(refused or {})
    rows: list[dict[str, Any]] = []
    segments: list[dict[str, Any]] = []
    per_user: list[pd.DataFrame] = []
    cold: dict[str, int] = {}
    curves: dict[tuple[str, int, int], list[list[float]]] = {}
    for o in outcomes:
        cold[o.label] = cold.get(o.label, 0) + o.n_cold
        if o.curve:
            curves[(o.label, seed, o.fold)] = o.curve
        if o.unable:
            unable[o.label] = o.unable
        rows += o.rows
        segments += o.segments
        if len(o.per_user):
            per_user.append(o.per_user)
    protocol = outcomes[-1].protocol if outcomes else split_spec.describe(seed)
    order = [a.label for a in algos]
    scored = {r["algorithm"] for r in rows}
    for label in order:  # every test user cold in every fold: say so, not an empty row
        if label not in unable and label not in scored and cold.get(label):
            unable[label] = (
                f"has no test user it can score (all {cold[label]:,} are cold: no training ratings)"
            )
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
        curves=curves,
    )


def result_rows(
    dataset: str,
    split: Split,
    algorithm: str,
    params: dict[str, Any],
    res: EvalResult,
    fit_seconds: float,
    seed: int,
) -> list[dict[str, Any]]:
    """Tidy rows (one per metric) for one evaluated (algorithm, fold) cell."""
    rows = []
    n_rated_users = len(np.unique(split.test.user))
    for key, value in res.metrics.items():
        name, _, k = key.partition("@")
        rows.append(
            {
                "dataset": dataset,
                "split": split.spec or split.name,
                "fold": split.fold,
                "algorithm": algorithm,
                "params": json.dumps(params, sort_keys=True),
                "metric": name,
                "k": int(k) if k else None,
                "value": value,
                "fit_seconds": fit_seconds,
                "score_seconds": res.score_seconds,
                "n_users": res.n_ranked_users if k else n_rated_users,
                "n_test": res.n_test_pairs,
                "n_fallback": 0 if k else res.n_fallback,
                "seed": seed,
            }
        )
    return rows


SEGMENT_COLUMNS = ["algorithm", "fold", "segment", "metric", "value"]


def segment_rows(split: Split, algorithm: str, res: EvalResult) -> list[dict[str, Any]]:
    return [
        {"algorithm": algorithm, "fold": split.fold, "segment": seg, "metric": m, "value": v}
        for seg, values in res.segments.items()
        for m, v in values.items()
    ]


def results_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    frame["k"] = frame["k"].astype("Int64")
    return frame


def single_result(
    dataset: Dataset,
    split: Split,
    split_spec: SplitSpec,
    algorithm: str,
    params: dict[str, Any],
    res: EvalResult,
    fit_seconds: float,
    seed: int,
    eval_config: EvalConfig,
) -> ExperimentResult:
    """An ExperimentResult for one already-fitted model evaluated on one split."""
    frame = results_frame(
        result_rows(dataset.name, split, algorithm, params, res, fit_seconds, seed)
    )
    per_user = res.per_user.copy()
    if len(per_user):
        per_user.insert(0, "fold", split.fold)
        per_user.insert(0, "algorithm", algorithm)
    protocol = split.protocol
    if split_spec.n_folds > 1:  # a saved model is one fold of its split
        protocol = f"{protocol}; this model: {split.name} only"
    return ExperimentResult(
        frame,
        per_user,
        dataset,
        split_spec,
        protocol,
        seed,
        eval_config,
        {algorithm: res.n_cold_users},
        [algorithm],
        {algorithm: res.unable} if res.unable else {},
        pd.DataFrame(segment_rows(split, algorithm, res), columns=SEGMENT_COLUMNS),
        {algorithm: params},
    )


def fold_summary(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample standard deviation over folds per (algorithm, metric, k)."""
    keys = ["algorithm", "metric", "k"]
    g = results.groupby(keys, sort=False, dropna=False)
    out = g.agg(
        mean=("value", "mean"),
        std=("value", "std"),
        n_folds=("value", "size"),
        fit_seconds=("fit_seconds", "mean"),
        score_seconds=("score_seconds", "mean"),
        n_fallback=("n_fallback", "sum"),
        n_test=("n_test", "sum"),
    ).reset_index()
    return out
