"""SVD++, NMF, BPR and EASE agree with their references and keep the Recommender contract."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recbench.algorithms.ease import EASEConfig, EASERecommender
from recbench.algorithms.implicit_mf import BPRConfig, BPRRecommender
from recbench.algorithms.surprise_mf import (
    NMFConfig,
    NMFRecommender,
    SVDppConfig,
    SVDppRecommender,
    surprise_trainset,
)
from recbench.errors import UsageError
from recbench.evaluation import EvalConfig, evaluate

from .helpers import checkerboard, make_dataset, surprise_estimates


def pairs_with_unknowns(split, user: int = 3):  # type: ignore[no-untyped-def]
    """Test pairs plus (known user, unseen item) pairs; every test user is known here."""
    unseen_items = np.flatnonzero(split.train.interactions.item_counts() == 0)[:20]
    assert len(unseen_items) > 0
    users = np.concatenate([split.test.user[:1500], np.full(len(unseen_items), user)])
    items = np.concatenate([split.test.item[:1500], unseen_items])
    return users, items


def drop_user(split, user: int):  # type: ignore[no-untyped-def]
    """The split's training set without ``user``'s ratings: an unknown user to Surprise."""
    inter = split.train.interactions
    return split.train.with_interactions(inter.subset(inter.user != user))


# -- SVD++ ---------------------------------------------------------------------------------------


def test_svdpp_bulk_predict_matches_surprise(ml_split) -> None:  # type: ignore[no-untyped-def]
    import surprise

    train = drop_user(ml_split, 0)
    ours = SVDppRecommender(SVDppConfig.model_validate(dict(n_factors=8, n_epochs=2)), seed=7)
    ours.fit(train)
    ref = surprise.SVDpp(n_factors=8, n_epochs=2, random_state=7)
    ref.fit(surprise_trainset(train))
    users, items = pairs_with_unknowns(ml_split)
    users = np.concatenate([users, np.zeros(5, np.int64)])  # user 0 is unknown now
    items = np.concatenate([items, ml_split.test.item[:5]])
    expected = surprise_estimates(ref, users, items)
    np.testing.assert_allclose(ours.predict(users, items), expected, atol=1e-4)
    # Ranking scores are the unclipped estimates.
    known = np.flatnonzero(train.interactions.item_counts() > 0)[:60]
    inner_u = ref.trainset.to_inner_uid(3)
    unclipped = [ref.estimate(inner_u, ref.trainset.to_inner_iid(int(i))) for i in known]
    np.testing.assert_allclose(ours.score(np.array([3]))[0][known], unclipped, atol=1e-4)


# -- NMF -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("biased", [False, True])
def test_nmf_bulk_predict_matches_surprise(ml_split, biased: bool) -> None:  # type: ignore[no-untyped-def]
    import surprise

    train = drop_user(ml_split, 0)
    cfg = NMFConfig.model_validate(dict(n_factors=8, n_epochs=5, biased=biased))
    ours = NMFRecommender(cfg, seed=5).fit(train)
    ref = surprise.NMF(n_factors=8, n_epochs=5, biased=biased, random_state=5)
    ref.fit(surprise_trainset(train))
    users, items = pairs_with_unknowns(ml_split)
    users = np.concatenate([users, np.zeros(5, np.int64)])
    items = np.concatenate([items, ml_split.test.item[:5]])
    expected = surprise_estimates(ref, users, items)
    np.testing.assert_allclose(ours.predict(users, items), expected, atol=1e-4)
    known = np.flatnonzero(train.interactions.item_counts() > 0)[:60]
    inner_u = ref.trainset.to_inner_uid(3)
    unclipped = [ref.estimate(inner_u, ref.trainset.to_inner_iid(int(i))) for i in known]
    np.testing.assert_allclose(ours.score(np.array([3]))[0][known], unclipped, atol=1e-4)


# -- BPR -----------------------------------------------------------------------------------------


def test_bpr_matches_implicit_recommend_and_metrics(ml_split) -> None:  # type: ignore[no-untyped-def]
    from implicit.evaluation import ranking_metrics_at_k
    from threadpoolctl import threadpool_limits

    model = BPRRecommender(BPRConfig.model_validate(dict(factors=16, iterations=5)), seed=0)
    model.fit(ml_split.train)
    assert model.item_factors_.shape[1] == 17  # implicit's bias column
    train = sp.csr_matrix(ml_split.train.interactions.csr("binary"))
    users = np.arange(0, 200, 7)
    ref = model.to_implicit()
    with threadpool_limits(1, "blas"):
        ids, _ = ref.recommend(users, train[users], N=10, filter_already_liked_items=True)
    ours, _ = model.recommend(users, 10, exclude=ml_split.train.interactions.csr("binary"))
    np.testing.assert_array_equal(ours, ids)

    result = evaluate(model, ml_split, EvalConfig(ks=(10,)))
    test = sp.csr_matrix(ml_split.test.csr("binary"))
    with threadpool_limits(1, "blas"):
        metrics = ranking_metrics_at_k(ref, train, test, K=10, show_progress=False)
    assert result.metrics["ndcg@10"] == pytest.approx(metrics["ndcg"], abs=1e-6)


# -- EASE ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("values", ["binary", "rating"])
def test_ease_matches_the_dense_closed_form(values: str) -> None:
    rng = np.random.default_rng(0)
    n_users, n_items = 12, 7
    u, i = np.nonzero(rng.random((n_users, n_items)) < 0.4)
    r = rng.integers(1, 6, len(u)).astype(float)
    ds = make_dataset(u, i, r, n_users=n_users, n_items=n_items)
    model = EASERecommender(EASEConfig.model_validate(dict(l2=2.0, values=values)))
    model.fit(ds)
    x = np.zeros((n_users, n_items))
    x[u, i] = 1.0 if values == "binary" else r
    p = np.linalg.inv(x.T @ x + 2.0 * np.eye(n_items))
    b = np.eye(n_items) - p / np.diag(p)  # Steck's eq. 8: I - P diagMat(1 / diag(P))
    np.testing.assert_allclose(np.diag(b), 0.0, atol=1e-12)
    np.testing.assert_allclose(model.B_, b, atol=1e-5)
    users = np.array([3, 0, 11])
    np.testing.assert_allclose(model.score(users), x[users] @ b, rtol=1e-5, atol=1e-5)


def test_ease_finds_the_checkerboard_structure() -> None:
    ds = checkerboard()
    model = EASERecommender(EASEConfig.model_validate(dict(l2=10.0))).fit(ds)
    seen = ds.interactions.csr("binary")
    users = np.arange(ds.n_users)
    recs, _ = model.recommend(users, 3, exclude=seen)
    half = ds.n_items // 2
    own = np.where((users % 2 == 0)[:, None], recs < half, recs >= half)
    assert own.mean() >= 0.95, own.mean()


def test_ease_default_finds_the_checkerboard_structure() -> None:
    """With the default l2 too (the ordering survives heavy shrinkage)."""
    ds = checkerboard()
    model = EASERecommender().fit(ds)
    recs, _ = model.recommend(np.arange(ds.n_users), 3, exclude=ds.interactions.csr("binary"))
    users = np.arange(ds.n_users)
    half = ds.n_items // 2
    own = np.where((users % 2 == 0)[:, None], recs < half, recs >= half)
    assert own.mean() >= 0.95, own.mean()


def test_ease_refuses_when_the_item_matrices_do_not_fit() -> None:
    ds = checkerboard()
    with pytest.raises(UsageError, match=r"30 items.*GB") as info:
        EASERecommender(EASEConfig.model_validate(dict(max_memory_gb=1e-6))).fit(ds)
    assert "\n" not in str(info.value)


def test_ease_rating_values_need_ratings() -> None:
    ds = make_dataset([0, 1, 1], [0, 0, 1])
    with pytest.raises(UsageError, match="needs ratings"):
        EASERecommender(EASEConfig.model_validate(dict(values="rating"))).fit(ds)
    EASERecommender().fit(ds)  # binary EASE is fine on implicit data


def test_svdpp_unknown_users_and_items_get_the_bias_only_estimate() -> None:
    ds = checkerboard()
    inter = ds.interactions
    train = ds.with_interactions(inter.subset((inter.user != 0) & (inter.item != 1)))
    model = SVDppRecommender(SVDppConfig.model_validate(dict(n_factors=4, n_epochs=3)), seed=0)
    model.fit(train)
    s = model.score(np.array([0, 2]))
    np.testing.assert_allclose(s[0], model.mu_ + model.bi_, rtol=1e-6)  # unknown user
    assert model.bi_[1] == 0 and np.all(model.qi_[1] == 0)
    np.testing.assert_allclose(s[1, 1], model.mu_ + model.bu_[2], rtol=1e-6)  # unknown item
