"""The shared base of models that score a user as ``x_u @ W``: ``x_u`` their binary training
row, ``W`` a sparse item x item matrix learnt at fit (RP3beta, SLIM, GF-CF's linear filter).

The training rows and ``W`` are kept as CSR arrays (plain numpy in the model file). Such a score
is a sum over the history, so newcomers are scored from a history without refitting
(``cold_users``) and each recommended item's score splits exactly into one term per history
item (``contributions``, used by ``recommend --explain``).
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

import numpy as np
import scipy.sparse as sp

from recbench.algorithms.base import AlgoConfig, Recommender
from recbench.algorithms.explain import Contribution, rank_contributions
from recbench.data.model import Dataset

C = TypeVar("C", bound=AlgoConfig)
R = TypeVar("R", bound="SparseItemWeights[Any]")


def binary_history(history: sp.csr_array) -> sp.csr_array:
    """A history matrix as float32 ones (duplicates summed, explicit zeros dropped)."""
    h = sp.csr_array(history, dtype=np.float32)
    h.sum_duplicates()
    h.eliminate_zeros()
    h.data[:] = 1.0
    return h


def binary_rows(train: Dataset) -> sp.csr_array:
    """The users x items training matrix with value 1 per interacted cell (float32, sorted)."""
    x = sp.csr_array(train.interactions.csr("binary"), dtype=np.float32)
    x.sum_duplicates()
    x.data[:] = 1.0
    x.sort_indices()
    return x


def keep_top_k(w: sp.csr_array, k: int) -> sp.csr_array:
    """``w`` with only the ``k`` largest entries of each row kept (ties: lower column first).

    Vectorised over rows: entries are sorted by (row, -value, column) once, then each row's
    first ``k`` are kept.
    """
    w = sp.csr_array(w)
    w.sum_duplicates()
    w.eliminate_zeros()
    counts = np.diff(w.indptr)
    if counts.size == 0 or counts.max(initial=0) <= k:
        return w
    rows = np.repeat(np.arange(w.shape[0]), counts)
    order = np.lexsort((w.indices, -w.data, rows))
    rank = np.arange(len(order)) - np.repeat(w.indptr[:-1], counts)
    keep = order[rank < k]
    keep.sort()  # back to row-major, column-sorted order
    out = sp.csr_array(
        (w.data[keep], w.indices[keep], np.concatenate([[0], np.cumsum(np.minimum(counts, k))])),
        shape=w.shape,
    )
    out.sort_indices()
    return out


def keep_top_k_dense(block: np.ndarray, k: int) -> sp.csr_array:
    """The ``k`` largest positive entries of each row of the dense ``block`` as CSR, ties
    broken towards lower columns as :func:`keep_top_k` does. O(cells), no sorting: the row's
    k-th value by ``np.partition``, every entry above it, then the first entries equal to it.
    """
    rows, n = block.shape
    if n > k:
        kth = -np.partition(-block, k - 1, axis=1)[:, k - 1 : k]
        keep = block > kth
        need = k - keep.sum(axis=1, keepdims=True)
        tie = block == kth
        keep |= tie & (np.cumsum(tie, axis=1) <= need)
        keep &= block > 0
    else:
        keep = block > 0
    r, c = np.nonzero(keep)
    return sp.csr_array((block[r, c], (r, c)), shape=(rows, n))


class SparseItemWeights(Recommender[C]):
    """Scores ``X[users] @ W``; subclasses set ``W`` with :meth:`_keep` in their ``_fit``."""

    family = "item-item"
    cold_users = True
    thread_safe_score = True  # scipy's sparse products release the GIL
    state_attrs: ClassVar[tuple[str, ...]] = (
        "W_indptr_",
        "W_indices_",
        "W_data_",
        "X_indptr_",
        "X_indices_",
    )

    def _keep(self, x: sp.csr_array, w: sp.csr_array) -> None:
        """Store the binary training rows ``x`` and the item x item weights ``w``."""
        w = sp.csr_array(w, dtype=np.float32)
        w.sum_duplicates()
        w.sort_indices()
        self.W_indptr_ = np.asarray(w.indptr, np.int64)
        self.W_indices_ = np.asarray(w.indices, np.int32)
        self.W_data_ = np.asarray(w.data, np.float32)
        self.X_indptr_ = np.asarray(x.indptr, np.int64)
        self.X_indices_ = np.asarray(x.indices, np.int32)
        self.__dict__.pop("_csr_cache", None)

    def _matrices(self) -> tuple[sp.csr_array, sp.csr_array]:
        """(training rows, W) as CSR arrays, built once from the fitted arrays."""
        cached = self.__dict__.get("_csr_cache")
        if cached is None:
            n = self.n_items_
            x = sp.csr_array(
                (np.ones(len(self.X_indices_), np.float32), self.X_indices_, self.X_indptr_),
                shape=(self.n_users_, n),
            )
            w = sp.csr_array((self.W_data_, self.W_indices_, self.W_indptr_), shape=(n, n))
            cached = self.__dict__.setdefault("_csr_cache", (x, w))
        return cached

    @property
    def weights(self) -> sp.csr_array:
        """The fitted item x item weight matrix W (float32 CSR)."""
        self.check_is_fitted()
        return self._matrices()[1]

    def _history_scores(self, rows: sp.csr_array) -> np.ndarray:
        """Scores of binary history rows; subclasses add terms (GF-CF's low-pass filter)."""
        return np.asarray((rows @ self._matrices()[1]).toarray(), dtype=np.float32)

    def score(self, users: np.ndarray) -> np.ndarray:
        self.check_is_fitted()
        x, _ = self._matrices()
        return self._history_scores(x[np.asarray(users, np.int64)])

    def score_history(self, history: sp.csr_array) -> np.ndarray:
        self.check_is_fitted()
        return self._history_scores(binary_history(history))

    def _terms(self, rated: np.ndarray, items: np.ndarray) -> np.ndarray:
        """(len(rated), len(items)): history item l's term in item j's score."""
        return np.asarray(self._matrices()[1][rated][:, items].toarray(), np.float64)

    def contributions(
        self, history: sp.csr_array, items: np.ndarray
    ) -> list[list[Contribution]] | None:
        """Item j's score is the sum over the history items l of ``W[l, j]``."""
        self.check_is_fitted()
        rated = np.asarray(binary_history(history).indices, np.int64)
        terms = self._terms(rated, np.asarray(items, np.int64))
        return rank_contributions(rated, terms.T)

    def set_state(self: R, state: dict[str, Any]) -> R:
        self.__dict__.pop("_csr_cache", None)
        return super().set_state(state)
