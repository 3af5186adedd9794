"""Metrics: pure vectorised functions, independent of models.

``METRICS`` describes every metric the engine reports: its label, whether it is a rating or a
ranking metric, and whether higher is better (used to highlight the best value and to parse
``--fail-if``).
"""

from __future__ import annotations

from dataclasses import dataclass

from recbench.metrics.ranking import RANKING_METRICS, ranking_metrics
from recbench.metrics.rating import RATING_METRICS, mae, per_user_errors, rmse


@dataclass(frozen=True)
class MetricInfo:
    name: str
    label: str
    kind: str  # "rating" or "ranking"
    higher_is_better: bool


METRICS: dict[str, MetricInfo] = {
    "rmse": MetricInfo("rmse", "RMSE", "rating", False),
    "mae": MetricInfo("mae", "MAE", "rating", False),
    "precision": MetricInfo("precision", "P", "ranking", True),
    "recall": MetricInfo("recall", "R", "ranking", True),
    "ndcg": MetricInfo("ndcg", "NDCG", "ranking", True),
    "map": MetricInfo("map", "MAP", "ranking", True),
    "mrr": MetricInfo("mrr", "MRR", "ranking", True),
    "hitrate": MetricInfo("hitrate", "HR", "ranking", True),
}
#: Alternative spellings accepted on the command line (``--fail-if "p@10<0.1"``).
ALIASES = {"p": "precision", "r": "recall", "hr": "hitrate", "hit": "hitrate", "ap": "map"}

__all__ = [
    "ALIASES",
    "METRICS",
    "RANKING_METRICS",
    "RATING_METRICS",
    "MetricInfo",
    "mae",
    "per_user_errors",
    "ranking_metrics",
    "rmse",
]
