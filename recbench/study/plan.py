"""A validated study -> a plan: typed datasets, splits, algorithm rows (grids expanded), seeds,
and the cells (dataset x split x seed x fold x algorithm) to run, each with a stable id.

Every check here runs before any work and before anything is recorded; errors name the study
file, the line and the key.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recbench.algorithms import plugins
from recbench.data import DatasetSpec, Preprocessing
from recbench.errors import RecbenchError
from recbench.evaluation import EvalConfig
from recbench.experiment import AlgoSpec
from recbench.metrics import BEYOND_NAMES, DEFAULT_METRICS, METRIC_ALIASES, METRIC_SPECS, METRICS
from recbench.pipeline import check_split
from recbench.render import output_format
from recbench.split import SplitSpec, parse_split
from recbench.study.model import AlgorithmEntry, DatasetEntry, StudyFile
from recbench.tuning.problem import Objective, parse_objective


@dataclass(frozen=True)
class DatasetPlan:
    """One dataset of the study: how to load it and what to do to it first."""

    entry: DatasetEntry
    spec: DatasetSpec
    prep: Preprocessing
    loc: tuple[str | int, ...]


@dataclass(frozen=True)
class Cell:
    """One unit of work and of storage: an algorithm row fitted and evaluated on one fold."""

    dataset: int
    split: str
    seed: int
    fold: int
    n_folds: int
    algorithm: AlgoSpec

    @property
    def key(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "split": self.split,
            "seed": self.seed,
            "fold": self.fold,
            "algorithm": self.algorithm.name,
            "label": self.algorithm.label,
            "params": self.algorithm.params,
        }

    @property
    def id(self) -> str:
        return _digest(self.key)[:20]


@dataclass
class Plan:
    """Everything a study runs, validated."""

    source: StudyFile
    datasets: list[DatasetPlan]
    splits: list[SplitSpec]
    algorithms: list[AlgoSpec]
    seeds: list[int]
    eval: EvalConfig
    metrics: tuple[str, ...]
    extras: dict[str, Any] = field(default_factory=dict)
    #: ``tune``: trials per algorithm (0: no tuning) and the metric they optimise
    tune: int = 0
    tune_objective: Objective | None = None
    #: (dataset index, split, seed) -> the tuned algorithm rows, once tuning has run (each
    #: repeat's seed tuned on its own training part: recbench.tuning.repeats)
    tuned: dict[tuple[int, str, int], list[AlgoSpec]] = field(default_factory=dict)

    def algorithms_for(self, dataset: int, split: str, seed: int | None = None) -> list[AlgoSpec]:
        """The rows run on one (dataset, split, seed; default the first seed): tuned ones when
        tuning has run. Labels are the same for every seed; tuned parameters may differ."""
        key = (dataset, split, self.seeds[0] if seed is None else seed)
        return self.tuned.get(key, self.algorithms)

    def cells(self) -> list[Cell]:
        """Every cell, in run order: dataset, split, seed, fold, algorithm."""
        out = []
        for d, _ in enumerate(self.datasets):
            for sp in self.splits:
                for seed in self.seeds:
                    for fold in range(sp.n_folds):
                        for algo in self.algorithms_for(d, str(sp), seed):
                            out.append(Cell(d, str(sp), seed, fold, sp.n_folds, algo))
        return out

    def fingerprint(self, checksums: list[str]) -> str:
        """Identifies 'the same study on the same data': what a resumed run must match."""
        return _digest(
            {
                "datasets": [
                    {**d.spec.to_dict(), **_prep_dict(d.prep), "checksum": c}
                    for d, c in zip(self.datasets, checksums, strict=True)
                ],
                "splits": [str(s) for s in self.splits],
                "seeds": self.seeds,
                "ks": list(self.eval.ks),
                "relevance_threshold": self.eval.relevance_threshold,
                "cells": [c.id for c in self.cells()],
            }
        )


def _prep_dict(prep: Preprocessing) -> dict[str, Any]:
    return {
        "min_user_ratings": prep.min_user_ratings,
        "min_item_ratings": prep.min_item_ratings,
        "implicit_threshold": prep.implicit_threshold,
    }


def _digest(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _accepts_list(cls: type[Any], name: str) -> bool:
    info = cls.Config.model_fields.get(name)
    return info is not None and any(t in str(info.annotation) for t in ("list", "tuple", "List"))


def _grid_axes(
    sf: StudyFile, i: int, entry: AlgorithmEntry, cls: type[Any]
) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """Split an entry's params into fixed values and grid axes (a list value is a grid)."""
    fixed: dict[str, Any] = {}
    grid: dict[str, list[Any]] = {}
    for key, value in entry.params.items():
        is_grid = isinstance(value, list) and (
            not _accepts_list(cls, key) or (bool(value) and isinstance(value[0], list))
        )
        if is_grid:
            if not value:
                raise sf.error(
                    ("algorithms", i, "params", key), "grid of 0 values (give at least one value)"
                )
            grid[key] = list(dict.fromkeys(json.dumps(v, sort_keys=True) for v in value))
            grid[key] = [json.loads(v) for v in grid[key]]
        elif isinstance(value, dict):
            raise sf.error(("algorithms", i, "params", key), "a parameter value cannot be a table")
        else:
            fixed[key] = value
    return fixed, grid


