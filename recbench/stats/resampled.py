"""The corrected resampled t (Nadeau & Bengio 2003) for results over several training runs.

With k folds or ``--repeats N`` a table value is the mean of J run values (one per fold of each
repeat), and two runs share most of their training data (and, under repeats, their test users).
The run values are therefore positively correlated, and the plain t statistic over them, whose
variance ``s^2 / J`` assumes independence, is too small: its interval is too narrow and its
test rejects too often (Dietterich 1998; Bengio & Grandvalet 2004 show no unbiased estimator of
that variance exists). Nadeau & Bengio (2003, *Machine Learning* 52:239) model the correlation
as ``rho = n_test / n`` and inflate the variance to

    s^2 · (1/J + n_test / n_train)

keeping ``J - 1`` degrees of freedom. Bouckaert & Frank (2004, PAKDD) apply it to repeated
k-fold cross-validation with J = k·R runs and ``n_test / n_train = 1 / (k - 1)``, and found it
the best-calibrated and most replicable of the tests they compared; recbench does the same for
every result with ``--repeats`` (repeated single splits, repeated k-fold). One k-fold without
repeats keeps the plain t over its folds: the folds' test sets are disjoint, and in recbench's
A/A simulation (``tests/test_stats_repeats.py``) the plain t is calibrated there while the
corrected one rejects at about a quarter of the nominal rate.

The interval of a mean is ``mean ± t_{J-1, (1+level)/2} · sqrt((1/J + ratio) s^2)``; the paired
test applies the same statistic to the per-run differences ``a_j - b_j`` of two algorithms run on
the same seeded splits (:func:`recbench.stats.paired.corrected_paired_tests`). Pure functions:
arrays in, numbers and :class:`Interval` out.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from recbench.errors import UsageError
from recbench.stats._checks import as_columns, check_level
from recbench.stats.estimate import DEFAULT_LEVEL, Interval

#: ``Interval.method`` / ``PairedResult.test`` of the corrected resampled t
CORRECTED_T = "corrected-t"


def check_ratio(ratio: float) -> float:
    """``n_test / n_train`` of one run: a finite number >= 0."""
    r = float(ratio)
    if not np.isfinite(r) or r < 0:
        raise UsageError(f"the test/train size ratio must be a finite number >= 0, got {ratio}")
    return r


def size_ratio(n_test: ArrayLike, n_total: float) -> float:
    """Mean ``n_test / n_train`` of runs that each hold out ``n_test`` of ``n_total`` ratings
    (the rest counts as training); 0.0 when no run has both parts."""
    t = np.asarray(n_test, dtype=np.float64).ravel()
    train = float(n_total) - t
    ok = np.isfinite(t) & (train > 0) & (t >= 0)
    return float(np.mean(t[ok] / train[ok])) if ok.any() else 0.0


def variance_factor(n_runs: int, ratio: float) -> float:
    """Nadeau & Bengio's factor ``1/J + n_test/n_train`` that multiplies the sample variance."""
    if n_runs < 2:
        raise UsageError(f"the corrected resampled t needs at least two runs, got {n_runs}")
    return 1.0 / n_runs + check_ratio(ratio)


def student_t_interval(
    values: ArrayLike, factor: float | None, *, level: float, over: str, method: str, name: str
) -> Interval:
    """``mean ± t_{J-1, (1+level)/2} · s · sqrt(factor)`` of J run values (``factor`` None:
    ``1/J``, the plain t). The one body behind the plain and the corrected t-interval; ``name``
    words its errors. NaN values are an error (a run without a value is a bug upstream)."""
    lev = check_level(level)
    x = np.asarray(values, dtype=np.float64).ravel()
    if len(x) < 2:
        raise UsageError(f"a {name} needs at least two {over}, got {len(x)}")
    if not np.isfinite(x).all():
        raise UsageError(f"a {name} needs a finite value for every one of the {over}")
    mean = float(x.mean())
    scale = 1.0 / np.sqrt(len(x)) if factor is None else np.sqrt(factor)
    # stdtrit(df, q) is the t quantile scipy.stats.t.ppf computes (same values), without
    # importing scipy.stats (about 0.6 s of every command's start-up)
    t_q = special.stdtrit(len(x) - 1, (1.0 + lev) / 2.0)
    half = float(t_q * x.std(ddof=1) * scale)
    return Interval(mean, mean - half, mean + half, method, len(x), over, lev)


def corrected_t_interval(
    values: ArrayLike,
    *,
    ratio: float,
    level: float = DEFAULT_LEVEL,
    over: str = "repeats",
) -> Interval:
    """Corrected resampled t-interval of the mean of J run values (``ratio`` = n_test/n_train).

    ``over`` names the runs (``"folds"`` or ``"repeats"``); NaN values are an error (a run
    without a value is a bug upstream).
    """
    n = len(np.asarray(values).ravel())
    factor = variance_factor(n, ratio) if n >= 2 else None
    return student_t_interval(
        values, factor, level=level, over=over, method=CORRECTED_T, name="corrected t-interval"
    )


def corrected_t_pvalues(differences: ArrayLike, *, ratio: float) -> NDArray[np.float64]:
    """Two-sided p of the corrected resampled t for each column of (J, m) per-run differences.

    NaN entries leave that run out of the column. All-zero differences give p = 1 exactly;
    constant non-zero differences (no spread at all) give p = 0, as for the plain t.
    """
    d = as_columns(differences, "per-run differences")
    p = np.ones(d.shape[1])
    for j in range(d.shape[1]):
        col = d[~np.isnan(d[:, j]), j]
        if len(col) < 2:
            raise UsageError(f"a paired test over runs needs at least two runs, got {len(col)}")
        if not (col != 0).any():
            continue
        var = variance_factor(len(col), ratio) * col.var(ddof=1)
        if var <= 0:
            p[j] = 0.0
            continue
        t = abs(col.mean()) / np.sqrt(var)
        p[j] = float(2.0 * special.stdtr(len(col) - 1, -t))
    return p
