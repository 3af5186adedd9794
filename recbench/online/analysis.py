"""Per-user outcome table -> per-arm estimates, comparisons against control, SRM check.

Used by ``abtest analyze`` on a real log and by ``abtest simulate`` on a simulated one. The input
is one row per user with columns ``arm``, ``impressions``, ``clicks`` and optional extras:
``rated_clicks`` + ``rating_sum`` (engagement: mean rating of clicked items) and value columns
(means per user). Metrics:

* ``ctr``: clicks / impressions, a ratio of per-user sums (delta method, clustered by user)
* ``clicks/user``: mean clicks per user
* ``conversion``: share of users with at least one click (Wilson interval, pooled z-test)
* ``engagement``: rating_sum / rated_clicks (delta method), when present
* each value column: mean per user
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from recbench.errors import UsageError
from recbench.online import stats as st


@dataclass(frozen=True)
class MetricDef:
    name: str
    num: str
    den: str | None = None
    proportion: bool = False
    description: str = ""


CTR = MetricDef("ctr", "clicks", "impressions", description="clicks / impressions")
CLICKS = MetricDef("clicks/user", "clicks", description="mean clicks per user")
CONVERSION = MetricDef(
    "conversion", "_converted", proportion=True, description="users with >= 1 click"
)
ENGAGEMENT = MetricDef(
    "engagement", "rating_sum", "rated_clicks", description="mean rating of clicked items"
)


def check_analysis(bootstrap: int, srm_threshold: float) -> None:
    """analyze's options, checked before the log is read."""
    if bootstrap < 0:
        raise UsageError(f"--bootstrap must be >= 0, got {bootstrap}")
    if not 0 < srm_threshold < 1:
        raise UsageError(f"--srm-threshold must be in (0, 1), got {srm_threshold}")


def metric_defs(frame: pd.DataFrame, values: list[str] | None = None) -> list[MetricDef]:
    """The metrics a per-user frame supports, primary (CTR) first."""
    defs = [CTR, CLICKS, CONVERSION]
    if {"rating_sum", "rated_clicks"} <= set(frame.columns):
        defs.append(ENGAGEMENT)
    for v in values or []:
        defs.append(MetricDef(v, v, description=f"mean {v} per user"))
    return defs


@dataclass(frozen=True)
class ArmRow:
    arm: str
    metric: str
    users: int
    value: float
    low: float
    high: float
    se: float


@dataclass(frozen=True)
class CompareRow:
    arm: str  # treatment arm
    control: str
    metric: str
    result: st.Comparison
    boot_low: float | None = None
    boot_high: float | None = None
    boot_p: float | None = None


@dataclass
class Analysis:
    """Everything ``abtest analyze`` reports."""

    arms: list[str]  # control first
    users: dict[str, int]
    impressions: dict[str, float]
    clicks: dict[str, float]
    estimates: list[ArmRow]
    comparisons: list[CompareRow]
    srm: st.SampleRatio
    alpha: float
    metrics: list[MetricDef]
    overlap_users: int = 0
    overlap_examples: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def comparison(self, metric: str, arm: str | None = None) -> st.Comparison:
        for row in self.comparisons:
            if row.metric == metric and (arm is None or row.arm == arm):
                return row.result
        raise KeyError(metric)

    def estimate(self, metric: str, arm: str) -> ArmRow:
        for row in self.estimates:
            if row.metric == metric and row.arm == arm:
                return row
        raise KeyError((metric, arm))


def order_arms(names: list[str], control: str | None) -> list[str]:
    """Control first, then the others sorted; control defaults to 'control', 'A' or the first."""
    arms = sorted(names, key=str)
    if control is None:
        lowered = {a.lower(): a for a in arms}
        control = lowered.get("control") or lowered.get("a") or arms[0]
    elif control not in arms:
        raise UsageError(
            f"--control '{control}' is not an arm of the log (arms: {', '.join(arms)})"
        )
    return [control, *[a for a in arms if a != control]]


