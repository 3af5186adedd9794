"""Surprise's SVD, fitted by Surprise and scored in bulk from its learned arrays.

Surprise predicts one (user, item) pair per Python call; here the learned global mean, biases and
factors are copied into arrays indexed by recbench's dense ids, and every estimate is
``mu + b_u + b_i + p_u . q_i`` in numpy. Users or items Surprise never saw keep zero bias and
factors, which is exactly Surprise's own rule for unknown ids in the biased model; the unbiased
model cannot estimate such pairs and Surprise then falls back to the global mean, as done here.
Estimates are clipped to the rating scale as Surprise's ``predict`` does.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import ClassVar, TypeVar

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from recbench.algorithms.base import AlgoConfig, Recommender
from recbench.algorithms.space import Float, Int, Space
from recbench.data.model import Dataset


def surprise_trainset(train: Dataset):  # type: ignore[no-untyped-def]
    """A Surprise Trainset whose raw ids are recbench's dense indices."""
    import pandas as pd
    import surprise

    inter = train.interactions
    frame = pd.DataFrame({"u": inter.user, "i": inter.item, "r": inter.rating})
    scale = train.rating_scale or (float(frame["r"].min()), float(frame["r"].max()))
    reader = surprise.Reader(rating_scale=scale)
    return surprise.Dataset.load_from_df(frame, reader).build_full_trainset()


def inner_to_dense(trainset, n_users: int, n_items: int) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    """Dense user and item index of each Surprise inner id."""
    users = np.fromiter(
        (trainset.to_raw_uid(i) for i in range(trainset.n_users)), np.int64, trainset.n_users
    )
    items = np.fromiter(
        (trainset.to_raw_iid(i) for i in range(trainset.n_items)), np.int64, trainset.n_items
    )
    if users.max(initial=-1) >= n_users or items.max(initial=-1) >= n_items:
        raise RuntimeError("Surprise trainset ids fall outside the dataset's id maps")
    return users, items


_C = TypeVar("_C", bound=AlgoConfig)


class _SurpriseFactors(Recommender[_C]):
    """Shared by SVD and NMF: Surprise's learned arrays copied into dense-index space, scored
    as ``mu + b_u + b_i + p_u . q_i`` (the unbiased model falls back to the global mean)."""

    state_attrs: ClassVar[tuple[str, ...]] = (
        "mu_",
        "global_mean_",
        "bu_",
        "bi_",
        "pu_",
        "qi_",
        "user_known_",
        "item_known_",
    )

    @abstractmethod
    def _biased(self) -> bool:
        """Whether the fitted model has biases (Surprise's ``biased``)."""

    def _store(self, algo, trainset, n_factors: int, biased: bool) -> None:  # type: ignore[no-untyped-def]
        """Copy a fitted Surprise SVD/NMF's arrays into dense-index space (unknown ids: zero)."""
        users, items = inner_to_dense(trainset, self.n_users_, self.n_items_)
        self.global_mean_ = np.float64(trainset.global_mean)
        self.mu_ = self.global_mean_ if biased else np.float64(0.0)
        self.user_known_ = np.zeros(self.n_users_, dtype=bool)
        self.item_known_ = np.zeros(self.n_items_, dtype=bool)
        self.user_known_[users] = True
        self.item_known_[items] = True
        self.bu_ = np.zeros(self.n_users_)
        self.bi_ = np.zeros(self.n_items_)
        if biased:
            self.bu_[users] = algo.bu
            self.bi_[items] = algo.bi
        self.pu_ = np.zeros((self.n_users_, n_factors))
        self.qi_ = np.zeros((self.n_items_, n_factors))
        self.pu_[users] = algo.pu
        self.qi_[items] = algo.qi

    def score(self, users: np.ndarray) -> np.ndarray:
        self.check_is_fitted()
        users = np.asarray(users, np.int64)
        est = self.pu_[users] @ self.qi_.T
        est += self.bi_[None, :]
        est += (self.mu_ + self.bu_[users])[:, None]
        if not self._biased():
            est[~self.user_known_[users]] = self.global_mean_
            est[:, ~self.item_known_] = self.global_mean_
        return est.astype(np.float32)

    def item_embeddings(self) -> np.ndarray:
        return np.asarray(self.qi_)

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        self.check_is_fitted()
        dot = np.einsum("ij,ij->i", self.pu_[users], self.qi_[items])
        est = self.mu_ + self.bu_[users] + self.bi_[items] + dot
        if not self._biased():
            unknown = ~(self.user_known_[users] & self.item_known_[items])
            est = np.where(unknown, self.global_mean_, est)
        return self.clip(est)


