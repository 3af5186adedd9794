"""Metrics: pure vectorised functions, independent of models, and the table describing them.

``METRIC_SPECS`` holds one record per metric (name, column label, kind: rating, ranking or
beyond, direction, function, help line, aliases). Everything else that lists metrics derives from
it: ``METRICS`` (by name), ``RANKING_METRICS`` / ``RATING_METRICS``, ``METRIC_ALIASES``, the
``--metrics`` help (:func:`metric_help`), and the JSON-schema key pattern
(:func:`metric_key_pattern`).

Adding a metric: write its function and add its record to ``RATING_SPECS`` (``rating.py``),
``RANKING_SPECS`` (``ranking.py``) or ``BEYOND_SPECS`` (below, over ``beyond.py``), with a test.
Beyond-accuracy metrics are computed only when selected (``--metrics``, or ``all``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from recbench.errors import UsageError
from recbench.metrics.beyond import BEYOND_METRICS, BeyondInfo
from recbench.metrics.ranking import RANKING_METRICS, RANKING_SPECS, ranking_metrics
from recbench.metrics.rating import RATING_METRICS, RATING_SPECS, mae, per_user_errors, rmse
from recbench.metrics.spec import BeyondMetric, MetricSpec, RankingMetric, RatingMetric

_BEYOND_ALIASES: dict[str, tuple[str, ...]] = {
    "personalisation": ("personalization",),
    "ild": ("diversity",),
}
#: The beyond-accuracy metrics (``recbench.metrics.beyond``), reported at every K when selected.
BEYOND_SPECS: list[BeyondMetric] = [
    BeyondMetric(
        name=b.name,
        label=b.label,
        higher_is_better=b.higher_is_better,
        help=b.help,
        aliases=_BEYOND_ALIASES.get(b.name, ()),
        scope=b.scope,
    )
    for b in BEYOND_METRICS.values()
]
BEYOND_NAMES = [m.name for m in BEYOND_SPECS]

#: Every metric, in display order: rating metrics, then ranking, then beyond-accuracy metrics.
METRIC_SPECS: list[MetricSpec] = [*RATING_SPECS, *RANKING_SPECS, *BEYOND_SPECS]
METRICS: dict[str, MetricSpec] = {m.name: m for m in METRIC_SPECS}
#: Alternative spellings accepted on the command line (``--fail-if "p@10<0.1"``).
METRIC_ALIASES: dict[str, str] = {a: m.name for m in METRIC_SPECS for a in m.aliases}
#: Metrics shown when ``--metrics`` is not given.
DEFAULT_METRICS: tuple[str, ...] = tuple(m.name for m in METRIC_SPECS if m.default)


def register(spec: MetricSpec, beyond: BeyondInfo | None = None) -> Callable[[], None]:
    """Add a metric to every table at once (a plugin's or a test's metric); returns the undo.

    ``spec`` is a :class:`RatingMetric`, :class:`RankingMetric` or :class:`BeyondMetric` (then
    ``beyond`` is its :class:`~recbench.metrics.beyond.BeyondInfo`, the function). The tables
    are changed in place, so every module that imported them sees the metric. A registered
    metric is computed when selected (``--metrics``), never by default.
    """
    if spec.name in METRICS or spec.name in METRIC_ALIASES:
        raise UsageError(f"metric '{spec.name}' is already registered")
    if spec.default:
        raise UsageError(f"registered metric '{spec.name}' cannot be a default metric")
    if isinstance(spec, BeyondMetric) != (beyond is not None):
        raise UsageError(f"metric '{spec.name}': a beyond-accuracy metric needs its BeyondInfo")
    tables: list[tuple[list[Any], Any]] = []
    if isinstance(spec, RatingMetric):
        tables = [(RATING_SPECS, spec), (RATING_METRICS, spec.name)]
        at = len(RATING_SPECS)
    elif isinstance(spec, RankingMetric):
        tables = [(RANKING_SPECS, spec), (RANKING_METRICS, spec.name)]
        at = len(RATING_SPECS) + len(RANKING_SPECS)
    else:
        assert isinstance(spec, BeyondMetric) and beyond is not None
        tables = [(BEYOND_SPECS, spec), (BEYOND_NAMES, spec.name)]
        at = len(METRIC_SPECS)
        BEYOND_METRICS[spec.name] = beyond
    for table, item in tables:
        table.append(item)
    METRIC_SPECS.insert(at, spec)
    METRICS[spec.name] = spec
    METRIC_ALIASES.update(dict.fromkeys(spec.aliases, spec.name))

    def undo() -> None:
        for table, item in tables:
            table.remove(item)
        METRIC_SPECS.remove(spec)
        del METRICS[spec.name]
        for a in spec.aliases:
            METRIC_ALIASES.pop(a, None)
        BEYOND_METRICS.pop(spec.name, None)

    return undo


def resolve_metric(name: str) -> MetricSpec | None:
    """The record for a metric name or alias (any case), or None."""
    key = name.strip().lower()
    return METRICS.get(METRIC_ALIASES.get(key, key))


def metric_help() -> str:
    """One-line ``--metrics`` help listing every metric and its direction."""
    parts = []
    for m in METRIC_SPECS:
        also = f", also {'/'.join(m.aliases)}" if m.aliases else ""
        parts.append(f"{m.name} ({m.direction} is better{also})")
    at_k = ", ".join(m.name for m in METRIC_SPECS if m.kind != "rating")
    return (
        f"Comma-separated, or 'all': {'; '.join(parts)}. {at_k} are reported at every --k; "
        f"{', '.join(BEYOND_NAMES)} are computed only when selected. "
        f"Default: {','.join(DEFAULT_METRICS)}."
    )


def metric_key_pattern() -> str:
    """Regular expression matching every result key (``rmse``, ``ndcg@10``...)."""
    rating = "|".join(m.name for m in RATING_SPECS)
    at_k = "|".join(m.name for m in METRIC_SPECS if m.kind != "rating")
    return f"^({rating}|({at_k})@[0-9]+)$"


__all__ = [
    "BEYOND_NAMES",
    "BEYOND_SPECS",
    "DEFAULT_METRICS",
    "METRICS",
    "METRIC_ALIASES",
    "METRIC_SPECS",
    "RANKING_METRICS",
    "RANKING_SPECS",
    "RATING_METRICS",
    "RATING_SPECS",
    "BeyondMetric",
    "MetricSpec",
    "RankingMetric",
    "RatingMetric",
    "mae",
    "metric_help",
    "metric_key_pattern",
    "per_user_errors",
    "ranking_metrics",
    "register",
    "resolve_metric",
    "rmse",
]
