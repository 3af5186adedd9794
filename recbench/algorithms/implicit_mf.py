"""implicit's ALS for implicit feedback, scored in bulk from its factors.

BLAS is limited to one thread while implicit runs (threadpoolctl), as implicit asks, without
touching the caller's environment.
"""

from __future__ import annotations

from typing import ClassVar, Literal, TypeVar

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from recbench.algorithms.base import AlgoConfig, Recommender
from recbench.algorithms.explain import Contribution, rank_contributions
from recbench.algorithms.space import Float, Int, Space
from recbench.data.model import Dataset


class ALSConfig(AlgoConfig):
    # recbench's defaults, not implicit's (100 factors, alpha 1): on ml-100k and ml-latest-small
    # 100 factors overfit (NDCG@10 0.32 / 0.30 on user-holdout:0.25), 16 factors with alpha 4
    # score 0.46 / 0.37, near the tuned optimum (docs/guides/tuning.md); tune for more data.
    factors: int = Field(16, ge=1, le=10_000, description="latent factors")
    regularization: float = Field(0.01, ge=0, description="L2 regularisation")
    alpha: float = Field(4.0, gt=0, description="confidence scale of observed interactions")
    iterations: int = Field(15, ge=1, le=10_000, description="ALS sweeps")
    weighting: Literal["binary", "rating"] = Field(
        "binary", description="observed cell value: 1, or the rating"
    )
    num_threads: int = Field(0, ge=0, description="threads (0: all cores)")


_C = TypeVar("_C", bound=AlgoConfig)


class _ImplicitFactors(Recommender[_C]):
    """Shared by implicit's models: scores are ``user_factors @ item_factors.T``."""

    source = "implicit"
    requires = ("implicit",)
    state_attrs: ClassVar[tuple[str, ...]] = ("user_factors_", "item_factors_")
    reports_epochs = True

    def _keep(self, model) -> None:  # type: ignore[no-untyped-def]
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)

    def _run(self, model, matrix: sp.csr_matrix) -> None:  # type: ignore[no-untyped-def]
        """``model.fit``; implicit updates the factors in place and calls back after each
        sweep/epoch (iteration counted from 0; then ALS passes elapsed time and loss, BPR
        elapsed time, correct and skipped samples), when the ``on_epoch`` hook gets them."""

        def sweep_done(iteration: int, *_: object) -> None:
            self.epoch_done(iteration + 1, lambda: self._keep(model))

        model.fit(matrix, show_progress=False, callback=sweep_done)

    def score(self, users: np.ndarray) -> np.ndarray:
        self.check_is_fitted()
        return self.user_factors_[np.asarray(users, np.int64)] @ self.item_factors_.T

    def query_vectors(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(self.user_factors_)[np.asarray(users, np.int64)]

    def item_embeddings(self) -> np.ndarray:
        return np.asarray(self.item_factors_)

    def _carrying_factors(self, model):  # type: ignore[no-untyped-def]
        model.user_factors = self.user_factors_
        model.item_factors = self.item_factors_
        return model


class ALSRecommender(_ImplicitFactors[ALSConfig]):
    """Weighted matrix factorisation for implicit feedback (Hu, Koren, Volinsky 2008)."""

    family = "matrix-factorisation"
    description = "Implicit-feedback ALS (implicit), ranking only"
    Config = ALSConfig
    search_space: ClassVar[Space] = {
        "factors": Int(8, 256, log=True),
        "regularization": Float(1e-4, 1.0, log=True),
        "alpha": Float(0.1, 50.0, log=True),
        "iterations": Int(5, 50),
    }

    def _fit(self, train: Dataset) -> None:
        from implicit.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        cfg = self.config
        values: Literal["rating", "binary"] = cfg.weighting
        # implicit wants the scipy.sparse matrix class, not the newer array class.
        matrix = sp.csr_matrix(train.interactions.csr(values).astype(np.float32))
        with threadpool_limits(1, "blas"):  # implicit checks this when the model is built
            model = AlternatingLeastSquares(
                factors=cfg.factors,
                regularization=cfg.regularization,
                alpha=cfg.alpha,
                iterations=cfg.iterations,
                num_threads=cfg.num_threads,
                random_state=self.seed,
                use_gpu=False,
            )
            self._run(model, matrix)
        self._keep(model)

    def to_implicit(self):  # type: ignore[no-untyped-def]
        """An implicit model carrying these factors (for cross-checks and benchmarks)."""
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        cfg = self.config
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=cfg.factors,
                regularization=cfg.regularization,
                alpha=cfg.alpha,
                random_state=self.seed,
            )
        return self._carrying_factors(model)

    def contributions(
        self, history: sp.csr_array, items: np.ndarray
    ) -> list[list[Contribution]] | None:
        """Exact per-item contributions, computed as implicit's ``explain`` does.

        The user's vector is re-solved from ``history`` against the item factors,
        ``x = A^-1 sum_l c_l y_l`` with ``A = Y'Y + reg I + sum_l (c_l - 1) y_l y_l'`` and
        ``c_l = alpha * value_l``, so item j's score ``y_j . x`` is the sum over the history
        items of ``c_l (A^-1 y_j) . y_l``. For a training user this re-solved vector is the
        one ALS's next user step would give; the stored one can differ slightly.
        """
        self.check_is_fitted()
        cfg = self.config
        h = sp.csr_array(history, dtype=np.float64)
        h.sum_duplicates()
        keep = h.data > 0
        rated = np.asarray(h.indices, np.int64)[keep]
        values = h.data[keep] if cfg.weighting == "rating" else np.ones(int(keep.sum()))
        conf = cfg.alpha * values
        y = np.asarray(self.item_factors_, np.float64)
        yr = y[rated]
        a = y.T @ y + cfg.regularization * np.eye(y.shape[1])
        a += (yr * (conf - 1.0)[:, None]).T @ yr
        solved = np.linalg.solve(a, y[np.asarray(items, np.int64)].T)  # (factors, n_items)
        terms = (yr @ solved).T * conf[None, :]
        return rank_contributions(rated, terms)


