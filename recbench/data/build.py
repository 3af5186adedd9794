"""Canonical frame -> :class:`Dataset`: dense id maps, duplicate pairs resolved, warnings.

Every source (bundled, installed, user dataset, file path) goes through :func:`build_dataset`, so
ids, row order, duplicate handling and data-quality warnings are the same whatever the format.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from recbench.data.idmap import IdMap
from recbench.data.model import PART_NAMES, Dataset, Dedup, Interactions
from recbench.data.text import CONTROL
from recbench.errors import DataError

#: Rating scales in common use; without a declared scale, the smallest that holds nearly all
#: ratings is taken as the dataset's, and the few ratings outside it are reported.
USUAL_SCALES: tuple[tuple[float, float], ...] = ((0.0, 1.0), (0.0, 5.0), (0.0, 10.0), (0.0, 100.0))
USUAL_SHARE = 0.99


def _show(value: Any) -> str:
    """An id as it may appear in a one-line warning (escapes spelled out)."""
    return repr(value) if isinstance(value, str) else str(value)


def _example(inter: Interactions, rating: np.ndarray, mask: np.ndarray) -> str:
    row = int(np.flatnonzero(mask)[0])
    user = inter.users.ids[inter.user[row]]
    item = inter.items.ids[inter.item[row]]
    return f"e.g. {float(rating[row]):g} by user {_show(user)} for item {_show(item)}"


def _usual_scale(rating: np.ndarray) -> tuple[float, float] | None:
    for lo, hi in USUAL_SCALES:
        if np.count_nonzero((rating >= lo) & (rating <= hi)) >= USUAL_SHARE * len(rating):
            return lo, hi
    return None


def quality_warnings(
    inter: Interactions,
    item_features: pd.DataFrame | None,
    declared_scale: tuple[float, float] | None,
) -> list[str]:
    """One line per oddity worth a user's attention; the data itself is kept as it is.

    Negative ratings; ratings outside the declared scale (or, with none declared, outside the
    usual scale that holds 99% of them: 0-1, 0-5, 0-10 or 0-100); ids and titles with control
    characters or terminal escapes.
    """
    out: list[str] = []
    rating = inter.rating
    if rating is not None and len(rating):
        negative = rating < 0
        n_neg = int(np.count_nonzero(negative))
        if n_neg:
            out.append(
                f"{n_neg:,} negative rating{'s' if n_neg > 1 else ''} "
                f"({_example(inter, rating, negative)})"
            )
        scale = declared_scale or _usual_scale(rating)
        if scale is not None:
            lo, hi = scale
            outside = ~negative & ((rating < lo) | (rating > hi))
            n_out = int(np.count_nonzero(outside))
            if n_out:
                kind = "declared" if declared_scale else "usual"
                out.append(
                    f"{n_out:,} rating{'s' if n_out > 1 else ''} outside the {kind} scale "
                    f"{lo:g}-{hi:g} ({_example(inter, rating, outside)})"
                )
    out += _control_warning(inter.users.ids, "user ids")
    out += _control_warning(inter.items.ids, "item ids")
    if item_features is not None and "title" in item_features:
        titles = item_features["title"].to_numpy(dtype=object)
        out += _control_warning(titles, "titles")
    return out


def _control_warning(values: np.ndarray, what: str) -> list[str]:
    if values.dtype.kind not in "OU" or not len(values):
        return []
    text = pd.Series(values, dtype=object).astype(str)
    bad = text.str.contains(CONTROL.pattern, regex=True).to_numpy()
    if not bad.any():
        return []
    example = text.iloc[int(np.flatnonzero(bad)[0])]
    return [
        f"{int(bad.sum()):,} {what} contain control characters or terminal escapes "
        f"(e.g. {example!r}); they are shown stripped"
    ]


def align_features(feats: pd.DataFrame, ids: np.ndarray) -> pd.DataFrame:
    """Features reindexed to a dense id order; missing text becomes '' (Parquet-friendly)."""
    out = feats.reindex(ids).reset_index(drop=True)
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].fillna("")
    return out


def pair_order(
    uidx: np.ndarray,
    iidx: np.ndarray,
    n_items: int,
    ts: np.ndarray | None,
    *,
    dedup: Dedup = "latest",
    part: np.ndarray | None = None,
) -> np.ndarray:
    """Row order by (user, item); under ``latest`` duplicate pairs are reduced to their latest
    row, under ``none`` every row is kept (a pair's rows in file order).

    With ``part`` (a given split), a pair is only a duplicate within one part, so that a test
    row is never resolved away by a training row of the same pair.
    """
    key = uidx.astype(np.int64)
    key *= max(n_items, 1)
    key += iidx
    if part is not None:
        key *= len(PART_NAMES)
        key += part
    if dedup == "none":
        order = np.argsort(key, kind="stable")
        return order.astype(np.int32) if len(order) < np.iinfo(np.int32).max else order
    order = np.argsort(key)  # the canonical order every result so far was computed on
    if len(order) < np.iinfo(np.int32).max:
        order = order.astype(np.int32)  # halves every later copy of the order
    key = key[order]  # sorted keys; the unsorted ones are no longer needed
    dup = key[1:] == key[:-1]
    if not dup.any():
        return order
    member = np.zeros(len(order), dtype=bool)
    member[1:] |= dup
    member[:-1] |= dup
    rows = order[member]  # original positions of every row of a duplicated pair
    pair = key[member]
    del key
    later = ts[rows] if ts is not None else np.zeros(len(rows), dtype=np.int64)
    by = np.lexsort((rows, later, pair))  # pair, then time, then file position
    rows, pair = rows[by], pair[by]
    latest = np.ones(len(rows), dtype=bool)
    latest[:-1] = pair[1:] != pair[:-1]
    keep = np.ones(len(order), dtype=bool)
    keep[rows[~latest]] = False
    return order[keep[order]]


def _parts(ratings: pd.DataFrame) -> np.ndarray | None:
    """The ``part`` column as int8 (0 train, 1 valid, 2 test), or None when absent."""
    if "part" not in ratings:
        return None
    part = ratings["part"].to_numpy()
    if part.dtype.kind in "OUS":
        text = pd.Series(part, dtype=object).astype(str).str.strip().str.lower()
        codes = text.map({name: code for code, name in enumerate(PART_NAMES)})
        if codes.isna().any():
            bad = text[codes.isna()].iloc[0]
            raise DataError(f"part column: unknown part '{bad}' (use train, valid or test)")
        return codes.to_numpy(np.int8)
    if len(part) and (part.min() < 0 or part.max() >= len(PART_NAMES)):
        raise DataError("part column: values must be 0 (train), 1 (valid) or 2 (test)")
    return part.astype(np.int8)


def build_dataset(
    name: str,
    ratings: pd.DataFrame,
    *,
    checksum: str,
    item_features: pd.DataFrame | None = None,
    user_features: pd.DataFrame | None = None,
    rating_scale: tuple[float, float] | None = None,
    license: str = "",
    citation: str = "",
    source: dict[str, Any] | None = None,
    dedup: Dedup = "latest",
) -> Dataset:
    """Canonical frame -> Dataset: build id maps, resolve duplicate pairs by ``dedup``.

    Rows are ordered by one ``argsort`` of a combined (user, item) key. Under ``latest`` only
    the rows of duplicated pairs are then ordered by timestamp and file position, and all but
    the latest of each pair (the later row in the file among equal timestamps) are dropped;
    under ``none`` all rows stay. Each row keeps its frame position (``position``), so the event
    order survives the canonical row order. An optional ``part`` column (0/1/2: train, valid,
    test) marks a given split. The count of dropped rows goes to
    ``source["duplicates_dropped"]``; what looks wrong in the data (see
    :func:`quality_warnings`) to ``source["warnings"]``, one line each (library code never
    prints).
    """
    source = dict(source or {})
    n_before = len(ratings)
    users, uidx = IdMap.from_values(ratings["user"].to_numpy())
    item_values = ratings["item"].to_numpy()
    if item_features is not None:
        # The catalogue is every item with features or ratings, so feature-only items count.
        all_items = np.concatenate([item_features.index.to_numpy(), item_values])
        items, codes = IdMap.from_values(all_items)
        iidx = codes[len(item_features) :]
        feats = align_features(item_features, items.ids)
    else:
        items, iidx = IdMap.from_values(item_values)
        feats = None
    ufeats = align_features(user_features, users.ids) if user_features is not None else None
    ts = ratings["timestamp"].to_numpy(np.int64) if "timestamp" in ratings else None
    part = _parts(ratings)
    order = pair_order(uidx, iidx, len(items), ts, dedup=dedup, part=part)
    source["duplicates_dropped"] = int(n_before - len(order))
    u, i = uidx[order], iidx[order]
    rating = ratings["rating"].to_numpy(np.float32)[order] if "rating" in ratings else None
    inter = Interactions(
        u,
        i,
        rating,
        None if ts is None else ts[order],
        users,
        items,
        position=order,
        part=None if part is None else part[order],
        dedup=dedup,
    )
    source["warnings"] = quality_warnings(inter, feats, rating_scale)
    if rating_scale is None and rating is not None and len(rating):
        rating_scale = (float(rating.min()), float(rating.max()))
    return Dataset(
        name=name,
        interactions=inter,
        rating_scale=rating_scale,
        item_features=feats,
        user_features=ufeats,
        checksum=checksum,
        license=license,
        citation=citation,
        source=source,
    )
