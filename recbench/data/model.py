"""Core data types: Interactions (who rated what, in a stable event order) and Dataset.

Rows are stored in the canonical order the splitters and matrices see: by (user, item) for
deduplicated rating data, which every result so far was computed on. The order in which the
events happened is kept beside it, never instead of it: ``position`` (the row's place in the
source file) with ``timestamp`` gives the event order (timestamp, then file order; file order
alone without timestamps), which :meth:`Interactions.event_order` and
:meth:`Interactions.sequences` use.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recbench.data.idmap import IdMap

#: How repeated (user, item) pairs are resolved when a dataset is built: ``latest`` keeps the
#: latest row of each pair (rating data: a re-rating replaces the rating); ``none`` keeps every
#: row (event and sequence data, where a repeat is a new event).
Dedup = Literal["latest", "none"]
DEDUP_POLICIES: tuple[Dedup, ...] = ("latest", "none")

#: Values of :attr:`Interactions.part` for data that comes with its own split.
PART_TRAIN, PART_VALID, PART_TEST = 0, 1, 2
PART_NAMES = ("train", "valid", "test")


class Sequences(NamedTuple):
    """Each user's items in event order, CSR by user: user ``u``'s items are
    ``items[indptr[u]:indptr[u + 1]]``; ``rows`` gives the interaction row of each entry."""

    indptr: np.ndarray
    items: np.ndarray
    rows: np.ndarray

    def of(self, user: int) -> np.ndarray:
        """The items of one user (dense index), in order."""
        return self.items[self.indptr[user] : self.indptr[user + 1]]


@dataclass(frozen=True, eq=False)
class Interactions:
    """User-item interactions as parallel arrays over dense indices.

    ``user`` and ``item`` are int32 indices into ``users`` and ``items``; ``rating`` is float32 or
    None (implicit data); ``timestamp`` is int64 seconds or None. Orientation is always users x
    items, and the shape is the size of the id maps, so every split of one dataset shares a shape.

    ``position`` (int64 or None) is each row's place in the source file: with ``timestamp`` it
    fixes the event order, which the row order (canonical, by user and item) does not show.
    None means row order is file order. ``part`` (int8 or None) marks the rows of a given split:
    :data:`PART_TRAIN`, :data:`PART_VALID`, :data:`PART_TEST`. ``dedup`` states how repeated
    pairs were resolved when the data was built (:data:`Dedup`).
    """

    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray | None
    timestamp: np.ndarray | None
    users: IdMap
    items: IdMap
    position: np.ndarray | None = None
    part: np.ndarray | None = None
    dedup: Dedup = "latest"

    def __post_init__(self) -> None:
        n = len(self.user)
        if len(self.item) != n:
            raise ValueError("user and item arrays differ in length")
        for name in ("rating", "timestamp", "position", "part"):
            arr = getattr(self, name)
            if arr is not None and len(arr) != n:
                raise ValueError(f"{name} array differs in length from user array")
        if self.dedup not in DEDUP_POLICIES:
            raise ValueError(f"unknown dedup policy '{self.dedup}'")

    def __len__(self) -> int:
        return len(self.user)

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_users, self.n_items)

    def subset(self, mask_or_index: np.ndarray) -> Interactions:
        """Rows selected by a boolean mask or an index array, same id maps."""
        sel = mask_or_index

        def take(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[sel]

        return replace(
            self,
            user=self.user[sel],
            item=self.item[sel],
            rating=take(self.rating),
            timestamp=take(self.timestamp),
            position=take(self.position),
            part=take(self.part),
        )

    def event_order(self) -> np.ndarray:
        """Row indices in the order the events happened: timestamp, then file order (file
        order alone without timestamps). Stable: equal keys keep row order."""
        pos = self.position if self.position is not None else np.arange(len(self))
        if self.timestamp is None:
            return np.argsort(pos, kind="stable")
        return np.lexsort((pos, self.timestamp))

    def sequences(self) -> Sequences:
        """Each user's items in event order (repeats included when ``dedup`` is ``none``)."""
        pos = self.position if self.position is not None else np.arange(len(self))
        keys = (pos, self.user) if self.timestamp is None else (pos, self.timestamp, self.user)
        rows = np.lexsort(keys)
        indptr = np.zeros(self.n_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.user, minlength=self.n_users), out=indptr[1:])
        return Sequences(indptr, self.item[rows], rows)

    def csr(self, values: Literal["rating", "binary"] = "rating") -> sp.csr_array:
        """Users x items sparse matrix; repeated pairs are summed (none under ``latest``)."""
        if values == "rating" and self.rating is not None:
            data = self.rating.astype(np.float32)
        else:
            data = np.ones(len(self), dtype=np.float32)
        mat = sp.csr_array((data, (self.user, self.item)), shape=self.shape)
        mat.sort_indices()
        return mat

    def user_counts(self) -> np.ndarray:
        return np.bincount(self.user, minlength=self.n_users)

    def item_counts(self) -> np.ndarray:
        return np.bincount(self.item, minlength=self.n_items)

    def to_frame(self) -> pd.DataFrame:
        """Canonical frame with raw ids: user, item, rating?, timestamp?."""
        cols: dict[str, np.ndarray] = {
            "user": self.users.raw(self.user),
            "item": self.items.raw(self.item),
        }
        if self.rating is not None:
            cols["rating"] = self.rating
        if self.timestamp is not None:
            cols["timestamp"] = self.timestamp
        return pd.DataFrame(cols)


@dataclass(frozen=True, eq=False)
class Dataset:
    """A named set of interactions with optional side information.

    ``item_features`` / ``user_features`` are DataFrames indexed by dense index (0..n-1).
    ``checksum`` identifies the source data (sha256 over the source files and parse options).
    """

    name: str
    interactions: Interactions
    rating_scale: tuple[float, float] | None = None
    item_features: pd.DataFrame | None = None
    user_features: pd.DataFrame | None = None
    checksum: str = ""
    license: str = ""
    citation: str = ""
    source: dict = field(default_factory=dict)

    @property
    def n_users(self) -> int:
        return self.interactions.n_users

    @property
    def n_items(self) -> int:
        return self.interactions.n_items

    def with_interactions(self, interactions: Interactions) -> Dataset:
        """The same dataset (features, ids, metadata) restricted to other interactions."""
        return replace(self, interactions=interactions)

    def item_titles(self) -> np.ndarray | None:
        if self.item_features is None or "title" not in self.item_features:
            return None
        return self.item_features["title"].to_numpy()

    def describe(self) -> str:
        inter = self.interactions
        return (
            f"{self.name}: {len(inter):,} interactions, {inter.n_users:,} users, "
            f"{inter.n_items:,} items"
        )
