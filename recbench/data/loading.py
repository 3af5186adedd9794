"""Resolve ``--dataset`` (a registry name, a user dataset or a file path) to a :class:`Dataset`.

Loading is a pipeline of plain functions: locate the source files, verify them, parse them into
a canonical frame (:mod:`recbench.data.releases`, :mod:`recbench.data.ratings_file`), build
dense id maps (:mod:`recbench.data.build`), and (when the caller passes a cache directory) keep
the result as Parquet keyed by the source checksum (:func:`recbench.data.cache.cached`).

Where data comes from, in the order a name is looked up:

- registry datasets: bundled ones (ml-latest-small) ship inside the package; others must have
  been downloaded or imported into the data directory (``recbench datasets download NAME`` /
  ``import NAME PATH``). Loading never downloads unless the caller opts in:
  ``load_dataset(..., download=True)`` or ``RECBENCH_AUTO_DOWNLOAD=1``;
- users' own datasets registered with ``recbench datasets add``: a registered name wins over a
  same-named file in the working directory (give ``./NAME`` for the file);
- any CSV/TSV/Parquet or Netflix-format ratings file given by path.

The data directory is ``cache_dir`` when given, else :func:`default_data_dir`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recbench.data import cache
from recbench.data.build import build_dataset
from recbench.data.datadir import (
    ProgressBar,
    check_installed,
    default_data_dir,
    installed_dir,
    not_installed_message,
    read_install_manifest,
)
from recbench.data.downloading import download_dataset
from recbench.data.model import Dataset
from recbench.data.netflix import looks_like_netflix, read_netflix
from recbench.data.ratings_file import (
    PARSER_VERSION,
    absolute_path,
    check_ratings_path,
    decode_sep,
    parse_columns,
    read_ratings_file,
)
from recbench.data.registry import DatasetEntry, datasets_root, get_entry, registry
from recbench.data.releases import FORMAT_VERSION, read_release
from recbench.data.user_datasets import (
    UserDataset,
    counts_now,
    load_user_dataset,
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


def _looks_like_path(name: str) -> bool:
    """Names with a separator or a dot are paths (user dataset names can have neither)."""
    return os.sep in name or "/" in name or "." in Path(name).name


def _user_dataset_names(data_dir: Path | None) -> dict[str, UserDataset]:
    return user_datasets(data_dir if data_dir is not None else default_data_dir())


def resolve(spec: DatasetSpec, data_dir: Path | None = None) -> DatasetSpec:
    """Make a file path absolute so the spec stays valid from any working directory.

    Registry names and the user's registered dataset names (in ``data_dir``, else
    :func:`default_data_dir`) are left alone: a registered name wins over a same-named file.
    A symbolic-link loop is a UsageError naming it.
    """
    name = spec.dataset
    if name in registry():
        return spec
    if not _looks_like_path(name) and name in _user_dataset_names(data_dir):
        return spec
    p = Path(name).expanduser()
    if p.exists() or p.is_symlink() or _looks_like_path(name):
        return DatasetSpec(str(absolute_path(p)), spec.columns, spec.sep)
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
    progress: ProgressBar | None = None,
) -> Dataset:
    """Load a dataset by registry name, user dataset name or path.

    With ``cache_dir``, parsed data is cached there, and downloaded/imported/user datasets are
    looked up there (else in :func:`default_data_dir`). A registry dataset that is not installed
    raises a DataError naming the ``recbench datasets download`` / ``import`` command, unless
    ``download=True`` (or ``$RECBENCH_AUTO_DOWNLOAD=1``) allows fetching it now; ``progress``
    then receives the download's progress. What looks wrong in the data (negative ratings,
    ratings off the scale, control characters) is listed in ``dataset.source["warnings"]``.
    """
    if isinstance(spec, str):
        spec = DatasetSpec(spec)
    reg = registry()
    if spec.dataset in reg:
        entry = get_entry(spec.dataset)
        if spec.columns or spec.sep:
            raise UsageError("--columns and --sep apply to files, not to registry datasets")
        if entry.bundled:
            return _load_bundled(entry, reg[spec.dataset], cache_dir)
        return _load_installed(entry, cache_dir, _auto_download(download), progress)
    path = Path(spec.dataset).expanduser()
    looks_like_path = _looks_like_path(spec.dataset)
    users: dict[str, UserDataset] = {}
    if not looks_like_path:
        users = _user_dataset_names(cache_dir)
        if spec.dataset in users:
            if spec.columns or spec.sep:
                raise UsageError(
                    f"--columns and --sep apply to files; '{spec.dataset}' is a registered "
                    "dataset (re-add it with `recbench datasets add --force` to change them)"
                )
            return load_user_dataset(users[spec.dataset], cache_dir)
    if path.exists() or path.is_symlink():
        return _load_file(path, spec, cache_dir)
    if looks_like_path:
        raise DataError(f"ratings file not found: {path}")
    names = sorted({*reg, *users})
    raise UsageError(
        f"unknown dataset '{spec.dataset}'{suggest(spec.dataset, names)} "
        f"(available: {', '.join(names)}; or give a path to a CSV/TSV/Parquet file)"
    )


def _load_bundled(entry: DatasetEntry, raw: dict[str, Any], cache_dir: Path | None) -> Dataset:
    """A dataset shipped inside the package, checked against its pinned member checksums."""
    name = entry.name
    root = datasets_root() / name
    sums = []
    for member, expected in raw.get("members", {}).items():
        path = root / member
        if not path.exists():
            raise DataError(f"bundled dataset {name}: {member} is missing from {root}")
        got = cache.sha256_file(path)
        if got != expected:
            raise DataError(
                f"bundled dataset {name}: {member} fails its checksum "
                f"(sha256 {got[:12]}…, expected {expected[:12]}…); reinstall recbench"
            )
        sums.append(f"{member}:{got}")

    def build(checksum: str) -> Dataset:
        return _release_dataset(entry, root, checksum, {"kind": "bundled", "path": str(root)})

    return cache.cached(cache_dir, name, [*sums, "parser", PARSER_VERSION], build)


def _release_dataset(
    entry: DatasetEntry, root: Path, checksum: str, source: dict[str, Any]
) -> Dataset:
    """Parse a registry release in ``root`` into a Dataset with the entry's metadata;
    ``source`` says where the files came from (the parser's own notes are added to it)."""
    parsed = read_release(entry.format, root)
    return build_dataset(
        entry.name,
        parsed.ratings,
        item_features=parsed.item_features,
        user_features=parsed.user_features,
        checksum=checksum,
        rating_scale=entry.rating_scale,
        license=entry.license,
        citation=entry.citation,
        source={**source, **parsed.info},
    )


def _load_installed(
    entry: DatasetEntry,
    cache_dir: Path | None,
    download: bool,
    progress: ProgressBar | None,
) -> Dataset:
    """A downloaded or imported registry dataset from the data directory."""
    name = entry.name
    data_dir = cache_dir if cache_dir is not None else default_data_dir()
    if read_install_manifest(data_dir, name) is None:
        if not download:
            raise DataError(not_installed_message(name))
        download_dataset(name, data_dir, progress=progress)
    manifest = check_installed(data_dir, name)
    root = installed_dir(data_dir, name)
    sums = [f"{rel}:{info['sha256']}" for rel, info in sorted(manifest["files"].items())]

    def build(checksum: str) -> Dataset:
        verification = manifest.get("verification") or {}
        source = {
            "kind": manifest.get("action", "installed"),
            "path": str(root),
            "origin": manifest.get("origin", ""),
            "verification": verification.get("status", "unverified"),
        }
        return _release_dataset(entry, root, checksum, source)

    key = [*sums, "format", entry.format, "parser", PARSER_VERSION, FORMAT_VERSION]
    return cache.cached(cache_dir, name, key, build)


def _load_file(path: Path, spec: DatasetSpec, cache_dir: Path | None) -> Dataset:
    """A ratings file given by path (CSV/TSV/Parquet, or Netflix format)."""
    check_ratings_path(path)
    netflix = looks_like_netflix(path)
    if netflix and (spec.columns or spec.sep):
        raise UsageError(f"{path} is in Netflix-Prize format; --columns and --sep do not apply")
    columns = parse_columns(spec.columns)
    sep = decode_sep(spec.sep)
    file_sum = cache.file_sha256(path, cache_dir)
    fmt = ["format=netflix", FORMAT_VERSION] if netflix else []

    def build(checksum: str) -> Dataset:
        ratings = read_netflix(path) if netflix else read_ratings_file(path, columns, sep)
        return build_dataset(
            path.name,
            ratings,
            checksum=checksum,
            source={"kind": "file", "path": str(path.resolve()), "sha256": file_sum},
        )

    key = [file_sum, f"columns={columns}", f"sep={sep!r}", *fmt, "parser", PARSER_VERSION]
    return cache.cached(cache_dir, path.name, key, build)


def available(cache_dir: Path | None = None) -> list[dict[str, Any]]:
    """One row per dataset (built-in, then the user's): counts, license, where it stands now.

    ``status`` is ``bundled``, ``downloaded``, ``imported``, ``user``, ``not downloaded`` or
    ``import needed``; ``available`` says whether it loads offline now.
    """
    data_dir = cache_dir if cache_dir is not None else default_data_dir()
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


def all_datasets(cache_dir: Path | None) -> dict[str, dict[str, Any]]:
    """Built-in registry entries plus the user's datasets in ``cache_dir``, as plain dicts.

    Each dict has ``kind`` = ``"builtin"`` or ``"user"``; built-in names win (``add`` refuses
    to shadow them anyway).
    """
    out: dict[str, dict[str, Any]] = {
        name: {**raw, "kind": "builtin"} for name, raw in registry().items()
    }
    for name, ds in user_datasets(cache_dir).items():
        out.setdefault(name, ds.to_dict())
    return out
