"""recbench.online statistics against statsmodels / scipy on the same counts, and log analysis."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint, proportions_ztest
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from recbench.errors import DataError, UsageError
from recbench.online import stats
from recbench.online.analysis import analyze_users, cumulative_ratio
from recbench.online.logs import load_log


def generated_log(
    n: int = 20_000, rates: tuple[float, float] = (0.05, 0.06), seed: int = 0
) -> pd.DataFrame:
    """Users with 1-20 impressions each and binomial clicks at a known CTR per arm."""
    rng = np.random.default_rng(seed)
    arm = np.where(rng.random(n) < 0.5, "control", "treatment")
    imp = rng.integers(1, 21, n)
    p = np.where(arm == "control", rates[0], rates[1])
    clicks = rng.binomial(imp, p)
    return pd.DataFrame({"user": np.arange(n), "arm": arm, "impressions": imp, "clicks": clicks})


def test_mean_interval_matches_statsmodels():
    y = np.random.default_rng(1).poisson(1.3, 500).astype(float)
    e = stats.ratio_estimate(y)
    lo, hi = DescrStatsW(y).zconfint_mean(alpha=0.05)
    assert e.interval(0.05) == pytest.approx((lo, hi), abs=1e-9)


def test_ratio_with_equal_denominators_is_the_mean_of_user_rates():
    rng = np.random.default_rng(2)
    clicks = rng.binomial(10, 0.1, 800).astype(float)
    e = stats.ratio_estimate(clicks, np.full(800, 10.0))
    lo, hi = DescrStatsW(clicks / 10).zconfint_mean(alpha=0.05)
    assert e.value == pytest.approx(clicks.sum() / 8000)
    assert e.interval(0.05) == pytest.approx((lo, hi), abs=1e-9)


def test_difference_p_value_matches_statsmodels_unequal_variance_ztest():
    rng = np.random.default_rng(3)
    a, b = rng.poisson(1.0, 700).astype(float), rng.poisson(1.12, 650).astype(float)
    res = stats.compare(stats.ratio_estimate(a), stats.ratio_estimate(b))
    _, p = CompareMeans(DescrStatsW(b), DescrStatsW(a)).ztest_ind(usevar="unequal")
    assert res.p_value == pytest.approx(p, abs=1e-9)
    assert res.diff == pytest.approx(b.mean() - a.mean())


def test_delta_method_matches_a_first_principles_linearisation():
    """Var(sum y / sum x) by linearising around the means equals the closed form."""
    rng = np.random.default_rng(4)
    x = rng.integers(1, 30, 1000).astype(float)
    y = rng.binomial(x.astype(int), 0.07).astype(float)
    e = stats.ratio_estimate(y, x)
    r = y.mean() / x.mean()
    lin = (y - r * x) / x.mean()  # influence values of the ratio
    assert e.var == pytest.approx(lin.var(ddof=1) / len(x), rel=1e-9)


def test_wilson_and_pooled_z_match_statsmodels():
    lo, hi = stats.wilson_interval(123, 1000, 0.05)
    exp = proportion_confint(123, 1000, alpha=0.05, method="wilson")
    assert (lo, hi) == pytest.approx(exp, abs=1e-9)
    p = stats.pooled_proportion_p(480, 5000, 545, 5100)
    _, exp_p = proportions_ztest([545, 480], [5100, 5000])
    assert p == pytest.approx(exp_p, abs=1e-9)


def test_sign_test_matches_scipy_binomtest():
    for a, b in [(10, 3), (40, 60), (0, 7), (25, 25)]:
        exp = sps.binomtest(a, a + b, 0.5).pvalue
        assert float(stats.sign_test_p(a, b)) == pytest.approx(exp, abs=1e-9)


def test_sample_ratio_mismatch_52_48_flagged_50_1_not():
    bad = stats.sample_ratio_check([52_000, 48_000])
    good = stats.sample_ratio_check([50_100, 49_900])
    assert bad.mismatch and bad.p_value < 1e-30
    assert not good.mismatch
    assert good.p_value == pytest.approx(sps.chisquare([50_100, 49_900]).pvalue, abs=1e-12)
    assert stats.sample_ratio_check([30_000, 70_000], [0.3, 0.7]).mismatch is False
    with pytest.raises(UsageError):
        stats.sample_ratio_check([1, 2], [1.0])


def test_analysis_recovers_known_rates_and_matches_statsmodels():
    log = generated_log()
    res = analyze_users(log)
    assert res.arms == ["control", "treatment"]
    for arm, rate in (("control", 0.05), ("treatment", 0.06)):
        row = res.estimate("ctr", arm)
        assert row.low < rate < row.high
        assert abs(row.value - rate) < 0.003
    # conversion: per-arm Wilson intervals and the pooled z-test, as statsmodels on the counts
    conv = {a: (g["clicks"] > 0).sum() for a, g in log.groupby("arm")}
    n = log.groupby("arm").size()
    for arm in ("control", "treatment"):
        row = res.estimate("conversion", arm)
        exp = proportion_confint(conv[arm], n[arm], alpha=0.05, method="wilson")
        assert (row.low, row.high) == pytest.approx(exp, abs=1e-6)
    _, p = proportions_ztest([conv["treatment"], conv["control"]], [n["treatment"], n["control"]])
    assert res.comparison("conversion").p_value == pytest.approx(p, abs=1e-6)
    # clicks per user: unequal-variance z-test as statsmodels
    c = log.loc[log.arm == "control", "clicks"].to_numpy(float)
    t = log.loc[log.arm == "treatment", "clicks"].to_numpy(float)
    _, p = CompareMeans(DescrStatsW(t), DescrStatsW(c)).ztest_ind(usevar="unequal")
    assert res.comparison("clicks/user").p_value == pytest.approx(p, abs=1e-6)
    lo, hi = DescrStatsW(c).zconfint_mean(alpha=0.05)
    row = res.estimate("clicks/user", "control")
    assert (row.low, row.high) == pytest.approx((lo, hi), abs=1e-6)
    ctr = res.comparison("ctr")
    assert ctr.lift_low < 0.2 < ctr.lift_high and ctr.p_value < 1e-6
    assert not res.srm.mismatch


def test_bootstrap_agrees_with_the_delta_method():
    log = generated_log(6000)
    res = analyze_users(log, bootstrap=400, seed=1)
    row = next(r for r in res.comparisons if r.metric == "ctr")
    assert row.boot_low is not None and row.boot_high is not None
    assert row.boot_low == pytest.approx(row.result.lift_low, abs=0.05)
    assert row.boot_high == pytest.approx(row.result.lift_high, abs=0.05)
    again = analyze_users(log, bootstrap=400, seed=1)
    assert next(r for r in again.comparisons if r.metric == "ctr").boot_low == row.boot_low


def test_cumulative_ratio_last_look_equals_the_full_estimate():
    log = generated_log(3000)
    look = np.arange(3000) * 7 // 3000
    r, v, n = cumulative_ratio(log.clicks.to_numpy(), log.impressions.to_numpy(), look, 7)
    full = stats.ratio_estimate(log.clicks.to_numpy(), log.impressions.to_numpy())
    assert r[-1] == pytest.approx(full.value) and v[-1] == pytest.approx(full.var, rel=1e-6)
    assert n[-1] == 3000


def write(tmp_path, text: str, name: str = "log.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("user,arm,clicks\n1,A,1\n", "lacks column(s) 'impressions'"),
        ("user,arm,impressions,clicks\n1,A,3,-1\n2,B,3,1\n", "line 2: negative clicks"),
        ("user,arm,impressions,clicks\n1,A,3,1\n2,B,3,4\n", "line 3: clicks (4) exceed"),
        ("user,arm,impressions,clicks\n1,A,x,1\n", "impressions must be a number"),
        ("user,arm,impressions,clicks\n", "has no rows"),
        ("", "is empty"),
    ],
)
def test_bad_logs_are_one_line_data_errors(tmp_path, text, needle):
    with pytest.raises(DataError) as info:
        load_log(write(tmp_path, text))
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_one_arm_only_is_an_error(tmp_path):
    log = load_log(write(tmp_path, "user,arm,impressions,clicks\n1,A,3,1\n2,A,3,0\n"))
    with pytest.raises(UsageError, match="only one arm"):
        analyze_users(log.users)


def test_users_in_two_arms_are_reported_and_left_out(tmp_path):
    text = "user,variant,views,clicks,revenue\n1,A,3,1,2.5\n1,B,3,0,0\n2,A,5,1,1\n3,B,4,2,3\n"
    text += "2,A,5,0,0\n"  # a second row of user 2 in the same arm is summed
    log = load_log(write(tmp_path, text))
    assert log.overlap_users == 1 and log.overlap_examples == ["1"]
    assert sorted(log.users["user"]) == ["2", "3"]
    assert log.values == ["revenue"]
    assert log.users.set_index("user").loc["2", "impressions"] == 10
