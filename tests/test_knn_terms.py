"""The vectorised k-NN neighbourhood terms are bitwise Surprise's per-pair loop: candidates by
``heapq.nlargest`` (ties: the earlier training rating), sums added one neighbour at a time."""

from __future__ import annotations

import heapq
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recbench.algorithms import knn_terms
from recbench.algorithms.knn import ItemKNNRecommender, KNNConfig, UserKNNRecommender
from recbench.algorithms.knn_terms import neighbour_terms
from recbench.data import load_dataset
from recbench.split import make_split, parse_split


def surprise_loop(
    sim: np.ndarray,
    rows: np.ndarray,
    ys: np.ndarray,
    indptr: np.ndarray,
    cands: np.ndarray,
    ratings: np.ndarray,
    k: int,
    reference: Any,
) -> list[tuple[float, float, int]]:
    """Surprise's ``estimate`` loop, literally: ``reference(neighbour, y)`` is what the
    predictor subtracts from a neighbour's rating (0 for KNNBasic)."""
    out = []
    for x_row, y in zip(rows.tolist(), ys.tolist(), strict=True):
        lo, hi = indptr[y], indptr[y + 1]
        neighbours = [(cands[t], sim[x_row, cands[t]], ratings[t]) for t in range(lo, hi)]
        sum_sim = sum_num = 0.0
        actual_k = 0
        for nb, s, r in heapq.nlargest(k, neighbours, key=lambda t: t[1]):
            if s > 0:
                sum_sim += s
                sum_num += s * (r - reference(nb, y))
                actual_k += 1
        out.append((sum_sim, sum_num, actual_k))
    return out


def as_tuples(terms: tuple[np.ndarray, np.ndarray, np.ndarray]) -> list[tuple[float, float, int]]:
    return list(zip(terms[0].tolist(), terms[1].tolist(), terms[2].tolist(), strict=True))


@settings(max_examples=60, deadline=None)
@given(
    n_x=st.integers(1, 12),
    n_y=st.integers(1, 8),
    k=st.integers(1, 9),
    levels=st.sampled_from([2, 3, 50]),
    seed=st.integers(0, 2**31 - 1),
    chunk=st.sampled_from([1, 7, 1 << 21]),
)
def test_equals_the_literal_loop_with_ties_and_any_chunking(
    n_x: int, n_y: int, k: int, levels: int, seed: int, chunk: int
) -> None:
    """Few similarity levels (many ties, zeros and negatives), any degrees (zero included),
    chunks of one row or many: the same bits as the loop."""
    rng = np.random.default_rng(seed)
    sim = rng.integers(-1, levels, (n_x, n_x)) / levels  # ties, zeros and negatives
    deg = rng.integers(0, n_x + 1, n_y)
    indptr = np.concatenate([[0], np.cumsum(deg)])
    cands = np.concatenate([rng.permutation(n_x)[:d] for d in deg]).astype(np.int64)
    ratings = rng.integers(1, 6, len(cands)).astype(np.float64) + rng.random(len(cands))
    means = rng.random(n_x) * 4
    n_pairs = int(rng.integers(0, 30))
    rows = rng.integers(0, n_x, n_pairs)
    ys = rng.integers(0, n_y, n_pairs)
    want = surprise_loop(sim, rows, ys, indptr, cands, ratings, k, lambda nb, y: means[nb])
    old = knn_terms.CHUNK_CELLS
    knn_terms.CHUNK_CELLS = chunk
    try:
        got = neighbour_terms(
            sim, rows, ys, indptr, cands, ratings, k, lambda rr, nbs, _ys: rr - means[nbs]
        )
    finally:
        knn_terms.CHUNK_CELLS = old
    assert as_tuples(got) == want


def test_a_hand_computed_pair() -> None:
    """y rated by x = 1, 2, 3 (ratings 4, 2, 5); x = 0's similarities 0.5, 0.5, -1; k = 2: the
    two 0.5's (x = 1 first, as it was rated first), sums 1.0 and 0.5 * 4 + 0.5 * 2 = 3.0."""
    sim = np.array([[1, 0.5, 0.5, -1.0]] * 4)
    got = neighbour_terms(
        sim, np.array([0]), np.array([0]), np.array([0, 3]), np.array([1, 2, 3]),
        np.array([4.0, 2.0, 5.0]), 2, lambda rr, nbs, ys: rr,
    )  # fmt: skip
    assert as_tuples(got) == [(1.0, 3.0, 2)]


@pytest.mark.parametrize(
    "cls, similarity, predictor, k",
    [
        (UserKNNRecommender, "msd", "basic", 40),
        (UserKNNRecommender, "pearson_baseline", "baseline", 40),
        (UserKNNRecommender, "pearson", "means", 3),
        (ItemKNNRecommender, "cosine", "means", 40),
        (ItemKNNRecommender, "msd", "baseline", 5),
    ],
)
def test_models_on_real_ratings_match_the_loop_bitwise(
    cls: Any, similarity: str, predictor: str, k: int
) -> None:
    """ml-latest-small (the item-based models on its 1,000 most rated items, so the dense
    similarity stays small): every known test pair's terms are the loop's, bit for bit."""
    ds = load_dataset("ml-latest-small")
    if cls is ItemKNNRecommender:
        inter = ds.interactions
        top = np.argsort(-inter.item_counts(), kind="stable")[:1000]
        ds = ds.with_interactions(inter.subset(np.isin(inter.item, top)))
    split = make_split(ds, parse_split("holdout:0.2"), seed=0)
    params = {"similarity": similarity, "predictor": predictor, "k": k, "max_memory_gb": 8}
    model = cls(KNNConfig.model_validate(params)).fit(split.train)
    users = split.test.user.astype(np.int64)[:1500]
    items = split.test.item.astype(np.int64)[:1500]
    x, y = (users, items) if model.user_based else (items, users)
    known = np.flatnonzero(model.user_known_[users] & model.item_known_[items])
    assert len(known) > 500
    mu = float(model.global_mean_)
    bx, by = (model.bu_, model.bi_) if model.user_based else (model.bi_, model.bu_)
    reference = {
        "basic": lambda nb, yy: 0.0,
        "means": lambda nb, yy: model.means_[nb],
        "baseline": lambda nb, yy: mu + bx[nb] + by[yy],
    }[predictor]
    want = surprise_loop(
        model.sim_, x[known], y[known], model.yr_indptr_, model.yr_indices_, model.yr_data_, k,
        reference,
    )  # fmt: skip
    assert as_tuples(model._neighbour_terms(known, x, y, model.sim_, None)) == want
