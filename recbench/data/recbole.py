"""Readers of RecBole's atomic files: ``.inter`` (with ``.item`` features) and benchmark splits.

An atomic file is tab-separated with a typed header, e.g. ``user_id:token item_id:token
rating:float timestamp:float``. ``user_id`` and ``item_id`` (RecBole's default field names)
become user and item, ``rating`` and ``timestamp`` (seconds; fractions dropped) are read when
present, other columns are ignored. A ``.item`` file beside it becomes item features (every
column but ``item_id``, by its name without the type).

Forms: ``recbole`` is one ``.inter`` file, or a directory holding one (RecBole's ``ml-1m/
ml-1m.inter``); ``recbole-split`` is a directory of benchmark files ``NAME.train.inter``,
``NAME.valid.inter`` (optional) and ``NAME.test.inter``, read into one frame with a ``part``
column (train/valid/test) under one id map, like RecBole's ``benchmark_filename``. Every row is
kept (``dedup`` ``none`` for ``recbole``; for a split, a repeat within one file is dropped and
counted, as for LightGCN files).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pandas as pd

from recbench.data.formats import ReadOptions
from recbench.data.parts import holds_parts, part_files
from recbench.data.tabular import Parsed, arrow_message
from recbench.errors import DataError

#: RecBole's field names -> recbench's roles
ROLES = {"user_id": "user", "item_id": "item", "rating": "rating", "timestamp": "timestamp"}
TYPES = ("token", "token_seq", "float", "float_seq")
SPLIT_PARTS = (("train", ".train.inter"), ("valid", ".valid.inter"), ("test", ".test.inter"))
_DIGITS = re.compile(r"\d+")


def _header(path: Path) -> list[tuple[str, str]]:
    """(name, type) of each column of an atomic file's typed header."""
    try:
        with Path(path).open(encoding="utf-8") as fh:
            first = fh.readline().rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    if not first.strip():
        raise DataError(f"{path} is empty (expected a typed header like 'user_id:token')")
    out = []
    for col in first.split("\t"):
        name, _, kind = col.strip().partition(":")
        if kind not in TYPES:
            raise DataError(
                f"{path}: header column {col!r} is not 'name:type' with type one of "
                f"{', '.join(TYPES)}"
            )
        out.append((name, kind))
    return out


def _ids(values: pd.Series) -> np.ndarray:
    """Token ids as int64 when every one is a whole number, else as strings."""
    text = values.astype(str).str.strip()
    if len(text) and text.str.fullmatch(_DIGITS).all():
        return text.astype(np.int64).to_numpy()
    return text.to_numpy(dtype=object)


