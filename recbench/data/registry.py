"""The dataset registry: built-in specs (datasets/registry.toml) and users' own datasets.

Built-in entries are data, read once into :class:`DatasetEntry` records. Users' own datasets
(``recbench datasets add``) live in ``<data_dir>/user-datasets.json`` as
:class:`UserDataset` records that point at the user's files, so ``--dataset NAME`` works in every
command. Nothing here downloads, prints or creates directories except :func:`save_user_dataset` /
:func:`delete_user_dataset`, which write that one JSON file atomically.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import Any

from recbench.errors import DataError, UsageError, suggest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: Parsers a registry entry may name (see recbench/data/formats.py).
FORMATS = ("movielens-csv", "ml-100k", "movielens-dat", "netflix")
#: Formats of users' own datasets (``recbench datasets add --format``).
USER_FORMATS = ("csv", "tsv", "parquet", "netflix")
USER_REGISTRY = "user-datasets.json"
MIRROR_ENV = "RECBENCH_MIRROR"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def datasets_root() -> Path:
    """The registry/bundled-data directory: inside the wheel, or the source tree's datasets/."""
    here = Path(__file__).resolve().parent.parent
    for cand in (here / "_datasets", here.parent / "datasets"):
        if (cand / "registry.toml").exists():
            return cand
    raise DataError("recbench's dataset registry is missing from this installation")


@cache
def registry() -> dict[str, dict[str, Any]]:
    """The built-in registry as plain dicts (one per dataset), exactly as written in the TOML."""
    with (datasets_root() / "registry.toml").open("rb") as fh:
        return tomllib.load(fh)


@dataclass(frozen=True)
class DatasetEntry:
    """One built-in dataset: where it comes from, how to verify and parse it, what it holds."""

    name: str
    title: str
    format: str
    bundled: bool = False
    import_only: bool = False
    urls: tuple[str, ...] = ()
    archive: str | None = None
    archive_md5: str | None = None
    archive_sha256: str | None = None
    members: dict[str, str] = field(default_factory=dict)
    ratings: int | None = None
    users: int | None = None
    items: int | None = None
    rating_scale: tuple[float, float] | None = None
    features: tuple[str, ...] = ()
    size: str = ""
    homepage: str = ""
    license: str = ""
    citation: str = ""
    notes: str = ""

    @classmethod
    def from_toml(cls, name: str, raw: dict[str, Any]) -> DatasetEntry:
        """Validate one registry table; unknown keys are errors so typos cannot hide."""
        known = {f.name for f in fields(cls)} - {"name"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise DataError(f"registry entry {name}: unknown key '{unknown[0]}'")
        for key in ("title", "format"):
            if not raw.get(key):
                raise DataError(f"registry entry {name}: '{key}' is required")
        if raw["format"] not in FORMATS:
            raise DataError(f"registry entry {name}: unknown format '{raw['format']}'")
        data = dict(raw)
        for key in ("urls", "features"):
            data[key] = tuple(data.get(key, ()))
        if "rating_scale" in data:
            lo, hi = data["rating_scale"]
            data["rating_scale"] = (float(lo), float(hi))
        data["members"] = dict(data.get("members", {}))
        for digest in (data.get("archive_md5"), *data["members"].values()):
            if digest is not None and not re.fullmatch(r"[0-9a-f]{32}|[0-9a-f]{64}", digest):
                raise DataError(f"registry entry {name}: '{digest}' is not a hex checksum")
        return cls(name=name, **data)

    @property
    def pinned(self) -> bool:
        """Whether any published checksum (archive or members) can verify a copy."""
        return bool(self.archive_md5 or self.archive_sha256 or self.members)

    def download_urls(self, mirror: str | None = None) -> list[str]:
        """Where to fetch the archive: the mirror (base URL or directory) or the registry URLs."""
        if mirror:
            if not self.archive:
                raise UsageError(f"{self.name} has no archive name a mirror could serve")
            return [mirror.rstrip("/") + "/" + self.archive]
        return list(self.urls)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["kind"] = "builtin"
        return out


@cache
def _entries() -> dict[str, DatasetEntry]:
    return {name: DatasetEntry.from_toml(name, raw) for name, raw in registry().items()}


def entries() -> dict[str, DatasetEntry]:
    """Every built-in dataset, by name."""
    return dict(_entries())


def get_entry(name: str) -> DatasetEntry:
    """The built-in entry called ``name`` (a one-line UsageError naming close matches if none)."""
    found = _entries().get(name)
    if found is None:
        raise UsageError(
            f"unknown dataset '{name}'{suggest(name, _entries())} "
            f"(built-in: {', '.join(sorted(_entries()))})"
        )
    return found


# --- users' own datasets -----------------------------------------------------------------------


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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_user_dataset(data_dir: Path, ds: UserDataset) -> None:
    """Add or replace one user dataset in ``<data_dir>/user-datasets.json`` (atomic write)."""
    from recbench.data.store import io_errors, lock  # local: store imports this module

    with io_errors(f"writing {_user_registry_path(data_dir)}"), lock(data_dir, "user-datasets"):
        items = user_datasets(data_dir)
        items[ds.name] = ds
        _write_user_registry(data_dir, items)


def delete_user_dataset(data_dir: Path, name: str) -> bool:
    """Forget one user dataset (their files are left alone); False when it was not registered."""
    from recbench.data.store import io_errors, lock

    with io_errors(f"writing {_user_registry_path(data_dir)}"), lock(data_dir, "user-datasets"):
        items = user_datasets(data_dir)
        if name not in items:
            return False
        del items[name]
        _write_user_registry(data_dir, items)
    return True


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


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
