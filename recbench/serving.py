"""Serving: top-N items for a training user or for a history given at request time, and one
(user, item) rating from a rating model (:func:`predict_rating`).

One path serves every model: the user's items (their training row, or the history given) are
masked, the rest ranked with :func:`~recbench.algorithms.base.top_k`; when the model directory has
an ANN index and the model has query vectors for the user, the index is asked for ``n`` plus the
number of masked items and those are dropped. Items are named by raw id, title (control
characters and terminal escapes removed) and genres. Nothing here prints.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from recbench.algorithms import plugins
from recbench.algorithms.base import Recommender
from recbench.data import Dataset, IdMap, Interactions
from recbench.data.text import strip_control
from recbench.errors import ModelDirError, UsageError
from recbench.metrics.topk import mask_seen, top_k
from recbench.persistence import ANN_FILE
from recbench.split import Split

if TYPE_CHECKING:
    from recbench.algorithms.ann import AnnIndex


def algorithms_with(flag: str) -> list[str]:
    """Registered algorithms whose class sets capability ``flag`` (e.g. ``cold_users``)."""
    found = []
    for name in plugins.names():
        try:
            cls = plugins.load(name)
        except UsageError:
            continue
        if getattr(cls, flag, False) is True:
            found.append(name)
    return found


def _and_list(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def require_cold_users(model: Recommender, algorithm: str) -> None:
    """A one-line error unless ``model`` scores users unseen in training from a history."""
    if model.cold_users:
        return
    able = algorithms_with("cold_users")
    can = f" ({_and_list(able)} can)" if able else ""
    raise UsageError(f"{algorithm} cannot score a user unseen in training from a history{can}")


def require_rating_model(model: Recommender, algorithm: str) -> None:
    """A one-line error unless ``model`` predicts ratings (it may only rank)."""
    if model.rates():
        return
    able = algorithms_with("predicts_ratings")
    raise UsageError(
        f"{algorithm} ranks items and does not predict ratings: use `recbench recommend`, "
        f"or fit a rating model ({_and_list(able)})"
    )


def parse_history(text: str, dataset: Dataset) -> sp.csr_array:
    """``1,50:4.5,260`` (raw item ids, optional ``:RATING``) -> a (1 x n_items) ratings row.

    An item without a rating gets the top of the rating scale (1 for implicit data). Ratings
    must be numbers within the dataset's rating scale (or positive, without a scale).
    """
    ids: list[str] = []
    ratings: list[float] = []
    scale = dataset.rating_scale
    top = float(scale[1]) if scale else 1.0
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        raw, _, value = part.partition(":")
        raw, value = raw.strip(), value.strip()
        try:
            rating = float(value) if value else top
        except ValueError:
            raise UsageError(f"--history: rating '{value}' of item {raw} is not a number") from None
        if not math.isfinite(rating):
            raise UsageError(f"--history: rating '{value}' of item {raw} is not a finite number")
        if scale is not None and not scale[0] <= rating <= scale[1]:
            raise UsageError(
                f"--history: rating {value} of item {raw} is outside {dataset.name}'s rating "
                f"scale {scale[0]:g} to {scale[1]:g}"
            )
        if scale is None and rating <= 0:
            raise UsageError(f"--history: rating {value} of item {raw} must be positive")
        ids.append(raw)
        ratings.append(rating)
    if not ids:
        raise UsageError("--history is empty")
    idx = dataset.interactions.items.index(ids)
    unknown = [i for i, j in zip(ids, idx, strict=True) if j < 0]
    if unknown:
        raise UsageError(f"--history: item '{unknown[0]}' is not in dataset {dataset.name}")
    row = sp.csr_array(
        (np.asarray(ratings, np.float32), (np.zeros(len(idx), np.int64), np.asarray(idx))),
        shape=(1, dataset.n_items),
    )
    row.sum_duplicates()
    return row


def load_index(model_dir: Path) -> AnnIndex | None:
    """The model directory's ANN index, or None when it has none."""
    path = Path(model_dir) / ANN_FILE
    if not path.exists():
        return None
    from recbench.algorithms.ann import AnnIndex

    try:
        return AnnIndex.load(path)
    except (OSError, RuntimeError, ValueError) as exc:
        raise ModelDirError(f"{path} is corrupt ({exc}); rerun fit --ann or use --exact") from None