def _shared_params(sf: StudyFile, classes: dict[str, type[Any]]) -> dict[str, dict[str, Any]]:
    """Top-level ``params``: ``name`` applies to every algorithm that has it, ``algo.name``
    to one (like ``--param``)."""
    shared: dict[str, dict[str, Any]] = {n: {} for n in classes}
    for key, value in sf.study.params.items():
        algo, dot, pname = key.rpartition(".")
        loc: tuple[str | int, ...] = ("params", key)
        if isinstance(value, (list, dict)):
            raise sf.error(loc, "shared params take one value (put grids in [[algorithms]] params)")
        if dot:
            if algo not in shared:
                raise sf.error(loc, f"'{algo}' is not among the algorithms ({', '.join(classes)})")
            shared[algo][pname] = value
            continue
        takers = [n for n, cls in classes.items() if pname in cls.Config.model_fields]
        if not takers:
            raise sf.error(loc, f"no algorithm of the study has a parameter '{pname}'")
        for n in takers:
            shared[n][pname] = value
    return shared


def _stored(sf: StudyFile, i: int, entry: AlgorithmEntry, data_dir: Path | None) -> dict[str, Any]:
    """The best parameters of the stored study an entry names (``study = "NAME"``), if any."""
    if entry.study is None:
        return {}
    loc: tuple[str | int, ...] = ("algorithms", i, "study")
    if data_dir is None:
        raise sf.error(loc, "stored studies are not available here")
    from recbench.tuning.reuse import stored_best

    try:
        return stored_best(data_dir, entry.study, entry.name).params
    except RecbenchError as exc:
        raise sf.error(loc, str(exc)) from None


def _algorithms(sf: StudyFile, data_dir: Path | None = None) -> list[AlgoSpec]:
    entries = sf.study.algorithms
    classes: dict[str, type[Any]] = {}
    for i, entry in enumerate(entries):
        try:
            cls = plugins.load(entry.name)
            plugins.ensure_available(entry.name, cls)
        except RecbenchError as exc:
            raise sf.error(("algorithms", i, "name"), str(exc)) from None
        classes.setdefault(entry.name, cls)
    shared = _shared_params(sf, classes)
    specs: list[AlgoSpec] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        cls = classes[entry.name]
        fixed, grid = _grid_axes(sf, i, entry, cls)
        stored = _stored(sf, i, entry, data_dir)
        names = list(grid)
        for combo in itertools.product(*(grid[n] for n in names)):
            point = dict(zip(names, combo, strict=True))
            params = {**shared[entry.name], **stored, **fixed, **point}
            try:
                config = plugins.make_config(entry.name, cls, params)
            except RecbenchError as exc:
                bad = next((k for k in params if f"'{k}'" in str(exc)), None)
                loc: tuple[str | int, ...] = ("algorithms", i, "params")
                if bad is not None:
                    loc = (*loc, bad) if bad in entry.params else ("params", bad)
                raise sf.error(loc, str(exc)) from None
            typed = {k: getattr(config, k) for k in params}
            variant = entry.variant
            if variant is None and (point or entry.study):
                given = [f"@study={entry.study}"] if entry.study else []
                variant = ",".join(given + [f"{k}={typed[k]}" for k in names])
            spec = AlgoSpec(entry.name, typed, variant)
            if spec.label in seen:
                raise sf.error(
                    ("algorithms", i),
                    f"row '{spec.label}' is already defined by algorithms[{seen[spec.label]}] "
                    "(give one of them a variant)",
                )
            seen[spec.label] = i
            specs.append(spec)
    return specs


def _metrics(sf: StudyFile) -> tuple[str, ...]:
    given = sf.study.metrics
    if given is None:
        return DEFAULT_METRICS
    if [m.lower() for m in given] == ["all"]:
        return tuple(m.name for m in METRIC_SPECS)
    out = []
    for j, m in enumerate(given):
        name = METRIC_ALIASES.get(m.lower(), m.lower())
        if name not in METRICS:
            raise sf.error(("metrics", j), f"unknown metric '{m}' (use {', '.join(METRICS)})")
        out.append(name)
    return tuple(dict.fromkeys(out))


