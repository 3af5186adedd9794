"""Core data types: Interactions (who rated what) and Dataset (interactions plus metadata)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recbench.data.idmap import IdMap


@dataclass(frozen=True, eq=False)
class Interactions:
    """User-item interactions as parallel arrays over dense indices.

    ``user`` and ``item`` are int32 indices into ``users`` and ``items``; ``rating`` is float32 or
    None (implicit data); ``timestamp`` is int64 seconds or None. Orientation is always users x
    items, and the shape is the size of the id maps, so every split of one dataset shares a shape.
    """

    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray | None
    timestamp: np.ndarray | None
    users: IdMap
    items: IdMap

    def __post_init__(self) -> None:
        n = len(self.user)
        if len(self.item) != n:
            raise ValueError("user and item arrays differ in length")
        for name in ("rating", "timestamp"):
            arr = getattr(self, name)
            if arr is not None and len(arr) != n:
                raise ValueError(f"{name} array differs in length from user array")

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
        )

    def csr(self, values: Literal["rating", "binary"] = "rating") -> sp.csr_array:
        """Users x items sparse matrix; duplicates are summed (datasets hold none)."""
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
