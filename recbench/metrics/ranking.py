"""Top-K ranking metrics on whole (users x K) hit matrices, one value per user.

``hits[u, j]`` is True when the item at rank ``j`` (0-based) of user ``u``'s list is relevant;
``n_relevant[u]`` is how many relevant held-out items ``u`` has (>= 1: users without any are not
scored). Gains are binary; logarithms are base 2. Lists shorter than K count missing ranks as
misses.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RANKING_METRICS = ("precision", "recall", "ndcg", "map", "mrr", "hitrate")


def _check(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    if k <= 0:
        raise ValueError(f"K must be positive, got {k}")
    if hits.ndim != 2 or hits.shape[0] != len(n_relevant):
        raise ValueError("hits must be (n_users, K) with one n_relevant per user")
    if np.any(n_relevant <= 0):
        raise ValueError("every scored user needs at least one relevant item")
    h = hits[:, :k].astype(np.float64)
    if h.shape[1] < k:  # fewer candidates than K: the missing ranks are misses
        h = np.pad(h, ((0, 0), (0, k - h.shape[1])))
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
    disc = _discounts(k)
    # Both sums are running sums in rank order, so a perfect list gives exactly 1.0.
    ideal = np.cumsum(disc)[np.minimum(n_relevant, k) - 1]
    dcg = np.cumsum(h * disc, axis=1)[:, -1]
    return dcg / ideal


def map_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Average precision: sum of precision@rank at each hit, divided by min(K, |relevant|)."""
    h = _check(hits, n_relevant, k)
    prec = np.cumsum(h, axis=1) / np.arange(1, k + 1)
    return (prec * h).sum(axis=1) / np.minimum(n_relevant, k)


def mrr_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """1 / rank of the first relevant item in the top K, 0 when there is none."""
    h = _check(hits, n_relevant, k)
    any_hit = h.any(axis=1)
    first = np.argmax(h, axis=1)
    return np.where(any_hit, 1.0 / (first + 1), 0.0)


def hitrate_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """1 when at least one relevant item is in the top K, else 0."""
    return _check(hits, n_relevant, k).any(axis=1).astype(np.float64)


_FUNCS = {
    "precision": precision_at_k,
    "recall": recall_at_k,
    "ndcg": ndcg_at_k,
    "map": map_at_k,
    "mrr": mrr_at_k,
    "hitrate": hitrate_at_k,
}


def ranking_metrics(
    hits: np.ndarray, n_relevant: np.ndarray, ks: Sequence[int]
) -> dict[tuple[str, int], np.ndarray]:
    """Every ranking metric at every K: ``{(name, k): per-user values}``."""
    return {(name, k): fn(hits, n_relevant, k) for k in ks for name, fn in _FUNCS.items()}
