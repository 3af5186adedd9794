"""Reader of a given split as a pair (or trio) of rating tables: ``--train FILE --test FILE``.

Each file is a CSV/TSV or Parquet ratings table read like any other (``--columns``, ``--sep``);
the files must be in one format (all text or all Parquet) and name the same columns, and none
may be empty. They become one frame with a ``part`` column (train/valid/test) under one id
map, so ``--split given`` tests on the test file. Which files are read is in the source's read
options (``ReadOptions.parts``); the training file is the source's path.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from recbench.data.formats import ReadOptions
from recbench.data.ratings_file import check_ratings_path, read_ratings_file
from recbench.data.tabular import Parsed
from recbench.errors import DataError, UsageError

PART_ORDER = ("train", "valid", "test")


def table_parts(path: Path, options: ReadOptions) -> dict[str, Path]:
    """part -> file: the training file ``path`` and the others named in ``options.parts``."""
    parts = {"train": Path(path), **{p: Path(f) for p, f in options.parts}}
    unknown = sorted(set(parts) - set(PART_ORDER))
    if unknown:
        raise UsageError(f"unknown split part '{unknown[0]}' (use train, valid or test)")
    if "test" not in parts:
        raise UsageError("a given split of tables needs a test file (--test FILE)")
    return {p: parts[p] for p in PART_ORDER if p in parts}


def table_files(path: Path, options: ReadOptions) -> list[Path]:
    """The files a given split of tables reads, in part order."""
    return list(table_parts(path, options).values())


def _kind(path: Path) -> str:
    magic = check_ratings_path(path)
    return "Parquet" if magic == b"PAR1" or path.suffix.lower() in {".parquet", ".pq"} else "text"


def read_given_tables(path: Path, options: ReadOptions) -> Parsed:
    """The tables of a given split -> one frame with a ``part`` column."""
    parts = table_parts(path, options)
    kinds = {part: _kind(file) for part, file in parts.items()}
    if len(set(kinds.values())) > 1:
        shown = ", ".join(f"{part} {parts[part].name} is {kind}" for part, kind in kinds.items())
        raise DataError(f"the split's files are in different formats ({shown}); use one format")
    frames: list[pd.DataFrame] = []
    layout: list[str] = []
    for part, file in parts.items():
        frame = read_ratings_file(file, options.columns, options.sep)
        if frames and sorted(frame.columns) != layout:
            raise DataError(
                f"{file}: columns {', '.join(frame.columns)} differ from the training file's "
                f"({', '.join(layout)}); the split's files must share one layout"
            )
        layout = sorted(frame.columns)
        frame["part"] = part
        frames.append(frame)
    info = {"files": {part: str(file) for part, file in parts.items()}}
    return Parsed(pd.concat(frames, ignore_index=True), info=info)
