"""Next-item evaluation on plain arrays: the rank of one target item per user.

Full-catalogue ranking with the user's history items excluded (S3-Rec's protocol), or the
target against a frozen per-user set of sampled negatives (SASRec's protocol). Ties count
against the target in both modes: its rank is one plus the number of candidates scoring at
least as high. A target that is itself a history item is excluded with the history, so it is a
miss (the data decides whether repeats can be targets; S3-Rec's code does the same).
HR@k is ``rank <= k``; NDCG@k with one relevant item is ``1 / log2(rank + 1)`` when ``rank <= k``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from recbench.algorithms.sequential.data import IntArray, Sequences

ScoreFn = Callable[[Sequences], NDArray[np.float32]]


def full_ranks(
    score: ScoreFn,
    histories: Sequences,
    targets: IntArray,
    *,
    exclude_history: bool = True,
    batch_size: int = 1024,
) -> NDArray[np.float64]:
    """1-based rank of each user's target among all items (``inf`` for an excluded target)."""
    ranks = np.empty(histories.n_users, dtype=np.float64)
    for s in range(0, histories.n_users, batch_size):
        users = np.arange(s, min(s + batch_size, histories.n_users))
        part = histories.take(users)
        scores = np.array(score(part), dtype=np.float32, copy=True)
        rows = np.arange(len(users))
        t = targets[users]
        if exclude_history:
            scores[np.repeat(rows, part.lengths), part.items] = -np.inf
        target_score = scores[rows, t]
        higher = (scores >= target_score[:, None]).sum(axis=1)  # includes the target itself
        ranks[users] = np.where(np.isneginf(target_score), np.inf, higher)
    return ranks


def sample_candidates(
    full: Sequences, n_items: int, n: int, users: IntArray, seed: int
) -> NDArray[np.int64]:
    """(len(users), n) negatives per user, uniform without replacement over the items the user
    never interacted with (the whole sequence, test item included), from
    ``np.random.default_rng(seed)`` in user order: one frozen candidate set per user."""
    rng = np.random.default_rng(seed)
    out = np.empty((len(users), n), dtype=np.int64)
    for row, u in enumerate(users):
        seen = np.unique(full.row(int(u)))
        if n_items - len(seen) < n:
            raise ValueError(
                f"user {u} has only {n_items - len(seen)} unseen items, fewer than {n} negatives"
            )
        # a uniform random ordered subset of the catalogue with the seen items filtered out
        # is a uniform random ordered subset of the unseen items
        draw = rng.choice(n_items, size=min(n_items, n + len(seen)), replace=False)
        out[row] = draw[~np.isin(draw, seen)][:n]
    return out


def sampled_ranks(
    score: ScoreFn,
    histories: Sequences,
    targets: IntArray,
    candidates: NDArray[np.int64],
    *,
    batch_size: int = 1024,
) -> NDArray[np.float64]:
    """1-based rank of each user's target among itself and that user's ``candidates`` row."""
    ranks = np.empty(histories.n_users, dtype=np.float64)
    for s in range(0, histories.n_users, batch_size):
        users = np.arange(s, min(s + batch_size, histories.n_users))
        scores = score(histories.take(users))
        rows = np.arange(len(users))[:, None]
        target_score = scores[rows[:, 0], targets[users]]
        neg = scores[rows, candidates[users]]
        ranks[users] = 1 + (neg >= target_score[:, None]).sum(axis=1)
    return ranks


def hit_ndcg(
    ranks: NDArray[np.float64], k: int = 10
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-user (HR@k, NDCG@k) of one target at ``ranks`` (binary relevance)."""
    hit = ranks <= k
    ndcg = np.zeros(len(ranks))
    ndcg[hit] = 1.0 / np.log2(ranks[hit] + 1.0)
    return hit.astype(np.float64), ndcg
