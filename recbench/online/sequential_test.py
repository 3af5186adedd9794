"""Sequential A/B testing: peeking-safe inference for a difference of means observed over time.

Two views, both computed at every look (each simulated day):

* **mSPRT** always-valid p-values and confidence sequences (Johari, Koomen, Pekelis & Walsh
  2017, "Peeking at A/B Tests: Why it matters, and what to do about it", KDD; the normal mixture
  of Robbins 1970). Valid under continuous monitoring with no planned horizon, so over a short
  horizon of daily looks it is conservative: its type I error is well below alpha.
* **Group-sequential boundaries** by alpha spending (Lan & DeMets 1983, O'Brien-Fleming-type
  spending function alpha(t) = 2 - 2 Phi(z_{alpha/2} / sqrt(t))): valid for the planned looks
  and spending exactly alpha by the last one, so an A/A test rejects in about alpha of runs.

Boundaries are found by the recursive numerical integration of Armitage, McPherson & Rowe (1969)
(Jennison & Turnbull 2000, ch. 19) on a grid of the score statistic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from recbench.errors import UsageError
from recbench.stats.lazy import spo, sps


def msprt_lambda(diff: np.ndarray, var: np.ndarray, tau2: float) -> np.ndarray:
    """Mixture likelihood ratio for H0: difference = 0 with a N(0, tau2) mixing prior.

    Lambda = sqrt(V / (V + tau2)) exp(d^2 tau2 / (2 V (V + tau2))) (Johari et al. 2017, eq. 11,
    with the difference's estimated variance V in place of 2 sigma^2 / n).
    """
    d = np.asarray(diff, dtype=np.float64)
    v = np.asarray(var, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_l = 0.5 * np.log(v / (v + tau2)) + d * d * tau2 / (2 * v * (v + tau2))
        return np.where(v > 0, np.exp(np.minimum(log_l, 700.0)), 1.0)


def always_valid_p(diff: np.ndarray, var: np.ndarray, tau2: float) -> np.ndarray:
    """Running always-valid p-values p_t = min(p_{t-1}, 1 / Lambda_t)."""
    lam = msprt_lambda(diff, var, tau2)
    return np.minimum.accumulate(np.minimum(1.0, 1.0 / lam))


def confidence_sequence(
    diff: np.ndarray, var: np.ndarray, tau2: float, alpha: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """Always-valid (1 - alpha) intervals for the difference, intersected over time.

    The set of theta not rejected by the mSPRT centred at theta:
    d +- sqrt(V (V + tau2) / tau2 * (2 log(1/alpha) + log((V + tau2) / V))).
    """
    d = np.asarray(diff, dtype=np.float64)
    v = np.asarray(var, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        half = np.sqrt(v * (v + tau2) / tau2 * (2 * math.log(1 / alpha) + np.log((v + tau2) / v)))
    half = np.where(v > 0, half, np.inf)
    lo = np.maximum.accumulate(d - half)
    hi = np.minimum.accumulate(d + half)
    return lo, hi


def obf_spending(t: np.ndarray, alpha: float) -> np.ndarray:
    """Lan-DeMets O'Brien-Fleming-type cumulative alpha spent by information fraction t."""
    t = np.asarray(t, dtype=np.float64)
    z = sps().norm.ppf(1 - alpha / 2)
    with np.errstate(divide="ignore"):
        return np.where(t > 0, 2 - 2 * sps().norm.cdf(z / np.sqrt(np.maximum(t, 1e-300))), 0.0)


def gs_boundaries(fractions: tuple[float, ...] | np.ndarray, alpha: float = 0.05) -> np.ndarray:
    """Two-sided z boundaries c_k for looks at information fractions ``fractions`` (last = 1)."""
    fr = tuple(round(float(f), 10) for f in fractions)
    if not fr or any(b <= a for a, b in zip((0.0, *fr[:-1]), fr, strict=True)) or fr[-1] > 1:
        raise UsageError("looks need increasing information fractions in (0, 1]")
    return np.array(_boundaries(fr, round(alpha, 12)))


@lru_cache(maxsize=64)
def _boundaries(fr: tuple[float, ...], alpha: float, grid: int = 1201) -> tuple[float, ...]:
    spend = np.diff(np.concatenate([[0.0], obf_spending(np.array(fr), alpha)]))
    bounds: list[float] = []
    # density of the score S_k = Z_k sqrt(t_k) on the continuation region, on a grid
    t1 = fr[0]
    c1 = float(sps().norm.isf(spend[0] / 2)) if spend[0] > 0 else math.inf
    bounds.append(c1)
    b = min(c1, 8.0) * math.sqrt(t1)
    xs = np.linspace(-b, b, grid)
    dens = sps().norm.pdf(xs, scale=math.sqrt(t1))
    w = _simpson_weights(xs)
    for k in range(1, len(fr)):
        dt = fr[k] - fr[k - 1]
        sd = math.sqrt(dt)
        sk = math.sqrt(fr[k])
        mass = dens * w

        target = float(spend[k])
        if target <= 0:
            c = 8.0
        else:
            args = (xs, mass, sd, sk, target)
            c = float(spo().brentq(_excess, 1e-6, 40.0, args=args, xtol=1e-10))
        bounds.append(c)
        bk = c * sk
        new_xs = np.linspace(-bk, bk, grid)
        kern = sps().norm.pdf((new_xs[:, None] - xs[None, :]) / sd) / sd
        dens = kern @ mass
        xs, w = new_xs, _simpson_weights(new_xs)
    return tuple(bounds)


def _excess(
    c: float, xs: np.ndarray, mass: np.ndarray, sd: float, sk: float, target: float
) -> float:
    """P(continue to look k-1, then |Z_k| >= c) minus the alpha to spend at look k."""
    up = sps().norm.sf((c * sk - xs) / sd)
    down = sps().norm.cdf((-c * sk - xs) / sd)
    return float(mass @ (up + down)) - target


def _simpson_weights(xs: np.ndarray) -> np.ndarray:
    n = len(xs)
    h = (xs[-1] - xs[0]) / (n - 1)
    w = np.ones(n)
    w[1:-1:2] = 4
    w[2:-1:2] = 2
    return w * h / 3


@dataclass(frozen=True)
class SequentialView:
    """Per-look sequential statistics for a difference ``treatment - control``."""

    diff: np.ndarray
    var: np.ndarray
    z: np.ndarray
    naive_p: np.ndarray  # fixed-horizon p-value at each look (not safe to peek at)
    always_valid_p: np.ndarray
    cs_low: np.ndarray
    cs_high: np.ndarray
    boundary: np.ndarray  # group-sequential |z| boundary at each look
    tau2: float
    alpha: float = 0.05

    @property
    def gs_reject(self) -> bool:
        return bool(np.any(np.abs(self.z) >= self.boundary))

    @property
    def gs_stop_look(self) -> int | None:
        hit = np.flatnonzero(np.abs(self.z) >= self.boundary)
        return int(hit[0]) if len(hit) else None

    @property
    def msprt_reject(self) -> bool:
        return bool(self.always_valid_p[-1] < self.alpha)

    @property
    def naive_peeking_reject(self) -> bool:
        return bool(np.any(self.naive_p < self.alpha))


def sequential_view(
    diff: np.ndarray,
    var: np.ndarray,
    fractions: np.ndarray,
    alpha: float = 0.05,
    tau2: float | None = None,
) -> SequentialView:
    """Both sequential views for looks with differences ``diff`` and their variances ``var``.

    ``tau2`` is the mSPRT mixing variance on the difference scale. By default it is the variance
    the difference will have at the planned last look, predicted from the first look alone as
    V_1 x (information fraction of look 1), so the mixture is tuned to effects of about one
    standard error of the planned test and no later data is used to choose it.
    """
    d = np.asarray(diff, dtype=np.float64)
    v = np.asarray(var, dtype=np.float64)
    fr = np.asarray(fractions, dtype=np.float64)
    if tau2 is None:
        ok = np.flatnonzero(np.isfinite(v) & (v > 0))
        tau2 = float(v[ok[0]] * fr[ok[0]]) if len(ok) else 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(v > 0, d / np.sqrt(v), 0.0)
    naive = 2 * sps().norm.sf(np.abs(z))
    lo, hi = confidence_sequence(d, v, tau2, alpha)
    return SequentialView(
        d,
        v,
        z,
        naive,
        always_valid_p(d, v, tau2),
        lo,
        hi,
        gs_boundaries(fractions, alpha),
        tau2,
        alpha,
    )
