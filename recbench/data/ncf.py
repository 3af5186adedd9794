"""Reader of NCF's published splits (He et al. WWW 2017): ``NAME.train.rating``,
``NAME.test.rating`` and ``NAME.test.negative``.

The rating files are tab-separated ``user item rating timestamp`` lines (0-based ids; the last
two columns may be absent). They become one frame with a ``part`` column (train/test) under one
id map. ``NAME.test.negative`` (``(user,item)`` then 99 sampled negatives per line) is checked
and counted but not used: recbench ranks against the full catalogue, and sampled candidates
belong to the sampled-candidates protocol, which draws its own. The dataset's notes say so.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from recbench.data.formats import ReadOptions
from recbench.data.parts import holds_parts, part_files
from recbench.data.tabular import Parsed, read_utf8
from recbench.errors import DataError

PARTS = (("train", ".train.rating"), ("test", ".test.rating"))
NEGATIVE = ".test.negative"
_PAIR = re.compile(r"\(\s*(\d+)\s*,\s*(\d+)\s*\)")


def ncf_parts(path: Path) -> dict[str, Path]:
    """part -> file of an NCF directory (``NAME.train.rating``, ``NAME.test.rating``)."""
    return part_files(path, PARTS, "NCF files")


def is_ncf_dir(path: Path) -> bool:
    """Whether ``path`` is a directory of ``NAME.train.rating`` and ``NAME.test.rating``."""
    return holds_parts(path, PARTS, "NCF files")


def ncf_files(path: Path, options: ReadOptions | None = None) -> list[Path]:
    """The files an NCF source reads: train, test and (when present) the negatives."""
    parts = ncf_parts(path)
    out = [parts[p] for p, _ in PARTS if p in parts]
    if out:
        neg = out[1].with_name(out[1].name[: -len(".test.rating")] + NEGATIVE)
        if neg.is_file():
            out.append(neg)
    return out


def _read_rating(path: Path) -> pd.DataFrame:
    """user, item, rating?, timestamp? of one ``.rating`` file."""
    lines = [line.split("\t") for line in read_utf8(path).splitlines()]
    if not lines:
        raise DataError(f"{path} is empty (expected 'user<TAB>item<TAB>rating<TAB>timestamp')")
    width = len(lines[0])
    for n, f in enumerate(lines, 1):
        if len(f) != width or not 2 <= width <= 4 or not f[0].strip():
            raise DataError(
                f"{path}: line {n}: expected 2 to 4 tab-separated fields like line 1 "
                "('user item rating timestamp')"
            )
    cols = ("user", "item", "rating", "timestamp")[:width]
    frame = pd.DataFrame(lines, columns=list(cols))
    out = {}
    for col in cols:
        num = pd.to_numeric(frame[col].str.strip(), errors="coerce")
        values = num.to_numpy(float)
        bad = ~np.isfinite(values)
        if col in ("user", "item"):
            bad |= np.nan_to_num(values) % 1 != 0
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{path}: line {row + 1}: {col} {frame[col].iloc[row]!r} is not a number"
            )
        out[col] = num.to_numpy(np.float32 if col == "rating" else np.int64)
    return pd.DataFrame(out)


def _check_negatives(path: Path, test: pd.DataFrame) -> int:
    """Lines of ``NAME.test.negative``, each ``(user,item)`` naming a test pair."""
    lines = read_utf8(path).splitlines()
    pairs = set(zip(test["user"].tolist(), test["item"].tolist(), strict=True))
    count = 0
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        m = _PAIR.match(line.strip())
        if m is None:
            raise DataError(f"{path}: line {n}: expected '(user,item)' then the negatives")
        if (int(m.group(1)), int(m.group(2))) not in pairs:
            raise DataError(f"{path}: line {n}: ({m.group(1)},{m.group(2)}) is not a test pair")
        count += 1
    return count


def read_ncf(path: Path, options: ReadOptions | None = None) -> Parsed:
    """An NCF directory -> one frame with a ``part`` column (train, test)."""
    parts = ncf_parts(path)
    if not parts:
        raise DataError(f"{path}: an NCF split needs NAME.train.rating and NAME.test.rating")
    frames: list[pd.DataFrame] = []
    width = 0
    for part, _ in PARTS:
        frame = _read_rating(parts[part])
        if frames and frame.shape[1] != width:
            raise DataError(
                f"{parts[part]}: {frame.shape[1]} columns, the training file has {width}; "
                "the split's files must share one layout"
            )
        width = frame.shape[1]
        frame["part"] = part
        frames.append(frame)
    info: dict[str, object] = {}
    files = ncf_files(path)
    if files[-1].name.endswith(NEGATIVE):
        n = _check_negatives(files[-1], frames[1])
        info["notes"] = [
            f"{files[-1].name}: {n:,} users' sampled negatives read and not used "
            "(ranking is over the full catalogue)"
        ]
    return Parsed(pd.concat(frames, ignore_index=True), info=info)
