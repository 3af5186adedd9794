"""Building blocks shared by the format readers: fields of text lines, ids, typed delimited reads.

The readers of each release (:mod:`recbench.data.movielens`, :mod:`recbench.data.netflix`)
return a :class:`Parsed`; these helpers split text into fields vectorised, convert ids with
errors that name the file and line, read large header-less files with pyarrow, and derive
title features (title, year, words).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from recbench.errors import DataError

_YEAR = re.compile(r"\((\d{4})\)\s*$")
_WORD = re.compile(r"[a-z0-9]+")


@dataclass
class Parsed:
    """What a format reader returns; loading turns it into a Dataset."""

    ratings: pd.DataFrame
    item_features: pd.DataFrame | None = None
    user_features: pd.DataFrame | None = None
    info: dict[str, Any] = field(default_factory=dict)


def read_utf8(path: Path) -> str:
    """A UTF-8 text file's text; a file that cannot be read or decoded is a one-line DataError
    naming it (the published readers' shared first step)."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None


def decode_text(path: Path) -> str:
    """Text of a small metadata file: UTF-8 when valid, else latin-1 (MovieLens' old files)."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def split_fields(text: str, sep: str, n: int, path: Path) -> pd.DataFrame:
    """Split every non-blank line into exactly ``n`` fields on ``sep`` (vectorised).

    The last field keeps any further separators (titles and tags may contain them).
    """
    lines = pd.Series(text.splitlines(), dtype=object)
    lines = lines[lines.str.strip() != ""].reset_index(drop=True)
    if lines.empty:
        raise DataError(f"{path} is empty")
    parts = lines.str.split(sep, n=n - 1, regex=False, expand=True)
    if parts.shape[1] < n or parts[n - 1].isna().any():
        bad = 0 if parts.shape[1] < n else int(np.flatnonzero(parts[n - 1].isna())[0])
        raise DataError(f"{path}: line {bad + 1}: expected {n} fields separated by {sep!r}")
    return parts


def int_ids(values: pd.Series, path: Path, what: str) -> np.ndarray:
    num = pd.to_numeric(values.str.strip(), errors="coerce")
    if num.isna().any():
        row = int(np.flatnonzero(num.isna().to_numpy())[0])
        raise DataError(f"{path}: line {row + 1}: {what} {values.iloc[row]!r} is not a number")
    return num.to_numpy(np.int64)


def read_delimited(
    path: Path,
    delimiter: str,
    columns: dict[int, tuple[str, pa.DataType]],
    n_fields: int,
) -> pd.DataFrame:
    """Read a header-less single-character-delimited file with pyarrow (multi-threaded).

    ``columns`` maps field positions to (name, type); other fields are skipped. Used for the
    large rating files (``u.data``; ``ratings.dat`` read with ``:`` so ``::`` leaves empty
    fields between the values).
    """
    if not path.exists():
        raise DataError(f"{path} is missing")
    if path.stat().st_size == 0:
        raise DataError(f"ratings file {path} is empty")
    names = [f"f{i}" for i in range(n_fields)]
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, quote_char=False, double_quote=False
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={f"f{i}": t for i, (_, t) in columns.items()},
                include_columns=[f"f{i}" for i in columns],
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataError(f"{path}: malformed ({arrow_message(exc)})") from None
    out = {}
    for i, (name, _) in columns.items():
        col = table.column(f"f{i}")
        if col.null_count:
            row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            raise DataError(f"{path}: line {row + 1}: {name} is missing")
        out[name] = col.to_numpy()
    frame = pd.DataFrame(out)
    if len(frame) == 0:
        raise DataError(f"ratings file {path} is empty")
    return frame


def arrow_message(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text[:200]


def title_features(titles: pd.Series) -> pd.DataFrame:
    """title, year (from a trailing "(1995)") and lower-case title words."""
    titles = titles.fillna("").astype(str).str.strip()
    year = pd.to_numeric(titles.str.extract(_YEAR, expand=False), errors="coerce")
    clean = titles.str.replace(_YEAR, "", regex=True).str.strip()
    return pd.DataFrame(
        {
            "title": titles.to_numpy(),
            "year": year.astype("Int64").array,
            "title_words": clean.str.lower().str.findall(_WORD).str.join(" ").to_numpy(),
        }
    )


def drop_orphans(ratings: pd.DataFrame, items: pd.Index) -> tuple[pd.DataFrame, int]:
    orphan = ~np.isin(ratings["item"].to_numpy(), items.to_numpy())
    if orphan.any():
        ratings = ratings[~orphan].reset_index(drop=True)
    return ratings, int(orphan.sum())
