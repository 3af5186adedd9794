"""Multiple-comparison corrections: adjusted p-values for a family of tests.

A comparison is significant at level ``alpha`` after correction when its adjusted p-value is
below ``alpha``. The family is every comparison in the table (algorithms x metrics).

- ``"holm"`` (default): Holm (1979), step-down Bonferroni; controls the family-wise error rate
  under any dependence and is uniformly more powerful than Bonferroni.
- ``"bonferroni"``: ``min(1, m p)``; controls the family-wise error rate.
- ``"bh"``: Benjamini & Hochberg (1995) step-up; controls the false discovery rate (for
  independent or positively dependent tests), not the family-wise rate.
- ``"none"``: the raw p-values.

The adjusted values equal ``statsmodels.stats.multitest.multipletests`` with methods
``holm``, ``bonferroni`` and ``fdr_bh``. NaN p-values (comparisons that were not made) stay NaN
and do not count towards the family size.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from recbench.errors import UsageError
from recbench.stats._checks import check_alpha, check_choice

CORRECTIONS = ("holm", "bonferroni", "bh", "none")


def check_correction(name: str) -> str:
    """The canonical name for ``--correction``; UsageError for an unknown one."""
    return check_choice(name, CORRECTIONS, "correction")


def adjust_pvalues(pvalues: ArrayLike, method: str = "holm") -> NDArray[np.float64]:
    """Adjusted p-values, in the input's order and shape, capped at 1."""
    name = check_choice(method, CORRECTIONS, "correction")
    p = np.asarray(pvalues, dtype=np.float64)
    flat = p.ravel()
    ok = ~np.isnan(flat)
    if ((flat[ok] < 0) | (flat[ok] > 1)).any():
        raise UsageError("p-values must lie between 0 and 1")
    out = flat.copy()
    out[ok] = _adjust(flat[ok], name)
    return out.reshape(p.shape)


def significant(pvalues: ArrayLike, alpha: float = 0.05, method: str = "holm") -> NDArray[np.bool_]:
    """True where the adjusted p-value is below ``alpha`` (NaN: not significant)."""
    a = check_alpha(alpha)
    with np.errstate(invalid="ignore"):
        return np.asarray(adjust_pvalues(pvalues, method) < a)


def _adjust(p: NDArray[np.float64], method: str) -> NDArray[np.float64]:
    m = len(p)
    if m == 0 or method == "none":
        return p.copy()
    if method == "bonferroni":
        return np.minimum(1.0, p * m)
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    if method == "holm":
        adj = np.maximum.accumulate(ranked * (m - np.arange(m)))
    else:  # bh: p_(i) * m / i, made monotone from the largest p downwards
        adj = np.minimum.accumulate((ranked * m / np.arange(1, m + 1))[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(1.0, adj)
    return out
