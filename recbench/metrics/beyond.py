"""Beyond-accuracy metrics of top-K lists: coverage, concentration, novelty, popularity bias,
diversity and personalisation.

Every function takes ``topk``, an (n_users, >= K) matrix of item indices, each row a user's
list in rank order (only the first ``k`` columns are used; ``-1`` marks an empty slot of a list
shorter than K; a list never repeats an item), plus what the metric needs from training:
``popularity`` (n_items,) is the number of training users who interacted with each item (the
``csr(values="binary")`` column sums), ``n_users`` the number of training users. Nothing builds
a users x items matrix: memory is O(n_users x K + n_items), or bounded per batch for diversity.

Metrics that describe one user's list return one value per user (the table shows their mean,
and the per-user values feed intervals and paired tests); metrics of the whole set of lists
(coverage, Gini, personalisation) return one number. :data:`BEYOND_METRICS` lists them all with
their direction and kind.

Sources: catalogue coverage, Ge, Delgado-Battenfeld & Jannach (RecSys 2010); Gini of exposure,
Fleder & Hosanagar (Management Science 2009) in the normalised form of Kaminskas & Bridge (ACM
TiiS 2016); novelty and personalisation, Zhou et al. (PNAS 2010); ARP and APLT, Abdollahpouri,
Burke & Mobasher (FLAIRS 2019); intra-list diversity, Ziegler et al. (WWW 2005) and Smyth &
McClave (ICCBR 2001).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from recbench.errors import UsageError

#: share of the catalogue, by training popularity, that forms the short head (APLT's tail is
#: every other item)
HEAD_SHARE = 0.2
#: a diversity batch holds at most this many non-zeros of summed item vectors
_BATCH_NNZ = 1 << 22

Vector = NDArray[np.float64]


@dataclass(frozen=True)
class BeyondInput:
    """What every beyond-accuracy metric is computed from, for one K: the lists, training
    popularity (validated), catalogue and training-user counts, the long-tail mask, and item
    vectors (None when not needed or not available)."""

    topk: ArrayLike
    k: int
    popularity: Vector
    n_users: int
    tail: NDArray[np.bool_]
    item_vectors: NDArray[np.floating] | sp.sparray | sp.spmatrix | None = None

    @property
    def n_items(self) -> int:
        return len(self.popularity)


@dataclass(frozen=True)
class BeyondInfo:
    """What a beyond-accuracy metric is: ``per_user`` (one value per user) or ``aggregate``,
    and how it is computed. Adding a metric is its function plus one record here."""

    name: str
    label: str
    higher_is_better: bool
    scope: Literal["per_user", "aggregate"]
    help: str
    compute: Callable[[BeyondInput], Vector | float]
    #: needs item vectors (skipped when none are given)
    needs_vectors: bool = False


# --------------------------------------------------------------------------- inputs


def _lists(topk: ArrayLike, k: int, n_items: int) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """The first ``k`` columns as int64 with their validity mask (``-1`` = empty slot)."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k <= 0:
        raise UsageError(f"K must be a positive integer, got {k}")
    lists = np.asarray(topk)
    if lists.ndim != 2:
        raise UsageError(f"top-K lists must be an (n_users, K) matrix, got {lists.ndim} dims")
    if lists.size and not np.issubdtype(lists.dtype, np.integer):
        raise UsageError("top-K lists must hold integer item indices")
    items = lists[:, :k].astype(np.int64, copy=False)
    valid = items >= 0
    if (items >= n_items).any() or (items < -1).any():
        raise UsageError(f"top-K lists hold an item index outside 0..{n_items - 1} (or -1)")
    if items.shape[1] > 1:
        ordered = np.sort(np.where(valid, items, -1 - np.arange(items.shape[1])), axis=1)
        if (ordered[:, 1:] == ordered[:, :-1]).any():
            raise UsageError("a top-K list repeats an item")
    return items, valid


def _popularity(popularity: ArrayLike) -> Vector:
    pop = np.asarray(popularity, dtype=np.float64)
    if pop.ndim != 1 or len(pop) == 0:
        raise UsageError("item popularity must be a non-empty 1-D array, one count per item")
    if not np.isfinite(pop).all() or (pop < 0).any():
        raise UsageError("item popularity must be finite and non-negative")
    return pop


