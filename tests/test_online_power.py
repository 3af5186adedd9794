"""Sample-size planning against statsmodels, and the sequential views' error rates."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from recbench.errors import UsageError
from recbench.online import power
from recbench.online.sequential_test import (
    always_valid_p,
    confidence_sequence,
    gs_boundaries,
    sequential_view,
)


@pytest.mark.parametrize(
    ("baseline", "lift", "alpha", "pw", "ratio"),
    [
        (0.1, 0.05, 0.05, 0.8, 1.0),
        (0.02, 0.10, 0.05, 0.9, 1.0),
        (0.3, -0.1, 0.01, 0.8, 1.0),
        (0.5, 0.5, 0.05, 0.8, 1.0),
        (0.05, 0.2, 0.05, 0.8, 2.0),
    ],
)
def test_plan_matches_statsmodels_normal_ind_power(baseline, lift, alpha, pw, ratio):
    plan = power.plan_proportion(baseline, lift, alpha, pw, ratio)
    es = proportion_effectsize(baseline * (1 + lift), baseline)
    n = NormalIndPower().solve_power(effect_size=es, alpha=alpha, power=pw, ratio=ratio)
    assert abs(plan.n_control - n) <= 1
    assert plan.n_control == math.ceil(n - 1e-6)
    assert plan.effect_size == pytest.approx(es, abs=1e-12)
    assert plan.n_treatment == math.ceil(plan.n_exact * ratio - 1e-9)


@pytest.mark.parametrize("n", [500, 5000, 100_000])
def test_detectable_lift_is_the_inverse(n):
    plan = power.detectable_proportion(0.08, n)
    es = NormalIndPower().solve_power(effect_size=None, nobs1=n, alpha=0.05, power=0.8)
    assert plan.effect_size == pytest.approx(es, rel=1e-4)
    back = power.plan_proportion(0.08, plan.lift)
    assert abs(back.n_control - n) <= 1


def test_mean_plan_matches_statsmodels_with_cohens_d():
    plan = power.plan_mean(0.40, 0.30, 0.05)
    d = 0.40 * 0.05 / 0.30
    n = NormalIndPower().solve_power(effect_size=d, alpha=0.05, power=0.8)
    assert abs(plan.n_control - n) <= 1
    inv = power.detectable_mean(0.40, 0.30, plan.n_control)
    assert inv.lift <= 0.05 + 1e-9 and inv.lift == pytest.approx(0.05, rel=1e-3)


def test_plan_errors_are_usage_errors():
    for call in (
        lambda: power.plan_proportion(1.2, 0.1),
        lambda: power.plan_proportion(0.1, 0.0),
        lambda: power.plan_proportion(0.6, 1.0),
        lambda: power.plan_proportion(0.1, 0.1, alpha=1.5),
        lambda: power.plan_mean(1.0, -1.0, 0.1),
        lambda: power.detectable_proportion(0.1, 0),
    ):
        with pytest.raises(UsageError):
            call()


def test_group_sequential_boundaries_spend_exactly_alpha():
    """Two looks: P(cross at look 1 or 2) under H0, by the bivariate normal, is alpha."""
    c1, c2 = gs_boundaries((0.5, 1.0), 0.05)
    assert c1 > c2 > 1.96
    corr = math.sqrt(0.5)
    mvn = sps.multivariate_normal(mean=[0, 0], cov=[[1, corr], [corr, 1]])
    inside = mvn.cdf([c1, c2]) - mvn.cdf([-c1, c2]) - mvn.cdf([c1, -c2]) + mvn.cdf([-c1, -c2])
    assert 1 - inside == pytest.approx(0.05, abs=2e-4)
    assert 2 * sps.norm.sf(c1) == pytest.approx(
        2 - 2 * sps.norm.cdf(sps.norm.isf(0.025) / math.sqrt(0.5))
    )


def test_group_sequential_type_one_error_by_monte_carlo():
    rng = np.random.default_rng(0)
    looks = 14
    fr = np.arange(1, looks + 1) / looks
    c = gs_boundaries(fr, 0.05)
    z = np.cumsum(rng.standard_normal((40_000, looks)), axis=1) / np.sqrt(np.arange(1, looks + 1))
    rate = float((np.abs(z) >= c).any(axis=1).mean())
    assert 0.045 < rate < 0.055
    naive = float((np.abs(z) >= 1.96).any(axis=1).mean())
    assert naive > 0.15  # why peeking at fixed-horizon p-values is unsafe


def test_msprt_is_always_valid_and_its_sequence_covers():
    rng = np.random.default_rng(1)
    looks = 50
    n = np.arange(1, looks + 1) * 20.0
    sums = np.cumsum(rng.standard_normal((4000, looks)) * np.sqrt(20.0), axis=1)
    diff = sums / n
    var = np.broadcast_to(1.0 / n, diff.shape)
    rejected = 0
    covered = 0
    for d, v in zip(diff, var, strict=True):
        p = always_valid_p(d, v, tau2=float(v[-1]))
        assert np.all(np.diff(p) <= 0)
        rejected += p[-1] < 0.05
        lo, hi = confidence_sequence(d, v, float(v[-1]))
        covered += bool(np.all((lo <= 0) & (hi >= 0)))
    assert rejected / 4000 < 0.05
    assert covered / 4000 > 0.95


def test_sequential_view_shapes_and_defaults():
    view = sequential_view(
        np.array([0.1, 0.05, 0.04]), np.array([0.01, 0.005, 0.003]), np.array([1 / 3, 2 / 3, 1.0])
    )
    assert view.tau2 == pytest.approx(0.01 / 3)
    assert len(view.boundary) == 3 and view.z[-1] == pytest.approx(0.04 / math.sqrt(0.003))
    with pytest.raises(UsageError):
        gs_boundaries((0.5, 0.4), 0.05)
