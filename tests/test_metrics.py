"""Tests for recbench.metrics: hand-computed cases, Hypothesis properties, a slow reference."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from recbench.metrics import METRICS, RANKING_METRICS, RATING_METRICS
from recbench.metrics.ranking import (
    hitrate_at_k,
    map_at_k,
    mrr_at_k,
    ndcg_at_k,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
)
from recbench.metrics.rating import mae, per_user_errors, rmse

FUNCS = {
    "precision": precision_at_k,
    "recall": recall_at_k,
    "ndcg": ndcg_at_k,
    "map": map_at_k,
    "mrr": mrr_at_k,
    "hitrate": hitrate_at_k,
}
#: Slack for comparisons of two different lists' MAP values (sums of different fractions).
EPS = 1e-12
PROPS = settings(deadline=None, max_examples=150)


def H(*rows: list[int]) -> np.ndarray:
    """A boolean hit matrix from 0/1 rows."""
    return np.array(rows, dtype=bool)


def N(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def all_metrics(hits: np.ndarray, n_rel: np.ndarray, k: int) -> dict[str, np.ndarray]:
    return {name: fn(hits, n_rel, k) for name, fn in FUNCS.items()}


def check(hits: np.ndarray, n_rel: np.ndarray, k: int, expected: dict[str, list[float]]):
    got = all_metrics(hits, n_rel, k)
    assert set(expected) == set(FUNCS)
    for name, want in expected.items():
        np.testing.assert_allclose(got[name], want, rtol=1e-12, atol=1e-15, err_msg=name)
        assert got[name].dtype == np.float64, name
        assert got[name].shape == (hits.shape[0],), name


# --------------------------------------------------------------------------------------------
# Hand-computed cases
# --------------------------------------------------------------------------------------------


def test_registry_of_metric_names():
    assert set(RANKING_METRICS) == set(FUNCS)
    assert set(RATING_METRICS) == {"rmse", "mae"}
    beyond = {"coverage", "gini", "novelty", "arp", "aplt", "ild", "personalisation"}
    assert set(METRICS) == set(RANKING_METRICS) | set(RATING_METRICS) | beyond


def test_single_hit_at_rank_1_with_one_relevant():
    # K=5, hit only at rank 1, 1 relevant item: a perfect list.
    check(
        H([1, 0, 0, 0, 0]),
        N(1),
        5,
        {
            "precision": [1 / 5],
            "recall": [1.0],
            "ndcg": [1.0],  # DCG = 1/log2(2) = 1 = IDCG
            "map": [1.0],  # (1/1) / min(5, 1)
            "mrr": [1.0],
            "hitrate": [1.0],
        },
    )


def test_single_hit_at_rank_1_with_three_relevant():
    # DCG = 1; IDCG = 1 + 1/log2(3) + 1/log2(4); AP = (1/1) / min(5, 3) = 1/3
    check(
        H([1, 0, 0, 0, 0]),
        N(3),
        5,
        {
            "precision": [1 / 5],
            "recall": [1 / 3],
            "ndcg": [1 / (1 + 1 / math.log2(3) + 1 / math.log2(4))],
            "map": [1 / 3],
            "mrr": [1.0],
            "hitrate": [1.0],
        },
    )


def test_hits_at_ranks_2_and_4_with_three_relevant():
    # K=5, hits at ranks 2 and 4, n_relevant=3.
    # precision = 2/5; recall = 2/3
    # NDCG = (1/log2(3) + 1/log2(5)) / (1 + 1/log2(3) + 1/log2(4))
    # AP = (P@2 + P@4) / min(5, 3) = (1/2 + 2/4) / 3 = 1/3
    # MRR = 1/2 (first hit at rank 2)
    ndcg = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3) + 1 / math.log2(4))
    assert ndcg == pytest.approx(0.4982, abs=1e-4)  # 1.0616 / 2.1309
    check(
        H([0, 1, 0, 1, 0]),
        N(3),
        5,
        {
            "precision": [2 / 5],
            "recall": [2 / 3],
            "ndcg": [ndcg],
            "map": [1 / 3],
            "mrr": [1 / 2],
            "hitrate": [1.0],
        },
    )


def test_more_relevant_items_than_k():
    # K=3, hits at ranks 1 and 2, n_relevant=10 > K.
    # ideal DCG is truncated at K: 1 + 1/log2(3) + 1/log2(4)  (not 10 terms)
    # AP divides by min(K, n_relevant) = 3: (1/1 + 2/2) / 3 = 2/3
    check(
        H([1, 1, 0]),
        N(10),
        3,
        {
            "precision": [2 / 3],
            "recall": [2 / 10],
            "ndcg": [(1 + 1 / math.log2(3)) / (1 + 1 / math.log2(3) + 1 / math.log2(4))],
            "map": [2 / 3],
            "mrr": [1.0],
            "hitrate": [1.0],
        },
    )


def test_full_top_k_with_more_relevant_than_k_is_perfect_for_ndcg_and_map():
    # All K=4 ranks are hits and 10 items are relevant: NDCG and AP are 1, recall 4/10.
    check(
        H([1, 1, 1, 1]),
        N(10),
        4,
        {
            "precision": [1.0],
            "recall": [0.4],
            "ndcg": [1.0],
            "map": [1.0],
            "mrr": [1.0],
            "hitrate": [1.0],
        },
    )


def test_hit_matrix_narrower_than_k_counts_missing_ranks_as_misses():
    # Only 2 candidates but K=5; a hit at rank 2, n_relevant=2.
    # precision = 1/5 (not 1/2); NDCG = (1/log2(3)) / (1 + 1/log2(3)); AP = (1/2) / 2
    hits = H([0, 1])
    check(
        hits,
        N(2),
        5,
        {
            "precision": [1 / 5],
            "recall": [1 / 2],
            "ndcg": [(1 / math.log2(3)) / (1 + 1 / math.log2(3))],
            "map": [1 / 4],
            "mrr": [1 / 2],
            "hitrate": [1.0],
        },
    )
    padded = np.zeros((1, 5), dtype=bool)
    padded[:, :2] = hits
    for name, fn in FUNCS.items():
        np.testing.assert_array_equal(fn(hits, N(2), 5), fn(padded, N(2), 5), err_msg=name)


def test_zero_width_hit_matrix_scores_zero():
    hits = np.zeros((2, 0), dtype=bool)
    for name, fn in FUNCS.items():
        np.testing.assert_array_equal(fn(hits, N(1, 3), 4), [0.0, 0.0], err_msg=name)


def test_no_hits_scores_zero_everywhere():
    check(
        H([0, 0, 0], [0, 0, 0]),
        N(1, 5),
        3,
        {name: [0.0, 0.0] for name in FUNCS},
    )


def test_columns_beyond_k_are_ignored():
    # The hit at rank 4 lies outside K=3.
    hits = H([0, 0, 1, 1, 1])
    check(
        hits,
        N(3),
        3,
        {
            "precision": [1 / 3],
            "recall": [1 / 3],
            "ndcg": [(1 / math.log2(4)) / (1 + 1 / math.log2(3) + 1 / math.log2(4))],
            "map": [(1 / 3) / 3],
            "mrr": [1 / 3],
            "hitrate": [1.0],
        },
    )


def test_several_users_are_scored_independently():
    hits = H([1, 0, 0], [0, 0, 1], [0, 0, 0], [1, 1, 1])
    n_rel = N(1, 2, 4, 3)
    check(
        hits,
        n_rel,
        3,
        {
            "precision": [1 / 3, 1 / 3, 0.0, 1.0],
            "recall": [1.0, 1 / 2, 0.0, 1.0],
            "ndcg": [1.0, (1 / math.log2(4)) / (1 + 1 / math.log2(3)), 0.0, 1.0],
            "map": [1.0, (1 / 3) / 2, 0.0, 1.0],
            "mrr": [1.0, 1 / 3, 0.0, 1.0],
            "hitrate": [1.0, 1.0, 0.0, 1.0],
        },
    )


def test_integer_hit_matrix_gives_same_results_as_boolean():
    hits = H([0, 1, 0, 1, 0], [1, 1, 0, 0, 1])
    n_rel = N(3, 4)
    for name, fn in FUNCS.items():
        np.testing.assert_array_equal(
            fn(hits, n_rel, 5), fn(hits.astype(np.int64), n_rel, 5), err_msg=name
        )


@pytest.mark.parametrize("name", sorted(FUNCS))
@pytest.mark.parametrize("k", [0, -1, -10])
def test_non_positive_k_raises(name, k):
    with pytest.raises(ValueError, match="K must be positive"):
        FUNCS[name](H([1, 0, 0]), N(1), k)


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_user_without_relevant_items_raises(name):
    with pytest.raises(ValueError, match="at least one relevant"):
        FUNCS[name](H([1, 0], [0, 0]), N(1, 0), 2)
    with pytest.raises(ValueError, match="at least one relevant"):
        FUNCS[name](H([0, 0]), N(-1), 2)


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_bad_shapes_raise(name):
    with pytest.raises(ValueError):
        FUNCS[name](np.array([True, False]), N(1), 2)  # 1-D
    with pytest.raises(ValueError):
        FUNCS[name](H([1, 0], [0, 1]), N(1), 2)  # 2 users, 1 count


def test_ranking_metrics_validates_like_the_functions():
    with pytest.raises(ValueError):
        ranking_metrics(H([1, 0]), N(1), [5, 0])
    with pytest.raises(ValueError):
        ranking_metrics(H([1, 0]), N(0), [1])


def test_ndcg_of_a_perfect_ranking_is_exactly_one():
    # Regression: DCG was a BLAS dot product and ideal DCG a cumsum, so a perfect list scored
    # 0.9999999999999998 (K=20, 10 relevant) or even 1.0000000000000002 (K=32, 18 relevant).
    wrong = []
    for k in range(1, 65):
        for m in range(1, k + 1):
            hits = np.zeros((1, k), dtype=bool)
            hits[0, :m] = True
            value = float(ndcg_at_k(hits, N(m), k)[0])
            if value != 1.0:
                wrong.append((k, m, value))
    assert wrong == []


# --------------------------------------------------------------------------------------------
# Reference implementation (slow, per user, loops over ranks)
# --------------------------------------------------------------------------------------------


def ref_metrics(row: list[bool], n_rel: int, k: int) -> dict[str, float]:
    """Textbook definitions, one user, from scratch."""
    top = [bool(row[r]) if r < len(row) else False for r in range(k)]
    n_hits = sum(top)
    dcg = 0.0
    for r in range(k):  # 0-based rank r is 1-based rank r+1, discount 1/log2(r+2)
        if top[r]:
            dcg += 1.0 / math.log2(r + 2)
    idcg = 0.0
    for r in range(min(n_rel, k)):
        idcg += 1.0 / math.log2(r + 2)
    ap = 0.0
    seen = 0
    for r in range(k):
        if top[r]:
            seen += 1
            ap += seen / (r + 1)
    ap /= min(k, n_rel)
    rr = 0.0
    for r in range(k):
        if top[r]:
            rr = 1.0 / (r + 1)
            break
    return {
        "precision": n_hits / k,
        "recall": n_hits / n_rel,
        "ndcg": dcg / idcg,
        "map": ap,
        "mrr": rr,
        "hitrate": 1.0 if n_hits else 0.0,
    }


@st.composite
def ranking_case(draw, max_users: int = 8, max_width: int = 40, max_k: int = 40):
    """A consistent (hits, n_relevant, k): each user's hits never exceed their relevant count."""
    n_users = draw(st.integers(1, max_users))
    width = draw(st.integers(0, max_width))
    hits = draw(arrays(np.bool_, (n_users, width)))
    extra = draw(arrays(np.int64, n_users, elements=st.integers(0, 6)))
    n_rel = np.maximum(hits.sum(axis=1) + extra, 1).astype(np.int64)
    k = draw(st.integers(1, max_k))
    return hits, n_rel, k


