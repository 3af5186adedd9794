"""Shared pieces of the torch models (ncf, cluster-ncf, multvae) and of blend / text-svd.

- :func:`validation_cut`: a seeded per-user share of a training set held out to stop early or
  to learn blend weights (the same rule as ``--split user-holdout``).
- :func:`validation_ndcg`: NDCG@K of a scoring function on that share, ranking the full catalogue
  with the user's remaining training items masked, in bounded user batches.
- :func:`kmeans`: vectorised, seeded k-means++ / Lloyd k-means in numpy (no scikit-learn).

torch is imported inside functions only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from recbench.algorithms.base import mask_seen, top_k
from recbench.data.model import Dataset
from recbench.metrics.ranking import ndcg_at_k


def validation_cut(train: Dataset, fraction: float, seed: int) -> tuple[Dataset, sp.csr_array]:
    """(fit part, held-out users x items binary matrix): ``fraction`` of each user's training
    interactions, at least one kept for fitting (``user-holdout`` semantics, seeded)."""
    from recbench.split import make_split, parse_split

    if fraction <= 0:
        empty = sp.csr_array(train.interactions.csr("binary").shape, dtype=np.float32)
        return train, empty
    split = make_split(train, parse_split(f"user-holdout:{fraction:g}"), seed=seed)
    held = sp.csr_array(split.test.csr("binary"), dtype=np.float32)
    return split.train, held


def validation_ndcg(
    score: Callable[[np.ndarray], np.ndarray],
    seen: sp.csr_array,
    held: sp.csr_array,
    k: int = 10,
    max_users: int = 4096,
    batch: int = 512,
) -> float:
    """Mean NDCG@k over users with held-out items (at most ``max_users``, the first ones)."""
    users = np.flatnonzero(np.diff(held.indptr) > 0)[:max_users]
    if not len(users):
        return 0.0
    total = 0.0
    for s in range(0, len(users), batch):
        u = users[s : s + batch]
        scores = np.array(score(u), dtype=np.float32, copy=True)
        mask_seen(scores, seen, u)
        idx, _ = top_k(scores, k)
        rows = held[u]
        hits = np.asarray(rows[np.repeat(np.arange(len(u)), idx.shape[1]), idx.ravel()])
        hits = hits.reshape(idx.shape) > 0
        n_rel = np.diff(rows.indptr)
        total += float(ndcg_at_k(hits, n_rel, k).sum())
    return total / len(users)


def kmeans(
    x: np.ndarray, k: int, seed: int, iterations: int = 50, tol: float = 1e-6
) -> tuple[np.ndarray, np.ndarray]:
    """(centroids k x d, labels) of Lloyd's k-means with k-means++ seeding (Arthur & Vassilvitskii
    2007), vectorised over points; deterministic under ``seed``. Empty clusters are re-seeded
    with the point farthest from its centroid."""
    rng = np.random.default_rng(seed)
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    sq = np.einsum("ij,ij->i", x, x)
    centroids = np.empty((k, x.shape[1]))
    centroids[0] = x[rng.integers(n)]
    dist = np.maximum(sq - 2 * x @ centroids[0] + centroids[0] @ centroids[0], 0)
    for c in range(1, k):
        total = dist.sum()
        pick = rng.choice(n, p=dist / total) if total > 0 else rng.integers(n)
        centroids[c] = x[pick]
        dist = np.minimum(dist, np.maximum(sq - 2 * x @ x[pick] + x[pick] @ x[pick], 0))
    labels = np.zeros(n, dtype=np.int64)
    prev = np.inf
    for _ in range(iterations):
        d2 = sq[:, None] - 2 * x @ centroids.T + np.einsum("ij,ij->i", centroids, centroids)
        labels = np.argmin(d2, axis=1)
        inertia = float(np.maximum(d2[np.arange(n), labels], 0).sum())
        counts = np.bincount(labels, minlength=k)
        sums = np.zeros_like(centroids)
        np.add.at(sums, labels, x)
        empty = np.flatnonzero(counts == 0)
        nonempty = counts > 0
        centroids[nonempty] = sums[nonempty] / counts[nonempty, None]
        if len(empty):
            far = np.argsort(-d2[np.arange(n), labels], kind="stable")[: len(empty)]
            centroids[empty] = x[far]
        if prev - inertia <= tol * max(prev, 1.0) and not len(empty):
            break
        prev = inertia
    return centroids, labels


def assign(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid for each row of ``x``."""
    x = np.asarray(x, dtype=np.float64)
    d2 = -2 * x @ centroids.T + np.einsum("ij,ij->i", centroids, centroids)
    return np.argmin(d2, axis=1)


def prefixed_state(prefix: str, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {f"{prefix}__{k}": np.asarray(v) for k, v in arrays.items()}


def unprefixed_state(prefix: str, state: dict[str, Any]) -> dict[str, np.ndarray]:
    head = f"{prefix}__"
    return {k[len(head) :]: np.asarray(v) for k, v in state.items() if k.startswith(head)}
