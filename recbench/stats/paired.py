"""Paired significance tests between two algorithms evaluated on the same users.

``a`` and ``b`` hold per-user values of one metric (or an (n_users, m) matrix of m metrics /
comparisons) for the same users in the same order; the tests are two-sided and concern the mean
paired difference ``a - b``. A user whose value is NaN in either array is left out of that
column. Three tests:

- ``"randomization"`` (default): the paired randomization (sign-flip permutation) test of
  Fisher (1935), as recommended for IR evaluation by Smucker, Allan & Carterette (CIKM 2007).
  Under H0 each user's two values are exchangeable, so every sign pattern of the differences is
  equally likely; the statistic is ``|sum(d)|``. With at most ``n_rounds`` patterns
  (``2**n <= n_rounds``) every pattern is enumerated and the p-value is exact; otherwise
  ``n_rounds`` patterns are drawn from ``numpy.random.default_rng(seed)`` and
  ``p = (b + 1) / (R + 1)`` (Phipson & Smyth 2010), so it is never 0 and, with the default
  20,000 rounds, resolves p down to 5e-5. One draw of sign patterns serves every column.
  When no drawn pattern is as extreme (``b = 0``), the p-value reported is the smaller of
  ``1 / (R + 1)`` and Hoeffding's (1963) bound ``2 exp(-T^2 / (2 sum d^2))`` on the exact
  randomization p-value (sign-flipped sums are sub-Gaussian). Without it every clear
  difference would sit at the Monte Carlo floor, and after a Holm correction over a table of
  m comparisons no adjusted p could fall below ``m / (R + 1)`` (0.003 for 60 comparisons).
- ``"t"``: Student's paired t-test (``scipy.stats.ttest_rel``, computed as the equivalent
  one-sample test of the differences).
- ``"wilcoxon"``: the Wilcoxon signed-rank test (``scipy.stats.wilcoxon``, normal
  approximation with tie correction for large n) with **Pratt's (1959) handling of zero
  differences** (``zero_method="pratt"``): users whose two values are equal (typically both 0:
  no hit for either model) are ranked with the others and then given no sign, rather than
  dropped before ranking (Wilcoxon 1945, scipy's default). Those users are part of the sample:
  dropping them ranks a small non-zero difference as if the ties did not exist, and Pratt showed
  that dropping zeros can make the test non-monotone (a sample judged significantly positive
  can stop being so when its values are increased). scipy adjusts the normal approximation
  for the zeros (Cureton 1967). The randomization test is unaffected: a zero difference adds
  nothing to any sign-flipped sum.

Several training runs (k folds, ``--repeats``) are compared with
:func:`corrected_paired_tests`: the corrected resampled t of Nadeau & Bengio (2003) on the
per-run differences of the table values (:mod:`recbench.stats.resampled`).

Identical arrays give ``p = 1`` exactly under every test. Each result also carries the mean
paired difference and its confidence interval: a t-interval for the t-test, otherwise the
bootstrap interval of :mod:`recbench.stats.intervals` (BCa) over users.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from recbench.errors import UsageError
from recbench.stats._checks import (
    as_columns,
    check_alpha,
    check_choice,
    check_level,
    check_positive_int,
)
from recbench.stats.intervals import (
    DEFAULT_LEVEL,
    DEFAULT_N_BOOT,
    bootstrap_ci_columns,
    t_interval,
)
from recbench.stats.lazy import sps
from recbench.stats.resampled import CORRECTED_T, corrected_t_interval, corrected_t_pvalues

TESTS = ("randomization", "t", "wilcoxon")
DEFAULT_ROUNDS = 20_000
#: sign patterns are drawn in chunks of at most this many (round x user) entries (8 MB as
#: float64: the chunk stays in cache, about twice as fast as larger chunks)
_CHUNK = 1 << 20

Matrix = NDArray[np.float64]


@dataclass(frozen=True)
class PairedResult:
    """One paired comparison of ``a`` against ``b`` (two-sided).

    ``mean_diff`` is the mean over users of ``a - b``, with its ``level`` interval
    ``[low, high]``; ``n`` is the number of paired users (of runs for ``corrected-t``); ``p`` is
    the unadjusted p-value.
    """

    test: str
    p: float
    mean_diff: float
    low: float
    high: float
    n: int
    level: float = DEFAULT_LEVEL


def check_test(name: str) -> str:
    """The canonical name for ``--test``; UsageError for an unknown one."""
    return check_choice(name, TESTS, "test")


def paired_test(
    a: ArrayLike,
    b: ArrayLike,
    *,
    test: str = "randomization",
    n_rounds: int = DEFAULT_ROUNDS,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
    n_boot: int = DEFAULT_N_BOOT,
) -> PairedResult:
    """Compare two 1-D per-user arrays of the same users; see the module notes for the tests."""
    if np.ndim(a) != 1 or np.ndim(b) != 1:
        raise UsageError("paired_test takes two 1-D arrays; use paired_tests for matrices")
    return paired_tests(a, b, test=test, n_rounds=n_rounds, seed=seed, level=level, n_boot=n_boot)[
        0
    ]


def paired_tests(
    a: ArrayLike,
    b: ArrayLike,
    *,
    test: str = "randomization",
    n_rounds: int = DEFAULT_ROUNDS,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
    n_boot: int = DEFAULT_N_BOOT,
) -> list[PairedResult]:
    """:func:`paired_test` for every column of two (n_users, m) matrices (one result each).

    ``b`` may also be a 1-D baseline array, compared against every column of ``a``.
    """
    lev = check_level(level)
    name = check_choice(test, TESTS, "test")
    d = _differences(a, b)
    p = _pvalues(d, name, n_rounds, seed)
    n = (~np.isnan(d)).sum(axis=0)
    if name == "t":
        cis = [
            t_interval(d[~np.isnan(d[:, j]), j], level=lev, over="users") for j in range(d.shape[1])
        ]
    else:
        cis = bootstrap_ci_columns(d, level=lev, n_boot=n_boot, seed=seed)
    return [
        PairedResult(name, float(p[j]), ci.mean, ci.low, ci.high, int(n[j]), lev)
        for j, ci in enumerate(cis)
    ]


def paired_pvalues(
    a: ArrayLike,
    b: ArrayLike,
    *,
    test: str = "randomization",
    n_rounds: int = DEFAULT_ROUNDS,
    seed: int = 0,
) -> NDArray[np.float64]:
    """Only the p-values of :func:`paired_tests`, one per column (fast path for many columns)."""
    name = check_choice(test, TESTS, "test")
    return _pvalues(_differences(a, b), name, n_rounds, seed)


def randomization_pvalues(
    differences: ArrayLike, *, n_rounds: int = DEFAULT_ROUNDS, seed: int = 0
) -> NDArray[np.float64]:
    """Two-sided sign-flip randomization p-values for each column of paired differences
    (exact, Monte Carlo, or Hoeffding's bound beyond the Monte Carlo floor: module notes).

    NaN differences count as 0, which leaves ``sum(d)`` and each sign-flipped sum unchanged:
    the same as leaving those users out.
    """
    d = as_columns(differences, "paired differences")
    rounds = check_positive_int(n_rounds, "number of randomization rounds")
    d = np.nan_to_num(d)
    n, m = d.shape
    observed = np.abs(d.sum(axis=0))
    # Sums computed in another order differ by rounding; a flipped sum within this tolerance of
    # the observed one counts as "at least as extreme" (identical arrays: every sum is 0 -> p=1).
    tol = 1e-9 * np.abs(d).sum(axis=0)
    if n < 63 and 2**n <= rounds:  # few users: enumerate every sign pattern, exact p
        total = 1 << n
        count = np.zeros(m)
        step = max(1, _CHUNK // max(n, 1))
        bits = np.arange(n, dtype=np.int64)
        for start in range(0, total, step):
            codes = np.arange(start, min(total, start + step), dtype=np.int64)
            signs = ((codes[:, None] >> bits) & 1) * 2.0 - 1.0
            count += (np.abs(signs @ d) >= observed - tol).sum(axis=0)
        return count / total
    rng = np.random.default_rng(seed)
    chunk = max(1, min(rounds, _CHUNK // max(n, 1)))
    n_bytes = (n + 7) // 8
    extreme = np.zeros(m)
    total = d.sum(axis=0)
    for start in range(0, rounds, chunk):
        c = min(chunk, rounds - start)
        raw = rng.integers(0, 256, size=(c, n_bytes), dtype=np.uint8)
        # signs s = 2b - 1 from bits b: s @ d = 2 (b @ d) - sum(d), without building s
        bits = np.unpackbits(raw, axis=1, count=n).astype(np.float64)
        extreme += (np.abs(2.0 * (bits @ d) - total) >= observed - tol).sum(axis=0)
    floor = 1.0 / (rounds + 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = 2.0 * np.exp(-(observed**2) / (2.0 * (d * d).sum(axis=0)))
    p = np.where(
        extreme == 0, np.minimum(floor, np.nan_to_num(bound, nan=1.0)), (extreme + 1.0) * floor
    )
    return np.asarray(p, dtype=np.float64)


def verdict(
    mean_diff: float, p_adjusted: float, alpha: float, higher_is_better: bool
) -> str | None:
    """``"better"`` / ``"worse"`` when ``a`` differs significantly from ``b``, else ``None``."""
    alpha = check_alpha(alpha)
    if not p_adjusted < alpha or mean_diff == 0 or mean_diff != mean_diff:
        return None
    return "better" if (mean_diff > 0) == higher_is_better else "worse"


def _differences(a: ArrayLike, b: ArrayLike) -> Matrix:
    xa = as_columns(a, "per-user values")
    xb = as_columns(b, "per-user values")
    if xa.shape[0] != xb.shape[0]:
        raise UsageError(
            f"paired tests need the same users on both sides, got {xa.shape[0]} and {xb.shape[0]}"
        )
    if xb.shape[1] == 1 and xa.shape[1] > 1:
        xb = np.broadcast_to(xb, xa.shape)
    if xa.shape != xb.shape:
        raise UsageError(f"paired arrays differ in shape: {xa.shape} and {xb.shape}")
    d = xa - xb
    n = (~np.isnan(d)).sum(axis=0)
    if (n < 2).any():
        raise UsageError(f"a paired test needs at least two paired users, got {int(n.min())}")
    return d


def _pvalues(d: Matrix, test: str, n_rounds: int, seed: int) -> NDArray[np.float64]:
    if test == "randomization":
        return randomization_pvalues(d, n_rounds=n_rounds, seed=seed)
    p = np.ones(d.shape[1])
    nonzero = (np.nan_to_num(d) != 0).any(axis=0)  # all-zero differences: p = 1 exactly
    complete = ~np.isnan(d).any(axis=0)
    fast = np.flatnonzero(nonzero & complete)
    if len(fast):
        p[fast] = _scipy_p(d[:, fast], test)
    for j in np.flatnonzero(nonzero & ~complete):  # columns with missing users, one at a time
        col = d[~np.isnan(d[:, j]), j]
        p[j] = _scipy_p(col[:, None], test)[0]
    return p


def _scipy_p(d: Matrix, test: str) -> NDArray[np.float64]:
    p = np.zeros(d.shape[1])  # constant non-zero differences: the difference is certain
    varied = np.flatnonzero(np.ptp(d, axis=0) > 0)
    if test == "wilcoxon":
        varied = np.arange(d.shape[1])  # ranks do not need spread; scipy handles constants
    if len(varied):
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            x = d[:, varied]
            if test == "t":
                res = sps().ttest_1samp(x, 0.0, axis=0).pvalue
            else:
                res = sps().wilcoxon(x, zero_method="pratt", axis=0).pvalue
        p[varied] = np.asarray(res, dtype=np.float64)
    return np.where(np.isnan(p), 1.0, p)


def corrected_paired_tests(
    a: ArrayLike, b: ArrayLike, *, ratio: float, level: float = DEFAULT_LEVEL
) -> list[PairedResult]:
    """Corrected resampled paired t of ``a`` against ``b``: (J, m) run values on the same runs.

    ``b`` may be (J,) or (J, 1), compared against every column of ``a``. Each result's
    ``mean_diff`` is the mean over runs of ``a - b`` with its corrected t-interval, ``n`` the
    number of runs.
    """
    lev = check_level(level)
    xa = as_columns(a, "per-run values")
    xb = as_columns(b, "per-run values")
    if xb.shape[1] == 1 and xa.shape[1] > 1:
        xb = np.broadcast_to(xb, xa.shape)
    if xa.shape != xb.shape:
        raise UsageError(f"per-run values differ in shape: {xa.shape} and {xb.shape}")
    d = xa - xb
    p = corrected_t_pvalues(d, ratio=ratio)
    out = []
    for j in range(d.shape[1]):
        col = d[~np.isnan(d[:, j]), j]
        iv = corrected_t_interval(col, ratio=ratio, level=lev, over="runs")
        out.append(PairedResult(CORRECTED_T, float(p[j]), iv.mean, iv.low, iv.high, len(col), lev))
    return out
