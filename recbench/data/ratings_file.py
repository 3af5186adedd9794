"""A user's ratings file (CSV / TSV / Parquet) -> the canonical frame (user, item, rating?,
timestamp?), with ``--columns`` / ``--sep`` handling and checks of what the path really is.

Every reader raises :class:`DataError` naming the file (and the line where one is at fault) for
empty, malformed or incomplete input, and :class:`UsageError` for a path that is not a ratings
file at all (a compressed file, a FIFO, a symbolic-link loop); none of them writes anything.
"""

from __future__ import annotations

import codecs
import csv
import errno
import os
import re
import stat
from pathlib import Path

import numpy as np
import pandas as pd

from recbench.data.archives import archive_kind
from recbench.data.formats import ReadOptions
from recbench.data.tabular import Parsed
from recbench.errors import DataError, UsageError

ROLES = ("user", "item", "rating", "timestamp")
SKIP = {"-", "_", "skip"}
#: Header names recognised when no ``--columns`` are given.
HEADER_ALIASES = {
    "user": {"user", "userid", "user_id", "uid", "customerid", "customer_id"},
    "item": {"item", "itemid", "item_id", "iid", "movieid", "movie_id"},
    "rating": {"rating", "ratings", "score", "value"},
    "timestamp": {"timestamp", "time", "ts", "date", "datetime"},
}
PARSER_VERSION = "1"


def parse_columns(spec: str | None) -> tuple[str, ...] | None:
    """Parse ``--columns user,item,rating,timestamp`` (``-`` skips a column)."""
    if spec is None:
        return None
    cols = tuple(c.strip().lower() for c in spec.split(","))
    for c in cols:
        if c not in ROLES and c not in SKIP:
            raise UsageError(
                f"--columns: unknown column role '{c}' (use {', '.join(ROLES)}, or - to skip)"
            )
    named = [c for c in cols if c in ROLES]
    dup = {c for c in named if named.count(c) > 1}
    if dup:
        raise UsageError(f"--columns: role '{sorted(dup)[0]}' given twice")
    if "user" not in named or "item" not in named:
        raise UsageError("--columns must name at least the user and item columns")
    return cols


def decode_sep(sep: str | None) -> str | None:
    """Turn ``'\\t'`` (or ``tab``) typed on a command line into a tab and ``space`` into a
    space; leave other separators alone."""
    if sep is None:
        return None
    if sep.lower() in {"tab", "tsv"}:
        return "\t"
    if sep.lower() == "space":
        return " "
    out = codecs.decode(sep, "unicode_escape") if "\\" in sep else sep
    if out == "":
        raise UsageError("--sep must not be empty")
    return out


