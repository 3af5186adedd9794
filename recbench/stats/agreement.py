"""Agreement between two orderings of the same algorithms: Kendall's tau.

Used to say when sampled-candidate metrics order algorithms differently from full-catalogue
ranking (Krichene & Rendle 2020). Tau-b (ties allowed) from scipy; 1 means the same order,
-1 the reverse.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's tau-b between two score lists over the same items (nan when undefined: fewer
    than two items, or one list constant)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"kendall_tau needs equal lengths, got {len(x)} and {len(y)}")
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(stats.kendalltau(x, y, variant="b").statistic)


def discordant_pairs(a: Sequence[float], b: Sequence[float]) -> int:
    """Pairs ordered strictly one way by ``a`` and strictly the other way by ``b`` (a tie in
    either list is no disagreement)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    dx = np.sign(x[:, None] - x[None, :])
    dy = np.sign(y[:, None] - y[None, :])
    return int(np.count_nonzero(np.triu(dx * dy < 0, k=1)))


def order(
    names: Sequence[str], values: Sequence[float], higher_is_better: bool = True
) -> list[str]:
    """``names`` from best to worst by ``values`` (stable for ties)."""
    v = np.asarray(values, dtype=np.float64)
    idx = np.argsort(-v if higher_is_better else v, kind="stable")
    return [names[i] for i in idx]
