"""The one reader table: every data format recbench reads, as a record.

A registry entry names its format (``format = "movielens-csv"``); a user dataset or a file given
by path gets one when it is resolved (:func:`recbench.data.sources.resolve_source`). A record
says how to read the format (``reader``, a ``module:function`` imported only when a dataset is
read, so importing this table or the registry imports no reader), how repeated pairs are
resolved (``dedup``), which read options apply, and, for published releases, how installing
recognises the release's root directory in an archive. Adding a format (a sequence log, a
release with a given split) is one :class:`Format` record here plus its reader.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from recbench.errors import DataError

if TYPE_CHECKING:
    from recbench.data.model import Dedup
    from recbench.data.tabular import Parsed

#: Part of every parsed dataset's cache key (:func:`recbench.data.sources.fingerprint`): bump
#: it when a reader's output or the built dataset changes. 2: rows keep their event order.
FORMAT_VERSION = "2"


@dataclass(frozen=True)
class ReadOptions:
    """How a user's file is read: column roles in file order and the field separator."""

    columns: tuple[str, ...] | None = None
    sep: str | None = None


@dataclass(frozen=True)
class Format:
    """How one data format is read and recognised.

    ``kind``: ``release`` (a published directory of files, read from its root) or ``file`` (a
    user's ratings file, read with :class:`ReadOptions`). ``reader`` is ``module:function``:
    ``f(root) -> Parsed`` for releases, ``f(path, options) -> Parsed`` for files. ``options``
    lists the read options that apply. ``dedup`` is the policy for repeated pairs. For
    releases: ``key_files`` (any one marks the root directory), ``required_files`` (the root
    must hold all of them) and ``member_pattern`` (a further file-name pattern that marks a
    root, Netflix's ``mv_*.txt``).
    """

    name: str
    kind: Literal["release", "file"]
    reader: str
    summary: str
    dedup: Dedup = "latest"
    options: tuple[str, ...] = ()
    key_files: tuple[str, ...] = ()
    required_files: tuple[str, ...] = ()
    member_pattern: str | None = None

    def is_root(self, names: set[str]) -> bool:
        """Whether a directory holding files called ``names`` is this release's root."""
        if any(k in names for k in self.key_files):
            return True
        if self.member_pattern is None:
            return False
        pattern = re.compile(self.member_pattern)
        return any(pattern.search(n) for n in names)

    def read(self, path: Path, options: ReadOptions) -> Parsed:
        """Parse ``path`` (a release root or a ratings file) with this format's reader."""
        module, func = self.reader.split(":")
        reader: Any = getattr(importlib.import_module(module), func)
        result: Parsed = reader(path) if self.kind == "release" else reader(path, options)
        return result


_ML = "recbench.data.movielens"
_FILE = "recbench.data.ratings_file"
_TABLE = ("columns", "sep")

FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format(
            "ml-100k",
            "release",
            f"{_ML}:read_ml100k",
            "MovieLens 100K (u.data, u.item, u.user)",
            key_files=("u.data",),
            required_files=("u.data", "u.item"),
        ),
        Format(
            "movielens-dat",
            "release",
            f"{_ML}:read_movielens_dat",
            "MovieLens ::-separated releases (ml-1m, ml-10m)",
            key_files=("ratings.dat",),
            required_files=("ratings.dat", "movies.dat"),
        ),
        Format(
            "movielens-csv",
            "release",
            f"{_ML}:read_movielens_csv_release",
            "MovieLens CSV releases (ml-latest, ml-20m, ml-25m, ml-32m)",
            key_files=("ratings.csv",),
            required_files=("ratings.csv", "movies.csv"),
        ),
        Format(
            "netflix",
            "release",
            "recbench.data.netflix:read_netflix_release",
            "Netflix Prize release (training_set, movie_titles)",
            key_files=("training_set.tar", "combined_data_1.txt", "training_set"),
            member_pattern=r"(?:^|/)mv_\d+\.txt$",  # netflix.MV_FILE,
        ),
        Format("csv", "file", f"{_FILE}:read_csv", "CSV ratings file", options=_TABLE),
        Format("tsv", "file", f"{_FILE}:read_tsv", "TSV ratings file", options=_TABLE),
        Format("parquet", "file", f"{_FILE}:read_parquet", "Parquet ratings file", options=_TABLE),
        Format(
            "table",
            "file",
            f"{_FILE}:read_table",
            "CSV, TSV or Parquet ratings file, told apart by suffix and content",
            options=_TABLE,
        ),
        Format(
            "netflix-ratings",
            "file",
            "recbench.data.netflix:read_netflix_ratings",
            "Netflix-Prize-format ratings (a file, a directory of mv_*.txt or an archive)",
        ),
        Format(
            "lightgcn",
            "file",
            "recbench.data.lightgcn:read_lightgcn",
            "LightGCN/NGCF split: a directory of train.txt, test.txt (valid.txt), "
            "'user item item ...' lines",
            key_files=("train.txt",),
            required_files=("train.txt", "test.txt"),
        ),
    )
}


def get_format(name: str) -> Format:
    """The record of format ``name`` (a DataError for an unknown one)."""
    try:
        return FORMATS[name]
    except KeyError:
        raise DataError(f"unknown dataset format '{name}'") from None


def release_formats() -> list[str]:
    """Names of the formats a registry entry may name (published releases)."""
    return [name for name, f in FORMATS.items() if f.kind == "release"]


def find_root(fmt: str, path: Path, max_depth: int = 3) -> Path | None:
    """The directory under ``path`` (itself or a descendant, breadth first) that is the format's
    root (holds a key file); unreadable directories are skipped."""
    record = get_format(fmt)
    frontier = [Path(path)]
    for _ in range(max_depth + 1):
        nxt: list[Path] = []
        for d in sorted(frontier):
            try:
                children = sorted(d.iterdir())
            except OSError:
                continue
            if record.is_root({c.name for c in children}):
                return d
            nxt.extend(c for c in children if c.is_dir() and not c.name.startswith("."))
        frontier = nxt
    return None


__all__ = [
    "FORMATS",
    "FORMAT_VERSION",
    "Format",
    "ReadOptions",
    "find_root",
    "get_format",
    "release_formats",
]