#: Leading bytes of files that are not ratings text, and what to call them.
_MAGIC = (
    (b"\x1f\x8b", "gzip-compressed data", "decompress it first (gunzip -k FILE)"),
    (b"BZh", "bzip2-compressed data", "decompress it first (bunzip2 -k FILE)"),
    (b"\xfd7zXZ\x00", "xz-compressed data", "decompress it first (unxz -k FILE)"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data", "decompress it first (unzstd FILE)"),
    (b"PK\x03\x04", "a zip archive", "extract the ratings file from it"),
    (b"PK\x05\x06", "an (empty) zip archive", "extract the ratings file from it"),
)
_SPECIAL = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def check_path_exists(path: Path, what: str = "ratings file") -> os.stat_result:
    """``stat`` of ``path``: a UsageError for a symbolic-link loop, a DataError when missing."""
    try:
        return os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UsageError(f"{path} is a symbolic link loop, not a {what}") from None
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise DataError(f"{what} not found: {path}") from None
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None


def absolute_path(path: Path) -> Path:
    """``path`` made absolute with symbolic links resolved; a UsageError for a link loop."""
    try:
        return Path(path).expanduser().resolve()
    except (RuntimeError, OSError):  # Python < 3.13 raises RuntimeError for a loop
        check_path_exists(Path(path).expanduser())
        raise UsageError(f"{path} cannot be resolved to a file") from None


def check_ratings_path(path: Path, *, archives_ok: bool = False) -> bytes:
    """Refuse a path that is not a regular, uncompressed ratings file, saying what it is.

    Checked before the file is opened for hashing or parsing: a FIFO would block (and be
    consumed by the first read), compressed data would parse as garbage. ``archives_ok`` lets a
    (possibly compressed) tar through: a Netflix ``training_set.tar``. Returns the first four
    bytes (``PAR1`` marks Parquet).
    """
    st = check_path_exists(path)
    if stat.S_ISDIR(st.st_mode):
        raise DataError(f"{path} is a directory; give the ratings file itself")
    for test, what in _SPECIAL:
        if test(st.st_mode):
            raise UsageError(
                f"{path} is {what}, not a regular file; save the ratings to a file first"
            )
    if st.st_size == 0:
        raise DataError(f"ratings file {path} is empty")
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    if archives_ok and archive_kind(path) == "tar":
        return head[:4]
    for magic, what, advice in _MAGIC:
        if head.startswith(magic):
            raise UsageError(
                f"{path} is {what}, not a CSV/TSV/Parquet ratings file; "
                + advice.replace("FILE", path.name)
            )
    if head[257:262] == b"ustar":
        raise UsageError(
            f"{path} is a tar archive, not a CSV/TSV/Parquet ratings file; "
            "extract the ratings file from it"
        )
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UsageError(f"{path} is UTF-16 text; save it as UTF-8 (or Parquet) first")
    if not head.startswith(b"PAR1") and _is_binary(head):
        raise UsageError(
            f"{path} is binary data, not a text ratings file (CSV/TSV) or a Parquet file"
        )
    return head[:4]


#: Control bytes that text files do carry (tab, newlines, form feed, escape).
_TEXT_CONTROLS = frozenset(b"\t\n\r\f\x1b")


def _is_binary(head: bytes) -> bool:
    """Whether a file's first bytes are not text: a NUL byte, or more than 5% control bytes.

    Text in any 8-bit encoding (UTF-8, Latin-1) has neither; images, executables, pickles and
    databases nearly always carry NULs in their first 512 bytes.
    """
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if (b < 0x20 and b not in _TEXT_CONTROLS) or b == 0x7F)
    return controls > 0.05 * len(head)


def _sniff_sep(first_line: str, path: Path) -> str:
    if path.suffix.lower() in {".tsv", ".tab"}:
        return "\t"
    for cand in ("::", "\t", ",", ";", "|"):
        if cand in first_line:
            return cand
    try:
        return csv.Sniffer().sniff(first_line, delimiters=",\t;| ").delimiter
    except csv.Error:
        return ","


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_ratings_file(
    path: Path,
    columns: tuple[str, ...] | None = None,
    sep: str | None = None,
    kind: str | None = None,
) -> pd.DataFrame:
    """Read a CSV/TSV/Parquet ratings file into the canonical frame.

    ``columns`` names each column's role in file order; without it the file needs a header whose
    names are recognised (``userId``, ``movieId``, ``rating``...). Text files get their header
    detected: a first line whose rating (or every) field is not a number is a header. ``kind``
    (``parquet``, ``csv`` or ``tsv``) overrides the guess from the file suffix.
    """
    magic = check_ratings_path(path)
    is_parquet = kind == "parquet" or (
        kind is None and (path.suffix.lower() in {".parquet", ".pq"} or magic == b"PAR1")
    )
    frame = _read_parquet(path, columns) if is_parquet else _read_text(path, columns, sep)
    return _canonicalise(frame, path, header_lines=frame.attrs.get("header_lines", 0))


def read_table(path: Path, options: ReadOptions) -> Parsed:
    """Reader of the ``table`` format: CSV, TSV or Parquet, told apart by suffix and content."""
    return Parsed(read_ratings_file(path, options.columns, options.sep))


def read_csv(path: Path, options: ReadOptions) -> Parsed:
    """Reader of the ``csv`` format (separator sniffed unless given)."""
    return Parsed(read_ratings_file(path, options.columns, options.sep, kind="csv"))


def read_tsv(path: Path, options: ReadOptions) -> Parsed:
    """Reader of the ``tsv`` format (tab-separated unless another separator is given)."""
    return Parsed(read_ratings_file(path, options.columns, options.sep or "\t", kind="tsv"))


