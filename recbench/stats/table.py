"""What ``compare`` asks of the statistics (:class:`StatsOptions`) and what it gets back for a
table (:class:`TableStats`): plain data, validated on construction so that every bad option is a
one-line error before any model is fitted. :mod:`recbench.significance` computes a
:class:`TableStats` from an experiment's per-user values; the renderers read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from recbench.errors import UsageError
from recbench.stats._checks import check_alpha, check_level, check_positive_int
from recbench.stats.comparison import BEST, Comparison
from recbench.stats.correction import check_correction
from recbench.stats.intervals import DEFAULT_LEVEL, DEFAULT_N_BOOT, Interval
from recbench.stats.paired import DEFAULT_ROUNDS, check_test

#: table marks for "significantly better / worse than the baseline" (after correction)
MARKS = {"better": "▲", "worse": "▼"}


@dataclass(frozen=True)
class StatsOptions:
    """``--ci``, ``--baseline``, ``--test``, ``--correction``, ``--alpha``, ``--repeats``."""

    ci: bool = True
    baseline: str | None = None
    test: str = "randomization"
    correction: str = "holm"
    alpha: float = 0.05
    repeats: int = 1
    level: float = DEFAULT_LEVEL
    n_boot: int = DEFAULT_N_BOOT
    n_rounds: int = DEFAULT_ROUNDS
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "test", check_test(self.test))
        object.__setattr__(self, "correction", check_correction(self.correction))
        object.__setattr__(self, "alpha", check_alpha(self.alpha))
        object.__setattr__(self, "level", check_level(self.level))
        if isinstance(self.repeats, bool) or not isinstance(self.repeats, int) or self.repeats < 1:
            raise UsageError(f"--repeats must be a positive integer, got {self.repeats}")
        check_positive_int(self.n_boot, "number of bootstrap resamples")
        check_positive_int(self.n_rounds, "number of randomization rounds")
        if self.baseline is not None and not self.baseline.strip():
            raise UsageError("--baseline is empty (name an algorithm of --algos, or 'best')")

    @property
    def wants_best(self) -> bool:
        return self.baseline is not None and self.baseline.strip().lower() == BEST


@dataclass(frozen=True)
class TableStats:
    """Intervals and baseline comparisons of one results table.

    ``intervals`` and ``comparisons`` are keyed by (algorithm label, metric key such as
    ``ndcg@10``); ``notes`` are caption lines saying how they were computed (method, pairing,
    pooling); ``seconds`` is the time the computation took.
    """

    options: StatsOptions
    intervals: dict[tuple[str, str], Interval] = field(default_factory=dict)
    comparisons: dict[tuple[str, str], Comparison] = field(default_factory=dict)
    baseline: str | None = None
    notes: tuple[str, ...] = ()
    seconds: float = 0.0

    def interval(self, algorithm: str, key: str) -> Interval | None:
        return self.intervals.get((algorithm, key)) if self.options.ci else None

    def mark(self, algorithm: str, key: str) -> str:
        """``▲`` / ``▼`` when significantly better / worse than the baseline, else ``""``."""
        c = self.comparisons.get((algorithm, key))
        return MARKS.get(c.verdict or "", "") if c is not None else ""
