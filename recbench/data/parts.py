"""What a given split's test part holds that its training part does not (cold users, cold
items, overlapping pairs), counted for the protocol line of ``--split given``."""

from __future__ import annotations

import numpy as np

from recbench.data.model import Interactions


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
