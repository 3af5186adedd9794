"""The neighbourhood terms of k-NN rating predictions, vectorised over many test pairs.

For a test pair whose own entity is x and whose other entity is y (item-kNN: x the item, y the
user), the candidates are the x's who rated y in training order (Surprise's ``ir`` / ``ur``
lists). The ``k`` most similar to x by ``sim`` are kept (stable: among equal similarities the
earlier training rating wins, as ``heapq.nlargest`` in Surprise). The terms are the sum of their
positive similarities, the sum of those times their residual ratings, and how many were positive.

Each pair's candidates are sorted by similarity, descending and stable, and the sums run over
the first ``k`` in that order, one neighbour after another: the arithmetic of Surprise's loop over
``heapq.nlargest``, whatever the number of pairs computed together (numpy's own row sums would
change their summation order with the array's shape). Pairs are grouped by their y's degree,
rounded up to a power of two, and each group's rows are padded with ``-inf`` (sorted last, never
positive: they add exact zeros). The cost is a few dozen numpy calls per call rather than one
Python iteration per (y, block); numpy releases the GIL in the gathers, sorts and sums, so blocks
can run in threads.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: cells (pairs x candidates) gathered at a time: memory stays about 10 arrays of this many
#: 8-byte values (160 MB), whatever the degrees
CHUNK_CELLS = 1 << 21

#: ``residual(ratings, neighbours, ys) -> ratings minus the predictor's reference`` for a chunk:
#: ``ratings`` and ``neighbours`` are (pairs x candidates), ``ys`` the pairs' y's
Residual = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _widths(deg: np.ndarray) -> np.ndarray:
    """Row width of each pair: a power of two at least its degree (and at least 1)."""
    pow2 = np.left_shift(1, np.ceil(np.log2(np.maximum(deg, 1))).astype(np.int64))
    return np.maximum(pow2, deg)


def neighbour_terms(
    sim: np.ndarray,
    rows: np.ndarray,
    ys: np.ndarray,
    indptr: np.ndarray,
    cands: np.ndarray,
    ratings: np.ndarray,
    k: int,
    residual: Residual,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sum of positive similarities, of their weighted residuals, their count) of each pair.

    ``sim[rows[p]]`` is the similarity row of pair ``p``'s x; ``cands[indptr[y]:indptr[y + 1]]``
    and ``ratings[...]`` are the x's who rated ``y`` and their ratings, in training order."""
    n = len(rows)
    sum_sim, sum_num = np.zeros(n), np.zeros(n)
    count = np.zeros(n, np.int64)
    if n == 0 or len(cands) == 0:
        return sum_sim, sum_num, count
    rows = np.asarray(rows, np.int64)
    ys = np.asarray(ys, np.int64)
    lo = np.asarray(indptr[ys], np.int64)
    deg = np.asarray(indptr[ys + 1], np.int64) - lo
    width = _widths(deg)
    order = np.argsort(width, kind="stable")
    groups, starts = np.unique(width[order], return_index=True)
    bounds = np.append(starts, n)
    for g, w in enumerate(groups.tolist()):
        members = order[bounds[g] : bounds[g + 1]]
        off = np.arange(w)
        step = max(1, CHUNK_CELLS // w)
        for c in range(0, len(members), step):
            q = members[c : c + step]
            valid = off < deg[q, None]
            idx = np.where(valid, lo[q, None] + off, 0)  # padding reads entry 0, then -inf
            s = sim[rows[q, None], cands[idx]]
            s[~valid] = -np.inf
            sel = np.argsort(-s, axis=1, kind="stable")[:, :k]
            top = np.take_along_axis(idx, sel, axis=1)
            s = np.take_along_axis(s, sel, axis=1)
            resid = residual(ratings[top], cands[top], ys[q])
            wts = np.where(s > 0, s, 0.0)
            count[q] = (s > 0).sum(axis=1)
            # one neighbour after another (columns), as Surprise's loop adds them
            terms, weighted = np.ascontiguousarray(wts.T), np.ascontiguousarray((wts * resid).T)
            acc_sim, acc_num = np.zeros(len(q)), np.zeros(len(q))
            for j in range(terms.shape[0]):
                acc_sim += terms[j]
                acc_num += weighted[j]
            sum_sim[q], sum_num[q] = acc_sim, acc_num
    return sum_sim, sum_num, count
