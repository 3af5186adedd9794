"""EASE: embarrassingly shallow autoencoder (Steck 2019), closed form, ranking only.

``G = X^T X + l2 * I``, ``P = G^-1``, ``B = -P / diag(P)`` column-wise with a zero diagonal;
a user's scores are their training row times ``B``. The item-item matrices are dense, so the
memory need (about three ``n_items^2`` float64 matrices) is checked against ``max_memory_gb``
before anything is built. The training rows are kept (as CSR arrays) for scoring.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from pydantic import Field

from recbench.algorithms.base import AlgoConfig, Recommender
from recbench.algorithms.explain import Contribution, rank_contributions
from recbench.algorithms.space import Float, Space
from recbench.data.model import Dataset
from recbench.errors import UsageError


class EASEConfig(AlgoConfig):
    l2: float = Field(500.0, gt=0, description="L2 regularisation (lambda) of the item weights")
    values: Literal["binary", "rating"] = Field(
        "binary", description="cell value of X: 1, or the rating"
    )
    max_memory_gb: float = Field(
        4.0, gt=0, description="refuse to fit when the dense item-item matrices need more"
    )


def ease_weights(x: sp.csr_array, l2: float) -> np.ndarray:
    """The EASE item-item weight matrix B (float64) for the users x items matrix ``x``."""
    gram = (x.T @ x).toarray().astype(np.float64)
    gram[np.diag_indices_from(gram)] += l2
    # G is symmetric positive definite (l2 > 0), so always invertible; invert in place.
    p = scipy.linalg.inv(gram, overwrite_a=True, check_finite=False)
    del gram
    diag = np.diag(p).copy()
    p /= -diag[None, :]
    p[np.diag_indices_from(p)] = 0.0
    return p


class EASERecommender(Recommender[EASEConfig]):
    """Item-item linear autoencoder with a zero diagonal, solved in closed form (Steck 2019)."""

    family = "item-item"
    description = "EASE linear item-item autoencoder (closed form), ranking only"
    source = "recbench"
    cold_users = True  # a newcomer's history times B scores them, no refit needed
    Config = EASEConfig
    thread_safe_score = True  # scipy's sparse x dense kernel releases the GIL
    search_space: ClassVar[Space] = {"l2": Float(1.0, 5000.0, log=True)}
    state_attrs: ClassVar[tuple[str, ...]] = ("B_", "X_indptr_", "X_indices_", "X_data_")

    def refusal(self, train: Dataset) -> str | None:
        return self._memory_refusal(train) or super().refusal(train)

    def _memory_refusal(self, train: Dataset) -> str | None:
        n, cfg = train.n_items, self.config
        need_gb = 3 * n * n * 8 / 1e9
        if need_gb > cfg.max_memory_gb:
            return (
                f"EASE on {n:,} items needs about {need_gb:.3g} GB for its item-item matrices, "
                f"over max_memory_gb={cfg.max_memory_gb:g}; raise max_memory_gb or filter items "
                "(--min-item-ratings)"
            )
        return None

    def _fit(self, train: Dataset) -> None:
        cfg = self.config
        reason = self._memory_refusal(train)
        if reason:
            raise UsageError(reason)
        if cfg.values == "rating" and train.interactions.rating is None:
            raise UsageError(f"EASE with values='rating' needs ratings, and {train.name} has none")
        x = sp.csr_array(train.interactions.csr(cfg.values), dtype=np.float64)
        self.B_ = ease_weights(x, cfg.l2).astype(np.float32)
        x32 = sp.csr_array(x, dtype=np.float32)
        x32.sort_indices()
        self.X_indptr_ = np.asarray(x32.indptr, dtype=np.int64)
        self.X_indices_ = np.asarray(x32.indices, dtype=np.int32)
        self.X_data_ = np.asarray(x32.data, dtype=np.float32)

    def score(self, users: np.ndarray) -> np.ndarray:
        self.check_is_fitted()
        users = np.asarray(users, np.int64)
        x = sp.csr_array(
            (self.X_data_, self.X_indices_, self.X_indptr_), shape=(self.n_users_, self.n_items_)
        )
        return np.asarray(x[users] @ self.B_, dtype=np.float32)

    def _as_values(self, history: sp.csr_array) -> sp.csr_array:
        h = sp.csr_array(history, dtype=np.float32)
        if self.config.values == "binary":
            h.data = np.ones_like(h.data)
        return h

    def score_history(self, history: sp.csr_array) -> np.ndarray:
        self.check_is_fitted()
        return np.asarray(self._as_values(history) @ self.B_, dtype=np.float32)

    def contributions(
        self, history: sp.csr_array, items: np.ndarray
    ) -> list[list[Contribution]] | None:
        """Item j's score is the sum over the history items l of ``x_l * B[l, j]``."""
        self.check_is_fitted()
        h = self._as_values(history)
        h.sum_duplicates()
        rated = np.asarray(h.indices, np.int64)
        terms = h.data[:, None] * self.B_[np.ix_(rated, np.asarray(items, np.int64))]
        return rank_contributions(rated, terms.T)
