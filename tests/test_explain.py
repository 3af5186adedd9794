"""Explanations name what produced the score.

Models whose score is built from the user's history (item-kNN on its ranking neighbourhoods,
EASE, content, the hybrid's parts) pass a deletion check: leaving the named history item out of
the history lowers the item's score more than leaving out any other. Content's contributions are
exactly those leave-one-out drops (its centred, normalised profile has no separable terms), on
the synthetic tastes and on ml-latest-small; ALS's contributions are implicit's ``explain``;
latent models say their reason is an approximation.
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
        ("content", {}),
        ("content", {"choice_weight": 0.0, "year_weight": 0.0}),
    ],
    ids=["item-knn", "item-knn-k10", "ease", "ease-rating", "content", "content-centred"],
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


def content_scores64(model: Recommender[Any], history: sp.csr_array) -> np.ndarray:
    """Content's score of every item for each row of ``history``, in float64: the cosine of the
    profile (the model's own weights times the feature rows) and each item's feature row."""
    feats = model._features().toarray().astype(np.float64)
    weights = model._weights(sp.csr_array(history, dtype=np.float32))
    profile = weights.toarray().astype(np.float64) @ feats
    norms = np.linalg.norm(profile, axis=1, keepdims=True)
    return profile @ feats.T / np.where(norms > 0, norms, 1.0)


def assert_contributions_are_drops(
    model: Recommender[Any], history: sp.csr_array, items: np.ndarray
) -> None:
    """Every history item's contribution is the drop in the item's score when it is left out
    (float64 reference); a share is that drop over the sum of the positive drops."""
    found = model.contributions(history, items)
    assert found is not None and len(found) == len(items)
    full = content_scores64(model, history)[0, items]
    drops = full[None, :] - content_scores64(model, leave_one_out(history))[:, items]
    for r, parts in enumerate(found):
        by_item = {c.item: c for c in parts}
        assert sorted(by_item) == sorted(history.indices.tolist())
        column = drops[:, r]
        positive = column[column > 0].sum()
        for pos, rated in enumerate(history.indices):
            part = by_item[int(rated)]
            assert part.value == pytest.approx(column[pos], rel=1e-5, abs=1e-7), (r, int(rated))
            share = column[pos] / positive if column[pos] > 0 else 0.0
            assert part.share == pytest.approx(share, abs=1e-6)


@pytest.mark.parametrize("choice_weight", [0.5, 0.0, 2.0])
def test_content_contributions_are_leave_one_out_drops(data: Dataset, choice_weight: float) -> None:
    """Content's score is the cosine of a profile whose weights are centred on the user's mean
    rating: leaving one item out moves the mean and the norm, so each history item's
    contribution is the exact drop of the score without it, not its term in the profile."""
    model = make("content", {"choice_weight": choice_weight}).fit(data)
    ratings = data.interactions.csr("rating")
    for user in (0, 7, 42, 99, 150):
        history = ratings[[user]]
        assert_contributions_are_drops(model, history, top_unseen(model, history))
    reasons = model.explain(ratings[[42]], np.array([3, 5]))
    assert reasons is not None and all("shares genre:" in r for r in reasons)


def test_content_contributions_where_the_rest_weighs_one(data: Dataset) -> None:
    """With choice_weight 0 a history whose other ratings all equal their mean weighs each item
    1 (as :meth:`_weights` does); on implicit data every item weighs 1; one rated item's drop is
    the whole score; an empty history has no contributions."""
    model = make("content", {"choice_weight": 0.0}).fit(data)
    items = np.arange(0, N_ITEMS, 7)

    def row(cols: list[int], values: list[float]) -> sp.csr_array:
        return sp.csr_array((values, ([0] * len(cols), cols)), shape=(1, N_ITEMS), dtype=np.float32)

    for history in (
        row([2, 11, 30, 64], [4.0, 4.0, 4.0, 5.0]),  # without the 5: flat
        row([2, 11, 30], [3.0, 3.0, 3.0]),  # flat, with or without any
        row([2, 11], [1.0, 5.0]),  # one left: flat
        row([40], [4.5]),
    ):
        assert_contributions_are_drops(model, history, items)
    (only,) = model.contributions(row([40], [4.5]), np.array([41])) or [[]]
    assert only[0].value == pytest.approx(content_scores64(model, row([40], [4.5]))[0, 41])
    empty = sp.csr_array((1, N_ITEMS), dtype=np.float32)
    assert model.contributions(empty, items[:2]) == [[], []]
    assert model.explain(empty, items[:1]) == ["nothing in your history adds to its score"]

    inter = replace(data.interactions, rating=None)
    implicit = make("content").fit(replace(data, interactions=inter, rating_scale=None))
    assert implicit.rating_scale_[1] <= implicit.rating_scale_[0]
    binary = inter.csr("binary")
    for user in (0, 42):
        assert_contributions_are_drops(
            implicit, binary[[user]], top_unseen(implicit, binary[[user]])
        )
        assert_deletion_check(implicit, binary[[user]])


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


#: ml-latest-small users (dense index) with 45 to 314 ratings
ML_USERS = (0, 5, 13, 42, 99, 200, 313, 500)


def test_content_deletion_check_on_ml_latest_small(ml_small: Dataset) -> None:
    """64 user/item pairs (8 users, their top 8 unseen items): the named history item is the
    one whose removal lowers the score most, by the model's own score_history, and every
    contribution is that item's leave-one-out drop."""
    model = make("content").fit(ml_small)
    ratings = ml_small.interactions.csr("rating")
    for user in ML_USERS:
        history = ratings[[user]]
        assert_deletion_check(model, history)
        items = top_unseen(model, history)
        found = model.contributions(history, items)
        assert found is not None
        full = np.asarray(model.score_history(history))[0][items]
        without = np.asarray(model.score_history(leave_one_out(history)))[:, items]
        position = {int(i): p for p, i in enumerate(history.indices)}
        for r, parts in enumerate(found):
            drops = np.array([full[r] - without[position[c.item], r] for c in parts])
            np.testing.assert_allclose([c.value for c in parts], drops, rtol=1e-3, atol=2e-6)


def test_hybrid_content_part_passes_the_deletion_check(ml_small: Dataset) -> None:
    """A newcomer's (15 ratings, beta 20) hybrid reason is its content part's, which passes
    the deletion check on ml-latest-small."""
    model = make("hybrid", {"cf": "popularity"}).fit(ml_small)
    ratings = ml_small.interactions.csr("rating")
    for user in ML_USERS[:4]:
        full = ratings[[user]]
        keep = np.zeros(full.shape[1], np.float32)
        keep[full.indices[:15]] = 1.0
        history = sp.csr_array(full.multiply(keep[None, :]))
        history.eliminate_zeros()
        assert history.nnz == 15
        items = top_unseen(model.content_, history)
        reasons = model.explain(history, items)
        own = model.content_.explain(history, items)
        assert reasons is not None and own is not None
        for reason, part in zip(reasons, own, strict=True):
            assert reason.startswith(part) and "content part" in reason
        assert_deletion_check(model.content_, history)
