"""Resolve ``--dataset`` (a registry name or a file path) to a :class:`Dataset`.

Loading is a pipeline of plain functions: locate the source files, verify their checksums,
parse them into a canonical frame, build dense id maps, and (when the caller passes a cache
directory) keep the result as Parquet keyed by the source checksum.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recbench.data import cache as cache_mod
from recbench.data.idmap import IdMap
from recbench.data.model import Dataset, Interactions
from recbench.data.parsers import (
    PARSER_VERSION,
    decode_sep,
    parse_columns,
    read_movielens_csv,
    read_ratings_file,
)
from recbench.errors import DataError, UsageError, suggest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_DATASET = "ml-latest-small"


def datasets_root() -> Path:
    """The registry/bundled-data directory: inside the wheel, or the source tree's datasets/."""
    here = Path(__file__).resolve().parent.parent
    for cand in (here / "_datasets", here.parent / "datasets"):
        if (cand / "registry.toml").exists():
            return cand
    raise DataError("recbench's dataset registry is missing from this installation")


@cache
def registry() -> dict[str, dict[str, Any]]:
    with (datasets_root() / "registry.toml").open("rb") as fh:
        return tomllib.load(fh)


def default_data_dir() -> Path:
    """``$RECBENCH_DATA`` or the platform's user cache directory."""
    env = os.environ.get("RECBENCH_DATA")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("recbench"))


@dataclass(frozen=True)
class DatasetSpec:
    """How to load a dataset; recorded in model manifests so runs can be reproduced."""

    dataset: str = DEFAULT_DATASET
    columns: str | None = None
    sep: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "columns": self.columns, "sep": self.sep}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatasetSpec:
        return cls(dataset=d["dataset"], columns=d.get("columns"), sep=d.get("sep"))


def resolve(spec: DatasetSpec) -> DatasetSpec:
    """Make a file path absolute so the spec stays valid from any working directory."""
    if spec.dataset in registry():
        return spec
    p = Path(spec.dataset).expanduser()
    if p.exists() or os.sep in spec.dataset or "." in p.name:
        return DatasetSpec(str(p.resolve()), spec.columns, spec.sep)
    return spec


def load_dataset(spec: DatasetSpec | str, cache_dir: Path | None = None) -> Dataset:
    """Load a dataset by registry name or path. With ``cache_dir``, parsed data is cached there."""
    if isinstance(spec, str):
        spec = DatasetSpec(spec)
    reg = registry()
    if spec.dataset in reg:
        entry = reg[spec.dataset]
        if spec.columns or spec.sep:
            raise UsageError("--columns and --sep apply to files, not to registry datasets")
        if not entry.get("bundled"):
            raise DataError(
                f"dataset '{spec.dataset}' is not available on this machine yet "
                "(downloads are not implemented in this version)"
            )
        return _load_bundled(spec.dataset, entry, cache_dir)
    path = Path(spec.dataset).expanduser()
    if path.exists() and path.is_file():
        return _load_file(path, spec, cache_dir)
    if path.exists():
        raise DataError(f"{path} is a directory; give the ratings file itself")
    looks_like_path = os.sep in spec.dataset or "." in path.name
    if looks_like_path:
        raise DataError(f"ratings file not found: {path}")
    raise UsageError(
        f"unknown dataset '{spec.dataset}'{suggest(spec.dataset, reg)} "
        f"(available: {', '.join(sorted(reg))}; or give a path to a CSV/TSV/Parquet file)"
    )


def _load_bundled(name: str, entry: dict[str, Any], cache_dir: Path | None) -> Dataset:
    root = datasets_root() / name
    sums = []
    for member, expected in entry.get("members", {}).items():
        path = root / member
        if not path.exists():
            raise DataError(f"bundled dataset {name}: {member} is missing from {root}")
        got = cache_mod.sha256_file(path)
        if got != expected:
            raise DataError(
                f"bundled dataset {name}: {member} fails its checksum "
                f"(sha256 {got[:12]}…, expected {expected[:12]}…); reinstall recbench"
            )
        sums.append(f"{member}:{got}")
    checksum = cache_mod.combined_key([*sums, "parser", PARSER_VERSION])
    if cache_dir is not None:
        hit = cache_mod.load(cache_mod.entry_dir(cache_dir, name, checksum))
        if hit is not None:
            return hit
    ratings, feats = read_movielens_csv(root)
    ds = _build(
        name,
        ratings,
        item_features=feats,
        checksum=checksum,
        rating_scale=tuple(entry["rating_scale"]) if "rating_scale" in entry else None,
        license=entry.get("license", ""),
        citation=entry.get("citation", ""),
        source={
            "kind": "bundled",
            "path": str(root),
            "orphan_ratings_dropped": int(ratings.attrs.get("orphans", 0)),
        },
    )
    if cache_dir is not None:
        cache_mod.save(ds, cache_mod.entry_dir(cache_dir, name, checksum))
    return ds


