"""Sample sizes and detectable effects for two-arm tests (normal approximation).

Each plan uses the variance model ``abtest analyze`` tests with, so a planned test has the power
it was planned for (``tests/test_online_power.py`` simulates it):

* a per-user proportion (conversion: one trial per user) uses Cohen's effect size
  h = 2 asin(sqrt(p2)) - 2 asin(sqrt(p1)) (Cohen 1988, ch. 6), exactly as statsmodels'
  ``proportion_effectsize`` + ``NormalIndPower``;
* a per-user mean uses d = delta / sd;
* a ratio metric (CTR = clicks / impressions, clustered by user) uses the delta-method variance
  of ``online.stats.ratio_estimate`` under a model of impressions and clicks (:class:`RatioModel`);
  the two arms' variances differ (they follow the rate), and the effect is
  delta / sqrt((V1 + V2/ratio) / (1 + 1/ratio)), as the unpooled z-test sees it.

Power counts both tails of the two-sided test:
power = Phi(|e| sqrt(n1 / (1 + 1/ratio)) - z_{1-alpha/2}) + Phi(-|e| sqrt(...) - z_{1-alpha/2}),
where n2 = ratio * n1. Sizes are rounded up to whole users.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from recbench.errors import UsageError
from recbench.stats.lazy import spo, sps


@dataclass(frozen=True)
class RatioModel:
    """Impressions per user and how much the click rate varies between users: what the
    delta-method variance of a clustered CTR depends on.

    Model: user i has X_i impressions (mean ``impressions_mean``, sd ``impressions_sd``) and
    clicks Y_i ~ Binomial(X_i, p_i), with user rates p_i of mean p and intra-user correlation
    ``icc`` = Var(p_i) / (p (1 - p)) (beta-binomial; 0: every user has the same rate). Then
    Var(Y - p X) = p (1 - p) (m + icc E[X (X - 1)]), E[X(X-1)] = sd^2 + m^2 - m, and one
    user's share of the ratio's variance is that over m^2 (Deng et al. 2018, eq. 3). The
    treatment arm keeps m, sd and icc at its own rate.
    """

    impressions_mean: float
    impressions_sd: float = 0.0
    icc: float = 0.0
    users: int | None = None  # pilot users it was estimated from, if any

    def __post_init__(self) -> None:
        m, s = self.impressions_mean, self.impressions_sd
        if not (m > 0 and math.isfinite(m)):
            raise UsageError(f"--impressions-mean must be positive, got {m}")
        if not (s >= 0 and math.isfinite(s)):
            raise UsageError(f"--impressions-sd must be >= 0, got {s}")
        if not self.icc < 1 or self.variance(0.5) <= 0:
            raise UsageError(f"--icc must be in [0, 1), got {self.icc}")

    def variance(self, rate: float) -> float:
        """One user's contribution to n x Var(CTR estimate) at click rate ``rate``."""
        m = self.impressions_mean
        pairs = self.impressions_sd**2 + m * m - m  # E[X (X - 1)]
        return rate * (1 - rate) * (m + self.icc * max(pairs, 0.0)) / (m * m)


def ratio_model_from_log(clicks: np.ndarray, impressions: np.ndarray) -> tuple[float, RatioModel]:
    """Baseline CTR and the :class:`RatioModel` of a pilot or historical log (one row per user).

    The icc is solved from the log's own delta-method variance, so the model reproduces the
    variance ``analyze`` would compute on that log exactly; it may come out slightly negative
    (clicks less spread than binomial), which the model allows.
    """
    y = np.asarray(clicks, dtype=np.float64)
    x = np.asarray(impressions, dtype=np.float64)
    if len(y) < 2:
        raise UsageError("a pilot log needs at least two users")
    if x.sum() <= 0:
        raise UsageError("the pilot log has no impressions")
    p = float(y.sum() / x.sum())
    if not 0 < p < 1:
        raise UsageError(f"the pilot log's CTR is {p:g}; a plan needs a rate in (0, 1)")
    m, s = float(x.mean()), float(x.std(ddof=1))
    dy, dx = y - y.mean(), x - m
    v = float((dy @ dy - 2 * p * (dx @ dy) + p * p * (dx @ dx)) / (len(y) - 1)) / (m * m)
    pairs = s * s + m * m - m
    icc = (v * m * m / (p * (1 - p)) - m) / pairs if pairs > 1e-12 else 0.0
    return p, RatioModel(m, s, icc, len(y))


@dataclass(frozen=True)
class Plan:
    """Users needed (or effect detectable) for a two-arm test."""

    metric: str  # "proportion", "mean" or "ratio"
    baseline: float  # baseline rate, or baseline mean
    sd: float | None  # per-user standard deviation (means; ratios: of the linearised control)
    lift: float  # relative lift (treatment / baseline - 1)
    effect_size: float  # Cohen's h or d
    alpha: float
    power: float
    ratio: float  # users in treatment per user in control
    n_control: int
    n_treatment: int
    n_exact: float  # control users before rounding up
    model: RatioModel | None = None  # impressions and between-user spread (ratio metrics)

    @property
    def n_total(self) -> int:
        return self.n_control + self.n_treatment


