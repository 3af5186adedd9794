"""Users' own datasets: ``recbench datasets add NAME FILE``, then ``--dataset NAME`` everywhere.

Registrations live in ``<data_dir>/user-datasets.json`` as :class:`UserDataset` records that
point at the user's files (read where they are, never copied) and say how to read them. The list
is written atomically under a lock. Loading one goes through the same Parquet cache as every
other dataset, keyed by the files' content and the read options.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recbench.atomic import atomic_write_text
from recbench.data import cache
from recbench.data.build import build_dataset
from recbench.data.datadir import io_errors, lock, now_iso
from recbench.data.model import Dataset
from recbench.data.netflix import netflix_sources, read_netflix, read_netflix_titles
from recbench.data.ratings_file import (
    HEADER_ALIASES,
    PARSER_VERSION,
    absolute_path,
    check_ratings_path,
    decode_sep,
    parse_columns,
    read_ratings_file,
)
from recbench.data.registry import registry
from recbench.data.releases import FORMAT_VERSION
from recbench.data.tabular import arrow_message, title_features
from recbench.errors import DataError, UsageError

#: Formats of users' own datasets (``recbench datasets add --format``).
USER_FORMATS = ("csv", "tsv", "parquet", "netflix")
USER_REGISTRY = "user-datasets.json"
#: Directories with more files than this are keyed by file stats instead of content hashes.
MAX_HASHED_FILES = 64
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


@dataclass(frozen=True)
class UserDataset:
    """A dataset a user registered with ``recbench datasets add``: their files, how to read them."""

    name: str
    path: str
    format: str
    columns: str | None = None
    sep: str | None = None
    item_features: str | None = None
    added: str = ""
    #: ratings, users and items as loaded when added, with the files' stamp then (see
    #: :func:`counts_now`); None in lists written before counts were kept
    counts: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["kind"] = "user"
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> UserDataset:
        keep = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in keep})


def check_user_name(name: str) -> None:
    """A user dataset name must not shadow a built-in one or look like a file path."""
    if not _NAME.fullmatch(name):
        raise UsageError(
            f"dataset name '{name}' must be 1-64 letters, digits, '-' or '_' "
            "(no dots or slashes: those mean file paths)"
        )
    if name in registry():
        raise UsageError(f"'{name}' is a built-in dataset; choose another name")


def _user_registry_path(data_dir: Path) -> Path:
    return Path(data_dir) / USER_REGISTRY


def user_datasets(data_dir: Path | None) -> dict[str, UserDataset]:
    """The user's registered datasets in ``data_dir`` (empty when none or no data dir)."""
    if data_dir is None:
        return {}
    path = _user_registry_path(data_dir)
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        items = raw["datasets"]
        return {name: UserDataset.from_dict({**d, "name": name}) for name, d in items.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DataError(f"{path} is not a readable recbench user-dataset list ({exc})") from None


def _write_user_registry(data_dir: Path, items: dict[str, UserDataset]) -> None:
    path = _user_registry_path(data_dir)
    doc = {
        "format": 1,
        "datasets": {
            n: {k: v for k, v in asdict(d).items() if k != "name"} for n, d in sorted(items.items())
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(doc, indent=1))


def save_user_dataset(data_dir: Path, ds: UserDataset) -> None:
    """Add or replace one user dataset in ``<data_dir>/user-datasets.json`` (atomic write)."""
    with io_errors(f"writing {_user_registry_path(data_dir)}"), lock(data_dir, "user-datasets"):
        items = user_datasets(data_dir)
        items[ds.name] = ds
        _write_user_registry(data_dir, items)


def delete_user_dataset(data_dir: Path, name: str) -> bool:
    """Forget one user dataset (their files are left alone); False when it was not registered."""
    with io_errors(f"writing {_user_registry_path(data_dir)}"), lock(data_dir, "user-datasets"):
        items = user_datasets(data_dir)
        if name not in items:
            return False
        del items[name]
        _write_user_registry(data_dir, items)
    return True


def files_stamp(record: UserDataset) -> list[list[int]] | None:
    """Size and modification time of a user dataset's files (None when one is missing): what
    tells whether the counts recorded when it was added still hold."""
    paths = [Path(record.path)] + ([Path(record.item_features)] if record.item_features else [])
    try:
        stats = [p.stat() for p in paths]
    except OSError:
        return None
    return [[st.st_size, st.st_mtime_ns] for st in stats]


def counts_now(record: UserDataset) -> dict[str, int] | None:
    """The ratings, users and items recorded when ``record`` was added, while its files are
    unchanged since (same size and mtime); None when unknown or the files changed."""
    counts = record.counts
    if not isinstance(counts, dict) or counts.get("stamp") != files_stamp(record):
        return None
    try:
        return {key: int(counts[key]) for key in ("ratings", "users", "items")}
    except (KeyError, TypeError, ValueError):
        return None


def _source_key(path: Path, cache_dir: Path | None) -> list[str]:
    """Checksum parts of a user's source: content sha256s, or file stats for big directories."""
    if path.is_file():
        return [cache.file_sha256(path, cache_dir)]
    files = netflix_sources(path)
    if len(files) <= MAX_HASHED_FILES:
        return [f"{f.name}:{cache.file_sha256(f, cache_dir)}" for f in files]
    stats = [f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files]
    return ["stats", cache.combined_key(stats)]


def load_user_dataset(record: UserDataset, cache_dir: Path | None = None) -> Dataset:
    """Load a dataset registered with ``recbench datasets add`` (files read where they are)."""
    path = Path(record.path)
    if not path.exists() and not path.is_symlink():
        raise DataError(
            f"user dataset '{record.name}': {path} no longer exists; re-register it with "
            f"`recbench datasets add {record.name} PATH --force` or `recbench datasets remove`"
        )
    fmt = record.format
    if fmt != "netflix" or not path.is_dir():
        check_ratings_path(path, archives_ok=fmt == "netflix")
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
        parts.append("features=" + cache.file_sha256(feats_path, cache_dir))

    def build(checksum: str) -> Dataset:
        if fmt == "netflix":
            ratings = read_netflix(path)
        else:
            ratings = read_ratings_file(path, columns, sep, kind=fmt)
        feats = read_item_features(feats_path, fmt) if feats_path is not None else None
        return build_dataset(
            record.name,
            ratings,
            item_features=feats,
            checksum=checksum,
            source={"kind": "user", "path": str(path), "format": fmt},
        )

    return cache.cached(
        cache_dir, record.name, [*parts, "parser", PARSER_VERSION, FORMAT_VERSION], build
    )


def read_item_features(path: Path, fmt: str) -> pd.DataFrame:
    """Item features of a user dataset: a CSV/TSV/Parquet table with an item id column.

    For Netflix-format datasets a header-less ``MovieID,Year,Title`` file (movie_titles) is read
    as such. The id column is the one named like an item id (item, movieId, ...) or the first.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"item features file not found: {path}")
    if path.suffix.lower() in {".parquet", ".pq"}:
        raw = pd.read_parquet(path)
    else:
        with path.open("rb") as fh:
            first = fh.readline().decode("latin-1").strip()
        if fmt == "netflix" and re.match(r"\d+\s*,", first):
            return read_netflix_titles(path)
        sep = "\t" if "\t" in first or path.suffix.lower() in {".tsv", ".tab"} else ","
        try:
            raw = pd.read_csv(
                path, sep=sep, dtype=str, keep_default_na=False, quoting=csv.QUOTE_MINIMAL
            )
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: {arrow_message(exc)}") from None
    if raw.shape[1] < 2:
        raise DataError(f"{path}: expected an item id column and at least one feature column")
    item_names = HEADER_ALIASES["item"]
    id_col = next((c for c in raw.columns if str(c).strip().lower() in item_names), None)
    id_col = id_col if id_col is not None else raw.columns[0]
    ids = raw[id_col]
    num = pd.to_numeric(ids, errors="coerce")
    index = (
        pd.Index(num.to_numpy(np.int64), name="item")
        if num.notna().all() and (num % 1 == 0).all()
        else pd.Index(ids.astype(str).str.strip().to_numpy(), name="item")
    )
    feats = raw.drop(columns=[id_col])
    feats.index = index
    feats.columns = [str(c) for c in feats.columns]
    if index.has_duplicates:
        feats = feats[~index.duplicated(keep="last")]
    if "title" in feats and "title_words" not in feats:
        feats["title_words"] = title_features(feats["title"])["title_words"].to_numpy()
    return feats


def add_dataset(
    name: str,
    path: Path,
    data_dir: Path,
    *,
    format: str,
    columns: str | None = None,
    sep: str | None = None,
    item_features: Path | None = None,
    force: bool = False,
) -> tuple[UserDataset, Dataset]:
    """Register the user's own ratings so ``--dataset NAME`` works everywhere; load it once.

    The files stay where they are (recorded by absolute path); loading them once validates the
    options and warms the Parquet cache. Returns the record and the loaded Dataset.
    """
    check_user_name(name)
    if format not in USER_FORMATS:
        raise UsageError(f"--format must be one of {', '.join(USER_FORMATS)}, not '{format}'")
    parse_columns(columns)
    decode_sep(sep)
    if format in ("parquet", "netflix") and sep:
        raise UsageError(f"--sep does not apply to --format {format}")
    if format == "netflix" and columns:
        raise UsageError("--columns does not apply to --format netflix")
    path = absolute_path(Path(path))
    if not path.exists():
        raise DataError(f"{path} does not exist")
    if path.is_dir() and format != "netflix":
        raise DataError(f"{path} is a directory; give the ratings file itself")
    feats = absolute_path(Path(item_features)) if item_features else None
    if feats is not None and not feats.is_file():
        raise DataError(f"item features file not found: {feats}")
    existing = user_datasets(data_dir).get(name)
    if existing is not None and not force:
        raise UsageError(f"dataset '{name}' is already registered; pass --force to replace it")
    record = UserDataset(
        name=name,
        path=str(path),
        format=format,
        columns=columns,
        sep=sep,
        item_features=str(feats) if feats else None,
        added=now_iso(),
    )
    record, ds = load_counted(record, data_dir)
    save_user_dataset(data_dir, record)
    return record, ds


def load_counted(record: UserDataset, data_dir: Path) -> tuple[UserDataset, Dataset]:
    """Load a new user dataset; the record comes back with its counts, so that ``datasets``
    can list them without reading the files (unless they changed while being read)."""
    stamp = files_stamp(record)
    ds = load_user_dataset(record, data_dir)
    if stamp is not None and stamp == files_stamp(record):
        inter = ds.interactions
        counts = {"ratings": len(inter), "users": inter.n_users, "items": inter.n_items}
        record = replace(record, counts={**counts, "stamp": stamp})
    return record, ds
