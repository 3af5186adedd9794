"""Release formats as records: one table says, per format, how to read it and how to find it.

A registry entry names its format (``format = "movielens-csv"``); installing looks for the
format's key files to find the release's root directory inside an archive and checks its
required files, and loading calls its reader. Adding a format is one :class:`ReleaseFormat`
record in :data:`RELEASE_FORMATS` plus its reader.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from recbench.data.movielens import read_ml100k, read_movielens_csv_release, read_movielens_dat
from recbench.data.netflix import MV_FILE, read_netflix_release
from recbench.data.tabular import Parsed
from recbench.errors import DataError

#: Part of every parsed dataset's cache key: bump it when a reader's output changes.
FORMAT_VERSION = "1"


@dataclass(frozen=True)
class ReleaseFormat:
    """How one published release format is read and recognised.

    ``key_files``: any one of them marks the release's root directory; ``required_files``: the
    root must hold all of them for ``reader`` to work; ``member_pattern``: a further file-name
    pattern that marks a root (Netflix's ``mv_*.txt``).
    """

    name: str
    reader: Callable[[Path], Parsed]
    key_files: tuple[str, ...]
    required_files: tuple[str, ...] = ()
    member_pattern: str | None = None

    def is_root(self, names: set[str]) -> bool:
        """Whether a directory holding files called ``names`` is this format's root."""
        if any(k in names for k in self.key_files):
            return True
        if self.member_pattern is None:
            return False
        pattern = re.compile(self.member_pattern)
        return any(pattern.search(n) for n in names)


RELEASE_FORMATS: dict[str, ReleaseFormat] = {
    f.name: f
    for f in (
        ReleaseFormat("ml-100k", read_ml100k, ("u.data",), ("u.data", "u.item")),
        ReleaseFormat(
            "movielens-dat", read_movielens_dat, ("ratings.dat",), ("ratings.dat", "movies.dat")
        ),
        ReleaseFormat(
            "movielens-csv",
            read_movielens_csv_release,
            ("ratings.csv",),
            ("ratings.csv", "movies.csv"),
        ),
        ReleaseFormat(
            "netflix",
            read_netflix_release,
            ("training_set.tar", "combined_data_1.txt", "training_set"),
            member_pattern=MV_FILE.pattern,
        ),
    )
}


def release_format(name: str) -> ReleaseFormat:
    """The record of format ``name`` (a DataError for an unknown one)."""
    try:
        return RELEASE_FORMATS[name]
    except KeyError:
        raise DataError(f"unknown dataset format '{name}'") from None


def read_release(fmt: str, root: Path) -> Parsed:
    """Parse an installed dataset directory with the reader of ``fmt``."""
    return release_format(fmt).reader(root)


def find_root(fmt: str, path: Path, max_depth: int = 3) -> Path | None:
    """The directory under ``path`` (itself or a descendant, breadth first) that is the format's
    root (holds a key file); unreadable directories are skipped."""
    record = release_format(fmt)
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
    "FORMAT_VERSION",
    "RELEASE_FORMATS",
    "ReleaseFormat",
    "find_root",
    "read_release",
    "release_format",
]
