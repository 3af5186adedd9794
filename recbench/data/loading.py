"""Resolve ``--dataset`` (a registry name, a user dataset or a file path) to a :class:`Dataset`.

Loading is a pipeline of plain functions: locate the source files, verify them, parse them into
a canonical frame, build dense id maps, and (when the caller passes a cache directory) keep the
result as Parquet keyed by the source checksum.

Where data comes from:

- bundled registry datasets (ml-latest-small) ship inside the package;
- other registry datasets must have been downloaded or imported into the data directory
  (``recbench datasets download NAME`` / ``import NAME PATH``). Loading never downloads unless
  the caller opts in: ``load_dataset(..., download=True)`` or ``RECBENCH_AUTO_DOWNLOAD=1``;
- users' own datasets registered with ``recbench datasets add`` (``<data_dir>/user-datasets.json``);
- any CSV/TSV/Parquet or Netflix-format ratings file given by path.

The data directory is ``cache_dir`` when given, else :func:`default_data_dir`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recbench.data import cache as cache_mod
from recbench.data import store
from recbench.data.formats import (
    FORMAT_VERSION,
    looks_like_netflix,
    netflix_sources,
    read_item_features,
    read_netflix,
    read_release,
)
from recbench.data.idmap import IdMap
from recbench.data.model import Dataset, Interactions
from recbench.data.parsers import (
    PARSER_VERSION,
    decode_sep,
    parse_columns,
    read_movielens_csv,
    read_ratings_file,
)
from recbench.data.registry import (
    DatasetEntry,
    UserDataset,
    all_datasets,
    datasets_root,
    get_entry,
    registry,
    user_datasets,
)
from recbench.errors import DataError, UsageError, suggest

__all__ = [
    "AUTO_DOWNLOAD_ENV",
    "DEFAULT_DATASET",
    "DatasetSpec",
    "all_datasets",
    "available",
    "datasets_root",
    "default_data_dir",
    "load_dataset",
    "load_user_dataset",
    "registry",
    "resolve",
]

DEFAULT_DATASET = "ml-latest-small"
AUTO_DOWNLOAD_ENV = "RECBENCH_AUTO_DOWNLOAD"
#: Directories with more files than this are keyed by file stats instead of content hashes.
MAX_HASHED_FILES = 64


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

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "columns": self.columns, "sep": self.sep}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatasetSpec:
        return cls(dataset=d["dataset"], columns=d.get("columns"), sep=d.get("sep"))


def resolve(spec: DatasetSpec) -> DatasetSpec:
    """Make a file path absolute so the spec stays valid from any working directory.

    Registry and user-dataset names are left alone (user dataset names cannot contain dots or
    slashes, so they never look like paths).
    """
    if spec.dataset in registry():
        return spec
    p = Path(spec.dataset).expanduser()
    if p.exists() or os.sep in spec.dataset or "." in p.name:
        return DatasetSpec(str(p.resolve()), spec.columns, spec.sep)
    return spec


def _auto_download(download: bool | None) -> bool:
    if download is not None:
        return download
    return os.environ.get(AUTO_DOWNLOAD_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def load_dataset(
    spec: DatasetSpec | str,
    cache_dir: Path | None = None,
    *,
    download: bool | None = None,
    progress: store.ProgressBar | None = None,
) -> Dataset:
    """Load a dataset by registry name, user dataset name or path.

    With ``cache_dir``, parsed data is cached there, and downloaded/imported/user datasets are
    looked up there (else in :func:`default_data_dir`). A registry dataset that is not installed
    raises a DataError naming the ``recbench datasets download`` / ``import`` command, unless
    ``download=True`` (or ``$RECBENCH_AUTO_DOWNLOAD=1``) allows fetching it now; ``progress``
    then receives the download's progress.
    """
    if isinstance(spec, str):
        spec = DatasetSpec(spec)
    reg = registry()
    if spec.dataset in reg:
        entry = get_entry(spec.dataset)
        if spec.columns or spec.sep:
            raise UsageError("--columns and --sep apply to files, not to registry datasets")
        if entry.bundled:
            return _load_bundled(spec.dataset, reg[spec.dataset], cache_dir)
        return _load_installed(entry, cache_dir, _auto_download(download), progress)
    path = Path(spec.dataset).expanduser()
    looks_like_path = os.sep in spec.dataset or "." in path.name
    users: dict[str, UserDataset] = {}
    if not looks_like_path:
        users = user_datasets(cache_dir if cache_dir is not None else default_data_dir())
        if spec.dataset in users and not path.exists():
            if spec.columns or spec.sep:
                raise UsageError(
                    f"--columns and --sep apply to files; '{spec.dataset}' is a registered "
                    "dataset (re-add it with `recbench datasets add --force` to change them)"
                )
            return load_user_dataset(users[spec.dataset], cache_dir)
    if path.exists() and path.is_file():
        return _load_file(path, spec, cache_dir)
    if path.exists():
        raise DataError(f"{path} is a directory; give the ratings file itself")
    if looks_like_path:
        raise DataError(f"ratings file not found: {path}")
    names = sorted({*reg, *users})
    raise UsageError(
        f"unknown dataset '{spec.dataset}'{suggest(spec.dataset, names)} "
        f"(available: {', '.join(names)}; or give a path to a CSV/TSV/Parquet file)"
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


def _load_installed(
    entry: DatasetEntry,
    cache_dir: Path | None,
    download: bool,
    progress: store.ProgressBar | None,
) -> Dataset:
    """A downloaded or imported registry dataset from the data directory."""
    name = entry.name
    data_dir = cache_dir if cache_dir is not None else default_data_dir()
    if store.read_manifest(data_dir, name) is None:
        if not download:
            raise DataError(store.not_installed_message(name))
        store.download_dataset(name, data_dir, progress=progress)
    manifest = store.check_installed(data_dir, name)
    root = store.installed_dir(data_dir, name)
    sums = [f"{rel}:{info['sha256']}" for rel, info in sorted(manifest["files"].items())]
    checksum = cache_mod.combined_key(
        [*sums, "format", entry.format, "parser", PARSER_VERSION, FORMAT_VERSION]
    )
    if cache_dir is not None:
        hit = cache_mod.load(cache_mod.entry_dir(cache_dir, name, checksum))
        if hit is not None:
            return hit
    parsed = read_release(entry.format, root)
    verification = manifest.get("verification") or {}
    ds = _build(
        name,
        parsed.ratings,
        item_features=parsed.item_features,
        user_features=parsed.user_features,
        checksum=checksum,
        rating_scale=entry.rating_scale,
        license=entry.license,
        citation=entry.citation,
        source={
            "kind": manifest.get("action", "installed"),
            "path": str(root),
            "origin": manifest.get("origin", ""),
            "verification": verification.get("status", "unverified"),
            **parsed.info,
        },
    )
    if cache_dir is not None:
        cache_mod.save(ds, cache_mod.entry_dir(cache_dir, name, checksum))
    return ds


def _source_key(path: Path, cache_dir: Path | None) -> list[str]:
    """Checksum parts of a user's source: content sha256s, or file stats for big directories."""
    if path.is_file():
        return [cache_mod.file_sha256(path, cache_dir)]
    files = netflix_sources(path)
    if len(files) <= MAX_HASHED_FILES:
        return [f"{f.name}:{cache_mod.file_sha256(f, cache_dir)}" for f in files]
    stats = [f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files]
    return ["stats", cache_mod.combined_key(stats)]


