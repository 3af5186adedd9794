"""Pruning: stop a tuning trial early when its validation value, measured while it trains,
trails what the completed trials had reached at the same step.

Algorithms that train in epochs or sweeps (``Recommender.reports_epochs``: als, bpr, two-tower,
ncf, cluster-ncf, multvae) offer their current state to the fit's ``on_epoch`` hook. The trial's
hook (:class:`TrialHook`) scores that state with :func:`recbench.evaluation.evaluate` on the
*probe*: the validation part restricted to a fixed, seeded sample of at most
:data:`PROBE_USERS` validation users (the same users for every trial, so values at a step are
comparable; cheaper than the whole validation part), at the steps :func:`due` names. It
reports the value to Optuna and raises ``optuna.TrialPruned`` when the pruner says so. Optuna's
``MedianPruner`` prunes a trial whose best value so far is below the median of the completed
trials' values at the same step, once ``startup_trials`` trials have completed and after
``warmup_steps`` steps. A completed trial's value is still the whole validation part's, after
the full fit; only the validation part is ever scored (never the outer test part).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from recbench.algorithms import plugins
from recbench.algorithms.base import Recommender
from recbench.errors import UsageError
from recbench.evaluation import EvalConfig, EvalResult, evaluate
from recbench.experiment import AlgoSpec
from recbench.split import Split

if TYPE_CHECKING:
    import optuna

#: most validation users scored at each intermediate step
PROBE_USERS = 500


@dataclass(frozen=True)
class PruneSpec:
    """Median pruning: after ``startup_trials`` completed trials, a trial whose best
    intermediate value trails their median at the same step (from ``warmup_steps`` on) stops."""

    startup_trials: int = 5
    warmup_steps: int = 3

    def __post_init__(self) -> None:
        if self.startup_trials < 0:
            raise UsageError(f"--prune-startup must be 0 or more, got {self.startup_trials}")
        if self.warmup_steps < 0:
            raise UsageError(f"--prune-warmup must be 0 or more, got {self.warmup_steps}")

    def pruner(self) -> optuna.pruners.BasePruner:
        import optuna

        return optuna.pruners.MedianPruner(
            n_startup_trials=self.startup_trials, n_warmup_steps=self.warmup_steps
        )

    def describe(self) -> str:
        return (
            f"median pruning (Optuna MedianPruner: from step {max(1, self.warmup_steps)}, once "
            f"{self.startup_trials} trials completed; scored on up to {PROBE_USERS} validation "
            "users)"
        )


def due(step: int) -> bool:
    """Steps scored during a fit: every one to 9, every 5th to 99, every 50th to 999, ... so a
    500-epoch fit is scored 36 times and steps line up across trials of any length."""
    interval = max(1, 10 ** (len(str(step)) - 1) // 2)
    return step % interval == 0


def prunable(algorithm: str, validation: Split) -> bool:
    """Whether a trial of ``algorithm`` on ``validation`` can be scored while it trains: the
    algorithm offers epochs, and users are scored from their training rows (not user-cold)."""
    return plugins.load(algorithm).reports_epochs and validation.fold_in is None


def probe_split(validation: Split, seed: int, max_users: int = PROBE_USERS) -> Split:
    """``validation`` with its held-out part cut to a seeded sample of ``max_users`` users
    (all of them when there are fewer); training part unchanged."""
    test = validation.test
    users = np.unique(test.user)
    if len(users) <= max_users:
        return validation
    rng = np.random.default_rng([seed, 0x9B0BE])
    keep = np.zeros(test.n_users, dtype=bool)
    keep[rng.choice(users, max_users, replace=False)] = True
    return dataclasses.replace(validation, test=test.subset(keep[test.user]))


class TrialHook:
    """The ``on_epoch`` hook of one trial: score the probe, report, prune."""

    def __init__(self, trial: optuna.Trial, probe: Split, config: EvalConfig, key: str) -> None:
        self.trial = trial
        self.probe = probe
        self.config = config
        self.key = key

    def due(self, step: int) -> bool:
        return due(step)

    def __call__(self, step: int, model: Recommender[Any]) -> None:
        import optuna

        res = evaluate(model, self.probe, self.config)
        value = res.metrics.get(self.key)
        if value is None or not math.isfinite(value):
            return  # nothing comparable at this step (the final evaluation will say why)
        self.trial.report(float(value), step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at step {step}")


def fit_and_score(
    algo: AlgoSpec, split: Split, seed: int, config: EvalConfig, hook: TrialHook
) -> EvalResult:
    """:func:`recbench.experiment.run_cell` with ``hook`` offered each training step."""
    model = plugins.make(algo.name, algo.params, seed=seed)
    model.fit(split.train, on_epoch=hook)
    return evaluate(model, split, config)


def prune_spec(
    algo: str, reports: bool, prune: bool | None, startup: int | None, warmup: int | None
) -> PruneSpec | None:
    """The pruning ``--prune/--no-prune``, ``--prune-startup``, ``--prune-warmup`` ask for: on
    by default where the algorithm reports during fit."""
    tuned = [f"--prune-{n}" for n, v in (("startup", startup), ("warmup", warmup)) if v is not None]
    if prune is False:
        if tuned:
            raise UsageError(f"{tuned[0]} configures pruning, which --no-prune turns off")
        return None
    if not reports:
        if prune or tuned:
            raise UsageError(
                f"{algo} reports no validation value while it trains, so its trials cannot be "
                f"pruned (drop {'--prune' if prune else tuned[0]})"
            )
        return None
    default = PruneSpec()
    return PruneSpec(
        startup if startup is not None else default.startup_trials,
        warmup if warmup is not None else default.warmup_steps,
    )
