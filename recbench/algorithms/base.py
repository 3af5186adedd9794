"""The Recommender base class every algorithm (built-in or plugin) derives from.

scikit-learn style: the constructor stores a typed config and a seed, nothing else; ``fit``
learns state into attributes ending in ``_``; ``score`` gives a dense float32 block for a batch of
users (memory is bounded by the caller's batch size); ``predict`` estimates ratings for
(user, item) pairs; ``recommend`` is derived from ``score``. Capability flags on the class tell the
engine and the CLI what an algorithm can do and what it needs.
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict

from recbench.algorithms.space import Dim
from recbench.data.model import Dataset
from recbench.metrics.topk import mask_seen, top_k  # re-exported: the ranking primitive

__all__ = ["AlgoConfig", "NotFittedError", "Recommender", "mask_seen", "top_k"]


class AlgoConfig(BaseModel):
    """Base for per-algorithm configs: unknown parameters are errors, values are validated."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class NotFittedError(RuntimeError):
    """``score``/``predict`` called before ``fit``."""


class Recommender(ABC):
    """Base class for recommenders.

    Subclasses set the class attributes below, define ``Config`` (an :class:`AlgoConfig`),
    implement ``_fit`` and ``score`` (and ``predict`` when ``predicts_ratings``), and list in
    ``state_attrs`` the fitted numpy arrays that fully describe the model (saved without pickle).
    """

    family: ClassVar[str] = "other"
    description: ClassVar[str] = ""
    #: where the implementation comes from, e.g. "surprise", "implicit", "recbench"
    source: ClassVar[str] = "recbench"
    predicts_ratings: ClassVar[bool] = False
    ranks: ClassVar[bool] = True
    #: scores users/items unseen in training from their features
    inductive: ClassVar[bool] = False
    #: can score a user unseen in training from a history given at score time (score_history)
    cold_users: ClassVar[bool] = False
    #: scores do not depend on who the user is (so unseen users are no problem)
    user_independent: ClassVar[bool] = False
    #: can score items that have no training interactions (from features, or by design)
    cold_items: ClassVar[bool] = False
    #: cannot be fitted without explicit ratings / without item features
    needs_ratings: ClassVar[bool] = False
    needs_item_features: ClassVar[bool] = False
    #: importable modules the algorithm needs, and the extra that installs them
    requires: ClassVar[tuple[str, ...]] = ()
    extra: ClassVar[str | None] = None
    Config: ClassVar[type[AlgoConfig]] = AlgoConfig
    #: tuning dimensions (recbench.algorithms.space records); `recbench tune` searches them
    search_space: ClassVar[dict[str, Dim]] = {}
    state_attrs: ClassVar[tuple[str, ...]] = ()
    #: set by callers that show progress; iterative learners call it as (step, of, loss)
    progress: Callable[[int, int, float], None] | None = None

    def __init__(self, config: AlgoConfig | None = None, *, seed: int = 0) -> None:
        self.config = config if config is not None else self.Config()
        self.seed = seed

    # -- capability helpers --------------------------------------------------------------------
    @classmethod
    def missing_requirements(cls) -> list[str]:
        return [m for m in cls.requires if importlib.util.find_spec(m) is None]

    @classmethod
    def unsuitable(cls, dataset: Dataset) -> str | None:
        """Why this algorithm cannot be fitted on ``dataset`` (None when it can)."""
        if cls.needs_ratings and dataset.interactions.rating is None:
            return "needs ratings"
        if cls.needs_item_features and dataset.item_features is None:
            return "needs item features"
        return None

    @classmethod
    def tasks(cls) -> list[str]:
        return [t for t, ok in (("rating", cls.predicts_ratings), ("ranking", cls.ranks)) if ok]

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, train: Dataset) -> Recommender:
        """Learn from ``train`` (users x items shape of the whole dataset)."""
        inter = train.interactions
        if self.predicts_ratings and inter.rating is None:
            from recbench.errors import UsageError

            raise UsageError(f"{type(self).__name__} predicts ratings, and {train.name} has none")
        self.n_users_ = inter.n_users
        self.n_items_ = inter.n_items
        scale = train.rating_scale or (0.0, 0.0)
        self.rating_scale_ = np.asarray(scale, dtype=np.float64)
        self._fit(train)
        return self

    @abstractmethod
    def _fit(self, train: Dataset) -> None: ...

    def check_is_fitted(self) -> None:
        if not hasattr(self, "n_items_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet; call fit first")

    # -- scoring -------------------------------------------------------------------------------
    @abstractmethod
    def score(self, users: np.ndarray) -> np.ndarray:
        """(len(users), n_items) float32 scores; higher ranks first."""

    def score_history(self, history: sp.csr_array) -> np.ndarray:
        """(n, n_items) scores for users known only by ``history`` (n x n_items ratings).

        Algorithms with ``cold_users = True`` implement this; no retraining takes place.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot score users unseen in training")

    def query_vectors(self, users: np.ndarray) -> np.ndarray | None:
        """User vectors such that ``score(users) == query_vectors(users) @ item_embeddings().T``
        exactly, when the model scores that way (then an ANN index can serve ``recommend``)."""
        return None

    def history_vectors(self, history: sp.csr_array) -> np.ndarray | None:
        """Query vectors for users known only by ``history`` (cold users), when the model has
        them in the same space as :meth:`query_vectors`."""
        return None

    def item_embeddings(self) -> np.ndarray | None:
        """Learned item vectors (n_items x d) for latent-space explanations, if the model has
        them."""
        return None

    def explain(self, history: sp.csr_array, items: np.ndarray) -> list[str] | None:
        """One reason per recommended item, from the model that made it; None if it has none.

        ``history`` is the user's (1 x n_items) training row. The default serves latent-factor
        models: the user's items closest to each recommendation in the learned item space.
        Reasons name items by dense index as ``{item:N}``; the CLI substitutes titles.
        """
        emb = self.item_embeddings()
        if emb is None:
            return None
        rated = np.asarray(history.indices, np.int64)
        if not len(rated):
            return None
        unit = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        sims = unit[np.asarray(items, np.int64)] @ unit[rated].T
        best = np.argmax(sims, axis=1)
        return [
            f"close in latent space to {{item:{rated[b]}}} you rated (cosine {sims[r, b]:.2f})"
            for r, b in enumerate(best)
        ]

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """float32 rating estimates for (user, item) pairs, clipped to the rating scale."""
        raise NotImplementedError(f"{type(self).__name__} does not predict ratings")

    def clip(self, est: np.ndarray) -> np.ndarray:
        lo, hi = self.rating_scale_
        if hi > lo:
            est = np.clip(est, lo, hi)
        return est.astype(np.float32)

    def recommend(
        self, users: np.ndarray, k: int, exclude: sp.csr_array | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` item indices and scores per user, best first; ``exclude`` rows are masked."""
        self.check_is_fitted()
        users = np.asarray(users, dtype=np.int64)
        scores = self.score(users)
        if exclude is not None:
            mask_seen(scores, exclude, users)
        return top_k(scores, k)

    # -- persistence ---------------------------------------------------------------------------
    def get_state(self) -> dict[str, np.ndarray]:
        self.check_is_fitted()
        state = {
            "n_users_": np.asarray(self.n_users_),
            "n_items_": np.asarray(self.n_items_),
            "rating_scale_": self.rating_scale_,
        }
        for attr in self.state_attrs:
            state[attr] = np.asarray(getattr(self, attr))
        return state

    def set_state(self, state: dict[str, Any]) -> Recommender:
        missing = [a for a in ("n_users_", "n_items_", *self.state_attrs) if a not in state]
        if missing:
            raise KeyError(f"model arrays lack {', '.join(missing)}")
        self.n_users_ = int(state["n_users_"])
        self.n_items_ = int(state["n_items_"])
        self.rating_scale_ = np.asarray(state["rating_scale_"], dtype=np.float64)
        for attr in self.state_attrs:
            setattr(self, attr, state[attr])
        return self

