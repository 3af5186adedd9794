"""Reader of Amazon review dumps: JSON lines, gzip-compressed or not.

Two generations of keys are read: 2014/2018 (McAuley et al.) ``reviewerID``, ``asin``,
``overall``, ``unixReviewTime`` (seconds) and 2023 (Hou et al.) ``user_id``, ``parent_asin``
(else ``asin``), ``rating``, ``timestamp`` (milliseconds, turned into seconds). Every review is
kept, repeats included (``dedup`` ``none``: a review is an event); events are ordered by time,
then file order. Published protocols then apply the 5-core filter, which is recbench's
``--min-user-ratings 5 --min-item-ratings 5`` (:mod:`recbench.data.preprocess`). A line that is
not a JSON object with these keys is a one-line DataError naming the line.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from recbench.data.formats import ReadOptions
from recbench.data.tabular import Parsed
from recbench.errors import DataError

#: (user, item, rating, time) keys by generation; the 2023 item falls back to ``asin``
KEYS_2014 = ("reviewerID", "asin", "overall", "unixReviewTime")
KEYS_2023 = ("user_id", "parent_asin", "rating", "timestamp")
SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz")


def _open_lines(path: Path) -> Iterator[bytes]:
    """The raw lines of a JSON-lines file, decompressing gzip by its magic bytes."""
    with Path(path).open("rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    opener = gzip.open if gz else open
    with opener(path, "rb") as fh:  # type: ignore[operator]
        yield from fh


def _generation(record: dict[str, object], path: Path, n: int) -> tuple[str, ...]:
    if "reviewerID" in record:
        return KEYS_2014
    if "user_id" in record:
        return KEYS_2023
    raise DataError(
        f"{path}: line {n}: no reviewer key (expected reviewerID/asin/overall/unixReviewTime "
        "or user_id/parent_asin/rating/timestamp)"
    )


def read_amazon(path: Path, options: ReadOptions | None = None) -> Parsed:
    """user, item, rating, timestamp (seconds) of every review, in file order."""
    path = Path(path)
    users: list[str] = []
    items: list[str] = []
    ratings: list[float] = []
    times: list[int] = []
    keys: tuple[str, ...] | None = None
    try:
        for n, raw in enumerate(_open_lines(path), 1):
            if not raw.strip():
                raise DataError(f"{path}: line {n} is empty")
            try:
                rec = json.loads(raw)
            except ValueError as exc:
                raise DataError(f"{path}: line {n}: malformed JSON ({exc.args[0]})") from None
            if not isinstance(rec, dict):
                raise DataError(f"{path}: line {n}: expected a JSON object")
            if keys is None:
                keys = _generation(rec, path, n)
            ukey, ikey, rkey, tkey = keys
            item = rec.get(ikey, rec.get("asin") if keys is KEYS_2023 else None)
            user, rating, ts = rec.get(ukey), rec.get(rkey), rec.get(tkey)
            if user is None or item is None or rating is None or ts is None:
                missing = next(
                    k for k, v in zip(keys, (user, item, rating, ts), strict=True) if v is None
                )
                raise DataError(f"{path}: line {n}: '{missing}' is missing")
            try:
                ratings.append(float(rating))  # type: ignore[arg-type]
                times.append(int(ts))  # type: ignore[call-overload]
            except (TypeError, ValueError):
                raise DataError(
                    f"{path}: line {n}: '{rkey}' and '{tkey}' must be numbers"
                ) from None
            users.append(str(user))
            items.append(str(item))
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    if not users:
        raise DataError(f"{path} is empty")
    ts_arr = np.array(times, dtype=np.int64)
    if keys is KEYS_2023:
        ts_arr //= 1000  # the 2023 dumps give milliseconds
    frame = pd.DataFrame(
        {
            "user": np.array(users, dtype=object),
            "item": np.array(items, dtype=object),
            "rating": np.array(ratings, dtype=np.float32),
            "timestamp": ts_arr,
        }
    )
    generation = "2014/2018" if keys is KEYS_2014 else "2023"
    return Parsed(frame, info={"amazon_keys": generation})


def looks_like_amazon(path: Path) -> bool:
    """A ``.json``/``.jsonl`` file (gzip or not) whose first line is an object naming a review
    key (judged on the text, so the reader can say what is wrong with a malformed line)."""
    path = Path(path)
    name = path.name.lower()
    if not path.is_file() or not name.endswith(SUFFIXES):
        return False
    try:
        first = next(_open_lines(path), b"").lstrip()
    except (OSError, EOFError, gzip.BadGzipFile):
        return False
    return first.startswith(b"{") and (b'"reviewerID"' in first or b'"user_id"' in first)
