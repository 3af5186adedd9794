"""Readers of the plain-text sequence files next-item benchmarks are published in.

- ``sasrec``: SASRec's ``user item`` pairs, one per line, each user's lines in time order
  (``Video.txt``, ``Beauty.txt``).
- ``s3rec``: one line per user, ``user item item ...`` in time order (S3-Rec's ``LastFM.txt``
  and many later papers), with the items' attributes in ``<stem>_item2attributes.json`` beside
  it when present (they become the ``attributes`` item feature).

Neither format has timestamps: file order is the event order (``position``), and the dataset's
notes say so. Every row is kept, repeats included (the format's ``dedup`` is ``none``). Ids
must be whole numbers; an empty line, a non-integer id or a user line without items is a
one-line DataError naming the file and line. Users with fewer than 3 items are kept and counted
(``short_users``, and a line in the notes), never refused or dropped here: the split decides.
Leave-one-out (the default split of these formats) trains on users with 2 items and refuses a
user with one item (no history to predict from), naming ``--min-user-ratings 2``; the published
files hold such users (SASRec's Games file has 30 one-item users, whom its sampler skips).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from recbench.data.formats import ReadOptions
from recbench.data.tabular import Parsed, read_utf8
from recbench.errors import DataError

#: what the notes of a dataset without timestamps say about its order
FILE_ORDER = "file order (the format has no timestamps)"
#: leave-one-out needs this many items per user: training, validation and test
MIN_SEQUENCE = 3
ATTRIBUTES_SUFFIX = "_item2attributes.json"


def _lines(path: Path) -> list[str]:
    """The file's lines; an unreadable or empty file is a DataError."""
    lines = read_utf8(path).splitlines()
    if not lines:
        raise DataError(f"{path} is empty")
    return lines


def _int_fields(lines: list[str], path: Path, shape: str) -> tuple[list[list[str]], np.ndarray]:
    """Whitespace fields of every line and all of them as int64 (file order); an empty line or
    a field that is not a whole number >= 0 is a DataError naming the line."""
    fields = [line.split() for line in lines]
    for n, f in enumerate(fields, 1):
        if not f:
            raise DataError(f"{path}: line {n} is empty (expected '{shape}')")
    flat = [x for f in fields for x in f]
    try:
        ids = np.array(flat, dtype=np.int64)
    except (ValueError, OverflowError):
        for n, f in enumerate(fields, 1):
            for x in f:
                if not x.lstrip("-").isdigit():
                    raise DataError(
                        f"{path}: line {n}: id {x!r} is not a whole number (expected '{shape}')"
                    ) from None
        raise DataError(f"{path}: an id is out of range (expected '{shape}')") from None
    if len(ids) and ids.min() < 0:
        at = int(np.flatnonzero(ids < 0)[0])
        n = int(np.searchsorted(np.cumsum([len(f) for f in fields]), at, side="right")) + 1
        raise DataError(f"{path}: line {n}: ids must be 0 or more")
    return fields, ids


def _info(users: np.ndarray) -> dict[str, object]:
    """Notes of a sequence dataset: its order and how many users are too short for
    leave-one-out."""
    _, counts = np.unique(users, return_counts=True)
    short = int(np.count_nonzero(counts < MIN_SEQUENCE))
    info: dict[str, object] = {"order": FILE_ORDER}
    if short:
        info["short_users"] = short
        info["notes"] = [
            f"{short:,} users have fewer than {MIN_SEQUENCE} items (kept, not dropped; too few "
            "for leave-one-out's train, validation and test item)"
        ]
    return info


def read_sasrec(path: Path, options: ReadOptions | None = None) -> Parsed:
    """SASRec's ``user item`` lines (file order is each user's time order) -> user, item."""
    path = Path(path)
    fields, ids = _int_fields(_lines(path), path, "user item")
    for n, f in enumerate(fields, 1):
        if len(f) != 2:
            raise DataError(f"{path}: line {n}: expected 2 fields 'user item', found {len(f)}")
    pairs = ids.reshape(-1, 2)
    ratings = pd.DataFrame({"user": pairs[:, 0], "item": pairs[:, 1]})
    return Parsed(ratings, info=_info(pairs[:, 0]))


