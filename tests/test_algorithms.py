"""Algorithms agree with their reference libraries and pass a shared contract."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recbench.algorithms import make, names
from recbench.errors import UsageError
from recbench.evaluation import EvalConfig, evaluate

from .helpers import checkerboard, make_dataset, surprise_estimates

BUILTINS = ["random", "popularity", "baseline", "svd", "als"]


def test_builtins_are_registered() -> None:
    assert set(BUILTINS) | {"content", "hybrid"} <= set(names())


def test_baseline_matches_surprise_baselineonly(ml_split) -> None:  # type: ignore[no-untyped-def]
    import surprise

    from recbench.algorithms.surprise_mf import surprise_trainset

    ours = make("baseline").fit(ml_split.train)
    trainset = surprise_trainset(ml_split.train)
    ref = surprise.BaselineOnly(verbose=False)
    ref.fit(trainset)
    users, items = ml_split.test.user[:3000], ml_split.test.item[:3000]
    expected = surprise_estimates(ref, users, items)
    np.testing.assert_allclose(ours.predict(users, items), expected, atol=2e-5)


def test_svd_bulk_scoring_matches_surprise_predict(ml_split) -> None:  # type: ignore[no-untyped-def]
    """Bulk estimates equal Surprise's own per-pair predict, unknown users/items included."""
    import surprise

    from recbench.algorithms.surprise_mf import surprise_trainset

    ours = make("svd", {"n_factors": 20, "n_epochs": 5}, seed=7).fit(ml_split.train)
    ref = surprise.SVD(n_factors=20, n_epochs=5, random_state=7)
    ref.fit(surprise_trainset(ml_split.train))
    train_items = ml_split.train.interactions.item_counts() > 0
    unseen_items = np.flatnonzero(~train_items)[:20]
    users = np.concatenate([ml_split.test.user[:2000], np.full(len(unseen_items), 3)])
    items = np.concatenate([ml_split.test.item[:2000], unseen_items])
    assert len(unseen_items) > 0
    expected = surprise_estimates(ref, users, items)
    np.testing.assert_allclose(ours.predict(users, items), expected, atol=1e-4)
    # Ranking scores are the same estimate before clipping: same order as Surprise's.
    scores = ours.score(np.array([3]))[0]
    unclipped = np.array(
        [
            ref.estimate(ref.trainset.to_inner_uid(3), ref.trainset.to_inner_iid(int(i)))
            for i in range(50)
            if train_items[i]
        ]
    )
    np.testing.assert_allclose(scores[:50][train_items[:50]], unclipped, atol=1e-4)


def test_unbiased_svd_falls_back_to_the_global_mean_like_surprise(ml_split) -> None:  # type: ignore[no-untyped-def]
    import surprise

    from recbench.algorithms.surprise_mf import surprise_trainset

    params = {"n_factors": 10, "n_epochs": 3, "biased": False}
    ours = make("svd", params, seed=1).fit(ml_split.train)
    ref = surprise.SVD(n_factors=10, n_epochs=3, biased=False, random_state=1)
    ref.fit(surprise_trainset(ml_split.train))
    unseen = np.flatnonzero(ml_split.train.interactions.item_counts() == 0)[:10]
    assert len(unseen)
    users = np.concatenate([ml_split.test.user[:500], np.full(len(unseen), 5)])
    items = np.concatenate([ml_split.test.item[:500], unseen])
    expected = surprise_estimates(ref, users, items)
    np.testing.assert_allclose(ours.predict(users, items), expected, atol=1e-4)


def test_als_ranking_metrics_match_implicit(ml_split) -> None:  # type: ignore[no-untyped-def]
    from implicit.evaluation import ranking_metrics_at_k
    from threadpoolctl import threadpool_limits

    model = make("als", {"factors": 32, "iterations": 5}, seed=0).fit(ml_split.train)
    ours = evaluate(model, ml_split, EvalConfig(ks=(10,)))
    train = sp.csr_matrix(ml_split.train.interactions.csr("binary"))
    test = sp.csr_matrix(ml_split.test.csr("binary"))
    with threadpool_limits(1, "blas"):
        ref = ranking_metrics_at_k(model.to_implicit(), train, test, K=10, show_progress=False)
    assert ours.n_cold_users == 0  # every ml-latest-small user keeps training ratings here
    assert ours.metrics["ndcg@10"] == pytest.approx(ref["ndcg"], abs=1e-6)
    assert ours.metrics["map@10"] == pytest.approx(ref["map"], abs=1e-6)


