"""Top-K ranking metrics on whole (users x K) hit matrices, one value per user.

``hits[u, j]`` is True when the item at rank ``j`` (0-based) of user ``u``'s list is relevant;
``n_relevant[u]`` is how many relevant held-out items ``u`` has (>= 1: users without any are not
scored). Gains are binary; logarithms are base 2. Lists shorter than K count missing ranks as
misses; they are never padded out to K, so memory follows the list, not K (a K far beyond the
catalogue costs nothing extra).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from recbench.metrics.spec import RankingMetric


def _check(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    if k <= 0:
        raise ValueError(f"K must be positive, got {k}")
    if hits.ndim != 2 or hits.shape[0] != len(n_relevant):
        raise ValueError("hits must be (n_users, K) with one n_relevant per user")
    if np.any(n_relevant <= 0):
        raise ValueError("every scored user needs at least one relevant item")
    h = hits[:, :k].astype(np.float64)
    if h.shape[1] == 0:  # an empty list: one miss stands for all K
        h = np.zeros((h.shape[0], 1))
    # fewer columns than K: the missing ranks are misses, and add nothing below
    return h


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def precision_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """|top-K ∩ relevant| / K."""
    return _check(hits, n_relevant, k).sum(axis=1) / k


def recall_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """|top-K ∩ relevant| / |relevant|."""
    return _check(hits, n_relevant, k).sum(axis=1) / n_relevant


def ndcg_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """DCG@K / ideal DCG@K, DCG = sum of 1/log2(rank+1) over relevant ranks (1-based)."""
    h = _check(hits, n_relevant, k)
    n_ideal = np.minimum(n_relevant, k)
    # Both sums are running sums in rank order, so a perfect list gives exactly 1.0.
    ideal = np.cumsum(_discounts(int(n_ideal.max(initial=1))))[n_ideal - 1]
    dcg = np.cumsum(h * _discounts(h.shape[1]), axis=1)[:, -1]
    return np.asarray(dcg / ideal, dtype=np.float64)


def map_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Average precision: sum of precision@rank at each hit, divided by min(K, |relevant|)."""
    h = _check(hits, n_relevant, k)
    prec = np.cumsum(h, axis=1) / np.arange(1, h.shape[1] + 1)
    return (prec * h).sum(axis=1) / np.minimum(n_relevant, k)


def mrr_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """1 / rank of the first relevant item in the top K, 0 when there is none."""
    h = _check(hits, n_relevant, k)
    any_hit = h.any(axis=1)
    first = np.argmax(h, axis=1)
    return np.asarray(np.where(any_hit, 1.0 / (first + 1), 0.0), dtype=np.float64)


def hitrate_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """1 when at least one relevant item is in the top K, else 0."""
    return np.asarray(_check(hits, n_relevant, k).any(axis=1), dtype=np.float64)


#: The ranking metrics, in display order (one record per metric; see recbench.metrics.spec).
RANKING_SPECS: list[RankingMetric] = [
    RankingMetric(
        name="precision",
        label="P",
        higher_is_better=True,
        help="share of the top K that is relevant",
        aliases=("p",),
        default=True,
        at_k=precision_at_k,
    ),
    RankingMetric(
        name="recall",
        label="R",
        higher_is_better=True,
        help="share of the user's relevant items found in the top K",
        aliases=("r",),
        default=True,
        at_k=recall_at_k,
    ),
    RankingMetric(
        name="ndcg",
        label="NDCG",
        higher_is_better=True,
        help="discounted cumulative gain of the top K over the ideal list's (binary gains)",
        default=True,
        at_k=ndcg_at_k,
    ),
    RankingMetric(
        name="map",
        label="MAP",
        higher_is_better=True,
        help="average precision at each hit, over min(K, relevant items)",
        aliases=("ap",),
        at_k=map_at_k,
    ),
    RankingMetric(
        name="mrr",
        label="MRR",
        higher_is_better=True,
        help="1 / rank of the first relevant item in the top K (0 when none)",
        at_k=mrr_at_k,
    ),
    RankingMetric(
        name="hitrate",
        label="HR",
        higher_is_better=True,
        help="1 when any relevant item is in the top K, else 0",
        aliases=("hr", "hit"),
        at_k=hitrate_at_k,
    ),
]
RANKING_METRICS = [m.name for m in RANKING_SPECS]


def ranking_metrics(
    hits: np.ndarray, n_relevant: np.ndarray, ks: Sequence[int]
) -> dict[tuple[str, int], np.ndarray]:
    """Every ranking metric at every K: ``{(name, k): per-user values}``."""
    return {(m.name, k): m.at_k(hits, n_relevant, k) for k in ks for m in RANKING_SPECS}
