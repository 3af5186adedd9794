"""Switching/weighting hybrid: content-based for newcomers, collaborative as history grows.

Each user's blend weight for the collaborative component is ``w = n / (n + beta)`` where ``n`` is
the user's number of training interactions: a user with no history is served by content alone,
one with ``beta`` ratings half and half. Components are any two algorithms from the plugin table.
Ranking scores are standardised per user (mean 0, sd 1 over the catalogue) before blending, so
scales of different models do not decide the mix; rating predictions blend directly when both
components predict ratings.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from recbench.algorithms.base import AlgoConfig, Recommender
from recbench.algorithms.space import Float, Space
from recbench.data.model import Dataset
from recbench.errors import UsageError


class HybridConfig(AlgoConfig):
    content: str = Field("content", description="component for users with little history")
    cf: str = Field("svd", description="collaborative component, weight n/(n+beta)")
    beta: float = Field(20.0, ge=0, description="history length at which both weigh the same")


def _standardise(scores: np.ndarray) -> np.ndarray:
    mean = scores.mean(axis=1, keepdims=True)
    sd = scores.std(axis=1, keepdims=True)
    return (scores - mean) / np.where(sd > 0, sd, 1.0)


class HybridRecommender(Recommender[HybridConfig]):
    """Per-user weighted blend of a content and a collaborative recommender."""

    family = "hybrid"
    description = "Content for newcomers, CF weight n/(n+beta) as history grows"
    #: when both parts predict ratings and the data has them (see :meth:`rates`)
    predicts_ratings = True
    needs_ratings = False  # unless a part does (then that part's fit refuses)
    inductive = True
    cold_items = True  # the content part scores new items; CF adds nothing there
    needs_item_features = True  # with the default content component
    Config = HybridConfig
    search_space: ClassVar[Space] = {"beta": Float(1.0, 200.0, log=True)}
    state_attrs: ClassVar[tuple[str, ...]] = ("n_hist_",)

    def _components(self) -> tuple[Recommender[Any], Recommender[Any]]:
        from recbench.algorithms import plugins

        cfg = self.config
        if "hybrid" in (cfg.content, cfg.cf):
            raise UsageError("hybrid components cannot themselves be 'hybrid'")
        return plugins.make(cfg.content, {}, self.seed), plugins.make(cfg.cf, {}, self.seed)

    def _fit(self, train: Dataset) -> None:
        content, cf = self._components()
        self.content_, self.cf_ = content.fit(train), cf.fit(train)
        # The blend predicts ratings only when both parts do and the data has ratings.
        rated = train.interactions.rating is not None
        self.predicts_ratings_ = rated and content.rates() and cf.rates()
        self.n_hist_ = train.interactions.user_counts().astype(np.float64)

    def _cf_weight(self, users: np.ndarray) -> np.ndarray:
        return self._weights_for(self.n_hist_[users])

    def score(self, users: np.ndarray) -> np.ndarray:
        self.check_is_fitted()
        users = np.asarray(users, np.int64)
        w = self._cf_weight(users)[:, None]
        a = _standardise(self.content_.score(users).astype(np.float64))
        b = _standardise(self.cf_.score(users).astype(np.float64))
        return ((1 - w) * a + w * b).astype(np.float32)

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        self.check_is_fitted()
        if not self.rates():
            raise NotImplementedError("this hybrid's components do not both predict ratings")
        w = self._cf_weight(np.asarray(users, np.int64))
        est = (1 - w) * self.content_.predict(users, items) + w * self.cf_.predict(users, items)
        return self.clip(est)

    def rates(self) -> bool:
        return bool(self.predicts_ratings_)

    def explain(self, history: sp.csr_array, items: np.ndarray) -> list[str] | None:
        """The reason of the part that weighs more for this user's history length (the other
        part's when it gives none): a part's reason is its own, e.g. the history items that
        contribute most to its score. The blend itself standardises each part's scores over
        the catalogue, so it is not a sum over the history."""
        w = float(self._weights_for(np.array([history.nnz], np.float64))[0])
        parts = [("collaborative", w, self.cf_), ("content", 1.0 - w, self.content_)]
        if w < 0.5:
            parts.reverse()
        for label, weight, part in parts:
            reasons = part.explain(history, items)
            if reasons is not None:
                return [f"{r} ({label} part, weight {weight:.2f})" for r in reasons]
        return None

    def _weights_for(self, n: np.ndarray) -> np.ndarray:
        """CF weight n / (n + beta) for history lengths ``n`` (beta 0: CF once n > 0)."""
        cfg = self.config
        if cfg.beta == 0:
            return np.where(n > 0, 1.0, 0.0)
        return n / (n + cfg.beta)

    # Components are saved inside the hybrid's own arrays, prefixed by their role.
    def get_state(self) -> dict[str, np.ndarray]:
        state = super().get_state()
        state["predicts_ratings_"] = np.asarray(self.predicts_ratings_)
        for role, comp in (("content", self.content_), ("cf", self.cf_)):
            for key, value in comp.get_state().items():
                state[f"{role}__{key}"] = value
        return state

    def set_state(self, state: dict[str, Any]) -> HybridRecommender:
        super().set_state(state)
        self.predicts_ratings_ = bool(state.get("predicts_ratings_", True))
        content, cf = self._components()
        parts: dict[str, dict[str, Any]] = {"content": {}, "cf": {}}
        for key, value in state.items():
            role, sep, rest = key.partition("__")
            if sep and role in parts:
                parts[role][rest] = value
        self.content_ = content.set_state(parts["content"])
        self.cf_ = cf.set_state(parts["cf"])
        return self
