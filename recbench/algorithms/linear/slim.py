"""SLIM: sparse linear item-item weights (Ning & Karypis 2011), ElasticNet variant as
Dacrema et al. 2019 and RecBole run it, via scikit-learn.

For each target item j, with ``x_j`` its binary users column and ``X`` the binary users x items
matrix with column j zeroed, non-negative weights ``w_j`` minimise scikit-learn's ElasticNet
objective (no intercept)::

    1/(2 n_users) ||x_j - X w_j||^2 + alpha * l1_ratio * |w_j|_1
                                    + alpha * (1 - l1_ratio) / 2 * ||w_j||^2

and the ``k`` largest weights of each target are kept: ``W[:, j]``. Scores are a user's binary
row times ``W``. Defaults are RecBole's SLIMElastic ones (alpha 0.2, l1_ratio 0.02); Dacrema et
al.'s search ranges are the tuning space.

Speed, exactly: X is non-negative and so are the weights, so an item that never co-occurs with
j has a non-positive gradient at 0 throughout coordinate descent and stays at 0. Each target's
regression therefore only gets the columns of the items co-occurring with it (all users kept, so
the objective is unchanged). Targets are fitted in blocks on ``num_threads`` threads
(scikit-learn's coordinate descent releases the GIL), each block with its own estimator;
the solver is cyclic, so the weights do not depend on the seed or the thread count.
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from recbench.algorithms.base import AlgoConfig
from recbench.algorithms.knn_blocks import cores
from recbench.algorithms.linear.item_weights import SparseItemWeights, binary_rows, keep_top_k
from recbench.algorithms.space import Float, Int, Space
from recbench.data.model import Dataset

#: targets per task handed to a thread
BLOCK_TARGETS = 256


class SLIMConfig(AlgoConfig):
    alpha: float = Field(0.2, gt=0, description="ElasticNet penalty strength (scikit-learn alpha)")
    l1_ratio: float = Field(0.02, ge=0, le=1, description="L1 share of the penalty")
    k: int = Field(100, ge=1, description="largest weights kept per target item")
    max_iter: int = Field(100, ge=1, description="coordinate descent sweeps per target")
    tol: float = Field(1e-4, gt=0, description="coordinate descent tolerance (duality gap)")
    num_threads: int = Field(0, ge=0, description="threads fitting targets (0: all cores)")


def slim_weights(x: sp.csr_array, cfg: SLIMConfig) -> sp.csr_array:
    """The item x item SLIM weights ``W`` (``W[l, j]``: item l's weight towards target j)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import ElasticNet

    xc = sp.csc_matrix(x, dtype=np.float64)
    xc.sort_indices()
    co = sp.csr_array(x.T @ x)  # co-occurrence pattern: who may get a non-zero weight
    n = x.shape[1]

    def fit_block(start: int) -> sp.csr_array:
        """Rows ``start..`` of W^T: one target per row."""
        model = ElasticNet(
            alpha=cfg.alpha,
            l1_ratio=cfg.l1_ratio,
            positive=True,
            fit_intercept=False,
            copy_X=False,
            precompute=False,
            selection="cyclic",
            max_iter=cfg.max_iter,
            tol=cfg.tol,
        )
        rows, cols, vals = [], [], []
        stop = min(start + BLOCK_TARGETS, n)
        for j in range(start, stop):
            feats = co.indices[co.indptr[j] : co.indptr[j + 1]]
            feats = feats[feats != j]
            if not len(feats):
                continue
            y = xc[:, [j]].toarray().ravel()
            model.fit(xc[:, feats], y)
            coef = np.asarray(model.coef_)
            nz = np.flatnonzero(coef > 0)
            rows.append(np.full(len(nz), j - start))
            cols.append(feats[nz])
            vals.append(coef[nz])
        if not rows:
            return sp.csr_array((stop - start, n))
        block = sp.csr_array(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(stop - start, n),
        )
        return keep_top_k(block, cfg.k)

    threads = cfg.num_threads or cores()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            blocks = list(pool.map(fit_block, range(0, n, BLOCK_TARGETS)))
    return sp.csr_array(sp.vstack(blocks, format="csr").T)


class SLIMRecommender(SparseItemWeights[SLIMConfig]):
    """SLIM ElasticNet item weights, non-negative, top-k per item (scikit-learn)."""

    description = "SLIM sparse linear item weights (ElasticNet, non-negative), top-k per item"
    source = "scikit-learn"
    requires = ("sklearn",)
    Config = SLIMConfig
    search_space: ClassVar[Space] = {
        "alpha": Float(1e-3, 1.0, log=True),
        "l1_ratio": Float(1e-5, 1.0, log=True),
        "k": Int(5, 1000, log=True),
    }

    def _fit(self, train: Dataset) -> None:
        x = binary_rows(train)
        self._keep(x, slim_weights(x, self.config))
