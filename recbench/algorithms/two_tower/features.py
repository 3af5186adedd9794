"""Feature encoding for the two towers (numpy and pandas only, no torch).

Items: genre codes, release decade and hashed title words and tags. Users: bucketed age and
categorical demographics, and their most recent (or best-rated) training items as a padded or
flat history.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import scipy.sparse as sp

# the within-user ranking the splitters use (ties broken by row position)
from recbench.split import rank_within_user

_WORD = re.compile(r"[a-z0-9]+")
_YEAR = re.compile(r"\((\d{4})\)")
#: release decades: 1 = before 1900, 2 = 1900s ... 14 = 2020s, 15 = later; 0 = unknown
N_DECADES = 15
#: age group edges (the MovieLens-1M groups): <18, 18-24, 25-34, 35-44, 45-49, 50-55, 56+
AGE_EDGES = np.array([18, 25, 35, 45, 50, 56])
#: categorical user-feature columns the user tower reads when the dataset has them
USER_CATEGORICAL = ("gender", "occupation")
MAX_GENRES = 16
MAX_WORDS = 32


def _pad_rows(rows: np.ndarray, codes: np.ndarray, n: int, cap: int) -> np.ndarray:
    """(n, width) int64 matrix holding each row's codes left-aligned, 0-padded, at most ``cap``.

    ``rows`` must be sorted (codes of one row contiguous, in the order they should keep).
    """
    counts = np.bincount(rows, minlength=n)
    starts = np.cumsum(counts) - counts
    pos = np.arange(len(rows)) - starts[rows]
    keep = pos < cap
    width = max(1, min(cap, int(counts.max(initial=0))))
    out = np.zeros((n, width), dtype=np.int64)
    out[rows[keep], pos[keep]] = codes[keep]
    return out


def _split_tokens(values: pd.Series, sep: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Flattened (row, token) pairs: pipe lists when ``sep`` is given, lowercase words otherwise."""
    text = values.fillna("").astype(str).str.lower()
    if sep is not None:
        lists = [[t.strip() for t in v.split(sep) if t.strip()] for v in text]
    else:
        lists = [_WORD.findall(v) for v in text]
    lengths = np.fromiter((len(t) for t in lists), np.int64, len(lists))
    rows = np.repeat(np.arange(len(lists)), lengths)
    return rows, np.array([t for row in lists for t in row], dtype=object)


def _title_words(frame: pd.DataFrame) -> pd.Series:
    if "title_words" in frame:
        return frame["title_words"]
    if "title" in frame:
        return frame["title"].fillna("").astype(str).str.replace(_YEAR, " ", regex=True)
    return pd.Series([""] * len(frame), index=frame.index)


def _years(frame: pd.DataFrame) -> np.ndarray:
    """Release year per item as float (NaN when unknown): the year column, else "(YYYY)"."""
    if "year" in frame:
        years = pd.to_numeric(frame["year"], errors="coerce")
    elif "title" in frame:
        years = pd.to_numeric(
            frame["title"].fillna("").astype(str).str.extract(_YEAR, expand=False), errors="coerce"
        )
    else:
        return np.full(len(frame), np.nan)
    return years.to_numpy(dtype=np.float64, na_value=np.nan)


