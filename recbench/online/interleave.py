"""Team-draft interleaving, vectorised over users (Radlinski, Kurup & Joachims 2008, "How does
clickthrough data reflect retrieval quality?", CIKM; Chapelle, Joachims, Radlinski & Yue 2012,
"Large-scale validation and analysis of interleaved search evaluation", ACM TOIS).

The paper's algorithm, one pick at a time: the team with fewer picks so far picks next (a fair
coin decides when both have picked equally often); it adds its highest-ranked item not yet in the
interleaved list, and that item is credited to it. The list stops when *either* ranking has no
item left that is not yet shown (``while (exists i: A[i] not in I) and (exists j: B[j] not in I)``)
or when it holds K items. With two full top-K rankings and K slots that rule never binds early;
with a shorter ranking (or one whose items the other team already showed) it stops the list there,
so neither team keeps filling slots alone. A click credits the team of the clicked item; a user
prefers the ranker whose team got more clicks (ties: no preference). The loop runs over slate
positions (K steps), never over users.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TEAM_A, TEAM_B = 0, 1


@dataclass(frozen=True)
class Interleaved:
    """Interleaved slates: item ids, the team that contributed each, and where it came from."""

    items: np.ndarray  # (n, K) item indices, -1 after the list stopped
    team: np.ndarray  # (n, K) TEAM_A / TEAM_B, -1 where empty
    source_rank: np.ndarray  # (n, K) rank (0-based) of the item in its team's list, -1 where empty


def _next_unshown(lst: np.ndarray, ptr: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Advance each row's pointer past padding (-1) and items already shown; return the item
    it points at (-1 where the ranking has nothing left that is not yet shown)."""
    n, length = lst.shape
    rows = np.arange(n)
    while True:
        ok = ptr < length
        cand = np.where(ok, lst[rows, np.minimum(ptr, length - 1)], -1)
        skip = ok & ((cand < 0) | (items == cand[:, None]).any(axis=1))
        if not skip.any():
            return cand
        ptr[skip] += 1


def team_draft(
    a: np.ndarray, b: np.ndarray, rng: np.random.Generator, k: int | None = None
) -> Interleaved:
    """Team-draft interleave rankings ``a`` and ``b`` (n x L item indices, best first) into K.

    Rows may contain -1 padding (fewer candidates); a row's list stops as soon as either ranking
    has no unshown item left (Radlinski et al. 2008), so it may hold fewer than K items.
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    n = a.shape[0]
    k = min(a.shape[1], b.shape[1]) if k is None else k
    items = np.full((n, k), -1, dtype=np.int64)
    team = np.full((n, k), -1, dtype=np.int64)
    src = np.full((n, k), -1, dtype=np.int64)
    ptr = np.zeros((2, n), dtype=np.int64)
    picks = np.zeros((2, n), dtype=np.int64)
    live = np.ones(n, dtype=bool)
    rows = np.arange(n)
    # Picks are level exactly at even positions, so one coin per pair of positions is all the
    # algorithm uses; drawn up front, the random stream does not depend on where lists stop.
    coins = rng.random(((k + 1) // 2, n)) < 0.5
    for pos in range(k):
        cand_a = _next_unshown(a, ptr[TEAM_A], items)
        cand_b = _next_unshown(b, ptr[TEAM_B], items)
        live &= (cand_a >= 0) & (cand_b >= 0)
        if not live.any():
            break
        level = picks[TEAM_A] == picks[TEAM_B]
        a_turn = (picks[TEAM_A] < picks[TEAM_B]) | (level & coins[pos // 2])
        w = rows[live]
        t = np.where(a_turn[w], TEAM_A, TEAM_B)
        items[w, pos] = np.where(t == TEAM_A, cand_a[w], cand_b[w])
        team[w, pos] = t
        src[w, pos] = ptr[t, w]
        ptr[t, w] += 1
        picks[t, w] += 1
    return Interleaved(items, team, src)


def credit(clicks: np.ndarray, team: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Clicks credited to team A and to team B per user (clicks: n x K counts)."""
    c = np.asarray(clicks)
    return (c * (team == TEAM_A)).sum(axis=1), (c * (team == TEAM_B)).sum(axis=1)
