"""Explanations name what produced the score.

Additive models (item-kNN on its ranking neighbourhoods, EASE, the hybrid's parts) pass a
deletion check: leaving the named history item out of the history lowers the item's score more
than leaving out any other. Content's terms add up to its score; ALS's contributions are
implicit's ``explain``; latent models say their reason is an approximation.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recbench.algorithms import make
from recbench.algorithms.base import Recommender
from recbench.algorithms.explain import Contribution, describe, rank_contributions
from recbench.data.model import Dataset

from .helpers import make_dataset

N_USERS, N_ITEMS = 160, 90
GENRES = ["action", "comedy", "drama", "horror", "romance", "scifi", "war", "western"]


@pytest.fixture(scope="module")
def data() -> Dataset:
    """Users in three taste groups over 90 items, ratings 1-5 that follow the group, random
    genres (1-3 per item): no two items or users alike, so no ties decide a test."""
    rng = np.random.default_rng(7)
    item_group = rng.integers(0, 3, N_ITEMS)
    user_group = rng.integers(0, 3, N_USERS)
    likes = user_group[:, None] == item_group[None, :]
    p = np.where(likes, 0.45, 0.08)
    u, i = np.nonzero(rng.random((N_USERS, N_ITEMS)) < p)
    r = np.clip(np.where(likes[u, i], 4.2, 2.2) + rng.normal(0, 0.9, len(u)), 1, 5).round()
    ds = make_dataset(u, i, r, n_users=N_USERS, n_items=N_ITEMS, name="tastes")
    genres = [
        "|".join(rng.choice(GENRES, rng.integers(1, 4), replace=False)) for _ in range(N_ITEMS)
    ]
    feats = pd.DataFrame(
        {
            "title": [f"Film {k} ({1950 + 7 * k % 60})" for k in range(N_ITEMS)],
            "year": [1950 + 7 * k % 60 for k in range(N_ITEMS)],
            "genres": genres,
            "tags": ["" for _ in range(N_ITEMS)],
            "title_words": [f"film {k}" for k in range(N_ITEMS)],
        }
    )
    return replace(ds, item_features=feats)


def leave_one_out(history: sp.csr_array) -> sp.csr_array:
    """Row r: ``history`` (one row) without its r-th stored item."""
    h = sp.csr_array(history)
    n = h.nnz
    keep = ~np.eye(n, dtype=bool)
    rows = np.repeat(np.arange(n), n - 1)
    cols = np.tile(h.indices, (n, 1))[keep]
    vals = np.tile(h.data, (n, 1))[keep]
    return sp.csr_array((vals, (rows, cols)), shape=(n, h.shape[1]))


def top_unseen(model: Recommender[Any], history: sp.csr_array, k: int = 8) -> np.ndarray:
    scores = np.asarray(model.score_history(history))[0].copy()
    scores[history.indices] = -np.inf
    return np.argsort(-scores, kind="stable")[:k]


def assert_deletion_check(model: Recommender[Any], history: sp.csr_array) -> None:
    """For each top item: the named history item is the one whose removal costs the most."""
    items = top_unseen(model, history)
    found = model.contributions(history, items)
    assert found is not None
    reasons = model.explain(history, items)
    assert reasons is not None
    full = np.asarray(model.score_history(history))[0][items]
    without = np.asarray(model.score_history(leave_one_out(history)))[:, items]
    drops = full[None, :] - without  # (history item, recommended item)
    for r in range(len(items)):
        named = found[r][0].item
        pos = int(np.flatnonzero(history.indices == named)[0])
        assert drops[pos, r] >= drops[:, r].max() - 1e-5, (r, named)
        assert drops[pos, r] == pytest.approx(found[r][0].value, rel=1e-4, abs=1e-5)
        assert f"{{item:{named}}}" in reasons[r].split(" and ")[0]


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("item-knn", {}),
        ("item-knn", {"k": 10}),
        ("ease", {"l2": 20.0}),
        ("ease", {"l2": 20.0, "values": "rating"}),
    ],
    ids=["item-knn", "item-knn-k10", "ease", "ease-rating"],
)
def test_deletion_check_for_additive_models(data: Dataset, name: str, params: dict) -> None:  # type: ignore[type-arg]
    model = make(name, params).fit(data)
    ratings = data.interactions.csr("rating")
    for user in (0, 7, 42, 99):
        assert_deletion_check(model, ratings[[user]])


def test_deletion_check_for_the_hybrids_parts(data: Dataset) -> None:
    """With a long history the collaborative part (here item-kNN) weighs most: the hybrid gives
    its reason, which passes the deletion check on that part."""
    model = make("hybrid", {"cf": "item-knn", "beta": 2.0}).fit(data)
    history = data.interactions.csr("rating")[[7]]
    items = top_unseen(model.cf_, history)
    reasons = model.explain(history, items)
    part = model.cf_.explain(history, items)
    assert reasons is not None and part is not None
    for reason, own in zip(reasons, part, strict=True):
        assert reason.startswith(own) and "collaborative part" in reason
    assert_deletion_check(model.cf_, history)
    newcomer = sp.csr_array(([4.0], ([0], [history.indices[0]])), shape=history.shape)
    assert "content part" in (model.explain(newcomer, items[:1]) or [""])[0]


def test_item_knn_explains_with_its_ranking_neighbourhood_not_msd() -> None:
    """Item 1 shares one user (same rating) with item 0: msd calls them identical. Item 2 is
    co-rated with item 0 by many users (ratings disagree): the binary-cosine neighbourhood that
    ranks item 0 weighs item 2 most, and so must the explanation."""
    users, items, ratings = [], [], []
    for u in range(30):  # items 0 and 2 together, ratings far apart
        users += [u, u]
        items += [0, 2]
        ratings += [5.0, 1.0 + (u % 2)]
    users += [30, 30]  # the only co-rating of items 0 and 1, equal ratings
    items += [0, 1]
    ratings += [3.0, 3.0]
    for u in range(31, 40):  # others rate item 1 and filler items
        users += [u, u]
        items += [1, 3 + u % 4]
        ratings += [2.0, 4.0]
    ds = make_dataset(users, items, ratings)
    model = make("item-knn").fit(ds)
    assert model.sim_[0, 1] == pytest.approx(1.0)  # msd: "identical"
    assert model.sim_[0, 2] < 0.5
    history = sp.csr_array(([3.0, 1.0], ([0, 0], [1, 2])), shape=(1, ds.n_items))
    reasons = model.explain(history, np.array([0]))
    assert reasons is not None and reasons[0].startswith("because you rated {item:2}")
    assert "msd" not in reasons[0]
    (parts,) = model.contributions(history, np.array([0])) or [[]]
    assert parts[0].item == 2 and parts[0].value > parts[1].value
    assert sum(c.value for c in parts) == pytest.approx(model.score_history(history)[0, 0])


def test_content_terms_are_its_score(data: Dataset) -> None:
    """Content's score is the cosine of the user's profile (a weighted sum of the history's
    feature rows) and the item: each history item's term is its weight times the two items'
    feature product over the profile's norm, and the terms add up to the score."""
    model = make("content").fit(data)
    history = data.interactions.csr("rating")[[42]]
    items = top_unseen(model, history)
    found = model.contributions(history, items)
    assert found is not None
    feats = model._features().toarray().astype(np.float64)
    weights = model._weights(sp.csr_array(history, dtype=np.float32))
    w = np.zeros(data.n_items)
    w[weights.indices] = weights.data
    profile = w @ feats
    for r, j in enumerate(items):
        terms = w * (feats @ feats[j]) / np.linalg.norm(profile)
        by_item = {c.item: c.value for c in found[r]}
        for rated in history.indices:
            assert by_item[int(rated)] == pytest.approx(terms[rated], abs=1e-6)
        assert sum(by_item.values()) == pytest.approx(model.score_history(history)[0, j], 1e-4)
    reasons = model.explain(history, items)
    assert reasons is not None and all("shares genre:" in r for r in reasons)


