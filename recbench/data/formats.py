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

#: how a module-level helper of a reader is named in a record: ``module:function``
_Ref = str


@dataclass(frozen=True)
class ReadOptions:
    """How a user's file is read: column roles in file order and the field separator; for a
    given split of tables, the other parts' files as (part, path) pairs (the source's path is
    the training file)."""

    columns: tuple[str, ...] | None = None
    sep: str | None = None
    parts: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Format:
    """How one data format is read and recognised.

    ``kind``: ``release`` (a published directory of files, read from its root) or ``file`` (a
    user's ratings file, read with :class:`ReadOptions`). ``reader`` is ``module:function``:
    ``f(root) -> Parsed`` for releases, ``f(path, options) -> Parsed`` for files. ``options``
    lists the read options that apply. ``dedup`` is the policy for repeated pairs. For
    releases: ``key_files`` (any one marks the root directory), ``required_files`` (the root
    must hold all of them) and ``member_pattern`` (a further file-name pattern that marks a
    root, Netflix's ``mv_*.txt``). ``files`` (``module:function``, ``f(path, options) ->
    [Path]``) lists the files a source of a multi-file format reads, which its cache key
    covers (else the path itself); ``detect`` (``f(path) -> bool``) recognises a path given to
    ``--dataset`` as this format where the shape is unambiguous; ``split`` says the format
    comes with its own train/test parts (``--split given``); ``sequence`` that it holds
    next-item sequences, so ``--split`` defaults to ``leave-one-out`` for it.
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
    files: _Ref | None = None
    detect: _Ref | None = None
    split: bool = False
    sequence: bool = False

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
        reader: Any = _resolve(self.reader)
        result: Parsed = reader(path) if self.kind == "release" else reader(path, options)
        return result

    def source_files(self, path: Path, options: ReadOptions) -> list[Path] | None:
        """The files a source of this format reads (None: just ``path``, or a release)."""
        if self.files is None:
            return None
        found: list[Path] = _resolve(self.files)(path, options)
        return found

    def matches(self, path: Path) -> bool:
        """Whether ``path`` has this format's unambiguous shape (never for formats without a
        ``detect`` function)."""
        return self.detect is not None and bool(_resolve(self.detect)(path))


def _resolve(ref: _Ref) -> Any:
    module, func = ref.split(":")
    return getattr(importlib.import_module(module), func)


_ML = "recbench.data.movielens"
_LGCN = "recbench.data.lightgcn"
_RB = "recbench.data.recbole"
_SEQ = "recbench.data.sequence_files"
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
            "release",
            f"{_LGCN}:read_lightgcn",
            "LightGCN/NGCF split: a directory of train.txt, test.txt (valid.txt), "
            "'user item item ...' lines",
            key_files=("train.txt",),
            required_files=("train.txt", "test.txt"),
            files=f"{_LGCN}:lightgcn_files",
            detect=f"{_LGCN}:is_lightgcn_dir",
            split=True,
        ),
        Format(
            "recbole-split",
            "file",
            f"{_RB}:read_recbole_split",
            "RecBole benchmark split: a directory of NAME.train.inter, NAME.valid.inter "
            "(optional), NAME.test.inter (+ NAME.item)",
            files=f"{_RB}:recbole_split_files",
            detect=f"{_RB}:is_recbole_split",
            split=True,
        ),
        Format(
            "ncf",
            "file",
            "recbench.data.ncf:read_ncf",
            "NCF split: a directory of NAME.train.rating, NAME.test.rating "
            "(+ NAME.test.negative, checked, not used)",
            files="recbench.data.ncf:ncf_files",
            detect="recbench.data.ncf:is_ncf_dir",
            split=True,
        ),
        Format(
            "given-tables",
            "file",
            "recbench.data.given_tables:read_given_tables",
            "A given split as CSV/TSV/Parquet tables: --train FILE --test FILE (--valid FILE)",
            options=_TABLE,
            files="recbench.data.given_tables:table_files",
            split=True,
        ),
        Format(
            "recbole",
            "file",
            f"{_RB}:read_recbole",
            "RecBole atomic files: NAME.inter (typed header) + NAME.item features; a file or "
            "a directory holding one",
            dedup="none",
            files=f"{_RB}:recbole_files",
            detect=f"{_RB}:looks_like_recbole",
        ),
        Format(
            "sasrec",
            "file",
            f"{_SEQ}:read_sasrec",
            "SASRec sequences: 'user item' lines, each user's in time order (file order; no "
            "timestamps)",
            dedup="none",
            sequence=True,
        ),
        Format(
            "s3rec",
            "file",
            f"{_SEQ}:read_s3rec",
            "S3-Rec sequences: one 'user item item ...' line per user in time order (file "
            "order; no timestamps) + NAME_item2attributes.json features",
            dedup="none",
            files=f"{_SEQ}:s3rec_files",
            detect=f"{_SEQ}:looks_like_s3rec",
            sequence=True,
        ),
        Format(
            "amazon",
            "file",
            "recbench.data.amazon:read_amazon",
            "Amazon reviews, JSON lines (2014/2018 or 2023 keys), gzip or not",
            dedup="none",
            detect="recbench.data.amazon:looks_like_amazon",
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


def detect_format(path: Path) -> str | None:
    """The format whose shape ``path`` unambiguously has (in table order), or None."""
    for record in FORMATS.values():
        if record.matches(path):
            return record.name
    return None


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
    "detect_format",
    "find_root",
    "get_format",
    "release_formats",
]
