"""Approximate nearest-neighbour retrieval over item vectors (maximum inner product).

Scoring every item for every user is what recbench's evaluation does, and it stays exact. Serving
a large catalogue instead asks for the top K items of one user vector in well under a
millisecond: :class:`AnnIndex` wraps an HNSW graph (hnswlib, inner-product space) for that, and
:func:`exact_search` is the brute-force reference that recall is measured against. For the
two-tower model's L2-normalised vectors inner product and cosine rank identically.

hnswlib is imported only when an index is built (``pip install hnswlib``); the exact backend
needs numpy alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np

from recbench.algorithms.base import top_k
from recbench.errors import MissingExtraError, UsageError

Backend = Literal["hnsw", "exact"]


def exact_search(
    items: np.ndarray, queries: np.ndarray, k: int, batch: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` (ids, inner products) per query, best first, in batches of queries.

    Memory is bounded by ``batch x n_items`` scores; ties are ordered by item id.
    """
    items = np.ascontiguousarray(items, dtype=np.float32)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    k = min(k, len(items))
    ids = np.empty((len(queries), k), dtype=np.int64)
    scores = np.empty((len(queries), k), dtype=np.float32)
    for start in range(0, len(queries), batch):
        sl = slice(start, start + batch)
        ids[sl], scores[sl] = top_k(queries[sl] @ items.T, k)
    return ids, scores


def recall_at_k(approx: np.ndarray, exact: np.ndarray) -> float:
    """Share of the exact top-K ids that the approximate lists also return (mean over rows)."""
    if not approx.size or not exact.size:
        return 1.0
    k = exact.shape[1]
    # Sort each row and test membership row-wise without a Python loop over rows.
    rows = np.repeat(np.arange(len(exact)), approx.shape[1])
    offset = np.int64(max(int(exact.max(initial=0)), int(approx.max(initial=0))) + 1)
    keys = np.sort((np.arange(len(exact))[:, None] * offset + exact).ravel())
    probe = rows * offset + approx.ravel()
    pos = np.minimum(np.searchsorted(keys, probe), len(keys) - 1)
    found = (keys[pos] == probe).reshape(approx.shape).sum(axis=1)
    return float(np.mean(found / k))


class AnnIndex:
    """Top-K maximum-inner-product search over a fixed set of item vectors.

    ``backend="hnsw"`` builds an HNSW graph with hnswlib (``m`` links per node, candidate list
    ``ef_construction`` while building and ``ef_search`` while searching: larger values trade
    speed for recall). A single build thread (the default) makes the graph, and so the results,
    reproducible for a ``seed``; more threads build faster. ``backend="exact"`` is brute force.
    """

    def __init__(
        self,
        backend: Backend = "hnsw",
        *,
        m: int = 16,
        ef_construction: int = 200,
        ef_search: int = 100,
        seed: int = 0,
        num_threads: int = 1,
    ) -> None:
        if backend not in ("hnsw", "exact"):
            raise UsageError(f"unknown ANN backend '{backend}' (use hnsw or exact)")
        if m < 2 or ef_construction < 1 or ef_search < 1:
            raise UsageError("m must be >= 2, ef_construction and ef_search >= 1")
        self.backend = backend
        self.m, self.ef_construction, self.ef_search = m, ef_construction, ef_search
        self.seed, self.num_threads = seed, num_threads
        self._index: Any = None
        self._items: np.ndarray | None = None

    @property
    def size(self) -> int:
        return 0 if self._items is None else len(self._items)

    def build(self, items: np.ndarray) -> AnnIndex:
        """Index ``items`` (n x d); row i is returned as id i."""
        items = np.ascontiguousarray(items, dtype=np.float32)
        if items.ndim != 2 or not len(items):
            raise UsageError(f"ANN index needs a non-empty (n, d) matrix, got shape {items.shape}")
        if self.backend == "hnsw":
            try:
                import hnswlib
            except ImportError:
                raise MissingExtraError(
                    "the hnsw ANN backend needs hnswlib, which is not installed; "
                    "run: pip install hnswlib (or use backend='exact')"
                ) from None
            index = hnswlib.Index(space="ip", dim=items.shape[1])
            index.init_index(
                max_elements=len(items),
                M=self.m,
                ef_construction=self.ef_construction,
                random_seed=self.seed,
            )
            index.add_items(items, np.arange(len(items)), num_threads=self.num_threads)
            index.set_ef(self.ef_search)
            self._index = index
        self._items = items
        return self

    def query(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, inner products), each (n_queries, min(k, size)), best first."""
        if self._items is None:
            raise RuntimeError("the ANN index is empty; call build first")
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if queries.shape[1] != self._items.shape[1]:
            raise UsageError(
                f"query vectors have {queries.shape[1]} dimensions, the index has "
                f"{self._items.shape[1]}"
            )
        k = min(k, len(self._items))
        if k <= 0 or not len(queries):
            shape = (len(queries), max(k, 0))
            return np.zeros(shape, np.int64), np.zeros(shape, np.float32)
        if self.backend == "exact":
            return exact_search(self._items, queries, k)
        self._index.set_ef(max(self.ef_search, k))  # HNSW cannot return more than ef results
        labels, dist = self._index.knn_query(queries, k=k, num_threads=self.num_threads)
        # hnswlib's inner-product "distance" is 1 - <q, x>; results come nearest first.
        return labels.astype(np.int64), (1.0 - dist).astype(np.float32)

    def save(self, path: Path) -> None:
        """Write the index (hnswlib's own binary format, no pickle) and its item vectors."""
        if self._items is None:
            raise RuntimeError("the ANN index is empty; call build first")
        np.save(path.with_suffix(".items.npy"), self._items, allow_pickle=False)
        if self.backend == "hnsw":
            self._index.save_index(str(path))

    @classmethod
    def load(cls, path: Path, backend: Backend = "hnsw", **options: Any) -> AnnIndex:
        """Read an index written by :meth:`save`."""
        index = cls(backend, **options)
        index._items = np.load(path.with_suffix(".items.npy"), allow_pickle=False)
        if backend == "hnsw":
            import hnswlib

            graph = hnswlib.Index(space="ip", dim=index._items.shape[1])
            graph.load_index(str(path), max_elements=len(index._items))
            graph.set_ef(index.ef_search)
            index._index = graph
        return index
