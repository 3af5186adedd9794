"""EASE: embarrassingly shallow autoencoder (Steck 2019), closed form, ranking only.

``G = X^T X + l2 * I``, ``P = G^-1``, ``B = -P / diag(P)`` column-wise with a zero diagonal;
a user's scores are their training row times ``B``.

Large catalogues: ``G`` is built in float32, a block of columns at a time, into one n x n
buffer, inverted there through its Cholesky factor (LAPACK ``potrf`` then ``potri``, both in
place; ``G`` is symmetric positive definite since l2 > 0), mirrored to full and turned into ``B``
in place, so the fit needs one n x n float32 matrix (41k items: 6.7 GB) where the former LU path
(``scipy.linalg.inv`` in float64) needed about three float64 ones (40 GB). The Cholesky route also
takes a third of LU's arithmetic. Above :data:`ONE_THREAD_ROWS` items BLAS is held to one thread
around the factorization (threadpoolctl): the OpenBLAS in numpy's and scipy's wheels segfaults
in a multithreaded float32 ``potrf`` from somewhere between 23k and 28k rows. The memory need is
checked against ``max_memory_gb`` before anything is built. The training rows are kept (as CSR
arrays) for scoring.
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
        4.0, gt=0, description="refuse to fit when the dense item-item matrix needs more"
    )


#: above this many items, BLAS runs the factorization in one thread (see the module notes)
ONE_THREAD_ROWS = 20_000
#: columns of G computed per sparse product
_GRAM_BLOCK = 2048


def gram_matrix(x: sp.csr_array, l2: float) -> np.ndarray:
    """``X^T X + l2 * I`` as a dense C-ordered float32 array, built a block of columns at a
    time (no sparse n x n intermediate)."""
    n = x.shape[1]
    xc = sp.csc_array(x, dtype=np.float32)
    xt = sp.csr_array(xc.T)
    gram = np.empty((n, n), dtype=np.float32)
    for start in range(0, n, _GRAM_BLOCK):
        stop = min(start + _GRAM_BLOCK, n)
        gram[:, start:stop] = (xt @ xc[:, start:stop]).toarray()
    gram[np.diag_indices_from(gram)] += np.float32(l2)
    return gram


def _mirror_lower(a: np.ndarray, block: int = 1024) -> None:
    """Copy the strict lower triangle of square ``a`` onto its upper one, in place."""
    n = a.shape[0]
    for s in range(0, n, block):
        e = min(s + block, n)
        a[:s, s:e] = a[s:e, :s].T
        diag = a[s:e, s:e]
        upper = np.triu_indices(e - s, 1)
        diag[upper] = diag.T[upper]


def invert_spd_in_place(a: np.ndarray) -> np.ndarray:
    """Overwrite the symmetric positive definite C-ordered ``a`` with its inverse (Cholesky:
    LAPACK ``potrf`` + ``potri`` on ``a``'s own memory) and return it."""
    from threadpoolctl import threadpool_limits

    lapack = scipy.linalg.lapack
    potrf, potri = lapack.get_lapack_funcs(("potrf", "potri"), (a,))
    f = a.T  # the same memory in Fortran order; a is symmetric, so it is the same matrix
    limit = 1 if a.shape[0] > ONE_THREAD_ROWS else None
    with threadpool_limits(limits=limit, user_api="blas"):
        c, info = potrf(f, lower=False, overwrite_a=True, clean=False)
        if info != 0:
            raise np.linalg.LinAlgError(f"Cholesky factorization failed (info={info})")
        inv, info = potri(c, lower=False, overwrite_c=True)
        if info != 0:
            raise np.linalg.LinAlgError(f"Cholesky inverse failed (info={info})")
    if not np.shares_memory(inv, a):  # pragma: no cover - LAPACK wrappers copied after all
        a[...] = inv.T
    # potri wrote the upper triangle in Fortran order: the lower one of the C-ordered ``a``
    _mirror_lower(a)
    return a


def ease_weights(x: sp.csr_array, l2: float) -> np.ndarray:
    """The EASE item-item weight matrix B (float32) for the users x items matrix ``x``, in one
    n x n buffer."""
    p = invert_spd_in_place(gram_matrix(x, l2))
    diag = np.diag(p).copy()
    p /= -diag[None, :]
    p[np.diag_indices_from(p)] = 0.0
    return p


def memory_need_gb(n_items: int) -> float:
    """GB the fit needs for its item-item matrix: one n x n float32 buffer, plus a block of
    G's columns and the copy of the diagonal."""
    return (n_items * n_items * 4 + 2 * n_items * min(n_items, _GRAM_BLOCK) * 4) / 1e9


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
        need_gb = memory_need_gb(n)
        if need_gb > cfg.max_memory_gb:
            return (
                f"EASE on {n:,} items needs about {need_gb:.3g} GB for its item-item matrix, "
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
        self.B_ = ease_weights(x, cfg.l2)
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
