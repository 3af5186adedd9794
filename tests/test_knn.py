"""User- and item-based k-NN agree with Surprise's KNNBasic / KNNWithMeans / KNNBaseline."""

from __future__ import annotations

import numpy as np
import pytest

from recbench.algorithms.knn import ItemKNNRecommender, KNNConfig, UserKNNRecommender
from recbench.data import load_dataset
from recbench.errors import UsageError

from .helpers import checkerboard, make_dataset


def cfg(**params: object) -> KNNConfig:
    return KNNConfig.model_validate(params)


SURPRISE = {"basic": "KNNBasic", "means": "KNNWithMeans", "baseline": "KNNBaseline"}


@pytest.fixture(scope="module")
def small():  # type: ignore[no-untyped-def]
    """ml-latest-small cut to its 1,000 most-rated items, split 80/20 at random, with a few
    users and items left without any training rating (unknown to both libraries)."""
    inter = load_dataset("ml-latest-small").interactions
    counts = np.bincount(inter.item)
    top = np.argsort(-counts, kind="stable")[:1000]
    remap = np.full(len(counts), -1)
    remap[top] = np.arange(len(top))
    keep = remap[inter.item] >= 0
    u, i, r = inter.user[keep], remap[inter.item[keep]], inter.rating[keep]
    n_users, n_items = int(inter.user.max()) + 1, len(top)
    rng = np.random.default_rng(0)
    test = rng.random(len(u)) < 0.2
    cold_users, cold_items = np.array([3, 17, 42]), np.array([5, 250, 999])
    test |= np.isin(u, cold_users) | np.isin(i, cold_items)
    train = make_dataset(u[~test], i[~test], r[~test], n_users=n_users, n_items=n_items)
    pick = np.flatnonzero(test)
    pick = np.concatenate(
        [pick[:3000], pick[np.isin(u[pick], cold_users) | np.isin(i[pick], cold_items)][:200]]
    )
    return train, u[pick].astype(np.int64), i[pick].astype(np.int64)


def surprise_predictions(train, users, items, predictor, sim_options, **kw):  # type: ignore[no-untyped-def]
    import surprise

    from recbench.algorithms.surprise_mf import surprise_trainset

    algo = getattr(surprise, SURPRISE[predictor])(sim_options=sim_options, verbose=False, **kw)
    algo.fit(surprise_trainset(train))
    preds = [algo.predict(int(a), int(b)) for a, b in zip(users, items, strict=True)]
    return np.array([p.est for p in preds]), np.array([p.details["was_impossible"] for p in preds])


