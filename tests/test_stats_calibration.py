"""Calibration of recbench.stats on synthetic per-user metric arrays (issue 9 acceptance).

Per-user values are drawn from an NDCG-like distribution: 35% of users score 0, the rest
Beta(1.5, 3) (skewed, bounded, many ties at 0), the hard case for normal-theory tests. Every
figure below comes from seeded trials, so the tests are deterministic; the bands leave about
three binomial standard errors around the nominal rate. Trials are batched as columns of one
matrix: the randomization test then shares one draw of sign patterns across the trials of a
batch (each trial's p-value is still valid; batches use different seeds). The calibration loop
uses 2,000 randomization rounds instead of the default 20,000: p-values near alpha = 0.05 only
need a resolution of about 5e-4.
"""

from __future__ import annotations

import numpy as np
import pytest

from recbench.stats import TESTS, adjust_pvalues, bootstrap_ci_columns, paired_pvalues, t_interval

ALPHA = 0.05
ROUNDS = 2_000
ZERO_SHARE, BETA_A, BETA_B = 0.35, 1.5, 3.0


def ndcg_like(rng: np.random.Generator, size: tuple[int, ...]) -> np.ndarray:
    return np.where(rng.random(size) < ZERO_SHARE, 0.0, rng.beta(BETA_A, BETA_B, size))


def true_mean_sd() -> tuple[float, float]:
    m = BETA_A / (BETA_A + BETA_B)
    v = BETA_A * BETA_B / ((BETA_A + BETA_B) ** 2 * (BETA_A + BETA_B + 1))
    keep = 1.0 - ZERO_SHARE
    mean = keep * m
    return mean, float(np.sqrt(keep * (v + m * m) - mean * mean))


def pvalues(test: str, a: np.ndarray, b: np.ndarray, seed: int) -> np.ndarray:
    return paired_pvalues(a, b, test=test, n_rounds=ROUNDS, seed=seed)


def aa_pvalues(test: str, n_users: int, trials: int, batch: int, seed: int) -> np.ndarray:
    """p-values of ``trials`` A/A comparisons: both sides drawn from the same distribution."""
    out = []
    for i in range(trials // batch):
        rng = np.random.default_rng([seed, i])
        # a per-user effect shared by both sides makes the pairs correlated, as real ones are
        user = rng.normal(0.0, 0.1, (n_users, batch))
        a = ndcg_like(rng, (n_users, batch)) + user
        b = ndcg_like(rng, (n_users, batch)) + user
        out.append(pvalues(test, a, b, seed=i))
    return np.concatenate(out)


@pytest.mark.parametrize("test", TESTS)
def test_type_one_error_rate_is_nominal(test: str) -> None:
    p = aa_pvalues(test, n_users=200, trials=2000, batch=250, seed=1)
    rate = float(np.mean(p < ALPHA))
    assert 0.035 <= rate <= 0.065, f"{test}: A/A rejection rate {rate:.4f}"
    # the p-values are uniform, not merely right at alpha
    assert 0.07 <= float(np.mean(p < 0.1)) <= 0.13
    assert 0.45 <= float(np.mean(p < 0.5)) <= 0.55


@pytest.mark.parametrize("test", TESTS)
def test_holm_controls_the_family_wise_rate(test: str) -> None:
    trials, family = 1200, 5
    p = aa_pvalues(test, n_users=150, trials=trials * family, batch=500, seed=2)
    p = p.reshape(trials, family)
    holm = np.array([adjust_pvalues(row, "holm") for row in p])
    fwer = float(np.mean((holm < ALPHA).any(axis=1)))
    assert fwer <= 0.065, f"{test}: family-wise error rate under Holm {fwer:.4f}"
    raw = float(np.mean((p < ALPHA).any(axis=1)))  # uncorrected: about 1 - 0.95^5 = 0.23
    assert raw > 0.15


@pytest.mark.parametrize("test", TESTS)
def test_power_for_a_shift_of_03_sd_on_500_users(test: str) -> None:
    _, sd = true_mean_sd()
    trials, batch, n = 1000, 250, 500
    rejected = 0
    for i in range(trials // batch):
        rng = np.random.default_rng([3, i])
        a = ndcg_like(rng, (n, batch)) + 0.3 * sd
        b = ndcg_like(rng, (n, batch))
        rejected += int(np.sum(pvalues(test, a, b, seed=i) < ALPHA))
    power = rejected / trials
    assert power >= 0.9, f"{test}: power {power:.4f}"


@pytest.mark.parametrize("method", ["bca", "percentile"])
def test_bootstrap_95_interval_covers_the_true_mean(method: str) -> None:
    mean, _ = true_mean_sd()
    trials, batch, n = 2000, 200, 200
    covered = 0
    for i in range(trials // batch):
        rng = np.random.default_rng([4, i])
        x = ndcg_like(rng, (n, batch))
        cis = bootstrap_ci_columns(x, seed=i, method=method)
        covered += sum(ci.low <= mean <= ci.high for ci in cis)
    coverage = covered / trials
    assert 0.93 <= coverage <= 0.97, f"{method}: coverage {coverage:.4f}"


def test_t_interval_over_five_folds_covers_the_true_mean() -> None:
    rng = np.random.default_rng(5)
    folds = rng.normal(0.43, 0.01, (2000, 5))
    covered = sum(ci.low <= 0.43 <= ci.high for ci in map(t_interval, folds))
    assert 0.93 <= covered / 2000 <= 0.97
