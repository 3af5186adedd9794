"""blend: component parsing, bad input, normalisation, learned and fixed weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recbench.algorithms import make, plugins
from recbench.algorithms.baselines import RandomRecommender
from recbench.algorithms.blend import (
    normalise_scores,
    parse_components,
    parse_weights,
    simplex_grid,
)
from recbench.errors import UsageError
from recbench.persistence import load_model, save_model

from .helpers import checkerboard, run_cli


def test_components_and_their_parameters_are_parsed() -> None:
    assert parse_components("ease:l2=300+item-knn") == [("ease", {"l2": "300"}), ("item-knn", {})]
    assert parse_weights("auto", 3) is None
    np.testing.assert_array_equal(parse_weights("0.7+0.3", 2), [0.7, 0.3])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"components": "ease+nope"}, "blend component: unknown algorithm 'nope'"),
        ({"components": "ease+blend"}, "cannot be a component of a blend"),
        ({"components": "ease+"}, "empty component"),
        ({"components": "ease:l2"}, "'l2' of ease is not NAME=VALUE"),
        ({"components": "ease:bogus=1"}, "unknown parameter 'bogus' for ease"),
        ({"components": "ease+popularity", "weights": "1+2+3"}, "3 weights given for 2"),
        ({"components": "ease+popularity", "weights": "1+x"}, "numbers joined by +"),
        ({"components": "ease+popularity", "weights": "0+0"}, "not all 0"),
        ({"components": "ease+popularity", "weights": "-1+2"}, ">= 0"),
    ],
)
def test_bad_input_is_a_one_line_usage_error(params: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("+", r"\+")) as info:
        make("blend", params)
    assert "\n" not in str(info.value)


def test_a_component_that_cannot_rank_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    class RatingsOnly(RandomRecommender):
        ranks = False

    real = plugins.load
    monkeypatch.setattr(
        plugins, "load", lambda name: RatingsOnly if name == "rater" else real(name)
    )
    with pytest.raises(UsageError, match="component 'rater' cannot rank"):
        make("blend", {"components": "ease+rater"})


def test_cli_bad_blend_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    res = run_cli(["compare", "--algos", "blend[components=ease+nope]"], capsys)
    assert res.code == 2
    assert len(res.err.strip().splitlines()) == 1 and "nope" in res.err


def test_simplex_grid_covers_the_simplex() -> None:
    grid = simplex_grid(3, 4)
    assert len(grid) == 15  # C(4 + 2, 2)
    np.testing.assert_allclose(grid.sum(axis=1), 1.0)
    assert len({tuple(r) for r in grid}) == 15 and grid.min() == 0.0
    assert [1.0, 0.0, 0.0] in grid.tolist() and [0.0, 0.0, 1.0] in grid.tolist()


@pytest.mark.parametrize("how", ["zscore", "minmax", "rank", "none"])
def test_normalisation_is_per_user_over_unseen_items(how: str) -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(4, 50)) * np.array([[1.0], [10.0], [100.0], [0.0]]) + 7
    seen = rng.random((4, 50)) < 0.2
    out = normalise_scores(scores, seen, how)
    assert out.shape == scores.shape and out.dtype == np.float32 and np.all(np.isfinite(out))
    for r in range(3):  # order within a row is kept
        free = ~seen[r]
        assert np.array_equal(np.argsort(out[r, free]), np.argsort(scores[r, free]))
    free = ~seen[:3]
    vals = [out[r][free[r]] for r in range(3)]
    if how == "zscore":
        for v in vals:
            assert abs(v.mean()) < 1e-5 and v.std() == pytest.approx(1.0, rel=1e-4)
    elif how == "minmax":
        for v in vals:
            assert v.min() == pytest.approx(0.0) and v.max() == pytest.approx(1.0)
    elif how == "rank":
        for v in vals:
            assert v.max() == pytest.approx(1.0) and v.min() == pytest.approx(1.0 / len(v))


def test_learned_weights_ignore_a_useless_component() -> None:
    """ease finds the checkerboard; random does not: the learned blend leans on ease."""
    ds = checkerboard(n_users=60)
    model: Any = make("blend", {"components": "ease:l2=5+random", "grid": 10}, seed=0).fit(ds)
    w = np.asarray(model.weights_)
    assert w.sum() == pytest.approx(1.0) and w[0] >= 0.7 > w[1]
    users = np.arange(ds.n_users)
    recs, _ = model.recommend(users, 3, exclude=ds.interactions.csr("binary"))
    half = ds.n_items // 2
    own = np.where((users % 2 == 0)[:, None], recs < half, recs >= half)
    assert own.mean() >= 0.95


def test_fixed_weights_and_a_zero_weight_component(tmp_path: Path) -> None:
    ds = checkerboard()
    params = {"components": "ease:l2=5+popularity", "weights": "1+0"}
    model: Any = make("blend", params, seed=0).fit(ds)
    assert model.components_[1] is None  # weight 0: never refitted
    users = np.arange(ds.n_users)
    ease = make("ease", {"l2": 5}).fit(ds)
    seen = ds.interactions.csr("binary")
    np.testing.assert_array_equal(
        model.recommend(users, 5, exclude=seen)[0], ease.recommend(users, 5, exclude=seen)[0]
    )
    save_model(model, "blend", params, tmp_path / "m", {})
    loaded, _, _ = load_model(tmp_path / "m")
    np.testing.assert_array_equal(loaded.score(users), model.score(users))


def test_a_refusing_component_is_named() -> None:
    ds = checkerboard()
    model = make("blend", {"components": "ease:max_memory_gb=1e-9+popularity"})
    reason = model.refusal(ds)
    assert reason is not None and reason.startswith("component ease:")
    assert make("blend", {"components": "ease+popularity"}).refusal(ds) is None


def test_a_component_missing_its_extra_is_a_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    from recbench.algorithms.neural.multvae import MultVAERecommender

    monkeypatch.setattr(MultVAERecommender, "requires", ("no_such_module_xyz",))
    reason = make("blend", {"components": "ease+multvae"}).refusal(checkerboard())
    assert reason is not None and "component multvae needs" in reason