@pytest.mark.parametrize("predictor", ["basic", "means", "baseline"])
@pytest.mark.parametrize("user_based", [True, False], ids=["user", "item"])
@pytest.mark.parametrize("similarity", ["msd", "pearson_baseline", "cosine", "pearson"])
def test_predictions_match_surprise(small, similarity, user_based, predictor) -> None:  # type: ignore[no-untyped-def]
    train, users, items = small
    cls = UserKNNRecommender if user_based else ItemKNNRecommender
    ours = cls(cfg(similarity=similarity, predictor=predictor))
    ours.fit(train)
    sim_options = {"name": similarity, "user_based": user_based}
    expected, impossible = surprise_predictions(train, users, items, predictor, sim_options)
    unknown = ~(ours.user_known_[users] & ours.item_known_[items])
    assert unknown.any()  # unknown users / items are part of the comparison
    if predictor != "baseline":  # KNNBaseline falls back to its baseline, never impossible
        assert impossible[unknown].all()
    np.testing.assert_allclose(ours.predict(users, items), expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("predictor", ["basic", "means", "baseline"])
@pytest.mark.parametrize("user_based", [True, False], ids=["user", "item"])
def test_small_k_min_k_and_options_match_surprise(small, user_based, predictor) -> None:  # type: ignore[no-untyped-def]
    """Few neighbours (ties at the k-th place, min_k not reached) and non-default options."""
    train, users, items = small
    cls = UserKNNRecommender if user_based else ItemKNNRecommender
    config = cfg(
        k=5, min_k=4, similarity="msd", min_support=3, predictor=predictor, reg_u=5, n_epochs=4
    )
    ours = cls(config)
    ours.fit(train)
    sim_options = {"name": "msd", "user_based": user_based, "min_support": 3}
    bsl = {"bsl_options": {"reg_u": 5, "n_epochs": 4}}
    expected, _ = surprise_predictions(
        train, users, items, predictor, sim_options, k=5, min_k=4, **bsl
    )
    np.testing.assert_allclose(ours.predict(users, items), expected, atol=1e-4, rtol=0)


def test_pearson_baseline_shrinkage_matches_surprise(small) -> None:  # type: ignore[no-untyped-def]
    train, users, items = small
    config = cfg(similarity="pearson_baseline", shrinkage=10, predictor="baseline")
    ours = UserKNNRecommender(config)
    ours.fit(train)
    sim_options = {"name": "pearson_baseline", "user_based": True, "shrinkage": 10}
    expected, _ = surprise_predictions(train, users, items, "baseline", sim_options)
    np.testing.assert_allclose(ours.predict(users, items), expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("cls", [UserKNNRecommender, ItemKNNRecommender])
def test_state_round_trip_gives_identical_scores(small, cls) -> None:  # type: ignore[no-untyped-def]
    train, users, items = small
    model = cls(cfg(predictor="means", k=20)).fit(train)
    state = {k: np.array(v) for k, v in model.get_state().items()}  # as np.savez would keep
    loaded = cls(cfg(predictor="means", k=20)).set_state(state)
    batch = np.arange(50)
    np.testing.assert_array_equal(loaded.score(batch), model.score(batch))
    np.testing.assert_array_equal(loaded.predict(users, items), model.predict(users, items))
    assert model.score(batch).dtype == np.float32
    assert model.score(batch).shape == (50, train.n_items)
    assert all(v.dtype != object for v in state.values())


@pytest.mark.parametrize("cls", [ItemKNNRecommender, UserKNNRecommender])
def test_ranking_finds_the_checkerboard_structure(cls) -> None:  # type: ignore[no-untyped-def]
    ds = checkerboard()
    model = cls(cfg(similarity="cosine")).fit(ds)
    seen = ds.interactions.csr("binary")
    users = np.arange(ds.n_users)
    recs, _ = model.recommend(users, 3, exclude=seen)
    half = ds.n_items // 2
    own = np.where((users % 2 == 0)[:, None], recs < half, recs >= half)
    assert own.mean() >= 0.9, own.mean()


def test_unknown_user_scores_zero_and_predicts_global_mean() -> None:
    ds = checkerboard()
    inter = ds.interactions
    train = ds.with_interactions(inter.subset(inter.user != 0))
    model = ItemKNNRecommender().fit(train)
    assert np.all(model.score(np.array([0])) == 0)
    mean = float(train.interactions.rating.mean())  # type: ignore[union-attr]
    assert model.predict(np.array([0]), np.array([1]))[0] == pytest.approx(mean, abs=1e-5)


def test_memory_guard_names_the_gigabytes_needed() -> None:
    ds = checkerboard()
    with pytest.raises(UsageError, match=r"GB .*max_memory_gb"):
        ItemKNNRecommender(cfg(max_memory_gb=1e-9)).fit(ds)


def test_config_rejects_unknown_and_invalid_parameters() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        cfg(bogus_param=1)
    with pytest.raises(ValidationError):
        cfg(similarity="jaccard")


@pytest.mark.parametrize("cls", [ItemKNNRecommender, UserKNNRecommender])
@pytest.mark.parametrize("blockwise", ["never", "always"])
def test_knn_ranks_implicit_data_with_the_binary_cosine_neighbourhoods(
    cls: type, blockwise: str
) -> None:
    """Without ratings kNN ranks (Gowalla-style check-ins): its scores are those of the rated
    data's binary cosine ranking (which never reads the ratings), and it predicts no ratings."""
    inter = load_dataset("ml-latest-small").interactions
    keep = (inter.item < 400) & (inter.user < 300)
    u, i, r = inter.user[keep], inter.item[keep], inter.rating[keep]
    rated = make_dataset(u, i, r, n_users=300, n_items=400)
    implicit = make_dataset(u, i, None, n_users=300, n_items=400)
    params = {"k": 20, "rank_similarity": "cosine", "blockwise": blockwise}
    a = cls(cfg(**params)).fit(rated)
    b = cls(cfg(**{**params, "rank_similarity": "rating"})).fit(implicit)
    users = np.arange(0, 300, 7)
    np.testing.assert_allclose(b.score(users), a.score(users), rtol=1e-12, atol=0)
    assert a.rates() and not b.rates()
    assert cls(cfg()).refusal(implicit) is None
