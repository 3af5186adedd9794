"""Item features of a user dataset: a CSV/TSV/Parquet table with an item id column.

Read beside the ratings when a user dataset names ``--item-features`` (the read step of the
loading line, :func:`recbench.data.sources.read_source`).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pandas as pd

from recbench.data.netflix import read_netflix_titles
from recbench.data.ratings_file import HEADER_ALIASES
from recbench.data.tabular import arrow_message, title_features
from recbench.errors import DataError


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
        if fmt.startswith("netflix") and re.match(r"\d+\s*,", first):
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
