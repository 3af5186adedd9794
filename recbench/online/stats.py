"""Fixed-horizon statistics for online tests: per-arm estimates, lifts, p-values, SRM.

Every metric is a ratio of per-user sums, ``sum(num) / sum(den)``, clustered by user: a mean per
user has ``den = 1``, a click-through rate has ``num = clicks, den = impressions``. Its variance
comes from the delta method (Deng, Knoblich & Lu 2018, "Applying the Delta Method in Metric
Analytics", KDD), which treats the user as the randomisation unit, so several impressions of one
user are not counted as independent. Proportions (share of users with at least one click) also
get the Wilson interval and the pooled two-proportion z-test. Sample-ratio mismatch is a
chi-square goodness-of-fit test (Fabijan et al. 2019, "Diagnosing Sample Ratio Mismatch").

All functions take numpy arrays and return plain dataclasses; nothing prints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from recbench.errors import UsageError
from recbench.stats.lazy import sps


@dataclass(frozen=True)
class Estimate:
    """A ratio-of-sums estimate for one arm with its delta-method variance."""

    value: float
    var: float  # variance of the estimate (not of a single user)
    n: int  # users
    num: float  # sum of numerators
    den: float  # sum of denominators

    @property
    def se(self) -> float:
        return math.sqrt(max(self.var, 0.0))

    def interval(self, alpha: float = 0.05) -> tuple[float, float]:
        z = float(sps().norm.ppf(1 - alpha / 2))
        return self.value - z * self.se, self.value + z * self.se


@dataclass(frozen=True)
class Comparison:
    """Treatment versus control on one metric: difference, relative lift, interval, p-value."""

    control: float
    treatment: float
    diff: float
    diff_se: float
    lift: float  # treatment / control - 1
    lift_low: float
    lift_high: float
    p_value: float
    method: str


def ratio_estimate(num: np.ndarray, den: np.ndarray | None = None) -> Estimate:
    """``sum(num)/sum(den)`` over users, with the delta-method variance (sample moments, ddof 1).

    Var(Y/X) ~ (s_y^2 - 2 R s_xy + R^2 s_x^2) / (n mu_x^2), R = mean(Y)/mean(X) (Deng et al. 2018,
    eq. 3). With ``den`` None (all ones) this is the mean and s^2/n.
    """
    y = np.asarray(num, dtype=np.float64)
    n = len(y)
    if n == 0:
        raise UsageError("an arm has no users")
    if den is None:
        mean = float(y.mean())
        var = float(y.var(ddof=1)) / n if n > 1 else math.nan
        return Estimate(mean, var, n, float(y.sum()), float(n))
    x = np.asarray(den, dtype=np.float64)
    mx, my = float(x.mean()), float(y.mean())
    if mx <= 0:
        raise UsageError("a ratio metric has a zero denominator in an arm (no impressions)")
    r = my / mx
    if n < 2:
        return Estimate(r, math.nan, n, float(y.sum()), float(x.sum()))
    dy, dx = y - my, x - mx
    syy = float(dy @ dy) / (n - 1)
    sxx = float(dx @ dx) / (n - 1)
    sxy = float(dx @ dy) / (n - 1)
    var = (syy - 2 * r * sxy + r * r * sxx) / (n * mx * mx)
    return Estimate(r, max(var, 0.0), n, float(y.sum()), float(x.sum()))


def _two_sided(z: float) -> float:
    return float(2 * sps().norm.sf(abs(z))) if math.isfinite(z) else math.nan


def compare(control: Estimate, treatment: Estimate, alpha: float = 0.05) -> Comparison:
    """Unpooled z-test on the difference; lift interval by the delta method.

    Var(T/C - 1) ~ Var(T)/C^2 + T^2 Var(C)/C^4 (Deng et al. 2018, section 3.3).
    """
    c, t = control.value, treatment.value
    diff = t - c
    se = math.sqrt(control.var + treatment.var)
    z = diff / se if se > 0 else (0.0 if diff == 0 else math.copysign(math.inf, diff))
    p = _two_sided(z) if se > 0 else (1.0 if diff == 0 else 0.0)
    if c == 0:
        lift, lo, hi = math.nan, math.nan, math.nan
    else:
        lift = t / c - 1
        lift_se = math.sqrt(treatment.var / c**2 + t**2 * control.var / c**4)
        zc = float(sps().norm.ppf(1 - alpha / 2))
        lo, hi = lift - zc * lift_se, lift + zc * lift_se
    return Comparison(c, t, diff, se, lift, lo, hi, p, "delta method z-test")


def wilson_interval(count: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (as statsmodels' proportion_confint)."""
    if n <= 0:
        return math.nan, math.nan
    z = float(sps().norm.ppf(1 - alpha / 2))
    p = count / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return centre - half, centre + half


