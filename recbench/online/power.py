"""Sample sizes and detectable effects for two-arm tests (normal approximation).

Two proportions use Cohen's effect size h = 2 asin(sqrt(p2)) - 2 asin(sqrt(p1)) (Cohen 1988,
ch. 6), exactly as statsmodels' ``proportion_effectsize`` + ``NormalIndPower``; a per-user
continuous metric uses d = delta / sd. Power counts both tails of the two-sided test:
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
class Plan:
    """Users needed (or effect detectable) for a two-arm test."""

    metric: str  # "proportion" or "mean"
    baseline: float  # baseline rate, or baseline mean
    sd: float | None  # per-user standard deviation (means only)
    lift: float  # relative lift (treatment / baseline - 1)
    effect_size: float  # Cohen's h or d
    alpha: float
    power: float
    ratio: float  # users in treatment per user in control
    n_control: int
    n_treatment: int
    n_exact: float  # control users before rounding up

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


def per_user_moments(values: np.ndarray) -> tuple[float, float, int]:
    """Mean, sample sd and count of finite per-user values (e.g. a stored run's NDCG@10)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) < 2:
        raise UsageError("need at least two per-user values to estimate a standard deviation")
    return float(v.mean()), float(v.std(ddof=1)), len(v)