def _read_atomic(path: Path, wanted: set[str] | None) -> pd.DataFrame:
    """The columns of an atomic file (all, or those named in ``wanted``) as strings."""
    header = _header(path)
    names = [name for name, _ in header]
    use = [n for n in names if wanted is None or n in wanted]
    try:
        raw = pd.read_csv(
            path,
            sep="\t",
            header=0,
            names=names,
            usecols=use,
            dtype=str,
            keep_default_na=False,
            quoting=csv.QUOTE_NONE,
            skip_blank_lines=False,
        )
    except (pd.errors.ParserError, ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: malformed ({arrow_message(exc)})") from None
    empty = (raw == "").all(axis=1).to_numpy() if len(raw) else np.zeros(0, bool)
    if empty.any():
        raise DataError(f"{path}: line {int(np.flatnonzero(empty)[0]) + 2} is empty")
    return raw


def read_inter(path: Path) -> pd.DataFrame:
    """user, item, rating?, timestamp? of one ``.inter`` file, in file order."""
    raw = _read_atomic(path, set(ROLES))
    for need in ("user_id", "item_id"):
        if need not in raw:
            raise DataError(f"{path}: the header has no '{need}' column")
    if not len(raw):
        raise DataError(f"{path} lists no interactions")
    frame = pd.DataFrame({"user": _ids(raw["user_id"]), "item": _ids(raw["item_id"])})
    for name in ("rating", "timestamp"):
        if name not in raw:
            continue
        num = pd.to_numeric(raw[name], errors="coerce")
        if num.isna().any():
            row = int(np.flatnonzero(num.isna().to_numpy())[0])
            raise DataError(
                f"{path}: line {row + 2}: {name} {raw[name].iloc[row]!r} is not a number"
            )
        frame[name] = (
            num.to_numpy(np.float32) if name == "rating" else np.floor(num).astype(np.int64)
        )
    return frame


def read_item_file(path: Path) -> pd.DataFrame:
    """Item features of a ``.item`` file, indexed by item id (columns named without types)."""
    raw = _read_atomic(path, None)
    if "item_id" not in raw:
        raise DataError(f"{path}: the header has no 'item_id' column")
    feats = raw.drop(columns=["item_id"])
    feats.index = pd.Index(_ids(raw["item_id"]), name="item")
    return feats[~feats.index.duplicated(keep="last")]


def inter_file(path: Path) -> Path:
    """The ``.inter`` file a ``recbole`` source names: itself, or the one in a directory
    (``DIR/DIR.inter`` first)."""
    path = Path(path)
    if path.is_file():
        return path
    own = path / f"{path.name}.inter"
    if own.is_file():
        return own
    found = sorted(p for p in path.glob("*.inter") if not _split_part(p.name))
    if len(found) != 1:
        what = "no .inter file" if not found else f"{len(found)} .inter files"
        raise DataError(f"{path}: holds {what}; name the one to read")
    return found[0]


def recbole_files(path: Path, options: ReadOptions | None = None) -> list[Path]:
    """The files a ``recbole`` source reads: the ``.inter`` file and its ``.item``, if any."""
    inter = inter_file(path)
    item = inter.with_suffix(".item")
    return [inter] + ([item] if item.is_file() else [])


def read_recbole(path: Path, options: ReadOptions | None = None) -> Parsed:
    """One atomic ``.inter`` (and its ``.item`` features) -> the canonical frame."""
    files = recbole_files(path)
    parsed = Parsed(read_inter(files[0]), info={"files": [f.name for f in files]})
    if "timestamp" not in parsed.ratings:
        parsed.info["order"] = "file order (no timestamp column)"
    if len(files) > 1:
        parsed.item_features = read_item_file(files[1])
    return parsed


def _split_part(name: str) -> str | None:
    for part, suffix in SPLIT_PARTS:
        if name.endswith(suffix):
            return part
    return None


def split_files(path: Path) -> dict[str, Path]:
    """part -> file of a benchmark directory (``NAME.train.inter`` ...), one NAME only."""
    return part_files(path, SPLIT_PARTS, "benchmark files")


def is_recbole_split(path: Path) -> bool:
    """Whether ``path`` is a directory of ``NAME.train.inter`` and ``NAME.test.inter``."""
    return holds_parts(path, SPLIT_PARTS, "benchmark files")


def recbole_split_files(path: Path, options: ReadOptions | None = None) -> list[Path]:
    """The files a ``recbole-split`` source reads (parts in order, then ``NAME.item``)."""
    files = split_files(path)
    out = [files[p] for p, _ in SPLIT_PARTS if p in files]
    if out:
        stem = out[0].name[: -len(".train.inter")]
        item = out[0].with_name(stem + ".item")
        if item.is_file():
            out.append(item)
    return out


def read_recbole_split(path: Path, options: ReadOptions | None = None) -> Parsed:
    """RecBole benchmark files -> one frame with a ``part`` column, one id map over all."""
    files = split_files(path)
    if not files:
        raise DataError(f"{path}: a RecBole split needs NAME.train.inter and NAME.test.inter")
    frames, columns = [], None
    for part, _ in SPLIT_PARTS:
        if part not in files:
            continue
        frame = read_inter(files[part])
        cols = sorted(frame.columns)
        if columns is not None and cols != columns:
            raise DataError(
                f"{files[part]}: columns {', '.join(cols)} differ from the training file's "
                f"({', '.join(columns)}); the split's files must share one header"
            )
        columns = cols
        frame["part"] = part
        frames.append(frame)
    ratings = pd.concat(frames, ignore_index=True)
    parsed = Parsed(ratings, info={"files": [f.name for f in recbole_split_files(path)]})
    item = recbole_split_files(path)[-1]
    if item.suffix == ".item":
        parsed.item_features = read_item_file(item)
    return parsed


def looks_like_recbole(path: Path) -> bool:
    """A ``.inter`` file, or a directory holding exactly one (not a benchmark split)."""
    path = Path(path)
    if path.is_file():
        return path.suffix == ".inter" and _split_part(path.name) is None
    if not path.is_dir():
        return False
    try:
        inter_file(path)
    except DataError:
        return False
    return True