def pooled_proportion_p(c1: int, n1: int, c2: int, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test (statsmodels proportions_ztest)."""
    p = (c1 + c2) / (n1 + n2)
    se = math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0 if c1 / n1 == c2 / n2 else 0.0
    return _two_sided((c2 / n2 - c1 / n1) / se)


def compare_proportions(control: Estimate, treatment: Estimate, alpha: float = 0.05) -> Comparison:
    """Like :func:`compare`, with the pooled two-proportion z-test's p-value."""
    base = compare(control, treatment, alpha)
    p = pooled_proportion_p(round(control.num), control.n, round(treatment.num), treatment.n)
    return Comparison(
        base.control,
        base.treatment,
        base.diff,
        base.diff_se,
        base.lift,
        base.lift_low,
        base.lift_high,
        p,
        "pooled two-proportion z-test",
    )


def bootstrap_lift(
    control: tuple[np.ndarray, np.ndarray],
    treatment: tuple[np.ndarray, np.ndarray],
    n_boot: int,
    seed: int,
    alpha: float = 0.05,
    chunk: int = 64,
) -> tuple[float, float, float]:
    """Percentile interval and two-sided p-value of the relative lift by the Poisson bootstrap.

    Each arm's users are reweighted with Poisson(1) weights (Hanley & MacGibbon 2006; Chamandy et
    al. 2012 at Google), ``chunk`` replicates at a time, so memory stays at chunk x users.
    Returns (low, high, p) where p = 2 min(P*(lift <= 0), P*(lift >= 0)).
    """
    if n_boot < 100:
        raise UsageError(f"--bootstrap needs at least 100 replicates, got {n_boot}")
    rng = np.random.default_rng(seed)
    lifts = np.empty(n_boot)
    done = 0
    while done < n_boot:
        b = min(chunk, n_boot - done)
        ratios = []
        for num, den in (control, treatment):
            w = rng.poisson(1.0, size=(b, len(num))).astype(np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratios.append((w @ num) / (w @ den))
        with np.errstate(divide="ignore", invalid="ignore"):
            lifts[done : done + b] = ratios[1] / ratios[0] - 1
        done += b
    lifts = lifts[np.isfinite(lifts)]
    if not len(lifts):
        return math.nan, math.nan, math.nan
    lo, hi = np.quantile(lifts, [alpha / 2, 1 - alpha / 2])
    p = min(1.0, 2 * min(float((lifts <= 0).mean()), float((lifts >= 0).mean())))
    return float(lo), float(hi), p


@dataclass(frozen=True)
class SampleRatio:
    """Sample-ratio-mismatch check: observed users per arm against the intended shares."""

    observed: tuple[int, ...]
    expected: tuple[float, ...]
    chi2: float
    p_value: float
    threshold: float

    @property
    def mismatch(self) -> bool:
        return self.p_value < self.threshold


def sample_ratio_check(
    counts: list[int] | np.ndarray, shares: list[float] | None = None, threshold: float = 0.001
) -> SampleRatio:
    """Chi-square goodness of fit of users per arm against ``shares`` (default: equal).

    The conventional threshold is p < 0.001 (Fabijan et al. 2019): a mismatch means the
    assignment or logging is broken, and the test's results should not be trusted.
    """
    obs = np.asarray(counts, dtype=np.float64)
    if shares is None:
        sh = np.full(len(obs), 1 / len(obs))
    else:
        sh = np.asarray(shares, dtype=np.float64)
        if len(sh) != len(obs) or np.any(sh <= 0):
            raise UsageError(
                f"expected shares need one positive value per arm ({len(obs)} arms), got "
                f"{list(shares)}"
            )
        sh = sh / sh.sum()
    exp = sh * obs.sum()
    res = sps().chisquare(obs, exp)
    return SampleRatio(
        tuple(int(c) for c in obs),
        tuple(float(e) for e in exp),
        float(res.statistic),
        float(res.pvalue),
        threshold,
    )


def sign_test_p(wins_a: np.ndarray | int, wins_b: np.ndarray | int) -> np.ndarray:
    """Exact two-sided sign (binomial) test p-values, vectorised over arrays of win counts."""
    a = np.asarray(wins_a, dtype=np.int64)
    b = np.asarray(wins_b, dtype=np.int64)
    n = a + b
    k = np.minimum(a, b)
    p = 2 * sps().binom.cdf(k, np.maximum(n, 1), 0.5)
    return np.where(n > 0, np.minimum(p, 1.0), 1.0)
