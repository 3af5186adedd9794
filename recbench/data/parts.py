"""A given split's parts: their files in a published directory (``NAME.train.rating``,
``NAME.test.inter`` ...), and what the test part holds that training does not (cold users, cold
items, overlapping pairs), counted for the protocol line of ``--split given``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recbench.data.model import Interactions
from recbench.errors import DataError

#: (part, file-name suffix) pairs of a split format, e.g. ("train", ".train.inter")
Suffixes = tuple[tuple[str, str], ...]


def part_files(path: Path, suffixes: Suffixes, what: str) -> dict[str, Path]:
    """part -> file of the one dataset whose ``NAME<suffix>`` files a directory holds (train
    and test required, other parts optional); {} when ``path`` is no such directory, a
    DataError naming the datasets when it holds several."""
    path = Path(path)
    if not path.is_dir():
        return {}
    found: dict[str, dict[str, Path]] = {}
    for p in sorted(path.iterdir()):
        for part, suffix in suffixes:
            if p.name.endswith(suffix) and p.is_file():
                found.setdefault(p.name[: -len(suffix)], {})[part] = p
    complete = {s: f for s, f in found.items() if "train" in f and "test" in f}
    if len(complete) > 1:
        raise DataError(
            f"{path}: holds {what} of {len(complete)} datasets "
            f"({', '.join(sorted(complete))}); give a directory with one"
        )
    return next(iter(complete.values()), {})


def holds_parts(path: Path, suffixes: Suffixes, what: str) -> bool:
    """Whether ``path`` is a directory of such files (a directory of several datasets counts:
    its reader then says what is wrong)."""
    try:
        return bool(part_files(path, suffixes, what))
    except DataError:
        return True


def given_counts(train: Interactions, test: Interactions) -> dict[str, int]:
    """What a given test file holds that training does not: test users and items with no
    training rows, and test pairs that are also training pairs."""
    n_items = max(train.n_items, 1)
    trained_users = np.zeros(max(train.n_users, test.n_users), dtype=bool)
    trained_users[train.user] = True
    trained_items = np.zeros(max(train.n_items, test.n_items), dtype=bool)
    trained_items[train.item] = True
    test_users = np.unique(test.user)
    test_items = np.unique(test.item)
    train_keys = np.unique(train.user.astype(np.int64) * n_items + train.item)
    test_keys = np.unique(test.user.astype(np.int64) * n_items + test.item)
    return {
        "cold_users": int(np.count_nonzero(~trained_users[test_users])),
        "cold_items": int(np.count_nonzero(~trained_items[test_items])),
        "overlap_pairs": int(np.isin(test_keys, train_keys, assume_unique=True).sum()),
    }


def given_notes(train: Interactions, test: Interactions) -> list[str]:
    """The protocol-line notes of :func:`given_counts` (only the nonzero ones)."""
    c = given_counts(train, test)
    notes = []
    if c["cold_users"]:
        notes.append(f"{c['cold_users']:,} test users with no training rows are not ranked")
    if c["cold_items"]:
        notes.append(f"{c['cold_items']:,} test items never trained on stay in the catalogue")
    if c["overlap_pairs"]:
        notes.append(
            f"warning: {c['overlap_pairs']:,} test pairs are also training pairs "
            "(masked as seen, so never hits)"
        )
    return notes