@pytest.mark.parametrize("name", ["popularity", "als", "content", "hybrid"])
def test_rankers_find_the_checkerboard_structure(name: str) -> None:
    """Each user's own unseen half-items come first: the known right answer."""
    ds = checkerboard()
    params = {"factors": 4, "iterations": 10} if name == "als" else {}
    model = make(name, params, seed=0).fit(ds)
    seen = ds.interactions.csr("binary")
    users = np.arange(ds.n_users)
    recs, _ = model.recommend(users, 3, exclude=seen)
    half = ds.n_items // 2
    own = np.where((users % 2 == 0)[:, None], recs < half, recs >= half)
    if name == "popularity":  # one list for everyone: right for about half the users only
        assert own.mean() < 0.75
    else:
        assert own.mean() >= 0.95, own.mean()


def test_rating_models_learn_who_likes_what() -> None:
    """Two groups rate their own half 5 and the other half 1; held-out cells follow suit."""
    rng = np.random.default_rng(0)
    n_users, n_items, half = 40, 30, 15
    u, i = np.meshgrid(np.arange(n_users), np.arange(n_items), indexing="ij")
    u, i = u.ravel(), i.ravel()
    likes = (u % 2 == 0) == (i < half)
    r = np.where(likes, 5.0, 1.0)
    held = rng.random(len(u)) < 0.2
    ds = make_dataset(u[~held], i[~held], r[~held], n_users=n_users, n_items=n_items)
    svd = make("svd", {"n_factors": 4, "n_epochs": 200, "lr_all": 0.01}, seed=0).fit(ds)
    pred = svd.predict(u[held], i[held])
    assert np.sqrt(np.mean((pred - r[held]) ** 2)) < 0.5
    base = make("baseline").fit(ds)  # biases cannot express the groups
    assert np.sqrt(np.mean((base.predict(u[held], i[held]) - r[held]) ** 2)) > 1.5


def test_rating_model_refuses_implicit_data() -> None:
    ds = make_dataset([0, 0, 1], [0, 1, 1])
    with pytest.raises(UsageError, match="predicts ratings"):
        make("svd").fit(ds)
    make("als", {"factors": 2, "iterations": 1}).fit(ds)  # implicit data is fine for ALS


def test_random_scores_do_not_depend_on_batching() -> None:
    ds = checkerboard()
    model = make("random", seed=1).fit(ds)
    whole = model.score(np.arange(ds.n_users))
    parts = np.vstack(
        [model.score(np.arange(s, min(s + 7, ds.n_users))) for s in range(0, ds.n_users, 7)]
    )
    np.testing.assert_array_equal(whole, parts)
    other = make("random", seed=2).fit(ds).score(np.arange(ds.n_users))
    assert not np.array_equal(whole, other)


def test_content_scores_items_nobody_rated() -> None:
    """Inductive on items: an unrated 'alpha' item ranks first for 'alpha' users."""
    ds = checkerboard()
    inter = ds.interactions
    new_item = 2  # an alpha item: remove all its ratings
    train = ds.with_interactions(inter.subset(inter.item != new_item))
    model = make("content").fit(train)
    alpha_users = np.arange(0, ds.n_users, 2)
    scores = model.score(alpha_users)
    assert np.all(scores[:, new_item] > scores[:, ds.n_items // 2 :].max(axis=1))


def test_hybrid_weights_follow_history_length() -> None:
    ds = checkerboard()
    model = make("hybrid", {"beta": 5.0}).fit(ds)
    n = ds.interactions.user_counts()
    np.testing.assert_allclose(model._cf_weight(np.arange(ds.n_users)), n / (n + 5.0))
    # a newcomer with a single rating leans almost entirely on content
    inter = ds.interactions
    first = np.flatnonzero(inter.user == 0)[0]
    keep = (inter.user != 0) | (np.arange(len(inter)) == first)
    newcomer = ds.with_interactions(inter.subset(keep))
    m = make("hybrid").fit(newcomer)
    w = 1 / (1 + 20.0)
    std = lambda s: (s - s.mean()) / s.std()  # noqa: E731
    content = make("content").fit(newcomer).score(np.array([0]))[0].astype(np.float64)
    cf = make("svd").fit(newcomer).score(np.array([0]))[0].astype(np.float64)
    expected = (1 - w) * std(content) + w * std(cf)
    np.testing.assert_allclose(m.score(np.array([0]))[0], expected, atol=1e-4)


def test_content_needs_item_features() -> None:
    with pytest.raises(UsageError, match="needs item features"):
        make("content").fit(make_dataset([0, 1], [0, 1], [3.0, 4.0]))