def build_index(model: Recommender, algorithm: str, seed: int) -> AnnIndex:
    """An HNSW index over the model's item vectors, for models that score by inner product."""
    from recbench.algorithms.ann import AnnIndex

    items = model.item_embeddings()
    if items is None or model.query_vectors(np.zeros(1, np.int64)) is None:
        raise UsageError(
            f"--ann needs a model whose scores are inner products of user and item vectors; "
            f"{algorithm} does not score that way"
        )
    return AnnIndex(seed=seed).build(items)


@dataclass(frozen=True)
class Recommendations:
    """Top-N for one user: dense item indices and scores, best first."""

    items: np.ndarray
    scores: np.ndarray
    #: the user's items that were masked (their training row, or the history given)
    seen: sp.csr_array
    #: True when the ANN index chose the items (approximate retrieval)
    approximate: bool
    #: the training user the list is for (None for a user known only by a given history)
    user: int | None = None


def recommend(
    model: Recommender,
    seen: sp.csr_array,
    n: int,
    user: int | None = None,
    index: AnnIndex | None = None,
) -> Recommendations:
    """Top-``n`` unseen items for training user ``user``, or for a user known only by the
    (1 x n_items) history ``seen`` when ``user`` is None; ``seen`` items are never returned."""
    if n <= 0:
        raise UsageError(f"n must be positive, got {n}")
    seen = sp.csr_array(seen)
    query = None
    if index is not None:
        if user is None:
            query = model.history_vectors(seen)
        else:
            query = model.query_vectors(np.array([user], np.int64))
    if query is not None and index is not None:
        items, scores = _ann_top(index, query, seen, n)
    else:
        raw = model.score_history(seen) if user is None else model.score(np.array([user]))
        block = np.array(raw, dtype=np.float32, copy=True).reshape(1, -1)
        mask_seen(block, seen, np.array([0]))
        items, scores = top_k(block, n)
    items, scores = items[0], scores[0]
    keep = np.isfinite(scores)
    return Recommendations(items[keep], scores[keep], seen, query is not None, user)


