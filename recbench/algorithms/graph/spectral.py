"""The normalised user-item graph and its ideal low-pass filter, shared by the training-free
graph filters (GF-CF, BSPM).

``R~ = D_u^-1/2 R D_i^-1/2`` is the binary users x items matrix with both degree
normalisations; the ideal low-pass filter of a row ``r`` is ``r D_i^-1/2 V^T V D_i^1/2`` with
``V`` the top right singular vectors of ``R~`` (Shen et al. 2021). Degree-0 users and items get
weight 0 (no division by 0).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def inverse_sqrt(degrees: np.ndarray) -> np.ndarray:
    """``degrees ** -0.5`` with 0 where the degree is 0."""
    d = np.asarray(degrees, np.float64)
    out = np.zeros_like(d)
    np.divide(1.0, np.sqrt(d), out=out, where=d > 0)
    return out


def reciprocal(d: np.ndarray) -> np.ndarray:
    """``1 / d`` with 0 where ``d`` is 0 (the item degree's square root, from D_i^-1/2)."""
    out = np.zeros_like(d)
    np.divide(1, d, out=out, where=d > 0)
    return out


def degree_factors(x: sp.csr_array) -> tuple[np.ndarray, np.ndarray]:
    """``(D_u^-1/2, D_i^-1/2)`` of the matrix ``x`` as float64 vectors."""
    du = inverse_sqrt(np.asarray(x.sum(axis=1)).ravel())
    di = inverse_sqrt(np.asarray(x.sum(axis=0)).ravel())
    return du, di


def normalised(x: sp.csr_array) -> tuple[sp.csr_array, np.ndarray]:
    """``D_u^-1/2 X D_i^-1/2`` (float64) and the item factors ``D_i^-1/2``."""
    du, di = degree_factors(x)
    xn = sp.csr_array(sp.diags_array(du) @ sp.csr_array(x, dtype=np.float64) @ sp.diags_array(di))
    return xn, di


def top_right_vectors(x: sp.csr_array, k: int, seed: int) -> np.ndarray:
    """(min(k, rank bound), n_cols) top right singular vectors of ``x``.

    ARPACK (``svds``) from a seeded start vector; a dense SVD where ARPACK cannot take ``k``
    (it needs ``k < min(shape)``), i.e. on small matrices.
    """
    small = min(x.shape)
    if k >= small - 1:
        _, _, vt = np.linalg.svd(x.toarray(), full_matrices=False)
        return np.ascontiguousarray(vt[:k])
    from scipy.sparse.linalg import svds

    v0 = np.random.default_rng(seed).uniform(-1.0, 1.0, small)
    _, _, vt = svds(x, k=k, v0=v0, return_singular_vectors="vh")
    return np.ascontiguousarray(vt)


def ideal_low_pass(rows: sp.csr_array | np.ndarray, v: np.ndarray, di: np.ndarray) -> np.ndarray:
    """``rows D_i^-1/2 V^T V D_i^1/2`` (float32): the ideal low-pass filter of each row, through
    the (vectors x items) ``V`` so that no item x item matrix is formed."""
    v = np.asarray(v, np.float32)
    di = np.asarray(di, np.float32)
    low = np.asarray(rows @ (v.T * di[:, None]), np.float32)
    return np.asarray(low @ (v * reciprocal(di)[None, :]), np.float32)
