"""Tune the rows of a comparison (``compare --tune N``, a study's ``tune = N``) once per repeat.

Protocol: repeat *r* with seed *s* is a whole experiment. Its outer split is drawn with seed
*s*; each algorithm is tuned on a validation split carved (seed *s*) from *that* split's
training part, with TPE seeded *s*; the repeat's cells then run with the parameters so chosen.
No trial that chose a repeat's parameters saw a pair of that repeat's test part. Tuning once,
on the first seed's split, and testing every repeat with the result leaks: the later repeats
draw other splits, so their test pairs were those trials' training or validation data (issue
22). Since the choice is remade per repeat, the parameters chosen and how much they vary are
reported with the table: that spread is part of what a repeated, tuned comparison measures.

One function serves both comparisons (:func:`recbench.pipeline.tune_request`) and the study
runner; nothing here prints.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from recbench.algorithms import plugins
from recbench.data.model import Dataset
from recbench.errors import UsageError
from recbench.experiment import AlgoSpec
from recbench.split import SplitSpec
from recbench.tuning.problem import Objective
from recbench.tuning.records import TuneProgress
from recbench.tuning.search import SearchResult, TrialRunner, TuneSpec, search

#: ``on_progress(label, progress)``: label names the algorithm (and the repeat, with several)
OnProgress = Callable[[str, TuneProgress], None]
RunnerFor = Callable[[TuneSpec], tuple[TuneSpec, TrialRunner | None]]


@dataclass
class RepeatTuning:
    """One repeat's tuning: its seed, the rows to run, and each tuned row's search."""

    seed: int
    specs: list[AlgoSpec]
    found: dict[str, SearchResult]
    seconds: float = 0.0


@dataclass
class RowTuning:
    """The tuning of a comparison's rows, one :class:`RepeatTuning` per seed."""

    n_trials: int
    objective: Objective
    algos: list[AlgoSpec]
    repeats: list[RepeatTuning]
    seconds: float

    @property
    def seeds(self) -> list[int]:
        return [r.seed for r in self.repeats]

    def specs_for(self, seed: int) -> list[AlgoSpec]:
        """The rows to run in the repeat with ``seed``; a seed that was not tuned is refused
        (running it would test parameters chosen on another split)."""
        for r in self.repeats:
            if r.seed == seed:
                return r.specs
        raise UsageError(f"no tuning for seed {seed} (tuned: {self.seeds}); tune every repeat")

    def tuned_labels(self) -> list[str]:
        return [a.label for a in self.algos if a.label in self.repeats[0].found]

    def chosen(self, label: str) -> list[dict[str, Any]]:
        """The searched parameters ``label`` chose, one dict per repeat."""
        return [dict(r.found[label].best.params) for r in self.repeats]

    def note(self) -> str:
        """The line the table's caption adds about the tuning."""
        first = self.repeats[0]
        untuned = [a.label for a in self.algos if a.label not in first.found]
        val = next(iter(first.found.values())).validation.protocol if first.found else ""
        tail = f"; not tuned (no search space or all fixed): {', '.join(untuned)}"
        if len(self.repeats) == 1:
            return (
                f"parameters tuned per algorithm with {self.n_trials} trials (Optuna TPE, seed "
                f"{first.seed}) on validation {self.objective.key}; validation: {val}, cut from "
                "the training part only, the test part used once per algorithm"
                + (tail if untuned else "")
            )
        seeds = ", ".join(str(s) for s in self.seeds)
        chosen = "; ".join(
            f"{label} " + ", ".join(f"{p} {v}" for p, v in spread_text(self.chosen(label)).items())
            for label in self.tuned_labels()
        )
        return (
            f"parameters tuned per repeat and algorithm with {self.n_trials} trials (Optuna TPE "
            f"seeded by the repeat's seed) on validation {self.objective.key}; validation: {val} "
            "in the first repeat, in each repeat cut from that repeat's own training part, its "
            f"test part used once per algorithm; chosen per repeat (seeds {seeds}): {chosen}"
            + (tail if untuned else "")
        )

    def to_json(self) -> dict[str, Any]:
        """The tuning as a JSON object: protocol, chosen parameters per repeat, their spread."""
        first = self.repeats[0]
        return {
            "protocol": "per-repeat",
            "trials": self.n_trials,
            "metric": self.objective.key,
            "direction": self.objective.direction,
            "seeds": self.seeds,
            "validation": [
                {"seed": r.seed, "description": next(iter(r.found.values())).validation.protocol}
                for r in self.repeats
                if r.found
            ],
            "repeats": [
                {
                    "seed": r.seed,
                    "seconds": round(r.seconds, 3),
                    "algorithms": {
                        label: {
                            "params": dict(s.best.params),
                            "validation_value": s.best.value,
                            "best_trial": s.best.number,
                            "n_trials": len(s.trials),
                        }
                        for label, s in r.found.items()
                    },
                }
                for r in self.repeats
            ],
            "spread": {label: spread(self.chosen(label)) for label in self.tuned_labels()},
            "not_tuned": [a.label for a in self.algos if a.label not in first.found],
            "seconds": round(self.seconds, 3),
        }


