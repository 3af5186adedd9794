"""Unit tests for recbench.stats: intervals, paired tests, corrections, pooling, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from recbench.errors import UsageError
from recbench.stats import (
    CORRECTIONS,
    TESTS,
    Interval,
    adjust_pvalues,
    align_users,
    bootstrap_ci,
    bootstrap_ci_columns,
    cell_interval,
    cell_intervals,
    check_alpha,
    check_correction,
    check_test,
    corrected_t_interval,
    paired_pvalues,
    paired_test,
    paired_tests,
    pool_by_user,
    randomization_pvalues,
    significant,
    t_interval,
    verdict,
)


def skewed(rng: np.random.Generator, size: int | tuple[int, ...]) -> np.ndarray:
    """NDCG-like per-user values: 35% zeros, the rest Beta(1.5, 3)."""
    return np.where(rng.random(size) < 0.35, 0.0, rng.beta(1.5, 3.0, size))


# --------------------------------------------------------------------------- intervals


def test_bootstrap_is_seeded_and_centred_on_the_mean() -> None:
    x = skewed(np.random.default_rng(0), 300)
    a = bootstrap_ci(x, seed=3)
    assert a == bootstrap_ci(x, seed=3)
    assert a != bootstrap_ci(x, seed=4)
    assert a.mean == pytest.approx(x.mean())
    assert a.low < a.mean < a.high
    assert (a.method, a.n, a.over, a.level) == ("bootstrap-bca", 300, "users", 0.95)
    assert a.half_width == pytest.approx((a.high - a.low) / 2)


@pytest.mark.parametrize("method", ["bca", "percentile"])
def test_bootstrap_agrees_with_scipy(method: str) -> None:
    x = skewed(np.random.default_rng(1), 400)
    ours = bootstrap_ci(x, method=method, n_boot=4000, seed=0)
    ref = sps.bootstrap(
        (x,),
        np.mean,
        n_resamples=4000,
        method="BCa" if method == "bca" else "percentile",
        rng=np.random.default_rng(0),
    ).confidence_interval
    width = ours.high - ours.low
    assert abs(ours.low - ref.low) < 0.05 * width
    assert abs(ours.high - ref.high) < 0.05 * width


def test_bootstrap_percentile_is_quantile_of_resampled_means() -> None:
    x = np.arange(10.0)
    ci = bootstrap_ci(x, method="percentile", n_boot=500, seed=0, level=0.9)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 10, size=(500, 10))
    means = x[idx].mean(axis=1)
    assert (ci.low, ci.high) == pytest.approx(tuple(np.quantile(means, [0.05, 0.95])))


def test_bootstrap_constant_nan_and_tiny_inputs() -> None:
    c = bootstrap_ci(np.full(50, 0.25))
    assert c.low == c.mean == c.high == 0.25
    with_nan = bootstrap_ci([1.0, np.nan, 3.0, 2.0, np.nan], seed=1)
    assert with_nan.n == 3 and with_nan.mean == pytest.approx(2.0)
    one = bootstrap_ci([0.5, np.nan])
    assert one.method == "none" and one.mean == 0.5 and np.isnan(one.low) and np.isnan(one.high)


def test_weighted_rooted_bootstrap_matches_pooled_rmse() -> None:
    rng = np.random.default_rng(2)
    counts = rng.integers(1, 30, 200)
    users = np.repeat(np.arange(200), counts)
    err = rng.normal(0, 1 + (users % 3), len(users))
    mse = np.bincount(users, err * err) / counts
    ci = bootstrap_ci(mse, weights=counts, root=True)
    assert ci.mean == pytest.approx(np.sqrt(np.mean(err * err)))
    assert ci.low < ci.mean < ci.high
    plain = bootstrap_ci(mse, weights=counts)
    assert ci.low == pytest.approx(np.sqrt(plain.low)) and ci.high == pytest.approx(
        np.sqrt(plain.high)
    )


def test_bootstrap_columns_equal_single_column_calls() -> None:
    x = skewed(np.random.default_rng(3), (120, 3))
    x[5, 1] = np.nan
    cols = bootstrap_ci_columns(x, seed=7, root=[False, False, True])
    assert cols[0] == bootstrap_ci(x[:, 0], seed=7)
    assert cols[1].n == 119 and cols[1].mean == pytest.approx(np.nanmean(x[:, 1]))
    assert cols[2].mean == pytest.approx(np.sqrt(x[:, 2].mean()))


def test_t_interval_by_hand() -> None:
    v = [0.41, 0.43, 0.40, 0.44, 0.42]
    ci = t_interval(v)
    lo, hi = sps.t.interval(0.95, 4, loc=np.mean(v), scale=sps.sem(v))
    assert (ci.low, ci.high) == pytest.approx((lo, hi))
    assert (ci.method, ci.n, ci.over) == ("t", 5, "folds")
    assert ci.kind == "95% t over 5 folds"
    with pytest.raises(UsageError, match="at least two"):
        t_interval([0.4])


def test_cell_intervals_pick_the_method() -> None:
    rng = np.random.default_rng(4)
    one = cell_interval([rng.random(100)])
    assert one.method == "bootstrap-bca" and one.over == "users"
    folds = [rng.random(80) for _ in range(5)]
    five = cell_interval(folds)  # one k-fold: plain t over the folds (module notes)
    ref = t_interval([f.mean() for f in folds])
    assert (five.mean, five.low, five.high) == pytest.approx((ref.mean, ref.low, ref.high))
    assert (five.method, five.n, five.over) == ("t", 5, "folds")
    assert five.kind == "95% t over 5 folds"
    with pytest.raises(UsageError, match="test/train size ratio"):
        cell_interval(folds, repeats=[0, 1, 2, 3, 4])
    # k folds x N repeats: every fold of every repeat is a run (Bouckaert & Frank 2004)
    runs = [rng.random((60, 2)) for _ in range(6)]
    rep = cell_intervals(runs, repeats=[0, 0, 1, 1, 2, 2], ratio=1.0)
    ref = corrected_t_interval([r[:, 1].mean() for r in runs], ratio=1.0)
    assert (rep[1].mean, rep[1].low, rep[1].high) == pytest.approx((ref.mean, ref.low, ref.high))
    assert rep[1].n == 6 and rep[1].over == "folds"
    # one run per repeat: over repeats
    rep = cell_intervals(runs[:3], repeats=[0, 1, 2], ratio=1 / 3)
    assert rep[0].kind == "95% corrected t over 3 repeats"


def test_cell_interval_folds_use_each_folds_table_value() -> None:
    rng = np.random.default_rng(5)
    runs, weights, fold_rmse = [], [], []
    for _ in range(3):
        counts = rng.integers(1, 20, 50)
        users = np.repeat(np.arange(50), counts)
        err = rng.normal(size=len(users))
        runs.append(np.bincount(users, err * err) / counts)
        weights.append(counts)
        fold_rmse.append(np.sqrt(np.mean(err * err)))
    ci = cell_interval(runs, weights=weights, root=True)
    assert ci.mean == pytest.approx(np.mean(fold_rmse))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(0, 1, allow_nan=False), min_size=2, max_size=40),
    st.sampled_from(["bca", "percentile"]),
)
def test_bootstrap_interval_lies_in_the_data_range(values: list[float], method: str) -> None:
    ci = bootstrap_ci(values, method=method, n_boot=200)
    eps = 1e-12
    assert min(values) - eps <= ci.low <= ci.high <= max(values) + eps
    assert ci.mean == pytest.approx(np.mean(values))


# --------------------------------------------------------------------------- paired tests


@pytest.mark.parametrize("test", TESTS)
def test_identical_arrays_give_p_one(test: str) -> None:
    x = skewed(np.random.default_rng(6), 500)
    r = paired_test(x, x.copy(), test=test)
    assert r.p == 1.0
    assert r.mean_diff == r.low == r.high == 0.0
    assert r.n == 500 and r.test == test


def test_randomization_exact_enumeration_by_hand() -> None:
    # sums of ±1 ±2 ±3: 6, 4, 2, 0, 0, -2, -4, -6; |T| >= 6 in 2 of 8 patterns
    assert randomization_pvalues([1.0, 2.0, 3.0])[0] == pytest.approx(0.25)
    # |T| >= 4 in 4 of 8 patterns
    assert randomization_pvalues([3.0, -2.0, 3.0])[0] == pytest.approx(0.5)
    assert randomization_pvalues(np.zeros(4))[0] == 1.0


def test_randomization_monte_carlo_matches_t_on_normal_data() -> None:
    rng = np.random.default_rng(7)
    a = rng.normal(size=400)
    b = a + rng.normal(0.08, 1.0, 400)
    p_rand = paired_test(a, b).p
    p_t = sps.ttest_rel(a, b).pvalue
    assert abs(p_rand - p_t) < 0.02
    assert paired_test(a, b, seed=1).p != p_rand  # seeded Monte Carlo


def test_randomization_floor_and_nan_handling() -> None:
    a = np.linspace(1, 2, 200)
    r = paired_test(a, a - 1.0, n_rounds=20_000)
    # beyond the Monte Carlo floor: Hoeffding's bound on the exact p, 2 exp(-200^2 / (2 * 200))
    assert r.p == pytest.approx(2 * np.exp(-100.0))
    assert 0 < r.p < 1 / 20_001
    # 18 of 20 differences +1: exact p = 2 (1 + 20 + 190) / 2^20 = 4e-4 < floor 1/1001 < bound
    d = np.r_[np.ones(18), -np.ones(2)]
    p = randomization_pvalues(d, n_rounds=1000, seed=0)[0]
    assert 1 / 1001 <= p <= 3 / 1001
    assert randomization_pvalues(np.ones(20), n_rounds=1000)[0] == pytest.approx(2 * np.exp(-10))
    d = np.random.default_rng(8).normal(size=50)
    with_nan = np.append(d, np.nan)
    p1 = randomization_pvalues(with_nan, n_rounds=3000, seed=2)
    p2 = randomization_pvalues(np.append(d, 0.0), n_rounds=3000, seed=2)
    assert p1 == p2


def test_t_and_wilcoxon_match_scipy() -> None:
    rng = np.random.default_rng(9)
    a, b = skewed(rng, 300), skewed(rng, 300) * 0.9
    t = paired_test(a, b, test="t")
    assert t.p == pytest.approx(sps.ttest_rel(a, b).pvalue)
    lo, hi = sps.ttest_rel(a, b).confidence_interval(0.95)
    assert (t.low, t.high) == pytest.approx((lo, hi))
    w = paired_test(a, b, test="wilcoxon")
    assert w.p == pytest.approx(sps.wilcoxon(a, b, zero_method="pratt").pvalue)
    assert w.mean_diff == pytest.approx(np.mean(a - b))


@pytest.mark.parametrize("test", TESTS)
def test_paired_tests_columns_and_missing_users(test: str) -> None:
    rng = np.random.default_rng(10)
    a, b = rng.normal(size=(80, 3)), rng.normal(size=80)
    a[3, 2] = np.nan
    res = paired_tests(a, b, test=test, n_rounds=2000)
    assert [r.n for r in res] == [80, 80, 79]
    keep = np.arange(80) != 3
    if test == "randomization":  # a missing user's difference counts as 0: same draws, same p
        filled = np.where(keep, a[:, 2], b)
        single = paired_test(filled, b, test=test, n_rounds=2000)
        assert single.n == 80
    else:
        single = paired_test(a[keep, 2], b[keep], test=test, n_rounds=2000)
    assert res[2].p == pytest.approx(single.p)
    assert res[2].mean_diff == pytest.approx(np.mean(a[keep, 2] - b[keep]))
    p = paired_pvalues(a, b, test=test, n_rounds=2000)
    assert p == pytest.approx([r.p for r in res])


def test_constant_nonzero_difference() -> None:
    a = np.full(30, 0.5)
    assert paired_test(a, a - 0.1, test="t").p == 0.0
    assert paired_test(a, a - 0.1, test="wilcoxon").p < 1e-6


def test_verdict() -> None:
    assert verdict(0.02, 0.001, 0.05, higher_is_better=True) == "better"
    assert verdict(0.02, 0.001, 0.05, higher_is_better=False) == "worse"
    assert verdict(-0.02, 0.001, 0.05, higher_is_better=True) == "worse"
    assert verdict(0.02, 0.06, 0.05, higher_is_better=True) is None
    assert verdict(0.0, 0.001, 0.05, higher_is_better=True) is None


# --------------------------------------------------------------------------- corrections


def test_corrections_by_hand() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    assert adjust_pvalues(p, "bonferroni") == pytest.approx([0.04, 0.16, 0.12, 0.02])
    assert adjust_pvalues(p, "holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert adjust_pvalues(p, "bh") == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert adjust_pvalues(p, "none") == pytest.approx(p)
    assert significant(p, 0.05, "holm").tolist() == [True, False, False, True]
    out = adjust_pvalues([0.01, np.nan, 0.02], "bonferroni")
    assert out[0] == pytest.approx(0.02) and np.isnan(out[1]) and out[2] == pytest.approx(0.04)
    assert adjust_pvalues(np.array([[0.01, 0.5]]), "holm").shape == (1, 2)
    assert adjust_pvalues([], "holm").shape == (0,)


def _statsmodels_multitest():  # type: ignore[no-untyped-def]
    return pytest.importorskip("statsmodels.stats.multitest")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=30))
def test_corrections_match_statsmodels(p: list[float]) -> None:
    multitest = _statsmodels_multitest()
    for ours, theirs in (("holm", "holm"), ("bonferroni", "bonferroni"), ("bh", "fdr_bh")):
        ref = multitest.multipletests(p, method=theirs)[1]
        assert adjust_pvalues(p, ours) == pytest.approx(ref, abs=1e-12)
        assert (adjust_pvalues(p, ours) >= np.asarray(p) - 1e-15).all()


# --------------------------------------------------------------------------- pooling


def test_pool_user_holdout_folds_is_concatenation() -> None:
    users = np.array([3, 0, 2, 1])
    vals = np.array([0.3, 0.0, 0.2, 0.1])
    pooled = pool_by_user(users, vals)
    assert pooled.users.tolist() == [0, 1, 2, 3]
    assert pooled.values[:, 0].tolist() == [0.0, 0.1, 0.2, 0.3]


def test_pool_rating_kfold_averages_per_user_with_weights() -> None:
    users = np.array([0, 1, 0, 1, 2])
    vals = np.array([[1.0, 0.5], [2.0, np.nan], [3.0, 0.7], [4.0, 0.2], [5.0, 0.0]])
    w = np.array([1, 1, 3, 1, 2])
    pooled = pool_by_user(users, vals, weights=w)
    assert pooled.values[:, 0] == pytest.approx([(1 + 9) / 4, 3.0, 5.0])
    assert pooled.values[:, 1] == pytest.approx([(0.5 + 2.1) / 4, 0.2, 0.0])
    assert pooled.weights[:, 1] == pytest.approx([4, 1, 2])


def test_align_users() -> None:
    users, a, b = align_users([5, 1, 3], [0.5, 0.1, 0.3], [3, 4, 1], [3.0, 4.0, 1.0])
    assert users.tolist() == [1, 3] and a.tolist() == [0.1, 0.3] and b.tolist() == [1.0, 3.0]
    with pytest.raises(UsageError, match="pool"):
        align_users([1, 1], [0.1, 0.2], [1], [0.3])


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("alpha", [0, 1, -0.1, 1.5, float("nan"), "x"])
def test_bad_alpha(alpha: float) -> None:
    with pytest.raises(UsageError, match="alpha"):
        check_alpha(alpha)


def test_bad_names_and_inputs() -> None:
    assert check_test("Wilcoxon") == "wilcoxon" and check_correction("BH") == "bh"
    assert set(CORRECTIONS) == {"holm", "bonferroni", "bh", "none"}
    with pytest.raises(UsageError, match="did you mean 'wilcoxon'"):
        check_test("wilcoxn")
    with pytest.raises(UsageError, match="unknown correction 'fdr'"):
        check_correction("fdr")
    with pytest.raises(UsageError, match="at least two paired users"):
        paired_test([0.1, np.nan], [0.2, 0.3])
    with pytest.raises(UsageError, match="at least two paired users"):
        paired_test([0.1], [0.2])
    with pytest.raises(UsageError, match="same users"):
        paired_test([0.1, 0.2, 0.3], [0.2, 0.3])
    with pytest.raises(UsageError, match="unknown bootstrap method"):
        bootstrap_ci([1.0, 2.0], method="bc")
    with pytest.raises(UsageError, match="confidence level"):
        bootstrap_ci([1.0, 2.0], level=95)
    with pytest.raises(UsageError, match="p-values"):
        adjust_pvalues([0.5, 1.2])
    with pytest.raises(UsageError, match="non-negative"):
        bootstrap_ci([1.0, 2.0], weights=[1.0, -1.0])
    with pytest.raises(UsageError, match="positive integer"):
        paired_test([0.1, 0.2], [0.2, 0.3], n_rounds=0)
    with pytest.raises(UsageError, match="at least one"):
        cell_intervals([])
    for msg in (str(e) for e in _errors()):
        assert "\n" not in msg


def _errors() -> list[UsageError]:
    out = []
    for call in (lambda: check_alpha(2), lambda: check_test("z"), lambda: t_interval([1.0])):
        try:
            call()
        except UsageError as e:
            out.append(e)
    return out


def test_interval_is_frozen() -> None:
    ci = Interval(0.5, 0.4, 0.6, "t", 5, "folds")
    with pytest.raises(AttributeError):
        ci.mean = 0.1  # type: ignore[misc]