@PROPS
@given(ranking_case())
def test_vectorised_metrics_match_reference(case):
    hits, n_rel, k = case
    got = all_metrics(hits, n_rel, k)
    for u in range(hits.shape[0]):
        want = ref_metrics(list(hits[u]), int(n_rel[u]), k)
        for name in FUNCS:
            assert got[name][u] == pytest.approx(want[name], rel=1e-12, abs=1e-15), (name, u)


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------


@PROPS
@given(ranking_case())
def test_all_metrics_lie_in_unit_interval(case):
    hits, n_rel, k = case
    for name, values in all_metrics(hits, n_rel, k).items():
        assert np.all(values >= 0.0), name
        assert np.all(values <= 1.0), name  # exactly, NDCG included


@PROPS
@given(ranking_case())
def test_precision_times_k_counts_hits_in_top_k(case):
    hits, n_rel, k = case
    count = hits[:, :k].sum(axis=1)
    np.testing.assert_allclose(precision_at_k(hits, n_rel, k) * k, count, rtol=0, atol=1e-9)
    np.testing.assert_allclose(recall_at_k(hits, n_rel, k) * n_rel, count, rtol=0, atol=1e-9)


@PROPS
@given(ranking_case())
def test_recall_is_one_iff_every_relevant_item_is_in_top_k(case):
    hits, n_rel, k = case
    count = hits[:, :k].sum(axis=1)
    recall = recall_at_k(hits, n_rel, k)
    np.testing.assert_array_equal(recall == 1.0, count == n_rel)
    # more relevant items than K can never be fully recalled
    assert np.all(recall[n_rel > k] < 1.0)