def _numeric(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def spread(chosen: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per parameter: its values over the repeats, and for numbers min, max and max/min."""
    out: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(k for params in chosen for k in params):
        values = [params.get(name) for params in chosen]
        entry: dict[str, Any] = {"values": values, "distinct": len({repr(v) for v in values})}
        if all(_numeric(v) for v in values):
            lo, hi = min(values), max(values)  # type: ignore[type-var]
            entry.update(min=lo, max=hi, ratio=(hi / lo) if lo > 0 else None)  # type: ignore[operator]
        out[name] = entry
    return out


def _fmt(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def spread_text(chosen: list[dict[str, Any]]) -> dict[str, str]:
    """Per parameter, for a caption: ``11/20/14 (x1.8)``; one value when all repeats agree."""
    out = {}
    for name, entry in spread(chosen).items():
        values = entry["values"]
        if entry["distinct"] == 1:
            out[name] = f"{_fmt(values[0])} in every repeat"
            continue
        text = "/".join(_fmt(v) for v in values)
        if entry.get("ratio") is not None:
            text += f" (max/min {entry['ratio']:.2g})"
        out[name] = text
    return out


def tuned_specs(
    dataset: Dataset,
    split_spec: SplitSpec,
    algos: list[AlgoSpec],
    n_trials: int,
    objective: Objective,
    seed: int = 0,
    relevance_threshold: float | None = None,
    memory_mb: int = 256,
    on_progress: OnProgress | None = None,
    runner_for: RunnerFor | None = None,
    suffix: str = "",
) -> RepeatTuning:
    """One repeat: each algorithm's best parameters from ``n_trials`` trials on a validation
    split carved from the training part of ``split_spec`` drawn with ``seed`` (its own
    parameters stay fixed). Rows without a search space are returned unchanged. The outer test
    part is not touched. ``runner_for`` gives each tune's spec and trial runner (e.g. Dask)."""
    t0 = time.perf_counter()
    out: list[AlgoSpec] = []
    found: dict[str, SearchResult] = {}
    for algo in algos:
        cls = plugins.load(algo.name)
        space = {k: d for k, d in cls.search_space.items() if k not in algo.params}
        if not space:
            out.append(algo)
            continue
        spec = TuneSpec(algo.name, space, dict(algo.params), objective, n_trials=n_trials,
                        seed=seed, relevance_threshold=relevance_threshold,
                        memory_mb=memory_mb, prune=None)  # fmt: skip

        def report(p: TuneProgress, label: str = algo.label + suffix) -> None:
            if on_progress is not None:
                on_progress(label, p)

        runner = None
        if runner_for is not None:
            spec, runner = runner_for(spec)
        res = search(dataset, split_spec, spec, on_progress=report, trial_runner=runner)
        found[algo.label] = res
        out.append(AlgoSpec(algo.name, {**algo.params, **res.best.params}, algo.variant))
    return RepeatTuning(seed, out, found, time.perf_counter() - t0)


def tune_rows(
    dataset: Dataset,
    split_spec: SplitSpec,
    algos: list[AlgoSpec],
    n_trials: int,
    objective: Objective,
    seeds: list[int],
    relevance_threshold: float | None = None,
    memory_mb: int = 256,
    on_progress: OnProgress | None = None,
    runner_for: RunnerFor | None = None,
) -> RowTuning:
    """Tune ``algos`` once per seed in ``seeds`` (one seed per repeat), each on validation
    carved from that seed's own training part; see the module docstring for the protocol."""
    if n_trials < 1:
        raise UsageError(f"--tune must be at least 1 trial, got {n_trials}")
    if not seeds:
        raise UsageError("tuning needs at least one seed")
    if split_spec.n_folds > 1:
        raise UsageError(
            f"tuning needs one train/test split, not {split_spec}: each fold's training part "
            "holds the other folds' test data (use holdout, user-holdout, temporal or last)"
        )
    t0 = time.perf_counter()
    repeats = []
    for i, seed in enumerate(seeds):
        suffix = f" (repeat {i + 1}/{len(seeds)}, seed {seed})" if len(seeds) > 1 else ""
        repeats.append(
            tuned_specs(dataset, split_spec, algos, n_trials, objective, seed,
                        relevance_threshold, memory_mb, on_progress, runner_for, suffix)
        )  # fmt: skip
    return RowTuning(n_trials, objective, list(algos), repeats, time.perf_counter() - t0)
