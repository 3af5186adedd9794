"""The Recommender contract, one test per property, for every registered algorithm.

Each property is its own test parametrised over the plugin table (plus a few non-default
variants), so one broken property or algorithm no longer hides the others. Fitted models are
cached per session: most properties read the same fit.
"""

from __future__ import annotations

import typing
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recbench.algorithms import make, names, plugins
from recbench.algorithms.base import NotFittedError, Recommender
from recbench.data.model import Dataset
from recbench.errors import UsageError
from recbench.persistence import load_model, save_model

from .helpers import checkerboard

#: parameters that keep each fit fast on the 40 x 30 checkerboard
SMALL: dict[str, dict[str, Any]] = {
    "svd": {"n_factors": 8},
    "als": {"factors": 8},
    "bpr": {"factors": 8},
    "two-tower": {"dim": 8, "hidden": 16, "epochs": 2},
    "lightgcn": {"dim": 8, "epochs": 3, "eval_every": 1},
}
#: non-default variants worth holding to the same contract
EXTRA: list[tuple[str, dict[str, Any]]] = [
    ("nmf", {"n_factors": 4, "n_epochs": 10, "biased": True}),
    ("ease", {"l2": 5.0, "values": "rating"}),
    ("item-knn", {"rank_similarity": "rating", "predictor": "baseline"}),
    ("als", {"factors": 8, "weighting": "rating", "alpha": 2.0}),
]
CASES = [(n, SMALL.get(n, {})) for n in names()] + EXTRA
IDS = [n if not extra else f"{n}-{'-'.join(map(str, extra.values()))}" for n, extra in EXTRA]
IDS = [n for n, _ in CASES[: len(CASES) - len(EXTRA)]] + IDS
SEED = 3


cases = pytest.mark.parametrize("case", CASES, ids=IDS)
algorithms = pytest.mark.parametrize("name", names())


@cache
def sparse_board() -> Dataset:
    """The checkerboard without user 0's interactions and without item 1's."""
    ds = checkerboard()
    inter = ds.interactions
    return ds.with_interactions(inter.subset((inter.user != 0) & (inter.item != 1)))


@cache
def _fit(name: str, frozen: tuple[tuple[str, Any], ...], which: str) -> Recommender[Any]:
    ds = checkerboard() if which == "board" else sparse_board()
    return make(name, dict(frozen), seed=SEED).fit(ds)


def fitted(case: tuple[str, dict[str, Any]], which: str = "board") -> Recommender[Any]:
    name, params = case
    return _fit(name, tuple(sorted(params.items())), which)


@pytest.fixture
def users(board: Dataset) -> np.ndarray:
    return np.arange(board.n_users)


# -- the class ----------------------------------------------------------------------------------
@algorithms
def test_config_is_the_generic_parameter(name: str) -> None:
    """``class X(Recommender[XConfig])`` with ``Config = XConfig``: self.config is typed."""
    cls = plugins.load(name)
    params = [
        typing.get_args(base)
        for klass in cls.__mro__
        for base in getattr(klass, "__orig_bases__", ())
        if typing.get_origin(base) is not None and issubclass(typing.get_origin(base), Recommender)
    ]
    concrete = [p[0] for p in params if p and isinstance(p[0], type)]
    assert concrete, f"{cls.__name__} does not say its config type: Recommender[XConfig]"
    assert issubclass(cls.Config, concrete[0])
    assert isinstance(make(name, SMALL.get(name, {})).config, cls.Config)


@algorithms
def test_unknown_parameters_are_named(name: str) -> None:
    with pytest.raises(UsageError, match="bogus_param"):
        make(name, {"bogus_param": 1})


@algorithms
def test_tasks_follow_the_flags(name: str) -> None:
    cls = plugins.load(name)
    expected = {"rating"} if cls.predicts_ratings else set()
    assert set(cls.tasks()) == expected | ({"ranking"} if cls.ranks else set())
    if cls.needs_ratings:
        assert cls.predicts_ratings


@algorithms
def test_unfitted_model_refuses_to_score(name: str) -> None:
    model = make(name, SMALL.get(name, {}))
    with pytest.raises(NotFittedError):
        model.score(np.array([0]))
    if model.predicts_ratings:
        with pytest.raises(NotFittedError):
            model.predict(np.array([0]), np.array([0]))


# -- a fitted model -----------------------------------------------------------------------------
@cases
def test_scores_are_a_finite_float32_block(case, board, users) -> None:  # type: ignore[no-untyped-def]
    scores = fitted(case).score(users)
    assert scores.shape == (board.n_users, board.n_items)
    assert scores.dtype == np.float32 and np.all(np.isfinite(scores))


@cases
def test_scores_do_not_depend_on_the_batch(case, users) -> None:  # type: ignore[no-untyped-def]
    model = fitted(case)
    whole = model.score(users)
    parts = np.vstack([model.score(users[s : s + 7]) for s in range(0, len(users), 7)])
    np.testing.assert_allclose(parts, whole, rtol=1e-6, atol=1e-6)


@cases
def test_the_same_seed_gives_the_same_scores(case, board, users) -> None:  # type: ignore[no-untyped-def]
    name, params = case
    again = make(name, params, seed=SEED).fit(board)
    np.testing.assert_array_equal(again.score(users), fitted(case).score(users))