def decade_codes(years: np.ndarray) -> np.ndarray:
    """Decade bucket per year (1..N_DECADES), 0 where the year is unknown."""
    out = np.zeros(len(years), dtype=np.int64)
    ok = np.isfinite(years)
    out[ok] = np.clip((years[ok] - 1900) // 10 + 2, 1, N_DECADES).astype(np.int64)
    return out


def genre_vocabulary(frame: pd.DataFrame | None) -> np.ndarray:
    """Sorted distinct genres (lowercase) of an item-feature frame; empty without genres."""
    if frame is None or "genres" not in frame:
        return np.array([], dtype=str)
    _, tokens = _split_tokens(frame["genres"], "|")
    return np.array(sorted(set(tokens.tolist())), dtype=str)


def hash_tokens(tokens: np.ndarray, buckets: int) -> np.ndarray:
    """Stable bucket (1..buckets) per token: pandas' keyed hash, the same in every process."""
    if not len(tokens):
        return np.zeros(0, dtype=np.int64)
    h = pd.util.hash_array(np.asarray(tokens, dtype=object))
    return (h % np.uint64(buckets)).astype(np.int64) + 1


def encode_items(
    frame: pd.DataFrame | None, n: int, genre_vocab: np.ndarray, buckets: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Item-tower inputs for ``n`` items: genre codes (n, G), decade (n,), word buckets (n, W).

    Genres unseen in ``genre_vocab`` are dropped (code 0 = padding). Title words are prefixed
    ``w:`` and whole tags ``t:`` before hashing, so a word and a tag never share a bucket by
    name. Items with no features get all-zero rows: the tower then leans on the id alone.
    """
    if frame is None:
        zeros = np.zeros((n, 1), dtype=np.int64)
        return zeros, np.zeros(n, dtype=np.int64), zeros.copy()
    frame = frame.reset_index(drop=True)
    if "genres" in frame:
        rows, toks = _split_tokens(frame["genres"], "|")
        codes = pd.Index(genre_vocab).get_indexer(toks).astype(np.int64) + 1
        keep = codes > 0
        genres = _pad_rows(rows[keep], codes[keep], n, MAX_GENRES)
    else:
        genres = np.zeros((n, 1), dtype=np.int64)
    decade = decade_codes(_years(frame))
    w_rows, w_toks = _split_tokens(_title_words(frame), None)
    parts_rows, parts_toks = [w_rows], [np.array(["w:" + t for t in w_toks], dtype=object)]
    if "tags" in frame:
        t_rows, t_toks = _split_tokens(frame["tags"], "|")
        parts_rows.append(t_rows)
        parts_toks.append(np.array(["t:" + t for t in t_toks], dtype=object))
    rows = np.concatenate(parts_rows)
    toks = np.concatenate(parts_toks) if len(rows) else np.array([], dtype=object)
    order = np.argsort(rows, kind="stable")
    words = _pad_rows(rows[order], hash_tokens(toks[order], buckets), n, MAX_WORDS)
    return genres, decade, words


def user_feature_layout(frame: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which user-feature columns the tower reads: (columns, sizes, flattened vocabularies).

    ``age`` becomes len(AGE_EDGES)+1 age groups (no vocabulary); each of USER_CATEGORICAL that is
    present gets its sorted distinct values. Everything else (e.g. zip codes) is ignored.
    """
    cols: list[str] = []
    sizes: list[int] = []
    vocab: list[str] = []
    if frame is not None:
        if "age" in frame and pd.to_numeric(frame["age"], errors="coerce").notna().any():
            cols.append("age")
            sizes.append(len(AGE_EDGES) + 1)
        for col in USER_CATEGORICAL:
            if col not in frame:
                continue
            values = frame[col].dropna().astype(str).str.strip().str.lower()
            values = sorted(set(values[values != ""].tolist()))
            if values:
                cols.append(col)
                sizes.append(len(values))
                vocab += values
    return (
        np.array(cols, dtype=str),
        np.array(sizes, dtype=np.int64),
        np.array(vocab, dtype=str),
    )


def encode_users(
    frame: pd.DataFrame | None,
    n: int,
    cols: np.ndarray,
    sizes: np.ndarray,
    vocab: np.ndarray,
) -> np.ndarray:
    """(n, max(1, len(cols))) codes into one shared feature table; 0 = missing/unknown value."""
    out = np.zeros((n, max(1, len(cols))), dtype=np.int64)
    if frame is None or not len(cols):
        return out
    frame = frame.reset_index(drop=True)
    offset, vstart = 1, 0
    for j, (col, size) in enumerate(zip(cols.tolist(), sizes.tolist(), strict=True)):
        if col == "age":
            if "age" in frame:
                age = pd.to_numeric(frame["age"], errors="coerce").to_numpy(np.float64)
                ok = np.isfinite(age)
                out[ok, j] = offset + np.digitize(age[ok], AGE_EDGES)
        else:
            values = vocab[vstart : vstart + size]
            vstart += size
            if col in frame:
                text = frame[col].fillna("").astype(str).str.strip().str.lower()
                idx = pd.Index(values).get_indexer(text.to_numpy(dtype=object))
                out[idx >= 0, j] = offset + idx[idx >= 0]
        offset += size
    return out


def by_dense_index(frame: pd.DataFrame | None, n: int) -> pd.DataFrame | None:
    """A dataset's feature frame in dense-index order, one row per index (missing rows empty).

    Datasets index feature frames by dense index; a frame with any other index is taken to be in
    that order already.
    """
    if frame is None:
        return None
    if pd.api.types.is_integer_dtype(frame.index):
        return frame.reindex(np.arange(n))
    return frame.reset_index(drop=True)


def recent_history(
    user: np.ndarray, item: np.ndarray, recency: np.ndarray, n_users: int, length: int
) -> np.ndarray:
    """(n_users, width) item codes (index + 1, 0 = padding) of each user's latest ``length`` items.

    ``recency`` orders a user's rows, larger = more recent (timestamps, or row positions).
    """
    rank, _ = rank_within_user(user, -recency)
    keep = rank < length
    width = max(1, min(length, int(np.bincount(user, minlength=n_users).max(initial=0))))
    out = np.zeros((n_users, width), dtype=np.int64)
    out[user[keep], rank[keep]] = item[keep].astype(np.int64) + 1
    return out


def flat_history(
    hist: sp.csr_array, length: int, known: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Flat item codes and bag offsets of each row's ``length`` best-rated items (ties: later
    columns), for an offsets-style EmbeddingBag; items unknown to the model are left out."""
    hist = sp.csr_array(hist)
    n = hist.shape[0]
    counts = np.diff(hist.indptr)
    rows = np.repeat(np.arange(n), counts)
    cols = hist.indices.astype(np.int64)
    ok = (cols >= 0) & (cols < len(known))
    ok[ok] = known[cols[ok]]
    rows, cols, vals = rows[ok], cols[ok], np.asarray(hist.data, np.float64)[ok]
    rank, _ = rank_within_user(rows, -(vals * (len(known) + 1) + cols))
    keep = rank < length
    rows, cols = rows[keep], cols[keep]
    order = np.argsort(rows, kind="stable")
    rows, cols = rows[order], cols[order]
    per_row = np.bincount(rows, minlength=n)
    offsets = np.r_[0, np.cumsum(per_row)[:-1]].astype(np.int64)
    return cols + 1, offsets