def _ann_top(
    index: AnnIndex, query: np.ndarray, seen: sp.csr_array, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Top-n by the index, over-fetching by the number of seen items to drop them."""
    ids, scores = index.query(query, n + seen.nnz)
    keep = ~np.isin(ids[0], seen.indices)
    return ids[:, keep][:, :n], scores[:, keep][:, :n]


def printable(text: str) -> str:
    """``text`` without terminal escape sequences or control characters."""
    return strip_control(text)


@dataclass(frozen=True)
class ItemNames:
    """Raw ids and, where the dataset has them, titles and genres of some items."""

    raw: list[object]
    titles: list[str] | None
    genres: list[str] | None


def name_items(dataset: Dataset, items: np.ndarray) -> ItemNames:
    """Raw id, title and genres of each item (dense indices), safe to print."""
    raw = [r.item() if hasattr(r, "item") else r for r in dataset.interactions.items.raw(items)]
    feats = dataset.item_features
    titles = genres = None
    if feats is not None and "title" in feats:
        titles = [printable(str(t)) for t in feats["title"].to_numpy()[items]]
    if feats is not None and "genres" in feats:
        genres = [printable(str(g)) for g in feats["genres"].to_numpy()[items]]
    return ItemNames(raw, titles, genres)


@dataclass(frozen=True)
class RatingPrediction:
    """One (user, item) rating estimate from a rating model (raw ids, as in the dataset)."""

    user: object
    item: object
    #: the estimate, clipped to the rating scale the model was fitted on
    rating: float
    #: the rating the user gave the item in the model's training part, if they gave one
    training_rating: float | None
    #: the user or the item has no training rating: the estimate is the model's fallback
    fallback: bool


def predict_rating(
    model: Recommender, algorithm: str, dataset: Dataset, train: Interactions, user: str, item: str
) -> RatingPrediction:
    """The rating ``model`` (fitted on ``train``) predicts ``user`` gives ``item``, by raw id.

    For rating models only (what Surprise's ``predict`` gives); a ranking model, an unknown user
    or an unknown item is a one-line UsageError.
    """
    require_rating_model(model, algorithm)
    inter = dataset.interactions
    u = int(inter.users.index([user])[0])
    if u < 0:
        raise UsageError(f"user '{user}' is not in dataset {dataset.name}")
    i = int(inter.items.index([item])[0])
    if i < 0:
        raise UsageError(f"item '{item}' is not in dataset {dataset.name}")
    est = np.asarray(model.predict(np.array([u], np.int64), np.array([i], np.int64)))
    if est.shape != (1,) or not np.isfinite(est[0]):
        raise RuntimeError(f"{type(model).__name__} produced no finite prediction")
    pair = np.flatnonzero((train.user == u) & (train.item == i))
    known = None
    if len(pair) and train.rating is not None:
        known = float(train.rating[pair[-1]])
    fallback = bool(train.user_counts()[u] == 0 or train.item_counts()[i] == 0)
    raw_user, raw_item = inter.users.raw(u), inter.items.raw(i)
    return RatingPrediction(
        raw_user.item() if hasattr(raw_user, "item") else raw_user,
        raw_item.item() if hasattr(raw_item, "item") else raw_item,
        float(est[0]),
        known,
        fallback,
    )


_ITEM_REF = re.compile(r"\{item:(\d+)\}")


def explain(
    model: Recommender, recs: Recommendations, dataset: Dataset, algorithm: str
) -> list[str]:
    """The model's reason for each recommended item, with items named by title (or id)."""
    found = None
    if recs.user is not None:  # sequence models read the training user's ordered history
        found = model.explain_user(recs.user, recs.items)
    if found is None:
        found = model.explain(recs.seen, recs.items)
    if found is None:
        raise UsageError(f"{algorithm} gives no explanations")
    feats = dataset.item_features
    titles = feats["title"].to_numpy() if feats is not None and "title" in feats else None
    return [printable(_name_refs(r, dataset.interactions.items, titles)) for r in found]


def _name_refs(reason: str, items: IdMap, titles: np.ndarray | None) -> str:
    """Replace ``{item:N}`` (a dense index) in a model's reason by the item's title or id."""

    def name(m: re.Match[str]) -> str:
        i = int(m.group(1))
        return f'"{titles[i]}"' if titles is not None else f"item {items.raw([i])[0]}"

    return _ITEM_REF.sub(name, reason)


__all__ = [
    "ItemNames",
    "RatingPrediction",
    "Recommendations",
    "algorithms_with",
    "build_index",
    "explain",
    "load_index",
    "name_items",
    "parse_history",
    "predict_rating",
    "printable",
    "recommend",
    "require_cold_users",
    "require_rating_model",
]


def seen_items(
    model: Recommender,
    algorithm: str,
    dataset: Dataset,
    split: Split,
    user: str | None,
    history: str | None,
    model_dir: Path,
) -> tuple[sp.csr_array, int | None, str]:
    """Who ``recommend`` serves: a new user's ``--history`` (the model must fold users in) or a
    known ``--user``'s training ratings; their seen items, user index and a description."""
    idx: int | None = None
    if history is not None:
        require_cold_users(model, algorithm)
        seen = parse_history(history, dataset)
        who = "a new user"
    else:
        idx = int(dataset.interactions.users.index([user])[0])
        if idx < 0:
            raise UsageError(f"user '{user}' is not in dataset {dataset.name}")
        seen = split.train.interactions.csr("rating")[[idx]]
        if not seen.nnz:
            raise UsageError(
                f"user '{user}' has no training ratings in model {model_dir}'s split; "
                "give their items with --history instead"
            )
        who = f"user {user}"
    return seen, idx, who
