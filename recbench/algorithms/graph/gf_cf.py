"""GF-CF: the closed-form graph filter of Shen et al. (CIKM 2021, "How Powerful is Graph
Convolution for Recommendation?"), ranking only, no training.

With ``R`` the binary users x items matrix, ``D_u`` / ``D_i`` its user and item degrees and
``R~ = D_u^-1/2 R D_i^-1/2`` the normalised matrix, a user's scores are

    s_u = r_u (R~^T R~)  +  alpha * r_u D_i^-1/2 V^T V D_i^1/2

the first term the normalised item-item linear filter, the second the ideal low-pass filter
built from the top ``vectors`` right singular vectors ``V`` of ``R~`` (scipy's sparse SVD,
ARPACK, seeded start vector). The paper's defaults: 256 vectors, alpha 0.3. ``R~^T R~`` is kept
sparse (Gowalla: 42M entries, 0.3 GB in float32) and users are scored in the caller's batches, so
nothing users x items is ever held. Degree-0 users and items get weight 0 (no division by 0).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from recbench.algorithms.base import AlgoConfig
from recbench.algorithms.graph.spectral import (
    ideal_low_pass,
    normalised,
    reciprocal,
    top_right_vectors,
)
from recbench.algorithms.linear.item_weights import SparseItemWeights, binary_rows
from recbench.algorithms.space import Float, Int, Space
from recbench.data.model import Dataset


class GFCFConfig(AlgoConfig):
    alpha: float = Field(0.3, ge=0, description="weight of the ideal low-pass filter")
    vectors: int = Field(
        256, ge=1, le=100_000, description="right singular vectors of the ideal low-pass filter"
    )


class GFCFRecommender(SparseItemWeights[GFCFConfig]):
    """GF-CF linear + ideal low-pass graph filter (Shen et al. 2021), training-free."""

    family = "graph"
    description = "GF-CF closed-form graph filter: normalised item filter + SVD low-pass"
    Config = GFCFConfig
    search_space: ClassVar[Space] = {
        "alpha": Float(0.0, 1.0),
        "vectors": Int(16, 1024, log=True),
    }
    state_attrs: ClassVar[tuple[str, ...]] = (
        *SparseItemWeights.state_attrs,
        "V_",
        "di_",
    )

    def _fit(self, train: Dataset) -> None:
        x = binary_rows(train)
        xn, di = normalised(x)
        gram = sp.csr_array(xn.T @ xn, dtype=np.float32)
        self._keep(x, gram)
        del gram
        if self.config.alpha > 0:
            vt = top_right_vectors(xn, self.config.vectors, self.seed)
        else:
            vt = np.zeros((0, x.shape[1]))
        self.V_ = np.asarray(vt, np.float32)
        self.di_ = np.asarray(di, np.float32)

    def _history_scores(self, rows: sp.csr_array) -> np.ndarray:
        linear = super()._history_scores(rows)
        if self.V_.shape[0] and self.config.alpha > 0:
            linear += np.float32(self.config.alpha) * ideal_low_pass(rows, self.V_, self.di_)
        return linear

    def _terms(self, rated: np.ndarray, items: np.ndarray) -> np.ndarray:
        terms = super()._terms(rated, items)
        if self.V_.shape[0] and self.config.alpha > 0:
            v = self.V_.astype(np.float64)
            d_sqrt = reciprocal(self.di_.astype(np.float64))
            low = (v[:, rated].T * self.di_[rated, None]) @ (v[:, items] * d_sqrt[items])
            terms += self.config.alpha * low
        return terms

    def set_state(self, state: dict[str, Any]) -> GFCFRecommender:
        super().set_state(state)
        self.V_ = np.asarray(self.V_, np.float32)
        self.di_ = np.asarray(self.di_, np.float32)
        return self
