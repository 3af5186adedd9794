"""The metric record type: one record per metric, from which every list of metrics derives.

A metric is a pure function plus a record saying what it is. Rating metrics
(:class:`RatingMetric`) take predicted and actual ratings; ranking metrics
(:class:`RankingMetric`) take a (users x K) hit matrix; beyond-accuracy metrics
(:class:`BeyondMetric`) take the top-K lists and training popularity. The records live beside
their functions (``RATING_SPECS`` in ``rating.py``, ``RANKING_SPECS`` in ``ranking.py``,
``BEYOND_SPECS`` in ``recbench.metrics``, over ``beyond.py``) and are gathered into
``recbench.metrics.METRIC_SPECS``; engine, renderers, JSON schema and help text read that table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

#: (predicted, actual) -> one value over all test pairs
RatingFn = Callable[[np.ndarray, np.ndarray], float]
#: (users, predicted, actual, n_users) -> one value per user (NaN for users without test pairs)
PerUserRatingFn = Callable[[np.ndarray, np.ndarray, np.ndarray, int], np.ndarray]
#: (hits, n_relevant, k) -> one value per user
RankingFn = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


@dataclass(frozen=True, kw_only=True)
class MetricSpec:
    """What a metric is: its name, column label, direction and help line."""

    kind: ClassVar[Literal["rating", "ranking", "beyond"]]
    name: str
    #: short column header ("P" for precision; ranking headers get "@K")
    label: str
    higher_is_better: bool
    #: one line for help text and listings
    help: str
    #: other spellings accepted on the command line (``--fail-if "p@10<0.1"``)
    aliases: tuple[str, ...] = ()
    #: shown when ``--metrics`` is not given
    default: bool = False

    @property
    def direction(self) -> Literal["higher", "lower"]:
        """Which way is better: "higher" or "lower"."""
        return "higher" if self.higher_is_better else "lower"

    def key(self, k: int | None = None) -> str:
        """Result key: ``rmse`` or ``ndcg@10``."""
        return self.name if k is None else f"{self.name}@{k}"

    def column(self, k: int | None = None) -> str:
        """Column header: ``RMSE`` or ``NDCG@10``."""
        return self.label if k is None else f"{self.label}@{k}"


@dataclass(frozen=True, kw_only=True)
class RatingMetric(MetricSpec):
    """An error measure over predicted ratings, overall and per user."""

    kind: ClassVar[Literal["rating", "ranking", "beyond"]] = "rating"
    overall: RatingFn
    per_user: PerUserRatingFn
    #: the per-user column paired tests compare: the mean this metric is built on ("mse" for
    #: RMSE), weighted by each user's test ratings; the metric's own name when it is a mean
    paired: str = ""
    #: the table value is the square root of that weighted mean (RMSE)
    root: bool = False

    @property
    def paired_column(self) -> str:
        """The per-user column paired tests and ``diff_of`` use (``mse`` for RMSE)."""
        return self.paired or self.name


@dataclass(frozen=True, kw_only=True)
class RankingMetric(MetricSpec):
    """A top-K measure over a hit matrix, one value per user, reported at every K."""

    kind: ClassVar[Literal["rating", "ranking", "beyond"]] = "ranking"
    at_k: RankingFn


@dataclass(frozen=True, kw_only=True)
class BeyondMetric(MetricSpec):
    """A beyond-accuracy measure of the top-K lists (coverage, novelty, diversity...), at every K.

    ``scope`` is ``"per_user"`` (one value per user: the table shows the mean, intervals and
    paired tests use the per-user values) or ``"aggregate"`` (one value for the whole set of
    lists: no per-user values, so an interval only over folds or repeats and no paired test).
    Computed only when selected with ``--metrics`` (or ``all``).
    """

    kind: ClassVar[Literal["rating", "ranking", "beyond"]] = "beyond"
    scope: Literal["per_user", "aggregate"]

    @property
    def per_user(self) -> bool:
        return self.scope == "per_user"
