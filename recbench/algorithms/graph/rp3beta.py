"""RP3beta: a three-step random walk on the user-item graph with popularity penalisation
(Paudel et al. 2017, "Updatable, accurate, diverse, and scalable recommendations for interactive
applications", TiiS), as Dacrema et al. 2019 ("Are we really making much progress?") ran it.

With ``P_ui`` the binary users x items matrix normalised to row sums 1 and ``P_iu`` its transpose
normalised the same way, both raised element-wise to ``alpha``, the item-item weights are

    W[i, j] = (P_iu P_ui)[i, j] * pop(j) ** -beta,   W[i, i] = 0,

of which each item keeps its ``k`` largest (optionally renormalised to row sums 1); a user's
scores are their binary training row times ``W``. Defaults are Dacrema et al.'s class defaults
(k 100, alpha 1, beta 0.6); their search ranges are the tuning space. ``W`` is computed a block
of items at a time (``BLOCK_CELLS`` cells; a sparse product, made dense when it is dense-ish), and
only each row's top ``k`` is kept, so no item x item dense matrix is ever held.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from recbench.algorithms.base import AlgoConfig
from recbench.algorithms.linear.item_weights import (
    SparseItemWeights,
    binary_rows,
    keep_top_k,
    keep_top_k_dense,
)
from recbench.algorithms.space import Categorical, Float, Int, Space
from recbench.data.model import Dataset

#: cells of one dense block of W (items per block = this / n_items): 128 MB of float64
BLOCK_CELLS = 1 << 24
#: a block with more non-zeros than this share of its cells takes the dense top-k
DENSE_SHARE = 0.125


class RP3betaConfig(AlgoConfig):
    k: int = Field(100, ge=1, description="neighbours kept per item")
    alpha: float = Field(1.0, ge=0, description="exponent of the transition probabilities")
    beta: float = Field(0.6, ge=0, description="popularity penalty: weight to item j / pop(j)^beta")
    normalize: bool = Field(False, description="rescale each item's kept weights to sum 1")


def row_stochastic(x: sp.csr_array, alpha: float) -> sp.csr_array:
    """Rows of ``x`` scaled to sum 1 (empty rows stay empty), then raised to ``alpha``."""
    sums = np.asarray(x.sum(axis=1), np.float64).ravel()
    scale = np.zeros_like(sums)
    np.divide(1.0, sums, out=scale, where=sums > 0)
    p = sp.csr_array(sp.diags_array(scale) @ sp.csr_array(x, dtype=np.float64))
    if alpha != 1.0:
        p.data = np.power(p.data, alpha)
    return p


def rp3beta_weights(
    x: sp.csr_array, k: int, alpha: float, beta: float, normalize: bool
) -> sp.csr_array:
    """The sparse item x item RP3beta weights of the binary users x items matrix ``x``."""
    pui = row_stochastic(x, alpha)
    piu = row_stochastic(sp.csr_array(x.T), alpha)
    pop = np.asarray(x.sum(axis=0), np.float64).ravel()
    penalty = np.zeros_like(pop)
    np.power(pop, -beta, out=penalty, where=pop > 0)
    scale = sp.diags_array(penalty)
    n = x.shape[1]
    step = max(1, BLOCK_CELLS // max(n, 1))
    blocks = []
    for start in range(0, n, step):
        stop = min(start + step, n)
        w = sp.csr_array(piu[start:stop] @ pui @ scale)
        if w.nnz > DENSE_SHARE * w.shape[0] * n:  # dense-ish (few users): partition rows
            d = w.toarray()
            d[np.arange(stop - start), np.arange(start, stop)] = 0.0  # no self-loops
            blocks.append(keep_top_k_dense(d, k))
        else:  # sparse (many users, long tail): sort the entries
            c = sp.coo_array(w)
            off = c.row + start != c.col
            w = sp.csr_array((c.data[off], (c.row[off], c.col[off])), shape=w.shape)
            blocks.append(keep_top_k(w, k))
    weights = sp.csr_array(sp.vstack(blocks, format="csr"))
    if normalize:
        weights = row_stochastic(weights, 1.0)
    return weights


class RP3betaRecommender(SparseItemWeights[RP3betaConfig]):
    """Random walk item-item model with popularity penalisation (RP3beta), sparse top-k."""

    family = "graph"
    description = "RP3beta random walk with popularity penalty, sparse top-k item neighbours"
    Config = RP3betaConfig
    search_space: ClassVar[Space] = {
        "k": Int(5, 1000, log=True),
        "alpha": Float(0.0, 2.0),
        "beta": Float(0.0, 2.0),
        "normalize": Categorical((False, True)),
    }

    def _fit(self, train: Dataset) -> None:
        cfg = self.config
        x = binary_rows(train)
        self._keep(x, rp3beta_weights(x, cfg.k, cfg.alpha, cfg.beta, cfg.normalize))