def _check(alpha: float, power: float, ratio: float) -> None:
    if not 0 < alpha < 1:
        raise UsageError(f"--alpha must be in (0, 1), got {alpha}")
    if not 0 < power < 1:
        raise UsageError(f"--power must be in (0, 1), got {power}")
    if ratio <= 0:
        raise UsageError(f"--ratio must be positive, got {ratio}")


def power_of(effect: float, n1: float, alpha: float, ratio: float = 1.0) -> float:
    """Two-sided power of the normal test for standardised effect ``effect`` with n1 controls."""
    crit = sps().norm.isf(alpha / 2)
    shift = abs(effect) * math.sqrt(n1 / (1 + 1 / ratio))
    return float(sps().norm.sf(crit - shift) + sps().norm.cdf(-crit - shift))


def _n_for(effect: float, alpha: float, power: float, ratio: float) -> float:
    if effect == 0:
        raise UsageError("the lift must not be zero")
    if power <= alpha:
        raise UsageError(f"--power ({power}) must exceed --alpha ({alpha})")
    approx = (sps().norm.isf(alpha / 2) + sps().norm.ppf(power)) ** 2 * (1 + 1 / ratio) / effect**2
    lo, hi = 1e-9, max(2.0, approx * 2)
    return float(
        spo().brentq(lambda n: power_of(effect, n, alpha, ratio) - power, lo, hi, xtol=1e-10)
    )


def _effect_for(n1: float, alpha: float, power: float, ratio: float) -> float:
    if n1 <= 0:
        raise UsageError(f"--users must be positive, got {n1}")
    if power <= alpha:
        raise UsageError(f"--power ({power}) must exceed --alpha ({alpha})")
    return float(
        spo().brentq(lambda e: power_of(e, n1, alpha, ratio) - power, 1e-12, 100.0, xtol=1e-14)
    )


def cohens_h(p1: float, p2: float) -> float:
    return 2 * math.asin(math.sqrt(p2)) - 2 * math.asin(math.sqrt(p1))


def _check_rate(p: float, name: str) -> None:
    if not 0 < p < 1:
        raise UsageError(f"{name} must be a rate in (0, 1), got {p}")


def plan_proportion(
    baseline: float, lift: float, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0
) -> Plan:
    """Users per arm to detect a relative ``lift`` of a ``baseline`` rate (two proportions)."""
    _check(alpha, power, ratio)
    _check_rate(baseline, "--baseline")
    target = baseline * (1 + lift)
    _check_rate(target, f"the treatment rate baseline x (1 + lift) = {target:g}")
    h = cohens_h(baseline, target)
    n = _n_for(h, alpha, power, ratio)
    return Plan(
        "proportion", baseline, None, lift, h, alpha, power, ratio,
        math.ceil(n - 1e-9), math.ceil(n * ratio - 1e-9), n,
    )  # fmt: skip


def _check_mean(baseline: float, sd: float) -> None:
    """A per-user mean plan needs a positive finite ``sd`` and a non-zero ``baseline``."""
    if sd <= 0 or not math.isfinite(sd):
        raise UsageError(f"the per-user standard deviation must be positive, got {sd}")
    if baseline == 0:
        raise UsageError("a relative lift needs a non-zero baseline mean")


def plan_mean(
    baseline: float,
    sd: float,
    lift: float,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
) -> Plan:
    """Users per arm to detect a relative ``lift`` of a per-user mean with per-user ``sd``."""
    _check(alpha, power, ratio)
    _check_mean(baseline, sd)
    d = baseline * lift / sd
    n = _n_for(d, alpha, power, ratio)
    return Plan(
        "mean", baseline, sd, lift, d, alpha, power, ratio,
        math.ceil(n - 1e-9), math.ceil(n * ratio - 1e-9), n,
    )  # fmt: skip


def detectable_proportion(
    baseline: float, n_control: int, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0
) -> Plan:
    """Smallest relative lift (upwards) of ``baseline`` detectable with ``n_control`` users."""
    _check(alpha, power, ratio)
    _check_rate(baseline, "--baseline")
    h = _effect_for(n_control, alpha, power, ratio)
    phi = 2 * math.asin(math.sqrt(baseline)) + h
    if phi >= math.pi:
        raise UsageError(f"no rate above {baseline:g} is detectable with {n_control} users per arm")
    target = math.sin(phi / 2) ** 2
    return Plan(
        "proportion", baseline, None, target / baseline - 1, h, alpha, power, ratio,
        n_control, math.ceil(n_control * ratio - 1e-9), float(n_control),
    )  # fmt: skip


