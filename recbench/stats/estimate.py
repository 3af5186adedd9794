"""The record every confidence interval of recbench is returned as: :class:`Interval`.

Kept apart from the estimators (:mod:`recbench.stats.intervals`,
:mod:`recbench.stats.resampled`) so each can build one without importing the other.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_LEVEL = 0.95

#: how :attr:`Interval.kind` names each method
_KIND_LABELS = {
    "bootstrap-bca": "BCa",
    "bootstrap-percentile": "percentile bootstrap",
    "t": "t",
    "corrected-t": "corrected t",
}


@dataclass(frozen=True)
class Interval:
    """A point estimate and its confidence interval.

    ``method`` is ``"bootstrap-bca"``, ``"bootstrap-percentile"``, ``"t"``, ``"corrected-t"``
    (Nadeau & Bengio) or ``"none"`` (too few values for an interval: ``low`` and ``high`` are
    NaN). ``over`` names what was resampled or averaged: ``"users"``, ``"folds"``,
    ``"repeats"`` (or ``"runs"`` for a difference over runs); ``n`` counts those units.
    """

    mean: float
    low: float
    high: float
    method: str
    n: int
    over: str = "users"
    level: float = DEFAULT_LEVEL

    @property
    def half_width(self) -> float:
        """Half the interval's width (``±`` in a table); NaN without an interval."""
        return (self.high - self.low) / 2.0

    @property
    def kind(self) -> str:
        """What the interval is, said the same way in captions and JSON: ``95% BCa over 943
        users``, ``95% corrected t over 5 repeats``; ``no interval (1 value)`` without one."""
        if self.method == "none":
            return f"no interval ({self.n} value{'s' if self.n != 1 else ''})"
        label = _KIND_LABELS.get(self.method, self.method)
        return f"{self.level:.0%} {label} over {self.n:,} {self.over}"