def load_user_dataset(record: UserDataset, cache_dir: Path | None = None) -> Dataset:
    """Load a dataset registered with ``recbench datasets add`` (files read where they are)."""
    path = Path(record.path)
    if not path.exists():
        raise DataError(
            f"user dataset '{record.name}': {path} no longer exists; re-register it with "
            f"`recbench datasets add {record.name} PATH --force` or `recbench datasets remove`"
        )
    fmt = record.format
    columns = parse_columns(record.columns)
    sep = decode_sep(record.sep) or ("\t" if fmt == "tsv" else None)
    parts = [
        *_source_key(path, cache_dir),
        f"format={fmt}",
        f"columns={columns}",
        f"sep={sep!r}",
    ]
    feats_path = Path(record.item_features) if record.item_features else None
    if feats_path is not None:
        if not feats_path.is_file():
            raise DataError(f"user dataset '{record.name}': {feats_path} no longer exists")
        parts.append("features=" + cache_mod.file_sha256(feats_path, cache_dir))
    checksum = cache_mod.combined_key([*parts, "parser", PARSER_VERSION, FORMAT_VERSION])
    if cache_dir is not None:
        hit = cache_mod.load(cache_mod.entry_dir(cache_dir, record.name, checksum))
        if hit is not None:
            return hit
    if fmt == "netflix":
        ratings = read_netflix(path)
    else:
        ratings = read_ratings_file(path, columns, sep, kind=fmt)
    feats = read_item_features(feats_path, fmt) if feats_path is not None else None
    ds = _build(
        record.name,
        ratings,
        item_features=feats,
        checksum=checksum,
        source={"kind": "user", "path": str(path), "format": fmt},
    )
    if cache_dir is not None:
        cache_mod.save(ds, cache_mod.entry_dir(cache_dir, record.name, checksum))
    return ds


