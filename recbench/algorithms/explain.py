"""Explanations built from what produced a score.

Models whose ranking score is a sum over the user's history (item-kNN, EASE, content, ALS's
per-user solve) return, per recommended item, the history items' additive contributions
(:class:`Contribution`); :func:`describe` turns the largest ones into the sentence ``recommend
--explain`` prints. Models without a faithful decomposition say that their reason is an
approximation (:data:`APPROXIMATE`). Reasons name items by dense index as ``{item:N}``; the CLI
substitutes titles.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

#: appended to reasons that do not decompose the score exactly
APPROXIMATE = "approximate reason: this model's score is not a sum over your history"


class Contribution(NamedTuple):
    """One history item's additive part of a recommended item's score."""

    #: dense index of the history item
    item: int
    #: its term in the sum that is the score (content: the drop in the score without it)
    value: float
    #: ``value`` over the sum of the positive terms (the evidence for the item); 0 when <= 0
    share: float


def rank_contributions(history_items: np.ndarray, values: np.ndarray) -> list[list[Contribution]]:
    """Per recommended item (a row of ``values``, one column per history item): every history
    item's contribution, largest first (ties by item index).

    ``values`` is (n_recommended, len(history_items)); the terms of each row sum to the score.
    """
    history_items = np.asarray(history_items, np.int64)
    values = np.asarray(values, np.float64).reshape(-1, len(history_items))
    positive = np.where(values > 0, values, 0.0).sum(axis=1)
    out = []
    for row, pos in zip(values, positive, strict=True):
        order = np.lexsort((history_items, -row))
        out.append(
            [
                Contribution(
                    int(history_items[j]),
                    float(row[j]),
                    float(row[j] / pos) if pos > 0 and row[j] > 0 else 0.0,
                )
                for j in order
            ]
        )
    return out


def describe(contributions: list[Contribution], top: int = 2) -> str:
    """``because you rated {item:A} (+0.31, 45% of the evidence) and {item:B} (+0.12, 17%)``."""
    named = [c for c in contributions[:top] if c.value > 0]
    if not named:
        return "nothing in your history adds to its score"
    parts = [
        f"{{item:{c.item}}} (+{c.value:.3g}, {c.share:.0%} of the evidence)" for c in named[:1]
    ]
    parts += [f"{{item:{c.item}}} (+{c.value:.3g}, {c.share:.0%})" for c in named[1:]]
    return "because you rated " + " and ".join(parts)
