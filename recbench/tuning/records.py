"""A tune's trials as plain records: states, values, the best one, progress snapshots.

Optuna's trials are read into :class:`TrialRecord` (``complete``, ``pruned``, ``failed``,
``interrupted``, ``running``, ``waiting``). Only complete trials with a finite value can be the
best; a pruned trial's value is its last intermediate one (partial training, probe users), so it
is shown but never chosen.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from recbench.tuning.problem import Objective
from recbench.tuning.study import ERROR, INTERRUPTED

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial


@dataclass
class TrialRecord:
    """One trial: number, state (complete, pruned, failed, interrupted, running), value (a
    pruned trial's: its last intermediate one), parameters."""

    number: int
    state: str
    value: float | None
    params: dict[str, Any]
    seconds: float | None
    error: str | None = None
    #: the last step a pruned trial reported (where it was stopped)
    pruned_at: int | None = None


@dataclass
class TuneProgress:
    """A snapshot for a live display."""

    finished: int
    target: int | None
    running: int
    failed: int
    best_value: float | None
    best_params: dict[str, Any]
    elapsed: float
    pruned: int = 0


def record(t: FrozenTrial) -> TrialRecord:
    """Optuna's trial as a record (a failed trial marked interrupted reads so)."""
    from optuna.trial import TrialState

    state = {
        TrialState.COMPLETE: "complete",
        TrialState.FAIL: "failed",
        TrialState.RUNNING: "running",
        TrialState.PRUNED: "pruned",
        TrialState.WAITING: "waiting",
    }[t.state]
    if t.state == TrialState.FAIL and t.user_attrs.get(INTERRUPTED):
        state = "interrupted"
    seconds = t.duration.total_seconds() if t.duration is not None else None
    step = t.last_step if t.state == TrialState.PRUNED else None
    return TrialRecord(
        t.number, state, t.value, dict(t.params), seconds, t.user_attrs.get(ERROR), step
    )


def counted(records: list[TrialRecord]) -> int:
    """Trials that use the budget: all but the interrupted (rerun instead)."""
    return sum(r.state not in ("interrupted", "waiting") for r in records)


def best_trial(records: list[TrialRecord], objective: Objective) -> TrialRecord | None:
    """The best complete trial with a finite value (first among equals); None if none."""
    best: TrialRecord | None = None
    for r in records:
        ok = r.state == "complete" and r.value is not None and math.isfinite(r.value)
        if ok and (best is None or objective.better(r.value, best.value)):  # type: ignore[arg-type]
            best = r
    return best


def progress_of(
    records: list[TrialRecord], objective: Objective, target: int | None, t0: float
) -> TuneProgress:
    """A live-display snapshot; ``t0`` is the tune's ``time.perf_counter()`` start."""
    best = best_trial(records, objective)
    return TuneProgress(
        finished=sum(r.state in ("complete", "failed", "pruned") for r in records),
        target=target,
        running=sum(r.state == "running" for r in records),
        failed=sum(r.state == "failed" for r in records),
        best_value=best.value if best else None,
        best_params=dict(best.params) if best else {},
        elapsed=time.perf_counter() - t0,
        pruned=sum(r.state == "pruned" for r in records),
    )


def best_so_far(records: list[TrialRecord], objective: Objective) -> list[float]:
    """The best value after each complete trial, in trial order."""
    out: list[float] = []
    for r in sorted(records, key=lambda r: r.number):
        if r.state == "complete" and r.value is not None:
            if not out or objective.better(r.value, out[-1]):
                out.append(r.value)
            else:
                out.append(out[-1])
    return out