@PROPS
@given(ranking_case())
def test_ndcg_and_map_are_one_iff_first_min_k_nrel_ranks_are_hits(case):
    hits, n_rel, k = case
    padded = np.zeros((hits.shape[0], k), dtype=bool)
    w = min(k, hits.shape[1])
    padded[:, :w] = hits[:, :w]
    m = np.minimum(n_rel, k)
    perfect = np.array([padded[u, : m[u]].all() for u in range(len(m))])
    ndcg = ndcg_at_k(hits, n_rel, k)
    np.testing.assert_array_equal(ndcg == 1.0, perfect)
    np.testing.assert_array_equal(map_at_k(hits, n_rel, k) == 1.0, perfect)


@PROPS
@given(ranking_case(), st.data())
def test_moving_a_hit_earlier_never_lowers_any_metric(case, data):
    hits, n_rel, k = case
    u = data.draw(st.integers(0, hits.shape[0] - 1))
    row = hits[u]
    pairs = [
        (i, j) for i in range(len(row)) for j in range(i + 1, len(row)) if not row[i] and row[j]
    ]
    if not pairs:
        return
    i, j = data.draw(st.sampled_from(pairs))
    better = hits.copy()
    better[u, i], better[u, j] = True, False
    before = all_metrics(hits, n_rel, k)
    after = all_metrics(better, n_rel, k)
    for name in FUNCS:
        assert after[name][u] >= before[name][u] - EPS, name
    if i < k <= j:  # a hit moved into the top K from outside it
        for name in ("precision", "recall", "ndcg", "map"):
            assert after[name][u] > before[name][u], name