def read_parquet(path: Path, options: ReadOptions) -> Parsed:
    """Reader of the ``parquet`` format."""
    return Parsed(read_ratings_file(path, options.columns, options.sep, kind="parquet"))


def _read_parquet(path: Path, columns: tuple[str, ...] | None) -> pd.DataFrame:
    try:
        raw = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types for a bad file
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from None
    if columns is not None:
        if len(columns) > raw.shape[1]:
            raise DataError(f"{path} has {raw.shape[1]} columns but --columns names {len(columns)}")
        _check_all_named(path, raw.shape[1], columns)
        rename = {raw.columns[i]: c for i, c in enumerate(columns) if c in ROLES}
        return raw[list(rename)].rename(columns=rename)
    return _by_header(raw, path)


def _by_header(raw: pd.DataFrame, path: Path) -> pd.DataFrame:
    rename: dict[str, str] = {}
    for col in raw.columns:
        key = str(col).strip().lower()
        for role, names in HEADER_ALIASES.items():
            if key in names and role not in rename.values():
                rename[col] = role
    missing = [r for r in ("user", "item") if r not in rename.values()]
    if missing:
        raise DataError(
            f"{path}: cannot tell which column is the {' and '.join(missing)} "
            f"(columns: {', '.join(map(str, raw.columns))}); pass --columns, "
            f"e.g. --columns {columns_hint(raw.shape[1])}"
        )
    return raw[list(rename)].rename(columns=rename)


def columns_hint(n_columns: int) -> str:
    """A ``--columns`` value for a file of ``n_columns`` columns, in the usual order
    (user, item, rating, timestamp; ``-`` skips the rest): what fits the count, not a guess
    about what the columns mean."""
    roles = ("user", "item", "rating", "timestamp")[: max(n_columns, 2)]
    return ",".join((*roles, *(["-"] * (n_columns - len(roles)))))


def _read_text(path: Path, columns: tuple[str, ...] | None, sep: str | None) -> pd.DataFrame:
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        first = fh.readline().rstrip("\r\n")
    if not first.strip():
        raise DataError(f"{path}: line 1 is blank; expected a header or a rating")
    sep = sep or _sniff_sep(first, path)
    fields = first.split(sep)
    if columns is None:
        if all(_is_number(f.strip()) for f in fields):
            raise DataError(
                f"{path} has no header: line 1 is all numbers ({', '.join(fields[:6])}); "
                f"name its {len(fields)} columns with --columns, e.g. --columns "
                f"{columns_hint(len(fields))} (- skips a column)"
                + (
                    "; a SASRec sequence file ('user item' in time order) is read with "
                    "`recbench datasets add NAME FILE --format sasrec`"
                    if len(fields) == 2 and sep == " "
                    else ""
                )
            )
        header = True
    elif "rating" in columns and columns.index("rating") < len(fields):
        header = not _is_number(fields[columns.index("rating")].strip())
    else:
        header = all(not _is_number(f.strip()) for f in fields)
    if columns is not None and len(fields) < len(columns):
        raise DataError(
            f"{path}: line 1 has {len(fields)} fields but --columns names {len(columns)} "
            f"(separator {sep!r}; set --sep if that is wrong)"
        )
    names = None
    if columns is not None:
        _check_all_named(path, len(fields), columns)
        names = [c if c in ROLES else f"_skip{i}" for i, c in enumerate(columns)]
    try:
        raw = pd.read_csv(
            path,
            sep=sep,
            header=0 if header else None,
            names=names,
            engine="python" if len(sep) > 1 else "c",
            skipinitialspace=True,
            encoding="utf-8",
            encoding_errors="replace",
            skip_blank_lines=True,
        )
    except pd.errors.EmptyDataError:
        raise DataError(f"ratings file {path} is empty") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{path}: {_parser_message(exc)}") from None
    raw = _by_header(raw, path) if columns is None else raw[[c for c in columns if c in ROLES]]
    raw.attrs["header_lines"] = 1 if header else 0
    return raw


