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
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict

from recbench.algorithms.explain import APPROXIMATE, Contribution, describe
from recbench.algorithms.space import Dim
from recbench.data.model import Dataset
from recbench.metrics.topk import mask_seen, top_k  # re-exported: the ranking primitive

__all__ = ["AlgoConfig", "EpochHook", "NotFittedError", "Recommender", "mask_seen", "top_k"]


class AlgoConfig(BaseModel):
    """Base for per-algorithm configs: unknown parameters are errors, values are validated."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class NotFittedError(RuntimeError):
    """``score``/``predict`` called before ``fit``."""


#: training progress, called as (step, of, loss) by iterative learners
Progress = Callable[[int, int, float], None]
ConfigT = TypeVar("ConfigT", bound=AlgoConfig)
R = TypeVar("R", bound="Recommender[Any]")


class EpochHook(Protocol):
    """Intermediate evaluation during a fit (tuning's pruning): learners that train in epochs
    (``reports_epochs``) offer it each training step; it may raise to stop the fit."""

    def due(self, step: int) -> bool:
        """Whether to be called after training step ``step`` (1-based epoch or sweep)."""
        ...

    def __call__(self, step: int, model: Recommender[Any]) -> None:
        """Look at ``model``, scorable in its state after ``step`` (not its final one)."""
        ...


class Recommender(ABC, Generic[ConfigT]):
    """Base class for recommenders, generic in its config: ``class SVD(Recommender[SVDConfig])``
    with ``Config = SVDConfig`` makes ``self.config`` an ``SVDConfig``.

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
    #: every user gets the same score vector (lists differ only by seen items), so evaluation
    #: ranks the catalogue once instead of per user
    same_scores_for_all_users: ClassVar[bool] = False
    #: can score items that have no training interactions (from features, or by design)
    cold_items: ClassVar[bool] = False
    #: ``score`` may run in several threads at once and releases the GIL for most of its work
    #: (numpy / scipy kernels), so evaluation scores half-batches in two threads
    thread_safe_score: ClassVar[bool] = False
    #: cannot be fitted without explicit ratings (``fit`` refuses data without them) / without
    #: item features. A class that sets ``predicts_ratings`` but not ``needs_ratings`` gets
    #: ``needs_ratings = predicts_ratings``; models that also rank implicit data set it False.
    needs_ratings: ClassVar[bool] = False
    needs_item_features: ClassVar[bool] = False
    #: importable modules the algorithm needs, and the extra that installs them
    requires: ClassVar[tuple[str, ...]] = ()
    extra: ClassVar[str | None] = None
    Config: ClassVar[type[AlgoConfig]] = AlgoConfig
    #: tuning dimensions (recbench.algorithms.space records); `recbench tune` searches them
    search_space: ClassVar[dict[str, Dim]] = {}
    state_attrs: ClassVar[tuple[str, ...]] = ()
    #: offers the fit's ``on_epoch`` hook its current state after training steps (pruning)
    reports_epochs: ClassVar[bool] = False

    def __init__(self, config: ConfigT | None = None, *, seed: int = 0) -> None:
        self.config: ConfigT = config if config is not None else self.Config()  # type: ignore[assignment]
        self.seed = seed

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "predicts_ratings" in cls.__dict__ and "needs_ratings" not in cls.__dict__:
            cls.needs_ratings = cls.predicts_ratings

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

    def refusal(self, train: Dataset) -> str | None:
        """Why this configured instance would refuse to fit ``train`` (data it lacks, memory
        over its budget), known before any work starts; None when it can run."""
        if self.needs_ratings and train.interactions.rating is None:
            return (
                f"{type(self).__name__} predicts ratings and needs them to fit, "
                f"and {train.name} has none"
            )
        reason = self.unsuitable(train)
        return f"it {reason}, and {train.name} has none" if reason else None

    @classmethod
    def tasks(cls) -> list[str]:
        return [t for t, ok in (("rating", cls.predicts_ratings), ("ranking", cls.ranks)) if ok]

    def rates(self) -> bool:
        """Whether this fitted instance predicts ratings: the class flag, unless what ``fit``
        found narrows it (a hybrid whose parts do not both predict ratings)."""
        return self.predicts_ratings

    def learning_curve(self) -> list[list[float]] | None:
        """(epoch, validation value) pairs the fit measured, for models that stop early on a
        validation measure (recorded per cell and drawn in the report); None for the others."""
        return None

    # -- fitting -------------------------------------------------------------------------------
    def fit(
        self: R,
        train: Dataset,
        progress: Progress | None = None,
        on_epoch: EpochHook | None = None,
    ) -> R:
        """Learn from ``train`` (users x items shape of the whole dataset).

        ``progress`` is called as (step, of, loss) by iterative learners while this fit runs
        (they call :meth:`report`); ``on_epoch`` is offered their current state after each
        training step (they call :meth:`epoch_done`; others ignore it). Neither is kept.
        """
        inter = train.interactions
        if self.needs_ratings and inter.rating is None:
            from recbench.errors import UsageError

            raise UsageError(
                f"{type(self).__name__} predicts ratings and needs them to fit, "
                f"and {train.name} has none"
            )
        self.n_users_ = inter.n_users
        self.n_items_ = inter.n_items
        # No ratings, no scale: (0, 0) tells rating-aware parts the data is implicit.
        scale = (train.rating_scale if inter.rating is not None else None) or (0.0, 0.0)
        self.rating_scale_ = np.asarray(scale, dtype=np.float64)
        self._progress = progress
        self._on_epoch = on_epoch
        try:
            self._fit(train)
        finally:
            del self._progress, self._on_epoch
        return self

    @abstractmethod
    def _fit(self, train: Dataset) -> None: ...

    @property
    def progress(self) -> Progress | None:
        """The callback given to the fit now running (None outside ``fit``)."""
        return self.__dict__.get("_progress")

    def report(self, step: int, of: int, loss: float) -> None:
        """Report training progress to the caller of the fit now running, if it asked."""
        callback = self.progress
        if callback is not None:
            callback(step, of, float(loss))

    def epoch_done(self, step: int, sync: Callable[[], None] | None = None) -> None:
        """After training step ``step`` (1-based): when the fit's ``on_epoch`` hook wants this
        step, make the current state scorable (``sync``, e.g. copy the weights into the fitted
        attributes) and call the hook, which may raise (a pruned trial) to end the fit."""
        hook: EpochHook | None = self.__dict__.get("_on_epoch")
        if hook is None or not hook.due(step):
            return
        if sync is not None:
            sync()
        hook(step, self)

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

    def contributions(
        self, history: sp.csr_array, items: np.ndarray
    ) -> list[list[Contribution]] | None:
        """Per item of ``items``: each history item's additive part of that item's score for
        the user whose (1 x n_items) training row is ``history``, largest first; None when the
        model's score is not such a sum. The parts sum to the score the model ranks by, except
        where the model's terms are not separable (content: each part is the drop in the score
        when that history item is left out)."""
        return None

    def explain(self, history: sp.csr_array, items: np.ndarray) -> list[str] | None:
        """One reason per recommended item, from the model that made it; None if it has none.

        ``history`` is the user's (1 x n_items) training row. Additive models name the history
        items contributing most (:meth:`contributions`); latent-factor models name the rated
        item closest in the learned item space and say that this is an approximation.
        Reasons name items by dense index as ``{item:N}``; the CLI substitutes titles.
        """
        found = self.contributions(history, items)
        if found is not None:
            return [describe(c) for c in found]
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
            f"close in the learned item space to {{item:{rated[b]}}} you rated "
            f"(cosine {sims[r, b]:.2f}; {APPROXIMATE})"
            for r, b in enumerate(best)
        ]

    def explain_user(self, user: int, items: np.ndarray) -> list[str] | None:
        """One reason per recommended item for training user ``user``, from what the model
        knows of that user beyond an unordered row (sequence models: the ordered history);
        None defers to :meth:`explain`."""
        return None

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

    def set_state(self: R, state: dict[str, Any]) -> R:
        missing = [a for a in ("n_users_", "n_items_", *self.state_attrs) if a not in state]
        if missing:
            raise KeyError(f"model arrays lack {', '.join(missing)}")
        self.n_users_ = int(state["n_users_"])
        self.n_items_ = int(state["n_items_"])
        self.rating_scale_ = np.asarray(state["rating_scale_"], dtype=np.float64)
        for attr in self.state_attrs:
            setattr(self, attr, state[attr])
        return self