def _per_user_mean(values: Vector, valid: NDArray[np.bool_]) -> Vector:
    """Row means over valid slots; NaN for an empty list."""
    count = valid.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, np.where(valid, values, 0.0).sum(axis=1) / count, np.nan)


def _exposure(items: NDArray[np.int64], valid: NDArray[np.bool_], n_items: int) -> Vector:
    return np.bincount(items[valid], minlength=n_items).astype(np.float64)


# --------------------------------------------------------------------------- aggregate


def coverage_at_k(topk: ArrayLike, k: int, n_items: int) -> float:
    """Catalogue coverage: |items in at least one top-K list| / n_items (Ge et al. 2010)."""
    if n_items <= 0:
        raise UsageError("the catalogue must hold at least one item")
    items, valid = _lists(topk, k, n_items)
    return float(np.count_nonzero(_exposure(items, valid, n_items)) / n_items)


def gini_at_k(topk: ArrayLike, k: int, n_items: int) -> float:
    """Gini index of exposure over the whole catalogue, from 0 (every item recommended equally
    often) to 1 (every list slot holds the same item); items never recommended count as 0.

    ``G = sum_j (2j - n - 1) p_j / (n - 1)`` over items sorted by exposure share ``p``
    ascending, ``j = 1..n`` (Kaminskas & Bridge 2016, after Fleder & Hosanagar 2009). NaN when
    no list holds an item.
    """
    if n_items <= 0:
        raise UsageError("the catalogue must hold at least one item")
    items, valid = _lists(topk, k, n_items)
    counts = np.sort(_exposure(items, valid, n_items))
    total = counts.sum()
    if total == 0:
        return float("nan")
    if n_items == 1:
        return 0.0
    j = np.arange(1, n_items + 1, dtype=np.float64)
    return float(((2 * j - n_items - 1) * counts).sum() / (total * (n_items - 1)))


def personalisation_at_k(
    topk: ArrayLike, k: int, n_items: int, *, sample: int | None = None, seed: int = 0
) -> float:
    """1 - mean over pairs of users of |L_u ∩ L_v| / K (Zhou et al. 2010's h = mean Hamming
    distance between lists, normalised by K).

    Exact over every pair of users, in O(n_users x K): the overlaps of all ordered pairs sum to
    ``sum_i c_i (c_i - 1)`` where ``c_i`` counts the lists holding item ``i``, so no pairwise
    matrix is built. ``sample`` restricts it to that many users drawn without replacement from
    ``numpy.random.default_rng(seed)`` (for parity with tools that sample). NaN for fewer than
    two users.
    """
    items, valid = _lists(topk, k, n_items)
    n = len(items)
    if sample is not None:
        if isinstance(sample, bool) or not isinstance(sample, int | np.integer) or sample < 2:
            raise UsageError(f"the personalisation sample must be at least 2 users, got {sample}")
        if sample < n:
            rows = np.sort(np.random.default_rng(seed).choice(n, size=sample, replace=False))
            items, valid, n = items[rows], valid[rows], sample
    if n < 2:
        return float("nan")
    c = _exposure(items, valid, n_items)
    mean_overlap = float((c * (c - 1)).sum()) / (n * (n - 1))
    return 1.0 - mean_overlap / k


# --------------------------------------------------------------------------- per user


def novelty_at_k(topk: ArrayLike, k: int, popularity: ArrayLike, n_users: int) -> Vector:
    """Per user, the mean self-information ``-log2(popularity_i / n_users)`` of the list's
    items, in bits (Zhou et al. 2010). An item no training user saw counts as seen by one (its
    information would otherwise be infinite); shares above 1 count as 1.
    """
    pop = _popularity(popularity)
    if n_users <= 0:
        raise UsageError("novelty needs the number of training users (at least 1)")
    items, valid = _lists(topk, k, len(pop))
    share = np.minimum(np.maximum(pop, 1.0) / n_users, 1.0)
    info = -np.log2(share)
    return _per_user_mean(info[np.where(valid, items, 0)], valid)


