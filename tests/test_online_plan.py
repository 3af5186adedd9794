"""`abtest plan` against `abtest analyze`: experiments simulated at the planned size reject H0
in the planned share of runs (issue 22, section 2), for a clustered CTR and a per-user mean."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recbench.errors import UsageError
from recbench.online import power
from recbench.online import stats as st
from recbench.online.analysis import analyze_users

EXPERIMENTS = 2000
TOLERANCE = 0.03


def ctr_users(
    rng: np.random.Generator, shape: tuple[int, ...], rate: float, model: power.RatioModel
) -> tuple[np.ndarray, np.ndarray]:
    """Clicks and impressions per user: 1 + negative binomial impressions with the model's mean
    and sd, per-user rates ~ Beta(mean ``rate``, intra-user correlation icc), binomial clicks."""
    m, s = model.impressions_mean - 1, model.impressions_sd
    r = m * m / (s * s - m)  # negative binomial with mean m and variance s^2 (> m)
    imp = 1 + rng.negative_binomial(r, r / (r + m), size=shape)
    if model.icc > 0:
        conc = 1 / model.icc - 1
        rates = rng.beta(rate * conc, (1 - rate) * conc, size=shape)
    else:
        rates = np.full(shape, rate)
    return rng.binomial(imp, rates).astype(np.float64), imp.astype(np.float64)


def share_significant(draw, n: int, alpha: float, seed: int) -> float:
    """Share of EXPERIMENTS that analyze's test (ratio_estimate + compare, as analyze_users
    calls them) finds significant; ``draw(rng, shape, arm)`` gives (num, den or None)."""
    rng = np.random.default_rng(seed)
    hits = 0
    for start in range(0, EXPERIMENTS, 250):
        b = min(250, EXPERIMENTS - start)
        arms = [draw(rng, (b, n), arm) for arm in (0, 1)]
        for e in range(b):
            c, t = (st.ratio_estimate(num[e], None if den is None else den[e]) for num, den in arms)
            hits += st.compare(c, t, alpha).p_value < alpha
    return hits / EXPERIMENTS


def test_analyze_uses_the_same_test_as_the_harness():
    """The harness's p-value is analyze_users' CTR and value-column p-value, to the last digit."""
    rng = np.random.default_rng(3)
    model = power.RatioModel(6.0, 7.0, 0.05)
    (cc, ci), (tc, ti) = ctr_users(rng, (300,), 0.05, model), ctr_users(rng, (300,), 0.06, model)
    value = rng.gamma(2.0, 1.0, 600)
    frame = pd.DataFrame(
        {
            "user": np.arange(600),
            "arm": np.repeat(["control", "treatment"], 300),
            "impressions": np.concatenate([ci, ti]),
            "clicks": np.concatenate([cc, tc]),
            "value": value,
        }
    )
    got = analyze_users(frame, values=["value"])
    ctr = st.compare(st.ratio_estimate(cc, ci), st.ratio_estimate(tc, ti))
    assert got.comparison("ctr").p_value == ctr.p_value
    mean = st.compare(st.ratio_estimate(value[:300]), st.ratio_estimate(value[300:]))
    assert got.comparison("value").p_value == mean.p_value


@pytest.mark.parametrize(
    ("model", "lift"),
    [
        (power.RatioModel(8.0, 10.0, 0.03), 0.20),  # users differ: the clustering matters
        (power.RatioModel(12.0, 15.0, 0.0), 0.15),  # every user at the same rate
    ],
)
def test_ctr_plan_has_its_power_under_analyze(model, lift):
    baseline, alpha = 0.05, 0.05
    plan = power.plan_ratio(baseline, model, lift, alpha, 0.8)
    rates = (baseline, baseline * (1 + lift))
    got = share_significant(
        lambda rng, shape, arm: ctr_users(rng, shape, rates[arm], model), plan.n_control, alpha, 11
    )
    print(f"CTR {model}: {plan.n_control} users per arm, power {got:.4f} (planned 0.8)")
    assert abs(got - 0.8) <= TOLERANCE
    # one Bernoulli trial per user (the old CTR plan) asks for several times as many users
    assert power.plan_proportion(baseline, lift, alpha, 0.8).n_control > 3 * plan.n_control


def test_per_user_mean_plan_has_its_power_under_analyze():
    """A skewed per-user metric (exponential: sd = mean), the treatment mean 10% higher."""
    mean, sd, lift, alpha = 2.0, 2.0, 0.10, 0.05
    plan = power.plan_mean(mean, sd, lift, alpha, 0.8)
    means = (mean, mean * (1 + lift))

    def draw(rng, shape, arm):
        shape_k = means[arm] ** 2 / sd**2
        return rng.gamma(shape_k, sd**2 / means[arm], size=shape), None

    got = share_significant(draw, plan.n_control, alpha, 12)
    print(f"mean: {plan.n_control} users per arm, power {got:.4f} (planned 0.8)")
    assert abs(got - 0.8) <= TOLERANCE


def test_ratio_model_from_a_pilot_log_recovers_the_model():
    true = power.RatioModel(8.0, 10.0, 0.03)
    clicks, imp = ctr_users(np.random.default_rng(5), (200_000,), 0.05, true)
    rate, fitted = power.ratio_model_from_log(clicks, imp)
    assert rate == pytest.approx(0.05, rel=0.03)
    assert fitted.impressions_mean == pytest.approx(8.0, rel=0.02)
    assert fitted.impressions_sd == pytest.approx(10.0, rel=0.05)
    assert fitted.icc == pytest.approx(0.03, abs=0.006)
    # the fitted model reproduces the pilot's own delta-method variance exactly
    est = st.ratio_estimate(clicks, imp)
    assert fitted.variance(rate) == pytest.approx(est.var * len(clicks), rel=1e-9)
    a = power.plan_ratio(0.05, true, 0.1).n_control
    b = power.plan_ratio(rate, fitted, 0.1).n_control
    assert abs(b / a - 1) < 0.1


def test_ratio_detectable_lift_is_the_inverse():
    model = power.RatioModel(10.0, 12.0, 0.02)
    det = power.detectable_ratio(0.05, model, 20_000)
    assert abs(power.plan_ratio(0.05, model, det.lift).n_control - 20_000) <= 1
    # with one impression per user a CTR is a per-user proportion (normal test, unpooled)
    one = power.plan_ratio(0.1, power.RatioModel(1.0), 0.1)
    assert one.n_control == pytest.approx(power.plan_proportion(0.1, 0.1).n_control, rel=0.01)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"impressions_mean": 0.0},
        {"impressions_mean": 5.0, "impressions_sd": -1.0},
        {"impressions_mean": 5.0, "impressions_sd": 3.0, "icc": 1.0},
    ],
)
def test_bad_ratio_models(kwargs):
    with pytest.raises(UsageError):
        power.RatioModel(**kwargs)
