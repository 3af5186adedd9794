"""Top-K lists for evaluation, fast, under the tie rule of :mod:`recbench.metrics.topk`.

:class:`Ranker` gives, for a batch of users, exactly what scoring the full catalogue, masking
seen (and blocked) items with ``-inf`` and calling :func:`recbench.metrics.topk.top_k` gives,
by four faster routes:

- **one list for everyone**: a model whose score vector is the same for every user
  (``same_scores_for_all_users``, e.g. popularity) is ranked once; each user's list is the first
  K items of that order they have not seen, found from ragged (K + seen) prefixes, so a batch
  costs O(users x K + their seen items), not O(users x items);
- **dot products**: a model whose ``score(users) == query_vectors(users) @ item_embeddings().T``
  is scored by that product directly (thread-safe numpy, releasing the GIL), half-batches in two
  threads so both cores work while the batch stays within the evaluator's memory budget;
- **selection without a full partition**: each row's k-th largest *block maximum* (the row cut
  into about 8K blocks) is a lower bound ``t`` of its k-th largest score, since those K block
  maxima are K distinct entries >= ``t``; only entries >= ``t`` (typically about K per row) are
  gathered (``flatnonzero``) and sorted by (row, score descending, item index). Every entry tied
  at the cut-off is among them, so the tie rule holds exactly, with no fallback. A few vectorised
  passes (max, compare, flatnonzero) instead of ``argpartition``'s per-row selection; numpy
  releases the GIL in each, so half-batches run in two threads;
- **scores in threads**: a model whose ``score`` is thread-safe and releases the GIL
  (``thread_safe_score``: k-NN's sparse products, EASE, the baseline) scores and selects
  half-batches in two threads.

``ENABLED = False`` restores the plain path (score, mask, ``top_k``): the benchmark's baseline.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import scipy.sparse as sp

from recbench.algorithms.base import Recommender
from recbench.metrics.topk import mask_seen, top_k

#: switch the fast routes off (the plain path, for benchmarks and tests)
ENABLED = True
#: batches smaller than this many cells are not worth a thread pool's overhead
MIN_FAST_CELLS = 1 << 18
#: a row whose candidates (entries >= its bound) exceed this many per K goes to ``top_k``
MAX_CANDIDATES_PER_K = 64


def cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class Ranker:
    """``ranker(users) -> (idx, vals)``: each user's first ``k`` items under the tie rule, with
    ``-inf`` values where fewer than ``k`` items are left (seen or blocked ones)."""

    def __init__(
        self,
        model: Recommender,
        seen: sp.csr_array,
        blocked: np.ndarray | None,
        k: int,
        from_history: bool = False,
    ) -> None:
        self.model = model
        self.seen = seen
        self.blocked = blocked
        self.n_items = int(model.n_items_)
        self.k = min(k, self.n_items)
        self.from_history = from_history
        self._order: np.ndarray | None = None
        self._global: np.ndarray | None = None
        self._vectors: tuple[Any, np.ndarray] | None = None
        self.route = "plain"
        if not ENABLED or from_history:
            return
        if model.same_scores_for_all_users:
            self.route = "one list"
        else:
            items = model.item_embeddings()
            if items is not None and model.query_vectors(np.zeros(1, np.int64)) is not None:
                self._vectors = (model.query_vectors, np.ascontiguousarray(items, np.float32))
                self.route = "dot product"
            else:
                self.route = "scores"

    def __call__(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        users = np.asarray(users)
        if self.route == "one list":
            return self._one_list(users)
        big = len(users) * self.n_items >= MIN_FAST_CELLS and len(users) > 1
        if self.route == "dot product":
            return self._in_halves(self._dot_part, users) if big else self._dot_part(users)
        if self.route == "scores" and big and self.model.thread_safe_score:
            return self._in_halves(self._scored_part, users)
        scores = self._scores(users)
        if not big:
            return self._select(scores, users)
        mask_seen(scores, self.seen, users)
        if self.blocked is not None:
            scores[:, self.blocked] = -np.inf
        halves = np.array_split(np.arange(len(users)), min(cores(), 2))
        with ThreadPoolExecutor(len(halves)) as pool:
            parts = list(pool.map(lambda rows: select_top(scores[rows], self.k), halves))
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _in_halves(
        self, part: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], users: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """``part`` of each half of ``users`` in its own thread (both cores; the batch's memory
        is split between them), concatenated; one call where one core is available."""
        halves = [h for h in np.array_split(users, min(cores(), 2)) if len(h)]
        if len(halves) == 1:
            return part(users)
        with ThreadPoolExecutor(len(halves)) as pool:
            parts = list(pool.map(part, halves))
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    # -- routes --------------------------------------------------------------------------------
    def _scores(self, users: np.ndarray) -> np.ndarray:
        model = self.model
        raw = model.score_history(self.seen[users]) if self.from_history else model.score(users)
        scores = np.asarray(raw, dtype=np.float32)
        if scores.shape != (len(users), self.n_items):
            raise RuntimeError(
                f"{type(model).__name__}.score returned shape {scores.shape}, "
                f"expected {(len(users), self.n_items)}"
            )
        return scores

    def _scored_part(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._select(self._scores(users), users)

    def _dot_part(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        assert self._vectors is not None
        query, items = self._vectors
        q = np.asarray(query(users), dtype=np.float32)
        return self._select(q @ items.T, users)

    def _select(self, scores: np.ndarray, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mask_seen(scores, self.seen, users)
        if self.blocked is not None:
            scores[:, self.blocked] = -np.inf
        return select_top(scores, self.k)

    def _one_list(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The catalogue ranked once; per user, the first k items of it they have not seen."""
        if self._order is None:
            s = self._scores(users[:1])[0].copy()
            if self.blocked is not None:
                s[self.blocked] = -np.inf
            self._global = s
            self._order = np.lexsort((np.arange(self.n_items), -s))
        order, s = self._order, self._global
        assert s is not None
        n, k, n_items = len(users), self.k, self.n_items
        indptr = self.seen.indptr
        starts, ends = indptr[users], indptr[users + 1]
        n_seen = (ends - starts).astype(np.int64)
        length = np.minimum(k + n_seen, n_items)
        row = np.repeat(np.arange(n), length)
        first = np.cumsum(length) - length
        offset = np.arange(int(length.sum())) - np.repeat(first, length)
        cand = order[offset]
        # the batch's seen (user row, item) keys, sorted, for a binary-search membership test
        seen_rows = np.repeat(np.arange(n, dtype=np.int64), n_seen)
        seen_pos = np.arange(int(n_seen.sum())) - np.repeat(np.cumsum(n_seen) - n_seen, n_seen)
        seen_items = self.seen.indices[np.repeat(starts, n_seen) + seen_pos]
        seen_keys = np.sort(seen_rows * n_items + seen_items)
        keys = row.astype(np.int64) * n_items + cand
        if len(seen_keys):
            pos = np.minimum(np.searchsorted(seen_keys, keys), len(seen_keys) - 1)
            unseen = seen_keys[pos] != keys
        else:
            unseen = np.ones(len(keys), dtype=bool)
        running = np.cumsum(unseen)
        before_row = np.repeat(running[first] - unseen[first], length)
        rank = running - before_row  # 1-based rank among the row's unseen candidates
        take = unseen & (rank <= k)
        idx = np.zeros((n, k), dtype=np.int64)
        vals = np.full((n, k), -np.inf, dtype=np.float32)
        idx[row[take], rank[take] - 1] = cand[take]
        vals[row[take], rank[take] - 1] = s[cand[take]]
        return idx, vals


