"""Baselines every comparison needs: random, popularity, and user + item biases."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from recbench.algorithms.base import AlgoConfig, Recommender
from recbench.algorithms.space import Float, Int, Space
from recbench.data.model import Dataset

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _hash_uniform(users: np.ndarray, items: np.ndarray, seed: int, stream: int) -> np.ndarray:
    """Deterministic uniform(0, 1) numbers per (user, item, seed, stream): splitmix64 finaliser.

    Hashing instead of a sequential RNG makes every score independent of batch composition.
    ``users`` and ``items`` broadcast against each other; work is done in place on one array.
    """
    with np.errstate(over="ignore"):
        x = users.astype(np.uint64) * np.uint64(0x100000001B3) ^ items.astype(np.uint64)
        x += _GOLDEN * np.uint64(seed * 2 + stream + 1)
        x ^= x >> np.uint64(30)
        x *= _M1
        x ^= x >> np.uint64(27)
        x *= _M2
        x ^= x >> np.uint64(31)
        x >>= np.uint64(11)
    out = x.astype(np.float64)
    out += 0.5
    out /= float(1 << 53)
    return out


class RandomConfig(AlgoConfig):
    pass


class RandomRecommender(Recommender[RandomConfig]):
    """Random ranking; ratings drawn from a normal fitted to the training ratings.

    The rating part is Surprise's NormalPredictor (same distribution), seeded per pair.
    """

    family = "baseline"
    description = "Random scores; ratings ~ Normal(mean, sd) of the training ratings"
    predicts_ratings = True
    needs_ratings = False  # on implicit data only the ranking part is meaningful
    user_independent = True
    cold_items = True
    Config = RandomConfig
    thread_safe_score = True  # numpy hashing
    state_attrs: ClassVar[tuple[str, ...]] = ("mu_", "sigma_")

    def _fit(self, train: Dataset) -> None:
        r = train.interactions.rating
        if r is None:
            r = np.zeros(0, np.float32)
        self.mu_ = np.float64(r.mean()) if len(r) else np.float64(0)
        self.sigma_ = np.float64(r.std()) if len(r) else np.float64(0)

    def score(self, users: np.ndarray) -> np.ndarray:
        self.check_is_fitted()
        u = np.asarray(users, np.int64)[:, None]
        i = np.arange(self.n_items_, dtype=np.int64)[None, :]
        return _hash_uniform(u, i, self.seed, 0).astype(np.float32)

    def explain(self, history: sp.csr_array, items: np.ndarray) -> list[str]:
        return ["drawn at random" for _ in items]

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        self.check_is_fitted()
        u1 = _hash_uniform(users, items, self.seed, 1)
        u2 = _hash_uniform(users, items, self.seed, 2)
        z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)  # Box-Muller
        return self.clip(self.mu_ + self.sigma_ * z)


class PopularityConfig(AlgoConfig):
    pass


class PopularityRecommender(Recommender[PopularityConfig]):
    """Most-interacted items first (the same list for everyone, minus what they have seen)."""

    family = "baseline"
    description = "Items ranked by number of training interactions"
    user_independent = True
    same_scores_for_all_users = True
    Config = PopularityConfig
    state_attrs: ClassVar[tuple[str, ...]] = ("counts_",)

    def _fit(self, train: Dataset) -> None:
        self.counts_ = train.interactions.item_counts().astype(np.float32)

    def score(self, users: np.ndarray) -> np.ndarray:
        self.check_is_fitted()
        return np.broadcast_to(self.counts_, (len(users), self.n_items_)).copy()

    def explain(self, history: sp.csr_array, items: np.ndarray) -> list[str]:
        return [f"popular: {int(self.counts_[i]):,} training interactions" for i in items]


class BaselineConfig(AlgoConfig):
    reg_u: float = Field(15.0, ge=0, description="L2 regularisation of user biases")
    reg_i: float = Field(10.0, ge=0, description="L2 regularisation of item biases")
    n_epochs: int = Field(10, ge=1, le=1000, description="alternating passes")


class BaselineRecommender(Recommender[BaselineConfig]):
    """Global mean + user bias + item bias, fitted by alternating least squares.

    The same estimator and defaults as Surprise's ``BaselineOnly`` (method 'als'), vectorised
    with ``bincount`` instead of per-rating loops; tests check the two agree.
    """

    family = "baseline"
    description = "Global mean + regularised user and item biases (ALS)"
    predicts_ratings = True
    needs_ratings = True
    Config = BaselineConfig
    thread_safe_score = True  # numpy broadcasting
    search_space: ClassVar[Space] = {
        "reg_u": Float(0.1, 100.0, log=True),
        "reg_i": Float(0.1, 100.0, log=True),
        "n_epochs": Int(5, 50),
    }
    state_attrs: ClassVar[tuple[str, ...]] = ("mu_", "bu_", "bi_")

    def _fit(self, train: Dataset) -> None:
        cfg = self.config
        inter = train.interactions
        r = inter.rating.astype(np.float64)  # type: ignore[union-attr]
        u, i = inter.user, inter.item
        mu = r.mean() if len(r) else 0.0
        n_u = np.bincount(u, minlength=self.n_users_)
        n_i = np.bincount(i, minlength=self.n_items_)
        bu = np.zeros(self.n_users_)
        bi = np.zeros(self.n_items_)
        for _ in range(cfg.n_epochs):
            bi = np.bincount(i, weights=r - mu - bu[u], minlength=self.n_items_) / (cfg.reg_i + n_i)
            bu = np.bincount(u, weights=r - mu - bi[i], minlength=self.n_users_) / (cfg.reg_u + n_u)
        # An item or user with no ratings and zero regularisation would divide 0 by 0.
        self.mu_ = np.float64(mu)
        self.bu_ = np.nan_to_num(bu)
        self.bi_ = np.nan_to_num(bi)

    def score(self, users: np.ndarray) -> np.ndarray:
        self.check_is_fitted()
        users = np.asarray(users, np.int64)
        return (self.mu_ + self.bu_[users][:, None] + self.bi_[None, :]).astype(np.float32)

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        self.check_is_fitted()
        return self.clip(self.mu_ + self.bu_[users] + self.bi_[items])

    def explain(self, history: sp.csr_array, items: np.ndarray) -> list[str]:
        return [f"rated above average by everyone (item bias {self.bi_[i]:+.2f})" for i in items]
