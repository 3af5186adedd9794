"""Surprise's SVD, fitted by Surprise and scored in bulk from its learned arrays.

Surprise predicts one (user, item) pair per Python call; here the learned global mean, biases and
factors are copied into arrays indexed by recbench's dense ids, and every estimate is
``mu + b_u + b_i + p_u . q_i`` in numpy. Users or items Surprise never saw keep zero bias and
factors, which is exactly Surprise's own rule for unknown ids in the biased model; the unbiased
model cannot estimate such pairs and Surprise then falls back to the global mean, as done here.
Estimates are clipped to the rating scale as Surprise's ``predict`` does.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from recbench.algorithms.base import AlgoConfig, Recommender
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


class SVDConfig(AlgoConfig):
    n_factors: int = Field(100, ge=1, le=10_000, description="latent factors")
    n_epochs: int = Field(20, ge=1, le=10_000, description="SGD epochs")
    biased: bool = Field(True, description="learn user and item biases")
    init_mean: float = Field(0.0, description="mean of the factor initialisation")
    init_std_dev: float = Field(0.1, ge=0, description="sd of the factor initialisation")
    lr_all: float = Field(0.005, gt=0, description="learning rate")
    reg_all: float = Field(0.02, ge=0, description="L2 regularisation")


class SVDRecommender(Recommender):
    """Funk-style biased matrix factorisation (Surprise ``SVD``), trained by SGD."""

    family = "matrix-factorisation"
    description = "Biased MF trained by SGD (Surprise SVD), scored in bulk"
    source = "surprise"
    predicts_ratings = True
    requires = ("surprise",)
    Config = SVDConfig
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

    def _fit(self, train: Dataset) -> None:
        import surprise

        cfg = self.config
        assert isinstance(cfg, SVDConfig)
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
        users, items = inner_to_dense(trainset, self.n_users_, self.n_items_)
        f = cfg.n_factors
        self.global_mean_ = np.float64(trainset.global_mean)
        self.mu_ = self.global_mean_ if cfg.biased else np.float64(0.0)
        self.user_known_ = np.zeros(self.n_users_, dtype=bool)
        self.item_known_ = np.zeros(self.n_items_, dtype=bool)
        self.user_known_[users] = True
        self.item_known_[items] = True
        self.bu_ = np.zeros(self.n_users_)
        self.bi_ = np.zeros(self.n_items_)
        self.pu_ = np.zeros((self.n_users_, f), dtype=np.float64)
        self.qi_ = np.zeros((self.n_items_, f), dtype=np.float64)
        if cfg.biased:
            self.bu_[users] = algo.bu
            self.bi_[items] = algo.bi
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

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        self.check_is_fitted()
        dot = np.einsum("ij,ij->i", self.pu_[users], self.qi_[items])
        est = self.mu_ + self.bu_[users] + self.bi_[items] + dot
        if not self._biased():
            unknown = ~(self.user_known_[users] & self.item_known_[items])
            est = np.where(unknown, self.global_mean_, est)
        return self.clip(est)

    def _biased(self) -> bool:
        cfg = self.config
        assert isinstance(cfg, SVDConfig)
        return cfg.biased
