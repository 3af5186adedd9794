"""Tests for recbench.stats.comparison: every algorithm against a baseline, one correction."""

from __future__ import annotations

import numpy as np
import pytest

from recbench.errors import UsageError
from recbench.stats import (
    BEST,
    adjust_pvalues,
    align_users,
    check_baseline,
    compare_to_baseline,
    paired_test,
    pick_best,
    pool_by_user,
)


def table(seed: int = 0, n: int = 400) -> dict[str, np.ndarray]:
    """Per-user (ndcg, rmse) of four algorithms on the same users."""
    rng = np.random.default_rng(seed)
    user = rng.random(n)
    base = np.column_stack([user * 0.5 + rng.random(n) * 0.1, 1.0 + rng.random(n) * 0.2])
    better = base + np.array([0.05, -0.05]) + rng.normal(0, 0.02, (n, 2))
    worse = base - np.array([0.05, -0.05]) + rng.normal(0, 0.02, (n, 2))
    return {"ease": base, "same": base.copy(), "als": worse, "knn": better}


def test_verdicts_marks_and_family_wide_correction() -> None:
    values = table()
    out = compare_to_baseline(values, "ease", ["ndcg@10", "rmse"], [True, False], n_rounds=5000)
    assert [(c.algorithm, c.metric) for c in out] == [
        ("same", "ndcg@10"), ("same", "rmse"), ("als", "ndcg@10"), ("als", "rmse"),
        ("knn", "ndcg@10"), ("knn", "rmse"),
    ]  # fmt: skip
    verdicts = {(c.algorithm, c.metric): c.verdict for c in out}
    assert verdicts == {
        ("same", "ndcg@10"): None, ("same", "rmse"): None,
        ("als", "ndcg@10"): "worse", ("als", "rmse"): "worse",
        ("knn", "ndcg@10"): "better", ("knn", "rmse"): "better",
    }  # fmt: skip
    same = out[0]
    assert same.result.p == 1.0 and same.p_adjusted == 1.0 and same.result.mean_diff == 0.0
    raw = [c.result.p for c in out]
    assert [c.p_adjusted for c in out] == pytest.approx(adjust_pvalues(raw, "holm"))
    als = out[2]
    assert als.result.mean_diff == pytest.approx(
        np.mean(values["als"][:, 0] - values["ease"][:, 0])
    )
    assert als.result.low < als.result.mean_diff < als.result.high < 0
    assert als.p_adjusted < 0.001 and (als.correction, als.alpha) == ("holm", 0.05)
    # the stacked call gives the same p as a one-off test of that column with the same seed
    single = paired_test(values["als"][:, 0], values["ease"][:, 0], test="t")
    t_out = compare_to_baseline(values, "ease", ["ndcg@10", "rmse"], [True, False], test="t")
    assert t_out[2].result.p == pytest.approx(single.p)


@pytest.mark.parametrize("correction", ["holm", "bonferroni", "bh", "none"])
def test_every_correction_and_test_runs(correction: str) -> None:
    for test in ("randomization", "t", "wilcoxon"):
        out = compare_to_baseline(
            table(1, 60), "ease", ["ndcg", "rmse"], [True, False], test=test,
            correction=correction, n_rounds=1000,
        )  # fmt: skip
        assert len(out) == 6 and all(c.p_adjusted >= c.result.p - 1e-15 for c in out)


def test_bad_input() -> None:
    algos = ["ease", "als", "popularity"]
    assert check_baseline("als", algos) == "als" and check_baseline("Best", algos) == BEST
    with pytest.raises(UsageError, match="did you mean 'ease'"):
        check_baseline("eas", algos)
    values = table(2, 50)
    with pytest.raises(UsageError, match="baseline 'svd'"):
        compare_to_baseline(values, "svd", ["a", "b"], [True, True])
    with pytest.raises(UsageError, match="alpha"):
        compare_to_baseline(values, "ease", ["a", "b"], [True, True], alpha=1.0)
    with pytest.raises(UsageError, match="unknown test"):
        compare_to_baseline(values, "ease", ["a", "b"], [True, True], test="anova")
    with pytest.raises(UsageError, match="unknown correction"):
        compare_to_baseline(values, "ease", ["a", "b"], [True, True], correction="fdr")
    values["als"] = values["als"][:40]
    with pytest.raises(UsageError, match="align"):
        compare_to_baseline(values, "ease", ["a", "b"], [True, True])
    with pytest.raises(UsageError, match="two paired users"):
        compare_to_baseline({"a": [[0.1]], "b": [[0.2]]}, "a", ["m"], [True])
    assert compare_to_baseline({"a": [[0.1], [0.2]]}, "a", ["m"], [True]) == []


def test_pick_best() -> None:
    assert pick_best({"a": 0.3, "b": 0.5, "c": float("nan")}, higher_is_better=True) == "b"
    assert pick_best({"a": 0.9, "b": 0.8}, higher_is_better=False) == "b"
    assert pick_best({"a": 0.5, "b": 0.5}, higher_is_better=True) == "a"


def test_kfold_pipeline_pools_then_aligns() -> None:
    """Rating-level 5-fold: users appear in several folds; pool per user, align, compare."""
    rng = np.random.default_rng(3)
    per_algo = {}
    for alg, shift in (("ease", 0.0), ("pop", -0.1)):
        users, vals = [], []
        for fold in range(5):
            u = np.sort(rng.choice(300, 250, replace=False))
            users.append(u)
            vals.append(0.4 + shift + rng.normal(0, 0.05, len(u)) + fold * 0.0)
        pooled = pool_by_user(np.concatenate(users), np.concatenate(vals))
        per_algo[alg] = pooled
    users, a, b = align_users(
        per_algo["pop"].users, per_algo["pop"].values, per_algo["ease"].users,
        per_algo["ease"].values,
    )  # fmt: skip
    assert len(users) == len(np.unique(users)) <= 300
    out = compare_to_baseline({"ease": b, "pop": a}, "ease", ["ndcg@10"], [True], n_rounds=2000)
    assert out[0].verdict == "worse" and out[0].result.n == len(users)
    assert out[0].result.mean_diff == pytest.approx(-0.1, abs=0.01)
