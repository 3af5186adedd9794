"""The built-in dataset registry: specs as data (``datasets/registry.toml``).

Entries are read once into :class:`BuiltinDataset` records, validated (unknown keys, formats and
malformed checksums are errors). Users' own datasets are in :mod:`recbench.data.user_datasets`.
Nothing here downloads, prints or writes.
"""

from __future__ import annotations

import re
import sys
from dataclasses import asdict, dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any

from recbench.data.formats import get_format, release_formats
from recbench.errors import DataError, UsageError, suggest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MIRROR_ENV = "RECBENCH_MIRROR"


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
class BuiltinDataset:
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
    #: files fetched one by one (no archive): each from ``<url>/<file>``, ``urls`` being base
    #: URLs tried in order (a mirror serves ``<mirror>/<file>``)
    files: tuple[str, ...] = ()
    #: ``given``: the data comes with its own train/test split (``--split given``; ``tune``
    #: carves its validation from the given training part)
    split: str | None = None
    size: str = ""
    homepage: str = ""
    license: str = ""
    citation: str = ""
    notes: str = ""

    @classmethod
    def from_toml(cls, name: str, raw: dict[str, Any]) -> BuiltinDataset:
        """Validate one registry table; unknown keys are errors so typos cannot hide."""
        known = {f.name for f in fields(cls)} - {"name"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise DataError(f"registry entry {name}: unknown key '{unknown[0]}'")
        for key in ("title", "format"):
            if not raw.get(key):
                raise DataError(f"registry entry {name}: '{key}' is required")
        if raw["format"] not in release_formats():
            raise DataError(f"registry entry {name}: unknown format '{raw['format']}'")
        if raw.get("split") not in (None, "given"):
            raise DataError(f"registry entry {name}: split must be 'given', not {raw['split']!r}")
        if raw.get("split") and not get_format(raw["format"]).split:
            raise DataError(f"registry entry {name}: format {raw['format']} has no given split")
        data = dict(raw)
        for key in ("urls", "features", "files"):
            data[key] = tuple(data.get(key, ()))
        if "rating_scale" in data:
            lo, hi = data["rating_scale"]
            data["rating_scale"] = (float(lo), float(hi))
        data["members"] = dict(data.get("members", {}))
        for digest in (data.get("archive_md5"), *data["members"].values()):
            if digest is not None and not re.fullmatch(
                r"[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64}", digest
            ):
                raise DataError(f"registry entry {name}: '{digest}' is not a hex checksum")
        return cls(name=name, **data)

    @property
    def get_verb(self) -> str:
        """The ``recbench datasets`` command that installs it: ``import`` or ``download``."""
        return "import" if self.import_only else "download"

    @property
    def pinned(self) -> bool:
        """Whether any published checksum (archive or members) can verify a copy."""
        return bool(self.archive_md5 or self.archive_sha256 or self.members)

    def download_urls(self, mirror: str | None = None) -> list[str]:
        """Where to fetch the archive: the mirror (base URL or directory) or the registry URLs.
        For an entry of ``files``, the base URLs (the mirror's, or the registry's)."""
        if self.files:
            return [mirror.rstrip("/")] if mirror else list(self.urls)
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
def _entries() -> dict[str, BuiltinDataset]:
    return {name: BuiltinDataset.from_toml(name, raw) for name, raw in registry().items()}


def entries() -> dict[str, BuiltinDataset]:
    """Every built-in dataset, by name."""
    return dict(_entries())


def not_installed_message(name: str) -> str:
    """How to get a registry dataset that is not in the data directory yet."""
    entry = _entries().get(name)
    if entry is None:
        return f"dataset '{name}' is not installed"
    if entry.import_only:
        return (
            f"dataset '{name}' is not installed and has no public download: get the data "
            f"({entry.homepage or 'see its license'}) and run "
            f"`recbench datasets import {name} PATH`"
        )
    return (
        f"dataset '{name}' is not downloaded yet: run `recbench datasets download {name}` "
        f"(or `recbench datasets import {name} PATH` for a copy you already have)"
    )


def get_entry(name: str) -> BuiltinDataset:
    """The built-in entry called ``name`` (a one-line UsageError naming close matches if none)."""
    found = _entries().get(name)
    if found is None:
        raise UsageError(
            f"unknown dataset '{name}'{suggest(name, _entries())} "
            f"(built-in: {', '.join(sorted(_entries()))})"
        )
    return found