def analyze_users(
    users: pd.DataFrame,
    control: str | None = None,
    alpha: float = 0.05,
    values: list[str] | None = None,
    shares: list[float] | None = None,
    srm_threshold: float = 0.001,
    bootstrap: int = 0,
    seed: int = 0,
) -> Analysis:
    """Analyse a one-row-per-user frame (see the module docstring)."""
    if not 0 < alpha < 1:
        raise UsageError(f"--alpha must be in (0, 1), got {alpha}")
    names = [str(a) for a in pd.unique(users["arm"])]
    if len(names) < 2:
        only = names[0] if names else "none"
        raise UsageError(f"the log has only one arm ({only}); an A/B test needs at least two")
    arms = order_arms(names, control)
    frame = users.assign(_converted=(users["clicks"].to_numpy() > 0).astype(np.float64))
    defs = metric_defs(frame, values)
    groups = {a: g for a, g in frame.groupby(frame["arm"].astype(str), sort=False)}
    est: dict[tuple[str, str], st.Estimate] = {}
    rows: list[ArmRow] = []
    for m in defs:
        for a in arms:
            g = groups[a]
            num = g[m.num].to_numpy(np.float64)
            den = None if m.den is None else g[m.den].to_numpy(np.float64)
            if den is not None and den.sum() <= 0:
                if m is CTR:
                    raise UsageError(f"arm '{a}' has no impressions")
                e = st.Estimate(math.nan, math.nan, len(num), float(num.sum()), 0.0)
            else:
                e = st.ratio_estimate(num, den)
            est[(m.name, a)] = e
            if m.proportion:
                lo, hi = st.wilson_interval(round(e.num), e.n, alpha)
            else:
                lo, hi = e.interval(alpha)
            rows.append(ArmRow(a, m.name, e.n, e.value, lo, hi, e.se))
    comps: list[CompareRow] = []
    for t in arms[1:]:
        for m in defs:
            c_e, t_e = est[(m.name, arms[0])], est[(m.name, t)]
            if not (math.isfinite(c_e.value) and math.isfinite(t_e.value)):
                continue
            res = (
                st.compare_proportions(c_e, t_e, alpha)
                if m.proportion
                else st.compare(c_e, t_e, alpha)
            )
            boot: tuple[float | None, float | None, float | None] = (None, None, None)
            if bootstrap:
                pair = []
                for a in (arms[0], t):
                    g = groups[a]
                    num = g[m.num].to_numpy(np.float64)
                    den = np.ones(len(g)) if m.den is None else g[m.den].to_numpy(np.float64)
                    pair.append((num, den))
                boot = st.bootstrap_lift(pair[0], pair[1], bootstrap, seed, alpha)
            comps.append(CompareRow(t, arms[0], m.name, res, *boot))
    counts = [len(groups[a]) for a in arms]
    return Analysis(
        arms,
        {a: len(groups[a]) for a in arms},
        {a: float(groups[a]["impressions"].sum()) for a in arms},
        {a: float(groups[a]["clicks"].sum()) for a in arms},
        rows,
        comps,
        st.sample_ratio_check(counts, shares, srm_threshold),
        alpha,
        defs,
    )


def cumulative_ratio(
    num: np.ndarray, den: np.ndarray, look: np.ndarray, n_looks: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Delta-method ratio estimate and its variance after each look (users up to that look).

    ``look`` is each user's look index (e.g. arrival day); sums per look are accumulated, so the
    whole path costs one pass over users. Returns (value, variance, users) per look.
    """
    y = np.asarray(num, dtype=np.float64)
    x = np.asarray(den, dtype=np.float64)
    sums = [
        np.cumsum(np.bincount(look, weights=w, minlength=n_looks))
        for w in (np.ones_like(y), y, x, y * y, x * x, x * y)
    ]
    return ratio_from_sums(*sums)


def ratio_from_sums(
    n: np.ndarray, sy: np.ndarray, sx: np.ndarray, syy: np.ndarray, sxx: np.ndarray, sxy: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        my, mx = sy / n, sx / n
        r = my / mx
        d = n - 1
        vyy = (syy - n * my * my) / d
        vxx = (sxx - n * mx * mx) / d
        vxy = (sxy - n * mx * my) / d
        var = (vyy - 2 * r * vxy + r * r * vxx) / (n * mx * mx)
    var = np.where(n > 1, np.maximum(var, 0.0), np.nan)
    return r, var, n