def arp_at_k(topk: ArrayLike, k: int, popularity: ArrayLike) -> Vector:
    """Average recommendation popularity: per user, the mean training popularity of the list's
    items (Abdollahpouri et al. 2019; lower = less popularity bias).
    """
    pop = _popularity(popularity)
    items, valid = _lists(topk, k, len(pop))
    return _per_user_mean(pop[np.where(valid, items, 0)], valid)


def long_tail_mask(popularity: ArrayLike, head_share: float = HEAD_SHARE) -> NDArray[np.bool_]:
    """True for long-tail items: all but the ``ceil(head_share x n_items)`` most popular items.

    Ties are broken by item index (the lower index is more popular), so the head holds exactly
    that many items whatever the ties; with sparse counts a tied item may fall on either side.
    """
    pop = _popularity(popularity)
    if not 0.0 <= head_share <= 1.0:
        raise UsageError(f"the head share must lie between 0 and 1, got {head_share}")
    n_head = int(np.ceil(head_share * len(pop) - 1e-9))
    order = np.lexsort((np.arange(len(pop)), -pop))
    tail = np.ones(len(pop), dtype=bool)
    tail[order[:n_head]] = False
    return tail


def ild_at_k(
    topk: ArrayLike, k: int, item_vectors: NDArray[np.floating] | sp.sparray | sp.spmatrix
) -> Vector:
    """Intra-list diversity: per user, 1 - the mean cosine similarity over pairs of the list's
    items (Ziegler et al. 2005; Smyth & McClave 2001).

    ``item_vectors`` is (n_items, d), dense or sparse: item feature vectors when the dataset has
    them, else the items' co-occurrence vectors (the columns of the binary training matrix,
    i.e. ``train.csr("binary").T``) — the caller chooses and says which. An all-zero vector has
    similarity 0 to everything. With non-negative vectors the value lies in [0, 1]. NaN for
    lists of fewer than two items.

    Uses ``sum_{i<j} cos(i, j) = (||sum_j v_j||^2 - sum_j ||v_j||^2) / 2`` on unit vectors, so
    each batch of users costs one sparse product; batches are sized to bound memory.
    """
    vec = item_vectors
    if vec.ndim != 2:
        raise UsageError("item vectors must be an (n_items, d) matrix")
    n_items = vec.shape[0]
    items, valid = _lists(topk, k, n_items)
    unit, row_nnz = _unit_rows(vec)
    has = row_nnz > 0
    safe = np.where(valid, items, 0)
    n_list = valid.sum(axis=1)
    self_sim = (valid & has[safe]).sum(axis=1).astype(np.float64)
    cost = np.where(valid, row_nnz[safe], 0).sum(axis=1)
    out = np.full(len(items), np.nan)
    bounds = _batches(cost)
    for start, stop in itertools.pairwise(bounds.tolist()):
        rows = np.repeat(np.arange(stop - start), valid[start:stop].sum(axis=1))
        pick = sp.csr_array(
            (np.ones(len(rows)), (rows, items[start:stop][valid[start:stop]])),
            shape=(stop - start, n_items),
        )
        summed = pick @ unit
        if sp.issparse(summed):
            sq = np.asarray(summed.multiply(summed).sum(axis=1)).ravel()
        else:
            sq = np.einsum("ij,ij->i", summed, summed)
        m = n_list[start:stop].astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_cos = (sq - self_sim[start:stop]) / (m * (m - 1))
        out[start:stop] = np.where(m >= 2, 1.0 - mean_cos, np.nan)
    return out


def _unit_rows(
    vec: NDArray[np.floating] | sp.sparray | sp.spmatrix,
) -> tuple[sp.csr_array | Vector, NDArray[np.int64]]:
    """Rows scaled to unit length (zero rows stay zero) and each row's non-zero count."""
    if sp.issparse(vec):
        m = sp.csr_array(vec, dtype=np.float64)
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
        if not np.isfinite(m.data).all():
            raise UsageError("item vectors must be finite")
        scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        unit = sp.csr_array(sp.diags_array(scale) @ m)
        unit.eliminate_zeros()
        return unit, np.diff(unit.indptr).astype(np.int64)
    dense = np.asarray(vec, dtype=np.float64)
    if not np.isfinite(dense).all():
        raise UsageError("item vectors must be finite")
    norms = np.linalg.norm(dense, axis=1)
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    nnz = np.where(norms > 0, dense.shape[1], 0).astype(np.int64)
    return dense * scale[:, None], nnz