def _load_file(path: Path, spec: DatasetSpec, cache_dir: Path | None) -> Dataset:
    netflix = looks_like_netflix(path)
    if netflix and (spec.columns or spec.sep):
        raise UsageError(f"{path} is in Netflix-Prize format; --columns and --sep do not apply")
    columns = parse_columns(spec.columns)
    sep = decode_sep(spec.sep)
    file_sum = cache_mod.file_sha256(path, cache_dir)
    fmt = ["format=netflix", FORMAT_VERSION] if netflix else []
    checksum = cache_mod.combined_key(
        [file_sum, f"columns={columns}", f"sep={sep!r}", *fmt, "parser", PARSER_VERSION]
    )
    name = path.name
    if cache_dir is not None:
        hit = cache_mod.load(cache_mod.entry_dir(cache_dir, name, checksum))
        if hit is not None:
            return hit
    ratings = read_netflix(path) if netflix else read_ratings_file(path, columns, sep)
    ds = _build(
        name,
        ratings,
        checksum=checksum,
        source={"kind": "file", "path": str(path.resolve()), "sha256": file_sum},
    )
    if cache_dir is not None:
        cache_mod.save(ds, cache_mod.entry_dir(cache_dir, name, checksum))
    return ds


def _align_features(feats: pd.DataFrame, ids: np.ndarray) -> pd.DataFrame:
    """Features reindexed to a dense id order; missing text becomes '' (Parquet-friendly)."""
    out = feats.reindex(ids).reset_index(drop=True)
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].fillna("")
    return out


def _pair_order(
    uidx: np.ndarray, iidx: np.ndarray, n_items: int, ts: np.ndarray | None
) -> np.ndarray:
    """Row order by (user, item) with duplicate pairs reduced to their latest row."""
    key = uidx.astype(np.int64)
    key *= max(n_items, 1)
    key += iidx
    order = np.argsort(key)
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


def _build(
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
) -> Dataset:
    """Canonical frame -> Dataset: build id maps, drop duplicate pairs (keep the latest).

    Rows are ordered by one ``argsort`` of a combined (user, item) key; only the rows of
    duplicated pairs are then ordered by timestamp and file position, and all but the latest of
    each pair (the later row in the file among equal timestamps) are dropped. The count goes to
    ``source["duplicates_dropped"]``.
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
        feats = _align_features(item_features, items.ids)
    else:
        items, iidx = IdMap.from_values(item_values)
        feats = None
    ufeats = _align_features(user_features, users.ids) if user_features is not None else None
    ts = ratings["timestamp"].to_numpy(np.int64) if "timestamp" in ratings else None
    order = _pair_order(uidx, iidx, len(items), ts)
    source["duplicates_dropped"] = int(n_before - len(order))
    u, i = uidx[order], iidx[order]
    rating = ratings["rating"].to_numpy(np.float32)[order] if "rating" in ratings else None
    inter = Interactions(u, i, rating, None if ts is None else ts[order], users, items)
    if rating_scale is None and rating is not None:
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


def available(cache_dir: Path | None = None) -> list[dict[str, Any]]:
    """One row per dataset (built-in, then the user's): counts, license, where it stands now.

    ``status`` is ``bundled``, ``downloaded``, ``imported``, ``user``, ``not downloaded`` or
    ``import needed``; ``available`` says whether it loads offline now.
    """
    data_dir = cache_dir if cache_dir is not None else default_data_dir()
    rows = []
    for name, raw in sorted(registry().items()):
        entry = get_entry(name)
        manifest = None if entry.bundled else store.read_manifest(data_dir, name)
        if entry.bundled:
            status = "bundled"
        elif manifest is not None:
            status = str(manifest.get("action", "installed"))
        else:
            status = "import needed" if entry.import_only else "not downloaded"
        rows.append(
            {
                "name": name,
                "kind": "builtin",
                "title": entry.title,
                "ratings": entry.ratings,
                "users": entry.users,
                "items": entry.items,
                "available": entry.bundled or manifest is not None,
                "bundled": entry.bundled,
                "status": status,
                "verified": (manifest or {}).get("verification", {}).get("status")
                if manifest
                else ("verified" if entry.bundled else None),
                "size": entry.size,
                "license": raw.get("license", ""),
            }
        )
    for name, rec in sorted(user_datasets(data_dir).items()):
        if name in registry():
            continue
        rows.append(
            {
                "name": name,
                "kind": "user",
                "title": f"{rec.format} file {rec.path}",
                "ratings": None,
                "users": None,
                "items": None,
                "available": Path(rec.path).exists(),
                "bundled": False,
                "status": "user" if Path(rec.path).exists() else "user (file missing)",
                "verified": None,
                "size": "",
                "license": "",
            }
        )
    return rows
