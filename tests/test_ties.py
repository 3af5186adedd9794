"""Ties at the cut-off: top-K lists follow one rule, independent of the K list asked for."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from recbench.algorithms import plugins
from recbench.algorithms.base import top_k as base_top_k
from recbench.data import load_dataset
from recbench.evaluation import EvalConfig, evaluate
from recbench.metrics.topk import top_k
from recbench.split import Split, make_split, parse_split


def reference(scores: np.ndarray, k: int) -> np.ndarray:
    """The rule, spelled out: stable order by (score descending, item index ascending)."""
    n = scores.shape[1]
    return np.array([np.lexsort((np.arange(n), -row))[:k] for row in scores]).reshape(
        len(scores), min(k, n)
    )


def test_ties_at_the_boundary_go_to_the_lowest_item_index() -> None:
    scores = np.array([[1, 5, 1, 1, 5, 1, 0], [0, 0, 0, 0, 0, 0, 0]], dtype=np.float32)
    idx, vals = top_k(scores, 3)
    assert idx.tolist() == [[1, 4, 0], [0, 1, 2]]
    assert vals.tolist() == [[5, 5, 1], [0, 0, 0]]


def test_masked_items_tie_at_minus_infinity_by_index() -> None:
    scores = np.array([[-np.inf, 2.0, -np.inf, -np.inf]], dtype=np.float32)
    idx, _ = top_k(scores, 3)
    assert idx.tolist() == [[1, 0, 2]]


def test_the_base_module_re_exports_the_same_primitive() -> None:
    assert base_top_k is top_k


def test_non_positive_k_is_an_error() -> None:
    with pytest.raises(ValueError, match="positive"):
        top_k(np.zeros((1, 3), dtype=np.float32), 0)


score_matrices = arrays(
    np.float32,
    st.tuples(st.integers(1, 6), st.integers(1, 40)),
    # few distinct values, so ties are everywhere, including at -inf (masked items)
    elements=st.sampled_from([-np.inf, 0.0, 0.5, 1.0, 2.0, 3.0]),
)


@settings(deadline=None, max_examples=200)
@given(score_matrices, st.integers(1, 45), st.integers(1, 45))
def test_top_k_is_the_rule_and_a_prefix_of_any_larger_k(scores, k1, k2) -> None:
    small, large = sorted((k1, k2))
    idx_small, vals_small = top_k(scores, small)
    idx_large, _ = top_k(scores, large)
    np.testing.assert_array_equal(idx_small, reference(scores, small))
    np.testing.assert_array_equal(idx_large[:, : idx_small.shape[1]], idx_small)
    np.testing.assert_array_equal(vals_small, np.take_along_axis(scores, idx_small, axis=1))


@pytest.fixture(scope="module")
def ml_split() -> Split:
    ds = load_dataset("ml-latest-small")
    return make_split(ds, parse_split("holdout:0.2"), seed=0)


@pytest.mark.parametrize("algo", ["popularity", "content"])
def test_metrics_at_10_do_not_depend_on_the_other_ks(ml_split: Split, algo: str) -> None:
    model = plugins.make(algo, {}, seed=0).fit(ml_split.train)
    alone = evaluate(model, ml_split, EvalConfig(ks=(10,))).metrics
    many = evaluate(model, ml_split, EvalConfig(ks=(5, 10, 20))).metrics
    for name in ("precision", "recall", "ndcg", "map", "mrr", "hitrate"):
        assert many[f"{name}@10"] == alone[f"{name}@10"], name