def select_top(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`recbench.metrics.topk.top_k` (same items, same order, ``scores`` unchanged) by the
    block-maximum bound (module docs); small or narrow inputs go to ``top_k``."""
    n, m = scores.shape
    k = min(k, m)
    blocks = min(max(8 * k, 64), m // 2)
    if not ENABLED or scores.size < MIN_FAST_CELLS or blocks < 2 * k:
        return top_k(scores, k)
    width = m // blocks
    block_max = scores[:, : blocks * width].reshape(n, blocks, width).max(axis=2)
    bound = np.partition(block_max, blocks - k, axis=1)[:, blocks - k]
    flat = np.flatnonzero(scores >= bound[:, None])
    rows, cols = np.divmod(flat, m)
    per_row = np.bincount(rows, minlength=n)
    # rows mostly -inf (many candidates) or with NaN (too few) are left to top_k
    crowded = np.flatnonzero((per_row > MAX_CANDIDATES_PER_K * k) | (per_row < k))
    if len(crowded):
        keep_rows = np.ones(n, dtype=bool)
        keep_rows[crowded] = False
        sel = keep_rows[rows]
        flat, rows, cols = flat[sel], rows[sel], cols[sel]
    vals = scores.ravel()[flat]
    order = np.lexsort((cols, -vals, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    first = np.searchsorted(rows, np.arange(n))
    rank = np.arange(len(rows)) - first[rows]
    take = rank < k
    idx = np.zeros((n, k), dtype=np.int64)
    out = np.full((n, k), -np.inf, dtype=np.float32)
    idx[rows[take], rank[take]] = cols[take]
    out[rows[take], rank[take]] = vals[take]
    if len(crowded):
        idx[crowded], out[crowded] = top_k(scores[crowded], k)
    return idx, out
