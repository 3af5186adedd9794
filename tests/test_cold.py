"""Cold-start protocols: split invariants, capability checks, candidate restriction, segments."""

from __future__ import annotations

import numpy as np
import pytest

from recbench.algorithms import make
from recbench.evaluation import EvalConfig, evaluate
from recbench.executors import run_cells
from recbench.experiment import AlgoSpec
from recbench.split import FOLD_IN, Split, make_split, parse_split


@pytest.fixture(scope="module")
def ds(ml_small):  # type: ignore[no-untyped-def]
    return ml_small


@pytest.fixture(scope="module")
def user_cold(ds) -> Split:  # type: ignore[no-untyped-def]
    return make_split(ds, parse_split("user-cold:0.2"), 0)


@pytest.fixture(scope="module")
def item_cold(ds) -> Split:  # type: ignore[no-untyped-def]
    return make_split(ds, parse_split("item-cold:0.2"), 0)


def keys(inter) -> set[int]:  # type: ignore[no-untyped-def]
    return set((inter.user.astype(np.int64) * inter.n_items + inter.item).tolist())


def test_user_cold_invariants(ds, user_cold: Split) -> None:  # type: ignore[no-untyped-def]
    train, test, given = user_cold.train.interactions, user_cold.test, user_cold.fold_in
    assert given is not None and user_cold.cold == "users"
    held = set(np.unique(test.user)) | set(np.unique(given.user))
    assert not held & set(np.unique(train.user))  # no held-out user leaks into training
    assert len(held) == round(0.2 * ds.n_users)
    assert keys(train) | keys(test) | keys(given) == keys(ds.interactions)
    assert not keys(test) & keys(given)
    n_test = np.bincount(test.user, minlength=ds.n_users)
    n_given = np.bincount(given.user, minlength=ds.n_users)
    total = n_test + n_given
    for u in held:
        assert n_given[u] == min(np.floor(FOLD_IN * total[u] + 0.5), total[u] - 1)
        assert n_test[u] >= 1


def test_item_cold_invariants(ds, item_cold: Split) -> None:  # type: ignore[no-untyped-def]
    train, test = item_cold.train.interactions, item_cold.test
    assert item_cold.cold == "items" and item_cold.fold_in is None
    cold_items = set(np.unique(test.item))
    assert not cold_items & set(np.unique(train.item))  # no held-out item leaks into training
    assert set(item_cold.candidates.tolist()) == cold_items
    rated = int((ds.interactions.item_counts() > 0).sum())
    assert len(cold_items) == round(0.2 * rated)
    assert keys(train) | keys(test) == keys(ds.interactions)


def test_pure_cf_is_unable_not_zero(ds) -> None:  # type: ignore[no-untyped-def]
    res = run_cells(
        ds,
        parse_split("item-cold:0.2"),
        [AlgoSpec("random"), AlgoSpec("svd", {"n_factors": 5, "n_epochs": 2})],
        0,
        EvalConfig(ks=(10,)),
    )
    assert res.unable == {"svd": "cannot score items unseen in training"}
    assert set(res.results["algorithm"]) == {"random"}
    from recbench.render import caption, to_json

    doc = to_json(res)
    svd = next(a for a in doc["algorithms"] if a["name"] == "svd")
    assert svd["unable"] and svd["metrics"] == {}
    assert any("unable: svd cannot score items" in line for line in caption(res))


def test_item_cold_ranks_only_candidates(item_cold: Split) -> None:
    """With candidates restricted to cold items, random's precision is far above what the
    full catalogue would give, and content (which sees features) beats random."""
    cfg = EvalConfig(ks=(10,))
    rnd = evaluate(make("random", seed=0).fit(item_cold.train), item_cold, cfg)
    content = evaluate(make("content").fit(item_cold.train), item_cold, cfg)
    assert rnd.metrics["precision@10"] > 0.01
    assert content.metrics["ndcg@10"] > 1.5 * rnd.metrics["ndcg@10"]
    assert "cold items" in content.segments and "warm items" not in content.segments


def test_user_cold_scores_from_fold_in_history(user_cold: Split) -> None:
    cfg = EvalConfig(ks=(10,))
    pop = evaluate(make("popularity").fit(user_cold.train), user_cold, cfg)
    content = evaluate(make("content").fit(user_cold.train), user_cold, cfg)
    als = evaluate(
        make("als", {"factors": 8, "iterations": 2}).fit(user_cold.train), user_cold, cfg
    )
    assert als.unable == "cannot score users unseen in training"
    assert pop.n_ranked_users == len(np.unique(user_cold.test.user)) and pop.n_cold_users == 0
    assert "rmse" not in content.metrics  # rating models take no fold-in history
    assert content.metrics["ndcg@10"] > 0
    # fold-in items are masked: no recommended item is one the user gave as history
    seen = user_cold.fold_in.csr("binary")
    users = np.unique(user_cold.fold_in.user)[:20]
    model = make("content").fit(user_cold.train)
    from recbench.algorithms.base import mask_seen, top_k

    scores = model.score_history(user_cold.fold_in.csr("rating")[users])
    mask_seen(scores, seen, users)
    idx, _ = top_k(scores, 10)
    assert not np.any(seen[np.repeat(users, 10), idx.ravel()])


def test_segments_cover_every_ranked_user(ds) -> None:  # type: ignore[no-untyped-def]
    split = make_split(ds, parse_split("holdout:0.2"), 0)
    res = evaluate(make("baseline").fit(split.train), split, EvalConfig(ks=(10,)))
    hist = [s for s in res.segments if s.startswith("history")]
    assert sum(res.segments[s]["n_users"] for s in hist) == res.n_ranked_users
    warm, cold = res.segments["warm items"], res.segments["cold items"]
    assert warm["n_test"] + cold["n_test"] == len(split.test)
    assert cold["n_test"] == res.n_fallback or cold["n_test"] <= res.n_fallback
