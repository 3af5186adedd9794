"""Team-draft interleaving, vectorised over users (Radlinski, Kurup & Joachims 2008, "How does
clickthrough data reflect retrieval quality?", CIKM; Chapelle, Joachims, Radlinski & Yue 2012,
"Large-scale validation and analysis of interleaved search evaluation", ACM TOIS).

Each round, a fair coin decides which team (ranker) picks first; each team in turn adds its
highest-ranked item not yet in the interleaved list, and that item is credited to the team. A
click credits the team of the clicked item; a user prefers the ranker whose team got more
clicks (ties: no preference). The loop runs over slate positions (K steps), never over users.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TEAM_A, TEAM_B = 0, 1


@dataclass(frozen=True)
class Interleaved:
    """Interleaved slates: item ids, the team that contributed each, and where it came from."""

    items: np.ndarray  # (n, K) item indices, -1 where both lists ran out
    team: np.ndarray  # (n, K) TEAM_A / TEAM_B, -1 where empty
    source_rank: np.ndarray  # (n, K) rank (0-based) of the item in its team's list


def team_draft(
    a: np.ndarray, b: np.ndarray, rng: np.random.Generator, k: int | None = None
) -> Interleaved:
    """Team-draft interleave rankings ``a`` and ``b`` (n x L item indices, best first) into K.

    Rows may contain -1 padding (fewer candidates); each team picks at most once per round.
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    n, la = a.shape
    lb = b.shape[1]
    k = min(la, lb) if k is None else k
    items = np.full((n, k), -1, dtype=np.int64)
    team = np.full((n, k), -1, dtype=np.int64)
    src = np.full((n, k), -1, dtype=np.int64)
    ptr = np.zeros((2, n), dtype=np.int64)
    lists = (a, b)
    lens = (la, lb)
    rows = np.arange(n)
    filled = np.zeros(n, dtype=np.int64)
    n_rounds = (k + 1) // 2
    for _ in range(n_rounds):
        a_first = rng.random(n) < 0.5
        for turn in range(2):
            # team picking on this turn: A first where a_first, else B first
            t_is_a = a_first if turn == 0 else ~a_first
            for t in (TEAM_A, TEAM_B):
                who = rows[(t_is_a if t == TEAM_A else ~t_is_a) & (filled < k)]
                if not len(who):
                    continue
                lst, length = lists[t], lens[t]
                # advance past items already chosen (bounded by the list length)
                while True:
                    p = ptr[t, who]
                    ok = p < length
                    cand = np.where(ok, lst[who, np.minimum(p, length - 1)], -1)
                    dup = ok & (cand >= 0) & (items[who] == cand[:, None]).any(axis=1)
                    if not dup.any():
                        break
                    ptr[t, who[dup]] += 1
                pick = ok & (cand >= 0)
                w = who[pick]
                items[w, filled[w]] = cand[pick]
                team[w, filled[w]] = t
                src[w, filled[w]] = ptr[t, w]
                ptr[t, w] += 1
                filled[w] += 1
    return Interleaved(items, team, src)


def credit(clicks: np.ndarray, team: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Clicks credited to team A and to team B per user (clicks: n x K counts)."""
    c = np.asarray(clicks)
    return (c * (team == TEAM_A)).sum(axis=1), (c * (team == TEAM_B)).sum(axis=1)