def _datasets(sf: StudyFile) -> list[DatasetPlan]:
    plans = []
    for j, entry in enumerate(sf.study.dataset_entries()):
        loc: tuple[str | int, ...] = ("datasets", j)
        if not isinstance(sf.study.datasets[j], str):
            loc = (*loc, "name")
        name = entry.name
        if any(ch in name for ch in "/\\") or name.startswith("."):
            name = str(sf.resolve_path(name))
        try:
            prep = Preprocessing(
                entry.min_user_ratings, entry.min_item_ratings, entry.implicit_threshold
            )
        except RecbenchError as exc:
            raise sf.error(loc, str(exc)) from None
        plans.append(DatasetPlan(entry, DatasetSpec(name, entry.columns, entry.sep), prep, loc))
    return plans


def _check_significance(sf: StudyFile, labels: list[str]) -> None:
    study = sf.study
    if study.baseline is None and study.test is None and study.correction is None:
        return
    from recbench.stats import check_baseline, check_correction, check_test

    checks: list[tuple[str, Any]] = [
        ("baseline", lambda v: check_baseline(v, labels)),
        ("test", check_test),
        ("correction", check_correction),
    ]
    for key, check in checks:
        value = getattr(study, key)
        if value is None:
            continue
        try:
            check(value)
        except RecbenchError as exc:
            raise sf.error((key,), str(exc)) from None


def _tuning(sf: StudyFile, splits: list[SplitSpec], ks: tuple[int, ...]) -> Objective | None:
    """``tune`` / ``tune_metric``, checked as ``compare --tune/--tune-metric`` checks them."""
    study = sf.study
    if study.tune is None:
        if study.tune_metric is not None:
            raise sf.error(("tune_metric",), "tune_metric applies with tune = N (trials)")
        return None
    try:
        objective = parse_objective(study.tune_metric or f"ndcg@{ks[0]}")
    except RecbenchError as exc:
        raise sf.error(("tune_metric",), str(exc)) from None
    for j, spec in enumerate(splits):
        if spec.n_folds > 1:
            raise sf.error(
                ("splits", j),
                f"tune needs one train/test split, not {spec}: each fold's training part holds "
                "the other folds' test data (use holdout, user-holdout, temporal or last)",
            )
    return objective


def _check_executor(sf: StudyFile) -> None:
    """``workers`` / ``scheduler``, checked as ``compare --workers/--scheduler`` checks them."""
    from recbench.executors import check_options

    study = sf.study
    try:
        check_options(study.workers, study.scheduler)
    except RecbenchError as exc:
        key = "scheduler" if study.scheduler is not None else "workers"
        raise sf.error((key,), str(exc)) from None


def make_plan(sf: StudyFile, data_dir: Path | None = None) -> Plan:
    """Check a parsed study against the registries (algorithms, parameters, splits, metrics,
    formats); datasets are checked when loaded. ``data_dir`` holds the stored tunes that
    ``study = "NAME"`` entries reuse."""
    study = sf.study
    splits: list[SplitSpec] = []
    for j, text in enumerate(study.splits):
        try:
            spec = parse_split(text)
            check_split(spec, "a study")
        except RecbenchError as exc:
            raise sf.error(("splits", j), str(exc)) from None
        if str(spec) in {str(s) for s in splits}:
            raise sf.error(("splits", j), f"split '{spec}' is listed twice")
        splits.append(spec)
    metrics = _metrics(sf)
    try:
        eval_config = EvalConfig(
            ks=tuple(dict.fromkeys(study.k)),
            relevance_threshold=study.relevance_threshold,
            memory_mb=study.memory_mb,
            beyond=tuple(m for m in metrics if m in BEYOND_NAMES),
        )
    except RecbenchError as exc:
        raise sf.error(("k",), str(exc)) from None
    if study.output.format is not None:
        try:
            output_format(study.output.format)
        except RecbenchError as exc:
            raise sf.error(("output", "format"), str(exc)) from None
    for j, name in enumerate(study.output.files):
        if "." not in name.rsplit("/", 1)[-1]:
            raise sf.error(("output", "files", j), "give a file name with a suffix (.csv, .json…)")
    algorithms = _algorithms(sf, data_dir)
    _check_significance(sf, [a.label for a in algorithms])
    objective = _tuning(sf, splits, eval_config.ks)
    _check_executor(sf)
    return Plan(
        source=sf,
        datasets=_datasets(sf),
        splits=splits,
        algorithms=algorithms,
        seeds=[study.seed + r for r in range(study.repeats)],
        eval=eval_config,
        metrics=metrics,
        tune=study.tune or 0,
        tune_objective=objective,
    )