def _load_file(path: Path, spec: DatasetSpec, cache_dir: Path | None) -> Dataset:
    columns = parse_columns(spec.columns)
    sep = decode_sep(spec.sep)
    file_sum = cache_mod.sha256_file(path)
    checksum = cache_mod.combined_key(
        [file_sum, f"columns={columns}", f"sep={sep!r}", "parser", PARSER_VERSION]
    )
    name = path.name
    if cache_dir is not None:
        hit = cache_mod.load(cache_mod.entry_dir(cache_dir, name, checksum))
        if hit is not None:
            return hit
    ratings = read_ratings_file(path, columns, sep)
    ds = _build(
        name,
        ratings,
        checksum=checksum,
        source={"kind": "file", "path": str(path.resolve()), "sha256": file_sum},
    )
    if cache_dir is not None:
        cache_mod.save(ds, cache_mod.entry_dir(cache_dir, name, checksum))
    return ds


def _build(
    name: str,
    ratings: pd.DataFrame,
    *,
    checksum: str,
    item_features: pd.DataFrame | None = None,
    rating_scale: tuple[float, float] | None = None,
    license: str = "",
    citation: str = "",
    source: dict[str, Any] | None = None,
) -> Dataset:
    """Canonical frame -> Dataset: drop duplicate pairs (keep latest), build id maps."""
    source = dict(source or {})
    n_before = len(ratings)
    if "timestamp" in ratings:
        ratings = ratings.sort_values("timestamp", kind="stable")
    ratings = ratings.drop_duplicates(["user", "item"], keep="last")
    source["duplicates_dropped"] = int(n_before - len(ratings))
    users, uidx = IdMap.from_values(ratings["user"].to_numpy())
    item_values = ratings["item"].to_numpy()
    if item_features is not None:
        # The catalogue is every item with features or ratings, so feature-only items count.
        all_items = np.concatenate([item_features.index.to_numpy(), item_values])
        items, codes = IdMap.from_values(all_items)
        iidx = codes[len(item_features) :]
        feats = item_features.reindex(items.ids).reset_index(drop=True)
        for col in feats.columns:
            if feats[col].dtype == object or pd.api.types.is_string_dtype(feats[col]):
                feats[col] = feats[col].fillna("")
    else:
        items, iidx = IdMap.from_values(item_values)
        feats = None
    order = np.lexsort((iidx, uidx))
    rating = ratings["rating"].to_numpy(np.float32)[order] if "rating" in ratings else None
    ts = ratings["timestamp"].to_numpy(np.int64)[order] if "timestamp" in ratings else None
    inter = Interactions(uidx[order], iidx[order], rating, ts, users, items)
    if rating_scale is None and rating is not None:
        rating_scale = (float(rating.min()), float(rating.max()))
    return Dataset(
        name=name,
        interactions=inter,
        rating_scale=rating_scale,
        item_features=feats,
        checksum=checksum,
        license=license,
        citation=citation,
        source=source,
    )


def available() -> list[dict[str, Any]]:
    """One row per registry entry: name, title, counts, whether it can be loaded offline now."""
    rows = []
    for name, entry in sorted(registry().items()):
        rows.append(
            {
                "name": name,
                "title": entry.get("title", ""),
                "ratings": entry.get("ratings"),
                "users": entry.get("users"),
                "items": entry.get("items"),
                "available": bool(entry.get("bundled")),
                "bundled": bool(entry.get("bundled")),
                "license": entry.get("license", ""),
            }
        )
    return rows