def detectable_mean(
    baseline: float,
    sd: float,
    n_control: int,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
) -> Plan:
    """Smallest relative lift of a per-user mean detectable with ``n_control`` users."""
    _check(alpha, power, ratio)
    _check_mean(baseline, sd)
    d = _effect_for(n_control, alpha, power, ratio)
    return Plan(
        "mean", baseline, sd, d * sd / abs(baseline), d, alpha, power, ratio,
        n_control, math.ceil(n_control * ratio - 1e-9), float(n_control),
    )  # fmt: skip


def _ratio_effect(baseline: float, lift: float, model: RatioModel, ratio: float) -> float:
    """Standardised effect of a relative ``lift`` of a ratio metric (see the module docstring)."""
    target = baseline * (1 + lift)
    v1, v2 = model.variance(baseline), model.variance(target)
    return (target - baseline) / math.sqrt((v1 + v2 / ratio) / (1 + 1 / ratio))


def plan_ratio(
    baseline: float,
    model: RatioModel,
    lift: float,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
) -> Plan:
    """Users per arm to detect a relative ``lift`` of a CTR clustered by user (delta method)."""
    _check(alpha, power, ratio)
    _check_rate(baseline, "--baseline")
    target = baseline * (1 + lift)
    _check_rate(target, f"the treatment rate baseline x (1 + lift) = {target:g}")
    e = _ratio_effect(baseline, lift, model, ratio)
    n = _n_for(e, alpha, power, ratio)
    return Plan(
        "ratio", baseline, math.sqrt(model.variance(baseline)), lift, e, alpha, power, ratio,
        math.ceil(n - 1e-9), math.ceil(n * ratio - 1e-9), n, model,
    )  # fmt: skip


def detectable_ratio(
    baseline: float,
    model: RatioModel,
    n_control: int,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
) -> Plan:
    """Smallest relative lift (upwards) of a clustered CTR detectable with ``n_control`` users."""
    _check(alpha, power, ratio)
    _check_rate(baseline, "--baseline")
    e = _effect_for(n_control, alpha, power, ratio)
    top = (1 - 1e-9) / baseline - 1  # the treatment rate stays below 1
    if _ratio_effect(baseline, top, model, ratio) < e:
        raise UsageError(f"no rate above {baseline:g} is detectable with {n_control} users per arm")
    lift = float(spo().brentq(lambda lf: _ratio_effect(baseline, lf, model, ratio) - e, 1e-12, top))
    return Plan(
        "ratio", baseline, math.sqrt(model.variance(baseline)), lift, e, alpha, power, ratio,
        n_control, math.ceil(n_control * ratio - 1e-9), float(n_control), model,
    )  # fmt: skip


def per_user_moments(values: np.ndarray) -> tuple[float, float, int]:
    """Mean, sample sd and count of finite per-user values (e.g. a stored run's NDCG@10)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) < 2:
        raise UsageError("need at least two per-user values to estimate a standard deviation")
    return float(v.mean()), float(v.std(ddof=1)), len(v)


def check_targets(lifts: list[float], users: list[float]) -> None:
    """Exactly one of lifts (users needed) or user counts (detectable lift), counts whole."""
    if bool(lifts) == bool(users):
        raise UsageError("give exactly one of --lift (users needed) or --users (detectable lift)")
    for n in users:
        if n != int(n) or n <= 0:
            raise UsageError(f"--users expects positive whole numbers, got {n:g}")


def plans(
    lifts: list[float],
    users: list[float],
    *,
    baseline: float | None = None,
    mean: float | None = None,
    sd: float | None = None,
    model: RatioModel | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
) -> list[Plan]:
    """One plan per lift (users needed) or per user count (detectable lift).

    ``model`` with ``baseline``: a CTR clustered by user; ``mean`` and ``sd``: a per-user mean;
    ``baseline`` alone: a per-user proportion.
    """
    check_targets(lifts, users)
    out = []
    for value in lifts or users:
        if mean is not None:
            if sd is None:
                raise UsageError("--mean needs --sd (the per-user standard deviation)")
            out.append(
                plan_mean(mean, sd, value, alpha, power, ratio)
                if lifts
                else detectable_mean(mean, sd, int(value), alpha, power, ratio)
            )
        elif baseline is None:
            raise UsageError("a plan needs a baseline rate or mean")
        elif model is not None:
            out.append(
                plan_ratio(baseline, model, value, alpha, power, ratio)
                if lifts
                else detectable_ratio(baseline, model, int(value), alpha, power, ratio)
            )
        else:
            out.append(
                plan_proportion(baseline, value, alpha, power, ratio)
                if lifts
                else detectable_proportion(baseline, int(value), alpha, power, ratio)
            )
    return out