@PROPS
@given(ranking_case())
def test_orderings_between_metrics(case):
    hits, n_rel, k = case
    m = all_metrics(hits, n_rel, k)
    assert np.all(m["hitrate"] >= m["precision"])
    assert np.all(m["hitrate"] >= m["recall"])
    assert np.all(m["hitrate"] >= m["mrr"])
    # the first hit is at rank <= K, so a list with a hit has MRR >= 1/K
    assert np.all(m["mrr"] >= m["hitrate"] / k)
    # every metric is zero exactly when there is no hit in the top K
    none = m["hitrate"] == 0.0
    for name in FUNCS:
        np.testing.assert_array_equal(m[name] == 0.0, none, err_msg=name)
    # MRR is 1 exactly when rank 1 is a hit
    first = hits[:, 0] if hits.shape[1] else np.zeros(hits.shape[0], bool)
    np.testing.assert_array_equal(m["mrr"] == 1.0, first)


@PROPS
@given(ranking_case(max_k=12))
def test_recall_hitrate_mrr_and_hit_count_are_monotone_in_k(case):
    hits, n_rel, k = case
    for name in ("recall", "hitrate", "mrr"):
        lo = FUNCS[name](hits, n_rel, k)
        hi = FUNCS[name](hits, n_rel, k + 1)
        assert np.all(hi >= lo), name
    lo = precision_at_k(hits, n_rel, k) * k
    hi = precision_at_k(hits, n_rel, k + 1) * (k + 1)
    assert np.all(hi >= lo - 1e-9)