def _batches(cost: NDArray[np.int64]) -> NDArray[np.int64]:
    """Row boundaries of consecutive batches whose summed cost stays under the limit."""
    n = len(cost)
    bounds = [0]
    cum = np.cumsum(cost)
    while bounds[-1] < n:
        start = bounds[-1]
        base = cum[start - 1] if start else 0
        stop = int(np.searchsorted(cum, base + _BATCH_NNZ, side="right"))
        bounds.append(max(stop, start + 1))  # a single costly user still forms a batch
    return np.asarray(bounds, dtype=np.int64)


def _aplt(x: BeyondInput) -> Vector:
    items, valid = _lists(x.topk, x.k, x.n_items)
    return _per_user_mean(x.tail[np.where(valid, items, 0)].astype(np.float64), valid)


def _ild(x: BeyondInput) -> Vector:
    assert x.item_vectors is not None
    return ild_at_k(x.topk, x.k, x.item_vectors)


#: Every beyond-accuracy metric, by name, in display order.
BEYOND_METRICS: dict[str, BeyondInfo] = {
    m.name: m
    for m in (
        BeyondInfo(
            "coverage",
            "Cov",
            True,
            "aggregate",
            "share of the catalogue recommended to at least one user",
            lambda x: coverage_at_k(x.topk, x.k, x.n_items),
        ),
        BeyondInfo(
            "gini",
            "Gini",
            False,
            "aggregate",
            "Gini index of how often each catalogue item is recommended (0 = even exposure)",
            lambda x: gini_at_k(x.topk, x.k, x.n_items),
        ),
        BeyondInfo(
            "novelty",
            "Nov",
            True,
            "per_user",
            "mean self-information -log2(share of training users) of recommended items, bits",
            lambda x: novelty_at_k(x.topk, x.k, x.popularity, x.n_users),
        ),
        BeyondInfo(
            "arp",
            "ARP",
            False,
            "per_user",
            "average recommendation popularity: mean training popularity of recommended items",
            lambda x: arp_at_k(x.topk, x.k, x.popularity),
        ),
        BeyondInfo(
            "aplt",
            "APLT",
            True,
            "per_user",
            "share of recommended items in the long tail (outside the top 20% by popularity)",
            _aplt,
        ),
        BeyondInfo(
            "ild",
            "ILD",
            True,
            "per_user",
            "intra-list diversity: 1 - mean pairwise cosine of recommended items' vectors",
            _ild,
            needs_vectors=True,
        ),
        BeyondInfo(
            "personalisation",
            "Pers",
            True,
            "aggregate",
            "1 - mean overlap of two users' lists (share of K items in common)",
            lambda x: personalisation_at_k(x.topk, x.k, x.n_items),
        ),
    )
}


# --------------------------------------------------------------------------- all at once


def beyond_metrics(
    topk: ArrayLike,
    ks: list[int] | tuple[int, ...],
    popularity: ArrayLike,
    n_users: int,
    *,
    item_vectors: NDArray[np.floating] | sp.sparray | sp.spmatrix | None = None,
    names: tuple[str, ...] | None = None,
) -> dict[tuple[str, int], Vector | float]:
    """Every requested beyond-accuracy metric at every K: ``{(name, k): value}``.

    Per-user metrics map to an (n_users,) array, aggregate ones to a float (see
    :data:`BEYOND_METRICS`). Metrics that need item vectors (``ild``) are skipped when
    ``item_vectors`` is None.
    """
    pop = _popularity(popularity)
    chosen = names if names is not None else tuple(BEYOND_METRICS)
    for name in chosen:
        if name not in BEYOND_METRICS:
            raise UsageError(f"unknown beyond-accuracy metric '{name}'")
    tail = long_tail_mask(pop)
    out: dict[tuple[str, int], Vector | float] = {}
    for k in ks:
        x = BeyondInput(topk, k, pop, n_users, tail, item_vectors)
        for name in chosen:
            info = BEYOND_METRICS[name]
            if info.needs_vectors and item_vectors is None:
                continue
            out[name, k] = info.compute(x)
    return out