def _check_all_named(path: Path, n_fields: int, columns: tuple[str, ...]) -> None:
    """``--columns`` must give every column a role or a ``-``: a shorter list is more often a
    wrong guess about the file than a wish to drop its last columns."""
    if n_fields > len(columns):
        extra = n_fields - len(columns)
        hint = ",".join((*columns, *(["-"] * extra)))
        raise UsageError(
            f"{path} has {n_fields} columns but --columns names {len(columns)}; name every "
            f"column, skipping unused ones with - (e.g. --columns {hint})"
        )


def _parser_message(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[-1]
    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text)
    if m:
        return f"line {m.group(2)}: expected {m.group(1)} fields, saw {m.group(3)}"
    return f"malformed file ({text})"


def _first_bad_line(mask: np.ndarray, header_lines: int, path: Path | None = None) -> int:
    """1-based line number in the file of the first flagged row.

    Blank lines are skipped by the parser, so on this (error-only) path the file is re-read to
    count them; Parquet files have no lines and report the row number.
    """
    row = int(np.flatnonzero(mask)[0])
    if path is None or path.suffix.lower() in {".parquet", ".pq"}:
        return row + 1 + header_lines
    seen = -header_lines
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, start=1):
            if seen < 0:
                seen += 1
                continue
            if line.strip():
                if seen == row:
                    return lineno
                seen += 1
    return row + 1 + header_lines


def _canonicalise(frame: pd.DataFrame, path: Path, header_lines: int) -> pd.DataFrame:
    """Check types and missing values; return user, item, rating?, timestamp? columns."""
    if len(frame) == 0:
        raise DataError(f"ratings file {path} has a header but no ratings")
    out: dict[str, np.ndarray] = {}
    for role in ("user", "item"):
        col = frame[role]
        missing = col.isna().to_numpy()
        if missing.any():
            line = _first_bad_line(missing, header_lines, path)
            raise DataError(f"{path}: line {line}: missing {role} id")
        if pd.api.types.is_float_dtype(col) and (col % 1 == 0).all():
            col = col.astype(np.int64)
        if pd.api.types.is_integer_dtype(col):
            out[role] = col.to_numpy(dtype=np.int64)
        else:
            out[role] = col.astype(str).str.strip().to_numpy(dtype=object)
    if "rating" in frame:
        num = pd.to_numeric(frame["rating"], errors="coerce")
        bad = num.isna().to_numpy() | ~np.isfinite(num.to_numpy(dtype=np.float64, na_value=0))
        if bad.any():
            line = _first_bad_line(bad, header_lines, path)
            value = frame["rating"].iloc[int(np.flatnonzero(bad)[0])]
            if pd.isna(value):
                raise DataError(f"{path}: line {line}: rating is missing")
            raise DataError(f"{path}: line {line}: rating {str(value)!r} is not a number")
        out["rating"] = num.to_numpy(dtype=np.float32)
    if "timestamp" in frame:
        out["timestamp"] = _timestamps(frame["timestamp"], path, header_lines)
    return pd.DataFrame(out)


def _timestamps(col: pd.Series, path: Path, header_lines: int) -> np.ndarray:
    """Integer epoch seconds, or dates / datetimes converted to epoch seconds."""
    num = pd.to_numeric(col, errors="coerce")
    if num.notna().all():
        return num.to_numpy(dtype=np.int64)
    # The first value decides the column's kind: epoch numbers or dates (any ISO-like mix).
    if pd.notna(num.iloc[0]):
        bad = num.isna().to_numpy()
        kind = "an epoch number"
        values = num
    else:
        dates = pd.to_datetime(col, errors="coerce", utc=True, format="mixed")
        bad = dates.isna().to_numpy()
        kind = "a date"
        values = dates
    if bad.any():
        line = _first_bad_line(bad, header_lines, path)
        value = col.iloc[int(np.flatnonzero(bad)[0])]
        shown = "missing" if pd.isna(value) else repr(str(value))
        raise DataError(f"{path}: line {line}: timestamp {shown} is not {kind}")
    if kind == "a date":
        return values.astype("datetime64[s, UTC]").astype(np.int64).to_numpy(dtype=np.int64)
    return values.to_numpy(dtype=np.int64)