@PROPS
@given(ranking_case(), st.data())
def test_only_the_first_k_columns_matter(case, data):
    hits, n_rel, k = case
    # columns beyond K may hold anything, even hits the counts do not allow for
    tail = data.draw(arrays(np.bool_, (hits.shape[0], data.draw(st.integers(0, 4)))))
    trimmed = hits[:, :k]
    extended = np.concatenate([trimmed, tail], axis=1) if trimmed.shape[1] == k else trimmed
    for name, fn in FUNCS.items():
        base = fn(trimmed, n_rel, k)
        np.testing.assert_array_equal(fn(hits, n_rel, k), base, err_msg=name)
        np.testing.assert_array_equal(fn(extended, n_rel, k), base, err_msg=name)


@PROPS
@given(ranking_case())
def test_rows_are_scored_independently(case):
    hits, n_rel, k = case
    full = all_metrics(hits, n_rel, k)
    for u in range(hits.shape[0]):
        alone = all_metrics(hits[u : u + 1], n_rel[u : u + 1], k)
        for name in FUNCS:
            assert alone[name][0] == pytest.approx(full[name][u], rel=1e-12, abs=0), name


@PROPS
@given(ranking_case(), st.lists(st.integers(1, 15), min_size=1, max_size=4, unique=True))
def test_ranking_metrics_returns_every_name_at_every_k(case, ks):
    hits, n_rel, _ = case
    out = ranking_metrics(hits, n_rel, ks)
    assert set(out) == {(name, k) for name in RANKING_METRICS for k in ks}
    assert len(out) == len(RANKING_METRICS) * len(ks)
    for (name, k), values in out.items():
        np.testing.assert_array_equal(values, FUNCS[name](hits, n_rel, k), err_msg=f"{name}@{k}")


# --------------------------------------------------------------------------------------------
# Rating metrics
# --------------------------------------------------------------------------------------------


def test_rmse_and_mae_hand_case():
    # errors 0, 0, -2: RMSE = sqrt(4/3), MAE = 2/3
    assert rmse(np.array([1, 2, 3]), np.array([1, 2, 5])) == pytest.approx(math.sqrt(4 / 3))
    assert mae(np.array([1, 2, 3]), np.array([1, 2, 5])) == pytest.approx(2 / 3)


def test_rmse_and_mae_more_hand_cases():
    pred = np.array([3.5, 4.0, 1.0, 2.0], dtype=np.float32)
    true = np.array([4.0, 4.0, 3.0, 1.0], dtype=np.float32)
    # errors -0.5, 0, -2, 1: squares 0.25 + 0 + 4 + 1 = 5.25; |.| 0.5 + 0 + 2 + 1 = 3.5
    assert rmse(pred, true) == pytest.approx(math.sqrt(5.25 / 4))
    assert mae(pred, true) == pytest.approx(3.5 / 4)
    assert rmse(true, true) == 0.0
    assert mae(true, true) == 0.0
    assert isinstance(rmse(pred, true), float)
    assert isinstance(mae(pred, true), float)
    # pooled over all pairs, not a mean of per-user values
    assert rmse([1.0, 1.0, 1.0, 4.0], [1.0, 1.0, 1.0, 1.0]) == pytest.approx(math.sqrt(9 / 4))


@pytest.mark.parametrize("fn", [rmse, mae])
def test_rating_metrics_of_nothing_raise(fn):
    with pytest.raises(ValueError, match="undefined"):
        fn(np.array([]), np.array([]))


@settings(deadline=None, max_examples=100)
@given(
    arrays(
        np.float64,
        st.integers(1, 40),
        elements=st.floats(-100, 100, allow_nan=False, allow_infinity=False),
    ),
    st.data(),
)
def test_rmse_mae_properties(actual, data):
    pred = data.draw(
        arrays(np.float64, len(actual), elements=st.floats(-100, 100, allow_nan=False))
    )
    r, a = rmse(pred, actual), mae(pred, actual)
    err = pred - actual
    assert r == pytest.approx(math.sqrt(sum(e * e for e in err) / len(err)), rel=1e-9, abs=1e-12)
    assert a == pytest.approx(sum(abs(e) for e in err) / len(err), rel=1e-9, abs=1e-12)
    assert r >= a - 1e-9  # quadratic mean >= arithmetic mean
    assert rmse(actual, pred) == r and mae(actual, pred) == a