@cases
def test_state_is_plain_numpy_arrays(case) -> None:  # type: ignore[no-untyped-def]
    state = fitted(case).get_state()
    assert all(isinstance(v, np.ndarray) and v.dtype != object for v in state.values())


@cases
def test_save_and_load_give_identical_scores(case, board, users, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    name, params = case
    model = fitted(case)
    path = save_model(model, name, params, tmp_path / "m", {"note": "test"})
    loaded, config, _ = load_model(path)
    assert config["algorithm"] == name and type(loaded) is type(model)
    np.testing.assert_array_equal(loaded.score(users), model.score(users))
    assert loaded.rates() == model.rates()
    if model.rates():
        inter = board.interactions
        np.testing.assert_array_equal(
            loaded.predict(inter.user, inter.item), model.predict(inter.user, inter.item)
        )


@cases
def test_rating_predictions_are_float32_on_the_scale(case, board) -> None:  # type: ignore[no-untyped-def]
    model = fitted(case)
    inter = board.interactions
    if not model.rates():
        with pytest.raises(NotImplementedError):
            model.predict(inter.user, inter.item)
        return
    pred = model.predict(inter.user, inter.item)
    assert board.rating_scale is not None
    lo, hi = board.rating_scale
    assert pred.dtype == np.float32 and pred.shape == inter.user.shape
    assert np.all((pred >= lo) & (pred <= hi))


@cases
def test_recommendations_are_unseen_and_best_first(case, board, users) -> None:  # type: ignore[no-untyped-def]
    seen = board.interactions.csr("binary")
    recs, scores = fitted(case).recommend(users, 3, exclude=seen)
    assert recs.shape == scores.shape == (len(users), 3)
    assert not np.any(seen[np.repeat(users, 3), recs.ravel()])
    assert np.all(np.diff(scores, axis=1) <= 0)


@cases
def test_a_user_without_history_and_an_item_without_ratings(case, board) -> None:  # type: ignore[no-untyped-def]
    model = fitted(case, "sparse")
    s0 = model.score(np.array([0, 2]))
    assert s0.shape == (2, board.n_items) and np.all(np.isfinite(s0))
    if model.rates():
        assert board.rating_scale is not None
        lo, hi = board.rating_scale
        p0 = model.predict(np.array([0, 2, 0]), np.array([1, 1, 5]))
        assert np.all(np.isfinite(p0)) and np.all((p0 >= lo) & (p0 <= hi))


@cases
def test_cold_user_models_score_a_history(case, board) -> None:  # type: ignore[no-untyped-def]
    model = fitted(case)
    history = board.interactions.csr("rating")[:5]
    if not model.cold_users:
        with pytest.raises(NotImplementedError):
            model.score_history(history)
        return
    scores = np.asarray(model.score_history(history))
    assert scores.shape == (5, board.n_items) and np.all(np.isfinite(scores))
    vectors = model.history_vectors(history)
    if vectors is not None:
        np.testing.assert_allclose(
            vectors @ np.asarray(model.item_embeddings()).T, scores, rtol=1e-5, atol=1e-5
        )


@cases
def test_query_vectors_reproduce_the_scores(case, users) -> None:  # type: ignore[no-untyped-def]
    model = fitted(case)
    vectors = model.query_vectors(users)
    if vectors is None:
        return
    np.testing.assert_allclose(
        vectors @ np.asarray(model.item_embeddings()).T, model.score(users), rtol=1e-5, atol=1e-5
    )


@cases
def test_explanations_are_one_string_per_item(case, board) -> None:  # type: ignore[no-untyped-def]
    model = fitted(case)
    history = board.interactions.csr("rating")[[0]]
    items = np.array([1, 20, 3])
    reasons = model.explain(history, items)
    assert reasons is None or (
        len(reasons) == len(items) and all(isinstance(r, str) and r for r in reasons)
    )
    for ref in " ".join(reasons or []).split("{item:")[1:]:
        assert int(ref.split("}")[0]) in set(history.indices.tolist())


@cases
def test_contributions_add_up_to_the_score(case, board) -> None:  # type: ignore[no-untyped-def]
    """Where a model decomposes its score over the history, the parts sum to it (content:
    leave-one-out drops, which need not)."""
    model = fitted(case)
    history = board.interactions.csr("rating")[[0]]
    items = np.arange(board.n_items)
    found = model.contributions(history, items)
    if found is None:
        return
    assert len(found) == len(items)
    for parts in found:
        assert {c.item for c in parts} <= set(history.indices.tolist())
        values = [c.value for c in parts]
        assert values == sorted(values, reverse=True)
        positive = sum(v for v in values if v > 0)
        if positive > 0:
            assert sum(c.share for c in parts) == pytest.approx(1.0)
    # content's parts are leave-one-out drops (tests/test_explain.py), not terms of its score
    if model.cold_users and model.family != "content":  # ALS: tested apart
        totals = np.array([sum(c.value for c in parts) for parts in found])
        expected = np.asarray(model.score_history(history))[0]
        np.testing.assert_allclose(totals, expected, rtol=1e-4, atol=1e-5)


def test_every_registered_algorithm_is_covered() -> None:
    assert {n for n, _ in CASES} == set(names())
    assert len(set(IDS)) == len(IDS)