class SVDConfig(AlgoConfig):
    n_factors: int = Field(100, ge=1, le=10_000, description="latent factors")
    n_epochs: int = Field(20, ge=1, le=10_000, description="SGD epochs")
    biased: bool = Field(True, description="learn user and item biases")
    init_mean: float = Field(0.0, description="mean of the factor initialisation")
    init_std_dev: float = Field(0.1, ge=0, description="sd of the factor initialisation")
    lr_all: float = Field(0.005, gt=0, description="learning rate")
    reg_all: float = Field(0.02, ge=0, description="L2 regularisation")


class SVDRecommender(_SurpriseFactors[SVDConfig]):
    """Funk-style biased matrix factorisation (Surprise ``SVD``), trained by SGD."""

    family = "matrix-factorisation"
    description = "Biased MF trained by SGD (Surprise SVD), scored in bulk"
    source = "surprise"
    predicts_ratings = True
    needs_ratings = True
    requires = ("surprise",)
    Config = SVDConfig
    search_space: ClassVar[Space] = {
        "n_factors": Int(8, 256, log=True),
        "n_epochs": Int(5, 100, log=True),
        "lr_all": Float(1e-3, 0.05, log=True),
        "reg_all": Float(1e-3, 0.5, log=True),
    }

    def _fit(self, train: Dataset) -> None:
        import surprise

        cfg = self.config
        trainset = surprise_trainset(train)
        algo = surprise.SVD(
            n_factors=cfg.n_factors,
            n_epochs=cfg.n_epochs,
            biased=cfg.biased,
            init_mean=cfg.init_mean,
            init_std_dev=cfg.init_std_dev,
            lr_all=cfg.lr_all,
            reg_all=cfg.reg_all,
            random_state=self.seed,
        )
        algo.fit(trainset)
        self._store(algo, trainset, cfg.n_factors, cfg.biased)

    def _biased(self) -> bool:
        return self.config.biased


def _surprise_indicator(train: Dataset, n_users: int, n_items: int) -> sp.csr_array:
    """Users x items count of training ratings per cell (Surprise's ``ur`` lists, as a matrix).

    Duplicate (user, item) rows are summed, as Surprise keeps each one in ``ur``.
    """
    inter = train.interactions
    ones = np.ones(len(inter.user), dtype=np.float64)
    coo = sp.coo_array((ones, (inter.user, inter.item)), shape=(n_users, n_items))
    return sp.csr_array(coo)


class SVDppConfig(AlgoConfig):
    n_factors: int = Field(20, ge=1, le=10_000, description="latent factors")
    n_epochs: int = Field(20, ge=1, le=10_000, description="SGD epochs")
    init_mean: float = Field(0.0, description="mean of the factor initialisation")
    init_std_dev: float = Field(0.1, ge=0, description="sd of the factor initialisation")
    lr_all: float = Field(0.007, gt=0, description="learning rate")
    reg_all: float = Field(0.02, ge=0, description="L2 regularisation")
    lr_bu: float | None = Field(None, gt=0, description="learning rate of b_u (default lr_all)")
    lr_bi: float | None = Field(None, gt=0, description="learning rate of b_i (default lr_all)")
    lr_pu: float | None = Field(None, gt=0, description="learning rate of p_u (default lr_all)")
    lr_qi: float | None = Field(None, gt=0, description="learning rate of q_i (default lr_all)")
    lr_yj: float | None = Field(None, gt=0, description="learning rate of y_j (default lr_all)")
    reg_bu: float | None = Field(None, ge=0, description="L2 on b_u (default reg_all)")
    reg_bi: float | None = Field(None, ge=0, description="L2 on b_i (default reg_all)")
    reg_pu: float | None = Field(None, ge=0, description="L2 on p_u (default reg_all)")
    reg_qi: float | None = Field(None, ge=0, description="L2 on q_i (default reg_all)")
    reg_yj: float | None = Field(None, ge=0, description="L2 on y_j (default reg_all)")
    cache_ratings: bool = Field(False, description="cache each user's items while fitting")