def test_per_user_errors_hand_case():
    users = np.array([0, 0, 2, 2, 2])
    pred = np.array([1.0, 2.0, 3.0, 3.0, 3.0])
    true = np.array([2.0, 2.0, 3.0, 4.0, 1.0])
    out = per_user_errors(users, pred, true, n_users=4)
    assert set(out) == {"rmse", "mae", "count"}
    # user 0: errors -1, 0; user 2: errors 0, -1, 2; users 1 and 3: no ratings
    np.testing.assert_allclose(out["rmse"], [math.sqrt(1 / 2), np.nan, math.sqrt(5 / 3), np.nan])
    np.testing.assert_allclose(out["mae"], [1 / 2, np.nan, 1.0, np.nan])
    np.testing.assert_array_equal(out["count"], [2, 0, 3, 0])


@st.composite
def per_user_case(draw):
    n_users = draw(st.integers(1, 8))
    n = draw(st.integers(0, 40))
    users = draw(arrays(np.int64, n, elements=st.integers(0, n_users - 1)))
    values = st.floats(-10, 10, allow_nan=False, allow_infinity=False)
    pred = draw(arrays(np.float64, n, elements=values))
    true = draw(arrays(np.float64, n, elements=values))
    return users, pred, true, n_users


@settings(deadline=None, max_examples=100)
@given(per_user_case())
def test_per_user_errors_match_pandas_groupby(case):
    users, pred, true, n_users = case
    out = per_user_errors(users, pred, true, n_users)
    frame = pd.DataFrame({"user": users, "err": pred - true})
    frame["sq"] = frame["err"] ** 2
    frame["abs"] = frame["err"].abs()
    grouped = frame.groupby("user")
    index = pd.RangeIndex(n_users)
    want_rmse = np.sqrt(grouped["sq"].mean().reindex(index).to_numpy(dtype=np.float64))
    want_mae = grouped["abs"].mean().reindex(index).to_numpy(dtype=np.float64)
    want_count = grouped.size().reindex(index, fill_value=0).to_numpy()
    assert out["rmse"].shape == out["mae"].shape == out["count"].shape == (n_users,)
    np.testing.assert_allclose(out["rmse"], want_rmse, rtol=1e-9, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(out["mae"], want_mae, rtol=1e-9, atol=1e-12, equal_nan=True)
    np.testing.assert_array_equal(out["count"], want_count)
    # NaN exactly for users without ratings
    np.testing.assert_array_equal(np.isnan(out["rmse"]), want_count == 0)
    np.testing.assert_array_equal(np.isnan(out["mae"]), want_count == 0)
    # per-user values pool back to the overall ones
    if len(users):
        seen = want_count > 0
        pooled = np.sqrt((out["rmse"][seen] ** 2 * want_count[seen]).sum() / len(users))
        assert pooled == pytest.approx(rmse(pred, true), rel=1e-9, abs=1e-12)


def test_k_beyond_the_list_is_never_padded_out() -> None:
    """A K far past the catalogue (--k 1000000000) costs nothing extra, and values agree with
    an explicitly padded list."""
    rng = np.random.default_rng(1)
    hits = rng.random((30, 8)) < 0.4
    n_rel = rng.integers(1, 12, 30)
    padded = np.pad(hits, ((0, 0), (0, 7)))
    for name, fn in FUNCS.items():
        np.testing.assert_array_equal(fn(hits, n_rel, 15), fn(padded, n_rel, 15), err_msg=name)
    huge = 10**12  # padding would need 8 TB per user row
    got = {name: fn(hits, n_rel, huge) for name, fn in FUNCS.items()}
    np.testing.assert_array_equal(got["precision"], hits.sum(axis=1) / huge)
    np.testing.assert_array_equal(got["recall"], recall_at_k(hits, n_rel, 8))
    np.testing.assert_array_equal(got["mrr"], mrr_at_k(hits, n_rel, 8))
    np.testing.assert_array_equal(got["hitrate"], hitrate_at_k(hits, n_rel, 8))
    assert np.all(got["ndcg"] <= ndcg_at_k(hits, n_rel, 8) + 1e-12)
