"""Per-user item sequences as plain CSR-like arrays, the leave-one-out cut, and padded windows.

Sequence models here take plain arrays so that the later ``Recommender`` adapter stays thin:
a :class:`Sequences` is ``indptr`` (n_users + 1) and ``items`` (dense 0-based item ids, each
user's items in time order, repeats kept). Inside the torch models an item id is shifted by one
so that 0 is padding; :func:`windows` does that shift.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class Sequences:
    """Each user's items in order: user ``u`` has ``items[indptr[u]:indptr[u + 1]]``."""

    indptr: IntArray
    items: IntArray

    @classmethod
    def from_lists(cls, seqs: list[list[int]] | list[NDArray[np.int64]]) -> Sequences:
        """Build from one list of item ids per user."""
        lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
        indptr = np.zeros(len(seqs) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        items = (
            np.concatenate([np.asarray(s, dtype=np.int64) for s in seqs])
            if len(seqs)
            else np.zeros(0, np.int64)
        )
        return cls(indptr, items.astype(np.int64, copy=False))

    @property
    def n_users(self) -> int:
        return len(self.indptr) - 1

    @property
    def lengths(self) -> IntArray:
        return np.diff(self.indptr)

    def row(self, u: int) -> IntArray:
        return self.items[self.indptr[u] : self.indptr[u + 1]]

    def take(self, users: ArrayLike) -> Sequences:
        """The sequences of ``users``, in that order."""
        users = np.asarray(users, dtype=np.int64)
        lens = self.lengths[users]
        indptr = np.zeros(len(users) + 1, dtype=np.int64)
        np.cumsum(lens, out=indptr[1:])
        idx = np.repeat(self.indptr[users] - indptr[:-1], lens) + np.arange(indptr[-1])
        return Sequences(indptr, self.items[idx])


def check_sequences(seqs: Sequences, n_items: int) -> Sequences:
    """``seqs`` as int64 arrays, or ValueError naming what is wrong with them."""
    indptr = np.asarray(seqs.indptr)
    items = np.asarray(seqs.items)
    if indptr.ndim != 1 or items.ndim != 1 or len(indptr) < 1:
        raise ValueError("sequences need 1-D indptr and items arrays")
    if not np.issubdtype(indptr.dtype, np.integer) or not np.issubdtype(items.dtype, np.integer):
        raise ValueError("sequence indptr and items must be integer arrays")
    if indptr[0] != 0 or indptr[-1] != len(items) or np.any(np.diff(indptr) < 0):
        raise ValueError("sequence indptr must start at 0, never decrease and end at len(items)")
    if n_items < 1:
        raise ValueError(f"n_items must be at least 1, got {n_items}")
    if len(items) and (items.min() < 0 or items.max() >= n_items):
        raise ValueError(f"item ids must lie in [0, {n_items}), got {items.min()}..{items.max()}")
    return Sequences(indptr.astype(np.int64), items.astype(np.int64))


@dataclass(frozen=True)
class LeaveOneOut:
    """Leave-one-out cut of full sequences (SASRec's and S3-Rec's protocol).

    ``train``: every user's items but the last two (training targets never include a validation
    or test item); ``valid``: the second-to-last item (-1 for users with fewer than 3 items);
    ``history``: every item but the last (the validation item is history at test time);
    ``test``: the last item (-1 for users with fewer than 3 items, who keep their whole sequence
    as training, as SASRec's code does; ``n_short`` counts them).
    """

    train: Sequences
    valid: IntArray
    history: Sequences
    test: IntArray
    n_short: int

    @property
    def evaluated(self) -> IntArray:
        """Users with a test item."""
        return np.flatnonzero(self.test >= 0)


def leave_one_out(seqs: Sequences) -> LeaveOneOut:
    """Each user's last item as test, the one before as validation (:class:`LeaveOneOut`)."""
    lens = seqs.lengths
    short = lens < 3
    ends = seqs.indptr[1:]
    test = np.where(short, -1, seqs.items[np.maximum(ends - 1, 0)] if len(seqs.items) else -1)
    valid = np.where(short, -1, seqs.items[np.maximum(ends - 2, 0)] if len(seqs.items) else -1)
    drop_hist = np.where(short, 0, 1)
    keep_train = lens - np.where(short, 0, 2)
    return LeaveOneOut(
        train=_heads(seqs, keep_train),
        valid=np.asarray(valid, np.int64),
        history=_heads(seqs, lens - drop_hist),
        test=np.asarray(test, np.int64),
        n_short=int(short.sum()),
    )


def _heads(seqs: Sequences, keep: IntArray) -> Sequences:
    """The first ``keep[u]`` items of each user's sequence."""
    indptr = np.zeros(seqs.n_users + 1, dtype=np.int64)
    np.cumsum(keep, out=indptr[1:])
    idx = np.repeat(seqs.indptr[:-1] - indptr[:-1], keep) + np.arange(indptr[-1])
    return Sequences(indptr, seqs.items[idx])


def windows(
    seqs: Sequences, max_len: int, users: ArrayLike | None = None
) -> tuple[IntArray, IntArray]:
    """(ids, lengths): each user's last ``max_len`` items, right-padded with 0, ids shifted by one.

    Right padding keeps every real position before any padding, so a causal mask alone keeps
    padding out of the real positions' attention and a GRU reads no padding before real items.
    """
    if users is None:
        users = np.arange(seqs.n_users)
    users = np.asarray(users, dtype=np.int64)
    lens = np.minimum(seqs.lengths[users], max_len)
    starts = seqs.indptr[users + 1] - lens
    col = np.arange(max_len)
    valid = col[None, :] < lens[:, None]
    pos = np.where(valid, starts[:, None] + col[None, :], 0)
    ids = np.where(valid, seqs.items[pos] + 1 if len(seqs.items) else 0, 0)
    return ids.astype(np.int64), lens.astype(np.int64)