class SVDppRecommender(Recommender[SVDppConfig]):
    """SVD++ (Koren 2008; Surprise ``SVDpp``): biased MF plus implicit feedback of what was rated.

    The estimate is ``mu + b_u + b_i + q_i . (p_u + |N(u)|^-1/2 sum_{j in N(u)} y_j)``. The
    bracket is computed once per user at fit time (a sparse indicator product), so scoring is
    the same dense product as SVD. Unknown users/items keep zero biases and factors, which is
    Surprise's rule (the factor term needs both known; the global mean is always added).
    """

    family = "matrix-factorisation"
    description = "SVD++: biased MF with implicit feedback (Surprise SVDpp), scored in bulk"
    source = "surprise"
    predicts_ratings = True
    needs_ratings = True
    requires = ("surprise",)
    Config = SVDppConfig
    search_space: ClassVar[Space] = {
        "n_factors": Int(4, 64, log=True),
        "n_epochs": Int(5, 50),
        "lr_all": Float(1e-3, 0.05, log=True),
        "reg_all": Float(1e-3, 0.5, log=True),
    }
    state_attrs: ClassVar[tuple[str, ...]] = ("mu_", "bu_", "bi_", "zu_", "qi_", "yj_")

    def _fit(self, train: Dataset) -> None:
        import surprise

        cfg = self.config
        trainset = surprise_trainset(train)
        algo = surprise.SVDpp(**cfg.model_dump(), random_state=self.seed)
        algo.fit(trainset)
        users, items = inner_to_dense(trainset, self.n_users_, self.n_items_)
        f = cfg.n_factors
        self.mu_ = np.float64(trainset.global_mean)
        self.bu_ = np.zeros(self.n_users_)
        self.bi_ = np.zeros(self.n_items_)
        self.bu_[users] = algo.bu
        self.bi_[items] = algo.bi
        pu = np.zeros((self.n_users_, f))
        pu[users] = algo.pu
        self.qi_ = np.zeros((self.n_items_, f))
        self.qi_[items] = algo.qi
        self.yj_ = np.zeros((self.n_items_, f))
        self.yj_[items] = algo.yj
        # Implicit part: |N(u)|^-1/2 * sum of y_j over the items u rated (zero for no history).
        indicator = _surprise_indicator(train, self.n_users_, self.n_items_)
        counts = np.asarray(indicator.sum(axis=1)).ravel()
        scale = np.zeros(self.n_users_)
        np.divide(1.0, np.sqrt(counts), out=scale, where=counts > 0)
        self.zu_ = pu + scale[:, None] * (indicator @ self.yj_)

    def score(self, users: np.ndarray) -> np.ndarray:
        self.check_is_fitted()
        users = np.asarray(users, np.int64)
        est = self.zu_[users] @ self.qi_.T
        est += self.bi_[None, :]
        est += (self.mu_ + self.bu_[users])[:, None]
        return est.astype(np.float32)

    def item_embeddings(self) -> np.ndarray:
        return np.asarray(self.qi_)

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        self.check_is_fitted()
        users = np.asarray(users, np.int64)
        items = np.asarray(items, np.int64)
        dot = np.einsum("ij,ij->i", self.zu_[users], self.qi_[items])
        return self.clip(self.mu_ + self.bu_[users] + self.bi_[items] + dot)


class NMFConfig(AlgoConfig):
    n_factors: int = Field(15, ge=1, le=10_000, description="latent factors")
    n_epochs: int = Field(50, ge=1, le=10_000, description="multiplicative-update epochs")
    biased: bool = Field(False, description="learn user and item biases (SGD)")
    reg_pu: float = Field(0.06, ge=0, description="L2 on user factors")
    reg_qi: float = Field(0.06, ge=0, description="L2 on item factors")
    reg_bu: float = Field(0.02, ge=0, description="L2 on user biases (biased only)")
    reg_bi: float = Field(0.02, ge=0, description="L2 on item biases (biased only)")
    lr_bu: float = Field(0.005, gt=0, description="learning rate of user biases (biased only)")
    lr_bi: float = Field(0.005, gt=0, description="learning rate of item biases (biased only)")
    init_low: float = Field(0.0, ge=0, description="lower bound of the uniform initialisation")
    init_high: float = Field(1.0, gt=0, description="upper bound of the uniform initialisation")


class NMFRecommender(_SurpriseFactors[NMFConfig]):
    """Non-negative MF (Luo et al. 2014; Surprise ``NMF``) by multiplicative updates.

    Estimates follow Surprise exactly: ``q_i . p_u`` (plus ``mu + b_u + b_i`` when biased);
    the unbiased model falls back to the global mean for unknown users or items, the biased one
    keeps their parameters at zero. Scoring is shared with :class:`SVDRecommender`.
    """

    family = "matrix-factorisation"
    description = "Non-negative MF by multiplicative updates (Surprise NMF), scored in bulk"
    source = "surprise"
    predicts_ratings = True
    requires = ("surprise",)
    Config = NMFConfig
    search_space: ClassVar[Space] = {
        "n_factors": Int(4, 128, log=True),
        "n_epochs": Int(10, 100, log=True),
        "reg_pu": Float(1e-3, 1.0, log=True),
        "reg_qi": Float(1e-3, 1.0, log=True),
    }

    def _fit(self, train: Dataset) -> None:
        import surprise

        cfg = self.config
        trainset = surprise_trainset(train)
        algo = surprise.NMF(**cfg.model_dump(), random_state=self.seed)
        algo.fit(trainset)
        self._store(algo, trainset, cfg.n_factors, cfg.biased)

    def _biased(self) -> bool:
        return self.config.biased
