"""Dataset preprocessing: implicit conversion and iterated k-core filtering.

Published protocols filter before splitting, e.g. "users and items with at least 5 ratings"
or "ratings >= 4 are positives" (Liang et al. 2018 on ML-20M: ratings >= 3.5, users with >= 5).
:func:`apply` does both, in that order, and says what it removed, so the table caption can state
the protocol. Duplicate (user, item) pairs are already resolved by loading (latest kept,
``source["duplicates_dropped"]``).

Removing users or items compacts the id maps: the result only has users and items that still
have interactions, and features follow their rows. With both thresholds at 0 and no implicit
conversion the dataset is returned unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from recbench.data import cache as cache_mod
from recbench.data.idmap import IdMap
from recbench.data.model import PART_TEST, Dataset, Interactions
from recbench.errors import DataError, UsageError

MAX_ITERATIONS = 1000


@dataclass(frozen=True)
class Preprocessing:
    """What to do to a dataset before splitting.

    ``min_user_ratings`` / ``min_item_ratings``: iterated k-core: drop users and items with
    fewer interactions, repeatedly, until every remaining user and item meets its threshold.
    ``implicit_threshold``: keep only ratings >= this value and drop the rating values (the
    result is implicit feedback, ``rating`` None). Applied before the k-core filter.
    """

    min_user_ratings: int = 0
    min_item_ratings: int = 0
    implicit_threshold: float | None = None

    def __post_init__(self) -> None:
        for name in ("min_user_ratings", "min_item_ratings"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                flag = "--" + name.replace("_", "-")
                raise UsageError(f"{flag} must be a whole number >= 0, got {value!r}")
        t = self.implicit_threshold
        if t is not None and (isinstance(t, bool) or not np.isfinite(float(t))):
            raise UsageError(f"--implicit-threshold must be a finite number, got {t!r}")

    @property
    def is_identity(self) -> bool:
        return (
            self.min_user_ratings <= 0
            and self.min_item_ratings <= 0
            and self.implicit_threshold is None
        )

    def describe(self) -> str:
        """One line for table captions, e.g. ``implicit: rating >= 4; 5-core (users >= 5 ...)``."""
        if self.is_identity:
            return "no preprocessing"
        parts = []
        if self.implicit_threshold is not None:
            parts.append(f"implicit: rating >= {self.implicit_threshold:g}")
        mu, mi = self.min_user_ratings, self.min_item_ratings
        if mu and mu == mi:
            parts.append(f"{mu}-core (users and items with >= {mu} ratings, iterated)")
        else:
            if mu:
                parts.append(f"users with >= {mu} ratings")
            if mi:
                parts.append(f"items with >= {mi} ratings")
            if mu and mi:
                parts[-1] += " (iterated)"
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Preprocessing:
        d = d or {}
        return cls(
            min_user_ratings=int(d.get("min_user_ratings", 0)),
            min_item_ratings=int(d.get("min_item_ratings", 0)),
            implicit_threshold=d.get("implicit_threshold"),
        )


def k_core_mask(
    user: np.ndarray,
    item: np.ndarray,
    n_users: int,
    n_items: int,
    min_user: int,
    min_item: int,
    keep: np.ndarray | None = None,
) -> tuple[np.ndarray, int]:
    """Rows of the iterated k-core, and the number of passes it took.

    Each pass counts interactions per user and item with ``bincount`` over the rows still kept
    and drops rows whose user or item falls short; it stops when a pass drops nothing.
    """
    keep = np.ones(len(user), dtype=bool) if keep is None else keep.copy()
    iterations = 0
    while iterations < MAX_ITERATIONS:
        iterations += 1
        ok = keep.copy()
        if min_user > 0:
            ucount = np.bincount(user[keep], minlength=n_users)
            ok &= ucount[user] >= min_user
        if min_item > 0:
            icount = np.bincount(item[keep], minlength=n_items)
            ok &= icount[item] >= min_item
        if np.array_equal(ok, keep):
            return keep, iterations
        keep = ok
    return keep, iterations  # pragma: no cover - each pass removes rows, so this ends sooner


def apply(dataset: Dataset, prep: Preprocessing) -> tuple[Dataset, dict[str, Any]]:
    """Apply ``prep`` to ``dataset``; return the new dataset and a summary of what was removed.

    Summary keys: ``description``, ``ratings_before/after/removed``, ``users_before/after/
    removed``, ``items_before/after/removed``, ``below_threshold`` (ratings dropped by the
    implicit threshold) and ``iterations`` (k-core passes). Rows of a given test part
    (``interactions.part``) are never removed by the k-core filter; with such a part the
    summary also has ``test_rows`` and ``test_rows_below_threshold``. The new dataset's
    checksum covers the preprocessing, and ``source["preprocessing"]`` records it.
    """
    inter = dataset.interactions
    n = len(inter)
    summary: dict[str, Any] = {
        "description": prep.describe(),
        "ratings_before": n,
        "users_before": inter.n_users,
        "items_before": inter.n_items,
        "below_threshold": 0,
        "iterations": 0,
    }
    if prep.is_identity:
        summary.update(
            ratings_after=n,
            users_after=inter.n_users,
            items_after=inter.n_items,
            ratings_removed=0,
            users_removed=0,
            items_removed=0,
        )
        return dataset, summary
    keep = np.ones(n, dtype=bool)
    if prep.implicit_threshold is not None:
        if inter.rating is None:
            raise UsageError(
                f"--implicit-threshold needs ratings, but {dataset.name} is already implicit"
            )
        keep = inter.rating >= np.float32(prep.implicit_threshold)
        summary["below_threshold"] = int(n - keep.sum())
    # A given test part is the benchmark's: the k-core filter counts and trims the other rows
    # only, and every test row that passes the implicit threshold stays (counted, not silent).
    test = np.zeros(n, dtype=bool) if inter.part is None else inter.part == PART_TEST
    core, summary["iterations"] = k_core_mask(
        inter.user,
        inter.item,
        inter.n_users,
        inter.n_items,
        prep.min_user_ratings,
        prep.min_item_ratings,
        keep & ~test,
    )
    if test.any():
        summary["test_rows"] = int(test.sum())
        summary["test_rows_below_threshold"] = int(np.count_nonzero(test & ~keep))
    keep = core | (keep & test)
    if not keep.any():
        raise DataError(f"preprocessing ({prep.describe()}) leaves no ratings in {dataset.name}")
    had_user = np.bincount(inter.user, minlength=inter.n_users) > 0
    had_item = np.bincount(inter.item, minlength=inter.n_items) > 0
    user_left = np.bincount(inter.user[keep], minlength=inter.n_users) > 0
    item_left = np.bincount(inter.item[keep], minlength=inter.n_items) > 0
    # Items that never had interactions (catalogue-only) stay unless an item threshold applies.
    keep_users = user_left | (~had_user & (prep.min_user_ratings <= 0))
    keep_items = item_left | (~had_item & (prep.min_item_ratings <= 0))
    new = _compact(dataset, keep, keep_users, keep_items, prep)
    summary.update(
        ratings_after=len(new.interactions),
        users_after=new.n_users,
        items_after=new.n_items,
        ratings_removed=n - len(new.interactions),
        users_removed=inter.n_users - new.n_users,
        items_removed=inter.n_items - new.n_items,
    )
    return new, summary


def _compact(
    dataset: Dataset,
    rows: np.ndarray,
    keep_users: np.ndarray,
    keep_items: np.ndarray,
    prep: Preprocessing,
) -> Dataset:
    """Keep ``rows`` and renumber users/items densely (order of raw ids is preserved)."""
    inter = dataset.interactions
    umap = np.cumsum(keep_users, dtype=np.int64) - 1
    imap = np.cumsum(keep_items, dtype=np.int64) - 1
    users = IdMap(inter.users.ids[keep_users])
    items = IdMap(inter.items.ids[keep_items])
    implicit = prep.implicit_threshold is not None
    new_inter = Interactions(
        user=umap[inter.user[rows]].astype(np.int32),
        item=imap[inter.item[rows]].astype(np.int32),
        rating=None if implicit or inter.rating is None else inter.rating[rows],
        timestamp=None if inter.timestamp is None else inter.timestamp[rows],
        users=users,
        items=items,
        position=None if inter.position is None else inter.position[rows],
        part=None if inter.part is None else inter.part[rows],
        dedup=inter.dedup,
    )

    def take(feats: Any, mask: np.ndarray) -> Any:
        return None if feats is None else feats.iloc[np.flatnonzero(mask)].reset_index(drop=True)

    return replace(
        dataset,
        interactions=new_inter,
        rating_scale=None if implicit else dataset.rating_scale,
        item_features=take(dataset.item_features, keep_items),
        user_features=take(dataset.user_features, keep_users),
        checksum=cache_mod.combined_key([dataset.checksum, "preprocessing", repr(prep)]),
        source={**dataset.source, "preprocessing": prep.to_dict()},
    )


def summary_line(summary: dict[str, Any]) -> str:
    """The note for the user on what :func:`apply` removed (a given test part is kept whole,
    bar the rows under the implicit threshold)."""
    line = (
        f"preprocessing ({summary['description']}): removed {summary['ratings_removed']:,} "
        f"ratings, {summary['users_removed']:,} users, {summary['items_removed']:,} items"
    )
    if "test_rows" in summary:
        below = summary.get("test_rows_below_threshold") or 0
        line += f"; the given test part's {summary['test_rows']:,} rows are kept" + (
            f" (less {below:,} below the implicit threshold)" if below else ""
        )
    return line
