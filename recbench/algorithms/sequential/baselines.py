"""Honest next-item baselines on plain arrays (numpy / scipy, no torch).

- ``pop-recent``: how often each item occurs among every training sequence's last ``window``
  items (0: all items, i.e. plain popularity); the same ranking for every history.
- ``markov``: first-order item-to-item transitions, ``P(j | i) = (C[i, j] + alpha p(j)) /
  (C[i] + alpha)`` with ``p`` the popularity distribution, scored from the history's last item.
- ``sknn``: V-SKNN (Ludewig & Jannach 2018, "Evaluation of session-based recommendation
  algorithms"): a history's last ``recent`` items, weighted by a linear decay from the most recent,
  are compared by dot product with every training sequence (binary, optionally cosine
  normalised); the ``k`` most similar sequences vote for their items with their similarity.

They fit no weights by gradient and use no validation item; fitted on the test histories, the
validation item is history to them, never a target chosen for.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from pydantic import Field

from recbench.algorithms.base import AlgoConfig
from recbench.algorithms.sequential.data import Sequences, check_sequences


class PopRecentConfig(AlgoConfig):
    kind: Literal["pop-recent"] = "pop-recent"
    window: int = Field(0, ge=0, description="last items of each sequence counted (0: all)")


class MarkovConfig(AlgoConfig):
    kind: Literal["markov"] = "markov"
    alpha: float = Field(1.0, gt=0, description="weight of the popularity prior per row")


class SKNNConfig(AlgoConfig):
    kind: Literal["sknn"] = "sknn"
    k: int = Field(100, ge=1, description="neighbour sequences that vote")
    recent: int = Field(50, ge=1, description="last history items compared")
    cosine: bool = Field(True, description="divide by sqrt(neighbour length) (cosine-like)")


class PopRecent:
    """Counts of the items in each training sequence's last ``window`` positions."""

    def __init__(self, counts: NDArray[np.float32]) -> None:
        self.counts = counts

    def score(self, histories: Sequences) -> NDArray[np.float32]:
        return np.tile(self.counts, (histories.n_users, 1))


class Markov:
    """Smoothed first-order transitions from the last history item."""

    def __init__(self, trans: sp.csr_array, prior: NDArray[np.float32], alpha: float) -> None:
        self.trans, self.prior, self.alpha = trans, prior, alpha
        self.row_sum = np.asarray(trans.sum(axis=1)).ravel().astype(np.float32)

    def score(self, histories: Sequences) -> NDArray[np.float32]:
        out = np.tile(self.prior, (histories.n_users, 1))  # an empty history gets the prior
        has = np.flatnonzero(histories.lengths > 0)
        last = histories.items[histories.indptr[has + 1] - 1]
        counts = self.trans[last].toarray()
        out[has] = (counts + self.alpha * self.prior) / (self.row_sum[last, None] + self.alpha)
        return out


class SKNN:
    """V-SKNN over the training sequences (binary user x item rows)."""

    def __init__(self, rows: sp.csr_array, cfg: SKNNConfig) -> None:
        self.cfg = cfg
        norm = np.sqrt(np.maximum(np.diff(rows.indptr), 1)).astype(np.float32)
        self.rows = rows
        scaled = sp.csr_array(sp.diags_array(1.0 / norm) @ rows) if cfg.cosine else rows
        self.items_users = sp.csr_array(scaled.T)  # items x training sequences

    def score(self, histories: Sequences) -> NDArray[np.float32]:
        n_items = self.rows.shape[1]
        lens = np.minimum(histories.lengths, self.cfg.recent)
        starts = histories.indptr[1:] - lens
        user = np.repeat(np.arange(histories.n_users), lens)
        offset = np.arange(lens.sum()) - np.repeat(np.cumsum(lens) - lens, lens)
        item = histories.items[np.repeat(starts, lens) + offset]
        weight = (offset + 1) / np.repeat(np.maximum(lens, 1), lens)  # most recent weighs 1
        h = sp.csr_array(
            (weight.astype(np.float32), (user, item)), shape=(histories.n_users, n_items)
        )
        h.sum_duplicates()
        sim = np.asarray((h @ self.items_users).toarray(), dtype=np.float32)
        k = min(self.cfg.k, sim.shape[1])
        if k < sim.shape[1]:
            cut = np.argpartition(-sim, k - 1, axis=1)[:, k - 1]
            kth = sim[np.arange(len(sim)), cut]
            sim[sim < kth[:, None]] = 0.0
        return np.asarray((sp.csr_array(sim) @ self.rows).toarray(), dtype=np.float32)


SeqBaseline = PopRecent | Markov | SKNN


def fit_baseline(
    seqs: Sequences, n_items: int, config: PopRecentConfig | MarkovConfig | SKNNConfig
) -> SeqBaseline:
    """Fit one baseline on sequences of item ids in [0, n_items)."""
    seqs = check_sequences(seqs, n_items)
    lens = seqs.lengths
    user = np.repeat(np.arange(seqs.n_users), lens)
    if isinstance(config, PopRecentConfig):
        keep = np.ones(len(seqs.items), dtype=bool)
        if config.window:
            from_end = np.repeat(seqs.indptr[1:], lens) - np.arange(len(seqs.items))
            keep = from_end <= config.window
        return PopRecent(np.bincount(seqs.items[keep], minlength=n_items).astype(np.float32))
    if isinstance(config, MarkovConfig):
        nxt = np.ones(len(seqs.items), dtype=bool)
        nxt[seqs.indptr[:-1][lens > 0]] = False  # first item of each sequence has no predecessor
        to = np.flatnonzero(nxt)
        trans = sp.csr_array(
            (np.ones(len(to), np.float32), (seqs.items[to - 1], seqs.items[to])),
            shape=(n_items, n_items),
        )
        trans.sum_duplicates()
        pop = np.bincount(seqs.items, minlength=n_items).astype(np.float32) + 1.0
        return Markov(trans, pop / pop.sum(), config.alpha)
    rows = sp.csr_array(
        (np.ones(len(user), np.float32), (user, seqs.items)), shape=(seqs.n_users, n_items)
    )
    rows.sum_duplicates()
    rows.data[:] = 1.0
    return SKNN(rows, config)