class BPRConfig(AlgoConfig):
    factors: int = Field(100, ge=1, le=10_000, description="latent factors")
    # recbench's default, not implicit's 0.01: 0.005 scores NDCG@10 0.365 vs 0.312 on ml-100k
    # and 0.274 vs 0.240 on ml-latest-small (user-holdout:0.25); tuning chose 0.0058 on ml-100k
    learning_rate: float = Field(0.005, gt=0, description="SGD learning rate")
    regularization: float = Field(0.01, ge=0, description="L2 regularisation")
    iterations: int = Field(100, ge=1, le=100_000, description="SGD epochs")
    verify_negative_samples: bool = Field(
        True, description="resample negatives the user actually interacted with"
    )
    num_threads: int = Field(
        1, ge=0, description="threads (0: all cores; more than 1 is not reproducible)"
    )


class BPRRecommender(_ImplicitFactors[BPRConfig]):
    """Bayesian Personalised Ranking (Rendle et al. 2009; implicit), ranking only.

    implicit appends a bias column to the factors (1 on the user side, the item bias on the item
    side), so ``user_factors @ item_factors.T`` is the full score, as in implicit's ``recommend``.
    Training is lock-free SGD: with several threads the result depends on thread timing, so the
    default is one thread, which makes a fit reproducible under a seed.
    """

    family = "matrix-factorisation"
    description = "Bayesian Personalised Ranking MF (implicit), ranking only"
    Config = BPRConfig
    search_space: ClassVar[Space] = {
        "factors": Int(8, 256, log=True),
        "learning_rate": Float(1e-3, 0.2, log=True),
        "regularization": Float(1e-5, 0.1, log=True),
        "iterations": Int(20, 500, log=True),
    }

    def _fit(self, train: Dataset) -> None:
        from implicit.cpu.bpr import BayesianPersonalizedRanking
        from threadpoolctl import threadpool_limits

        cfg = self.config
        matrix = sp.csr_matrix(train.interactions.csr("binary").astype(np.float32))
        with threadpool_limits(1, "blas"):
            model = BayesianPersonalizedRanking(
                factors=cfg.factors,
                learning_rate=cfg.learning_rate,
                regularization=cfg.regularization,
                iterations=cfg.iterations,
                verify_negative_samples=cfg.verify_negative_samples,
                num_threads=cfg.num_threads,
                random_state=self.seed,
            )
            self._run(model, matrix)
        self._keep(model)

    def query_vectors(self, users: np.ndarray) -> None:  # type: ignore[override]
        # item_embeddings drops the bias column, so the two no longer give the exact score.
        return None

    def item_embeddings(self) -> np.ndarray:
        # implicit's BPR keeps an item bias in the last column; it is not a direction.
        return np.asarray(self.item_factors_)[:, :-1]

    def to_implicit(self):  # type: ignore[no-untyped-def]
        """An implicit model carrying these factors (for cross-checks and benchmarks)."""
        from implicit.cpu.bpr import BayesianPersonalizedRanking
        from threadpoolctl import threadpool_limits

        cfg = self.config
        with threadpool_limits(1, "blas"):
            model = BayesianPersonalizedRanking(
                factors=cfg.factors, num_threads=1, random_state=self.seed
            )
        return self._carrying_factors(model)