def attributes_file(path: Path) -> Path | None:
    """``<stem>_item2attributes.json`` beside an S3-Rec sequence file, when it exists."""
    path = Path(path)
    cand = path.with_name(path.stem + ATTRIBUTES_SUFFIX)
    return cand if cand.is_file() else None


def s3rec_files(path: Path, options: ReadOptions | None = None) -> list[Path]:
    """The files an S3-Rec source reads: the sequence file and its attributes, if any."""
    extra = attributes_file(path)
    return [Path(path)] + ([extra] if extra is not None else [])


def read_s3rec(path: Path, options: ReadOptions | None = None) -> Parsed:
    """One ``user item item ...`` line per user (items in time order) -> user, item; with
    ``<stem>_item2attributes.json`` beside it, the ``attributes`` item feature."""
    path = Path(path)
    fields, ids = _int_fields(_lines(path), path, "user item item ...")
    sizes = np.array([len(f) for f in fields], dtype=np.int64)
    for n in np.flatnonzero(sizes < 2)[:1]:
        raise DataError(f"{path}: line {n + 1}: user {fields[n][0]} lists no items")
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    line_users = ids[starts]
    seen, first = np.unique(line_users, return_index=True)
    if len(seen) < len(line_users):
        again = np.setdiff1d(np.arange(len(line_users)), first)[0]
        user = line_users[again]
        before = int(np.flatnonzero(line_users == user)[0])
        raise DataError(
            f"{path}: line {again + 1}: user {user} already has line {before + 1} "
            "(one line per user)"
        )
    is_item = np.ones(len(ids), dtype=bool)
    is_item[starts] = False
    users = np.repeat(line_users, sizes - 1)
    ratings = pd.DataFrame({"user": users, "item": ids[is_item]})
    parsed = Parsed(ratings, info=_info(users))
    extra = attributes_file(path)
    if extra is not None:
        parsed.item_features = read_item2attributes(extra)
        parsed.info["item_features_file"] = extra.name
    return parsed


def read_item2attributes(path: Path) -> pd.DataFrame:
    """S3-Rec's ``{"item": [attribute, ...]}`` JSON -> an ``attributes`` feature (ids joined by
    ``|``, like genres), indexed by integer item id."""
    text = read_utf8(path)
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected an object mapping item ids to attribute lists")
    items, attrs = [], []
    for key, value in raw.items():
        if not str(key).strip().isdigit() or not isinstance(value, list):
            raise DataError(
                f"{path}: entry {key!r}: expected a whole-number item id and a list of attributes"
            )
        items.append(int(key))
        attrs.append("|".join(str(v) for v in value))
    return pd.DataFrame({"attributes": attrs}, index=pd.Index(items, name="item", dtype=np.int64))


def looks_like_s3rec(path: Path) -> bool:
    """A text file of whitespace-separated whole numbers whose first lines differ in length
    (so it is not a table), or one with an ``_item2attributes.json`` beside it."""
    path = Path(path)
    if not path.is_file():
        return False
    if attributes_file(path) is not None:
        return True
    try:
        with path.open("rb") as fh:
            raw = fh.read(1 << 16)
    except OSError:
        return False
    lines = raw.decode("utf-8", errors="replace").splitlines()
    if len(raw) == 1 << 16:
        lines = lines[:-1]  # the last one may be cut off
    fields = [line.split() for line in lines[:200] if line.strip()]
    if len(fields) < 2 or not all(x.isdigit() for f in fields for x in f):
        return False
    return len({len(f) for f in fields}) > 1 and min(len(f) for f in fields) >= 2
