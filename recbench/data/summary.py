"""Descriptive statistics of a Dataset (what ``recbench datasets info`` shows), as plain data."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import numpy as np

from recbench.data.model import PART_NAMES, Dataset

#: More distinct rating values than this are shown as a binned histogram.
MAX_HISTOGRAM_VALUES = 20


def _date(ts: int) -> str:
    return datetime.fromtimestamp(int(ts), tz=timezone.utc).strftime("%Y-%m-%d")


def rating_histogram(rating: np.ndarray) -> list[tuple[str, int]]:
    """(label, count) per distinct rating value, or per bin when values are continuous."""
    values, counts = np.unique(rating, return_counts=True)
    if len(values) <= MAX_HISTOGRAM_VALUES:
        return [(f"{v:g}", int(c)) for v, c in zip(values, counts, strict=True)]
    hist, edges = np.histogram(rating, bins=10)
    return [
        (f"[{lo:.3g}, {hi:.3g})", int(c))
        for lo, hi, c in zip(edges[:-1], edges[1:], hist, strict=True)
    ]


def dataset_summary(ds: Dataset) -> dict[str, Any]:
    """Counts, density, per-user / per-item spread, rating histogram, time span and features."""
    inter = ds.interactions
    n, nu, ni = len(inter), inter.n_users, inter.n_items
    ucount, icount = inter.user_counts(), inter.item_counts()
    out: dict[str, Any] = {
        "name": ds.name,
        "ratings": n,
        "users": nu,
        "items": ni,
        "items_rated": int((icount > 0).sum()),
        "density": n / (nu * ni) if nu and ni else 0.0,
        "ratings_per_user": {
            "min": int(ucount.min()) if nu else 0,
            "median": float(np.median(ucount)) if nu else 0.0,
            "max": int(ucount.max()) if nu else 0,
        },
        "ratings_per_item": {
            "min": int(icount.min()) if ni else 0,
            "median": float(np.median(icount)) if ni else 0.0,
            "max": int(icount.max()) if ni else 0,
        },
        "implicit": inter.rating is None,
        "rating_scale": list(ds.rating_scale) if ds.rating_scale else None,
        "rating_histogram": rating_histogram(inter.rating) if inter.rating is not None else [],
        "time_span": None,
        "item_features": [] if ds.item_features is None else list(ds.item_features.columns),
        "user_features": [] if ds.user_features is None else list(ds.user_features.columns),
        "license": ds.license,
        "citation": ds.citation,
        "checksum": ds.checksum,
        "source": ds.source,
    }
    if inter.part is not None:
        counts = np.bincount(inter.part, minlength=len(PART_NAMES))
        out["parts"] = {name: int(counts[code]) for code, name in enumerate(PART_NAMES)}
    if inter.timestamp is not None and n:
        lo, hi = int(inter.timestamp.min()), int(inter.timestamp.max())
        out["time_span"] = {"first": _date(lo), "last": _date(hi), "days": (hi - lo) // 86400}
    if ds.item_features is not None and "genres" in ds.item_features:
        genres = ds.item_features["genres"].astype(str).str.split("|").explode()
        out["genres"] = sorted(g for g in genres.unique() if g)
    return out
