"""implicit's ALS for implicit feedback, scored in bulk from its factors.

BLAS is limited to one thread while implicit runs (threadpoolctl), as implicit asks, without
touching the caller's environment.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from recbench.algorithms.base import AlgoConfig, Recommender
from recbench.algorithms.space import Float, Int, Space
from recbench.data.model import Dataset


class ALSConfig(AlgoConfig):
    factors: int = Field(100, ge=1, le=10_000, description="latent factors")
    regularization: float = Field(0.01, ge=0, description="L2 regularisation")
    alpha: float = Field(1.0, gt=0, description="confidence scale of observed interactions")
    iterations: int = Field(15, ge=1, le=10_000, description="ALS sweeps")
    weighting: Literal["binary", "rating"] = Field(
        "binary", description="observed cell value: 1, or the rating"
    )
    num_threads: int = Field(0, ge=0, description="threads (0: all cores)")


class _ImplicitFactors(Recommender):
    """Shared by implicit's models: scores are ``user_factors @ item_factors.T``."""

    source = "implicit"
    requires = ("implicit",)
    state_attrs: ClassVar[tuple[str, ...]] = ("user_factors_", "item_factors_")

    def _keep(self, model) -> None:  # type: ignore[no-untyped-def]
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)

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


class ALSRecommender(_ImplicitFactors):
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
        assert isinstance(cfg, ALSConfig)
        values = "rating" if cfg.weighting == "rating" else "binary"
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
            model.fit(matrix, show_progress=False)
        self._keep(model)

    def to_implicit(self):  # type: ignore[no-untyped-def]
        """An implicit model carrying these factors (for cross-checks and benchmarks)."""
        from implicit.cpu.als import AlternatingLeastSquares

        cfg = self.config
        assert isinstance(cfg, ALSConfig)
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(factors=cfg.factors, random_state=self.seed)
        return self._carrying_factors(model)


class BPRConfig(AlgoConfig):
    factors: int = Field(100, ge=1, le=10_000, description="latent factors")
    learning_rate: float = Field(0.01, gt=0, description="SGD learning rate")
    regularization: float = Field(0.01, ge=0, description="L2 regularisation")
    iterations: int = Field(100, ge=1, le=100_000, description="SGD epochs")
    verify_negative_samples: bool = Field(
        True, description="resample negatives the user actually interacted with"
    )
    num_threads: int = Field(
        1, ge=0, description="threads (0: all cores; more than 1 is not reproducible)"
    )


class BPRRecommender(_ImplicitFactors):
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
        assert isinstance(cfg, BPRConfig)
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
            model.fit(matrix, show_progress=False)
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
        assert isinstance(cfg, BPRConfig)
        with threadpool_limits(1, "blas"):
            model = BayesianPersonalizedRanking(
                factors=cfg.factors, num_threads=1, random_state=self.seed
            )
        return self._carrying_factors(model)
