"""Load ``--dataset`` (a registry name, a user dataset or a file path) as a :class:`Dataset`.

One straight line, each step a function of :mod:`recbench.data.sources` that never calls back
into an earlier one::

    resolve_source(spec) -> Source          registry, user datasets, paths: looked up once
      -> ensure_local(source)               verify / download / check files; their sha256s
      -> fingerprint(source)                the one cache-key recipe (with FORMAT_VERSION)
      -> cache.get(key)                     a hit ends the line
      -> read_source(source)                the one reader table (recbench.data.formats)
      -> build_source -> build_dataset      id maps, duplicates by the format's policy
      -> cache.put(key)

Where data comes from, in the order a name is looked up: built-in registry datasets (bundled
ones ship inside the package; others must have been downloaded or imported into the data
directory, and loading never downloads unless the caller opts in: ``download=True`` or
``RECBENCH_AUTO_DOWNLOAD=1``); users' own datasets registered with ``recbench datasets add``
(a registered name wins over a same-named file in the working directory: ``./NAME`` is the
file); any CSV/TSV/Parquet or Netflix-format ratings file given by path.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from recbench.data import cache
from recbench.data.datadir import ProgressBar, default_data_dir, now_iso, read_install_manifest
from recbench.data.formats import detect_format
from recbench.data.model import Dataset
from recbench.data.ratings_file import absolute_path, decode_sep, parse_columns
from recbench.data.registry import datasets_root, get_entry, registry
from recbench.data.sources import (
    DEFAULT_DATASET,
    DatasetSpec,
    Source,
    build_source,
    ensure_local,
    fingerprint,
    read_source,
    resolve_source,
    user_source,
)
from recbench.data.user_datasets import (
    USER_FORMATS,
    UserDataset,
    check_user_name,
    counts_now,
    files_stamp,
    save_user_dataset,
    user_datasets,
)
from recbench.errors import DataError, UsageError

__all__ = [
    "AUTO_DOWNLOAD_ENV",
    "DEFAULT_DATASET",
    "DatasetSpec",
    "Source",
    "add_dataset",
    "all_datasets",
    "available",
    "datasets_root",
    "default_data_dir",
    "load_dataset",
    "registry",
    "resolve",
    "resolve_source",
]

AUTO_DOWNLOAD_ENV = "RECBENCH_AUTO_DOWNLOAD"


def _auto_download(download: bool | None) -> bool:
    if download is not None:
        return download
    return os.environ.get(AUTO_DOWNLOAD_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def resolve(spec: DatasetSpec, data_dir: Path | None = None) -> DatasetSpec:
    """The spec to record for ``spec``: a file path made absolute, names left as they are."""
    return resolve_source(spec, data_dir).spec


def load_dataset(
    spec: DatasetSpec | str | Source,
    data_dir: Path | None = None,
    *,
    download: bool | None = None,
    progress: ProgressBar | None = None,
    note: Callable[[str], None] | None = None,
) -> Dataset:
    """Load a dataset by registry name, user dataset name or path (or an already resolved
    :class:`Source`), along the loading line above.

    ``data_dir`` holds installed and user datasets and the Parquet cache; without it they are
    looked up in :func:`default_data_dir` and nothing is cached. A registry dataset that is
    not installed is a DataError naming the ``recbench datasets download`` / ``import``
    command, unless ``download=True`` (or ``$RECBENCH_AUTO_DOWNLOAD=1``) allows fetching it
    now; ``progress`` then receives the download's progress. ``note`` receives one-line notes
    (an old cache entry rebuilt). What looks wrong in the data (negative ratings, ratings off
    the scale, control characters) is listed in ``dataset.source["warnings"]``.
    """
    source = spec if isinstance(spec, Source) else resolve_source(spec, data_dir)
    source = ensure_local(source, data_dir, download=_auto_download(download), progress=progress)
    key = fingerprint(source)
    if data_dir is not None:
        hit = cache.get(data_dir, source.name, key)
        if hit is not None:
            return hit
        stale = cache.drop_stale(data_dir, source.name)
        if stale is not None and note is not None:
            note(stale)
    dataset = build_source(source, read_source(source), key)
    if data_dir is not None:
        cache.put(data_dir, source.name, key, dataset)
    return dataset


def add_dataset(
    name: str,
    path: Path | None,
    data_dir: Path,
    *,
    format: str | None = None,
    columns: str | None = None,
    sep: str | None = None,
    item_features: Path | None = None,
    force: bool = False,
    parts: dict[str, Path | None] | None = None,
) -> tuple[UserDataset, Dataset]:
    """Register the user's own data so ``--dataset NAME`` works everywhere; load it once.

    ``path`` is a ratings file, or a file or directory in one of the sequence and given-split
    formats; ``format`` None recognises the format by the path's shape where that is
    unambiguous (a LightGCN, RecBole or NCF directory, a ``.inter`` file, Amazon JSON lines, an
    S3-Rec sequence file) and takes a file for CSV otherwise. ``parts`` (``--train``,
    ``--valid``, ``--test``) registers a given split of rating tables instead of ``path``.
    The files stay where they are (recorded by absolute path); loading them once validates the
    options and warms the Parquet cache. Returns the record and the loaded Dataset.
    """
    check_user_name(name)
    path, format, others = _add_target(path, format, parts)
    if format not in USER_FORMATS:
        raise UsageError(f"--format must be one of {', '.join(USER_FORMATS)}, not '{format}'")
    parse_columns(columns)
    decode_sep(sep)
    if format not in ("csv", "tsv", "given-tables") and sep:
        raise UsageError(f"--sep does not apply to --format {format}")
    if format not in ("csv", "tsv", "parquet", "given-tables") and columns:
        raise UsageError(f"--columns does not apply to --format {format}")
    if path.is_dir() and format in ("csv", "tsv", "parquet", "given-tables"):
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
        parts=others or None,
        added=now_iso(),
    )
    record, ds = load_counted(record, data_dir)
    save_user_dataset(data_dir, record)
    return record, ds


def _add_target(
    path: Path | None, format: str | None, parts: dict[str, Path | None] | None
) -> tuple[Path, str, dict[str, str]]:
    """(the dataset's path, its format, the other parts' files) of ``datasets add``."""
    given = {p: f for p, f in (parts or {}).items() if f is not None}
    if given:
        if path is not None:
            raise UsageError("give either PATH or --train/--test files, not both")
        if "train" not in given or "test" not in given:
            raise UsageError("--train FILE and --test FILE go together (--valid FILE optional)")
        if format not in (None, "given-tables"):
            raise UsageError(f"--format {format} does not apply to --train/--test files")
        files = {p: absolute_path(Path(f)) for p, f in given.items()}
        for f in files.values():
            if not f.exists():
                raise DataError(f"{f} does not exist")
        others = {p: str(f) for p, f in files.items() if p != "train"}
        return files["train"], "given-tables", others
    if path is None:
        raise UsageError("give the dataset's PATH (or --train FILE --test FILE)")
    path = absolute_path(Path(path))
    if not path.exists():
        raise DataError(f"{path} does not exist")
    if format is None:
        found = detect_format(path)
        if found is None and path.is_dir():
            raise DataError(
                f"{path} is a directory in no format recbench recognises (LightGCN train.txt/"
                "test.txt, RecBole .inter files, NCF .train.rating/.test.rating); give the "
                "ratings file itself or --format"
            )
        format = found or "csv"
    return path, format, {}


def load_counted(record: UserDataset, data_dir: Path) -> tuple[UserDataset, Dataset]:
    """Load a new user dataset; the record comes back with its counts, so that ``datasets``
    can list them without reading the files (unless they changed while being read)."""
    stamp = files_stamp(record)
    ds = load_dataset(user_source(record), data_dir)
    if stamp is not None and stamp == files_stamp(record):
        inter = ds.interactions
        counts = {"ratings": len(inter), "users": inter.n_users, "items": inter.n_items}
        record = replace(record, counts={**counts, "stamp": stamp})
    return record, ds


def available(data_dir: Path | None = None) -> list[dict[str, Any]]:
    """One row per dataset (built-in, then the user's): counts, license, where it stands now.

    ``status`` is ``bundled``, ``downloaded``, ``imported``, ``user``, ``not downloaded`` or
    ``import needed``; ``available`` says whether it loads offline now.
    """
    data_dir = data_dir if data_dir is not None else default_data_dir()
    rows = []
    for name, raw in sorted(registry().items()):
        entry = get_entry(name)
        manifest = None if entry.bundled else read_install_manifest(data_dir, name)
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
        counts = counts_now(rec) or {}  # as added, while the files are unchanged
        rows.append(
            {
                "name": name,
                "kind": "user",
                "title": f"{rec.format} file {rec.path}",
                "ratings": counts.get("ratings"),
                "users": counts.get("users"),
                "items": counts.get("items"),
                "available": Path(rec.path).exists(),
                "bundled": False,
                "status": "user" if Path(rec.path).exists() else "user (file missing)",
                "verified": None,
                "size": "",
                "license": "",
            }
        )
    return rows


def all_datasets(data_dir: Path | None) -> dict[str, dict[str, Any]]:
    """Built-in registry entries plus the user's datasets in ``data_dir``, as plain dicts.

    Each dict has ``kind`` = ``"builtin"`` or ``"user"``; built-in names win (``add`` refuses
    to shadow them anyway).
    """
    out: dict[str, dict[str, Any]] = {
        name: {**raw, "kind": "builtin"} for name, raw in registry().items()
    }
    for name, ds in user_datasets(data_dir).items():
        out.setdefault(name, ds.to_dict())
    return out
