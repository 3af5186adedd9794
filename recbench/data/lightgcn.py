"""Reader of LightGCN/NGCF published splits: ``train.txt``, ``test.txt`` (and ``valid.txt``).

Each line is ``user item item ...`` (whitespace-separated 0-based ids; a user line may list no
items). The files become one frame with a ``part`` column (train/valid/test), so one id map
covers the union of the files and the given split survives loading. There are no ratings and
no timestamps. A repeated pair is a duplicate only within one file (``dedup`` keeps parts
apart); how many each file repeats is stated in the dataset's notes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recbench.data.formats import ReadOptions
from recbench.data.tabular import Parsed, read_utf8
from recbench.errors import DataError

#: the files of a LightGCN split, by part; train and test are required
PART_FILES = (("train", "train.txt"), ("valid", "valid.txt"), ("test", "test.txt"))


def is_lightgcn_dir(path: Path) -> bool:
    """Whether ``path`` is a directory holding ``train.txt`` and ``test.txt``."""
    return path.is_dir() and (path / "train.txt").is_file() and (path / "test.txt").is_file()


def lightgcn_files(path: Path, options: ReadOptions | None = None) -> list[Path]:
    """The split's files that exist under ``path``, in part order."""
    return [path / name for _, name in PART_FILES if (path / name).is_file()]


def _read_part(path: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """(users, items, repeated pairs) of one ``user item item ...`` file."""
    users: list[np.ndarray] = []
    items: list[np.ndarray] = []
    for n, line in enumerate(read_utf8(path).splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        try:
            ids = np.array(fields, dtype=np.int64)
        except ValueError:
            raise DataError(
                f"{path}: line {n}: expected whole-number ids 'user item item ...'"
            ) from None
        if ids.min() < 0:
            raise DataError(f"{path}: line {n}: ids must be 0 or more")
        users.append(np.full(len(ids) - 1, ids[0], dtype=np.int64))
        items.append(ids[1:])
    u = np.concatenate(users) if users else np.zeros(0, np.int64)
    i = np.concatenate(items) if items else np.zeros(0, np.int64)
    repeated = len(u) - len(np.unique(u * (int(i.max(initial=0)) + 1) + i)) if len(u) else 0
    return u, i, repeated


def read_lightgcn(path: Path, options: ReadOptions | None = None) -> Parsed:
    """Canonical frame (user, item, part) of a LightGCN split directory (no read options)."""
    if not is_lightgcn_dir(path):
        raise DataError(f"{path}: a LightGCN split needs train.txt and test.txt")
    frames, notes = [], []
    for part, name in PART_FILES:
        file = path / name
        if not file.is_file():
            continue
        u, i, repeated = _read_part(file)
        if part == "test" and not len(u):
            raise DataError(f"{file}: the test file lists no interactions")
        if part == "train" and not len(u):
            raise DataError(f"{file}: the training file lists no interactions")
        if repeated:
            notes.append(f"{name}: {repeated:,} repeated pairs dropped")
        frames.append(pd.DataFrame({"user": u, "item": i, "part": part}))
    ratings = pd.concat(frames, ignore_index=True)
    return Parsed(ratings, info={"duplicates_by_file": notes} if notes else {})