@pytest.mark.parametrize("weighting", ["binary", "rating"])
def test_als_contributions_are_implicits_explain(data: Dataset, weighting: str) -> None:
    from threadpoolctl import threadpool_limits

    params = {"factors": 8, "iterations": 5, "alpha": 2.0, "weighting": weighting}
    model = make("als", params, seed=0).fit(data)
    matrix = sp.csr_matrix(data.interactions.csr(weighting).astype(np.float32))  # type: ignore[arg-type]
    ref = model.to_implicit()
    user = 11
    history = sp.csr_array(matrix[[user]])
    items = np.array([0, 5, 17, 60])
    found = model.contributions(history, items)
    assert found is not None
    for parts, item in zip(found, items, strict=True):
        with threadpool_limits(1, "blas"):
            total, top, _ = ref.explain(user, matrix, int(item), N=5)
        assert sum(c.value for c in parts) == pytest.approx(total, rel=1e-4, abs=1e-6)
        assert [c.item for c in parts[:5]] == [int(i) for i, _ in top]
        np.testing.assert_allclose([c.value for c in parts[:5]], [s for _, s in top], rtol=1e-4)


def test_latent_models_say_their_reason_is_an_approximation(data: Dataset) -> None:
    history = data.interactions.csr("rating")[[3]]
    items = np.array([4, 8])
    svd = make("svd", {"n_factors": 8}).fit(data)
    assert svd.contributions(history, items) is None
    reasons = svd.explain(history, items)
    assert reasons is not None and all("approximate reason" in r for r in reasons)


def test_describe_names_the_largest_positive_terms() -> None:
    (parts,) = rank_contributions(np.array([4, 9, 2]), np.array([[0.1, 0.3, -0.2]]))
    assert parts == [
        Contribution(9, 0.3, pytest.approx(0.75)),  # type: ignore[arg-type]
        Contribution(4, 0.1, pytest.approx(0.25)),  # type: ignore[arg-type]
        Contribution(2, -0.2, 0.0),
    ]
    assert describe(parts) == (
        "because you rated {item:9} (+0.3, 75% of the evidence) and {item:4} (+0.1, 25%)"
    )
    (none,) = rank_contributions(np.array([1]), np.array([[-1.0]]))
    assert describe(none) == "nothing in your history adds to its score"
