"""The typed algorithm contract: progress through fit, one flag for implicit-data models, the
hybrid's rating ability as fitted state, and loading that keeps working."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from recbench.algorithms import make, names, plugins
from recbench.algorithms.base import AlgoConfig, Recommender
from recbench.algorithms.hybrid import HybridRecommender
from recbench.data.model import Dataset
from recbench.errors import UsageError
from recbench.evaluation import EvalConfig
from recbench.experiment import AlgoSpec, Event, run_cell
from recbench.persistence import load_model, save_model
from recbench.split import make_split, parse_split

from .helpers import make_dataset


@pytest.fixture(scope="module")
def implicit_board(board: Dataset) -> Dataset:
    """The checkerboard without ratings (implicit feedback), item features kept."""
    inter = board.interactions
    bare = make_dataset(inter.user, inter.item, n_users=board.n_users, n_items=board.n_items)
    return board.with_interactions(bare.interactions)


class _Counting(Recommender[AlgoConfig]):
    """Reports three steps while fitting."""

    state_attrs: ClassVar[tuple[str, ...]] = ()

    def _fit(self, train: Dataset) -> None:
        for step in range(1, 4):
            self.report(step, 3, 1.0 / step)

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.zeros((len(users), self.n_items_), np.float32)


def test_progress_is_passed_to_fit_and_not_kept(board: Dataset) -> None:
    calls: list[tuple[int, int, float]] = []
    model = _Counting().fit(board, progress=lambda *a: calls.append(a))
    assert calls == [(1, 3, 1.0), (2, 3, 0.5), (3, 3, 1.0 / 3)]
    assert model.progress is None and "_progress" not in vars(model)
    _Counting().fit(board)  # no callback: nothing to report to
    with pytest.raises(AttributeError):
        model.progress = print  # type: ignore[misc]


def test_run_cell_reports_training_progress(board: Dataset) -> None:
    events: list[Event] = []
    split = make_split(board, parse_split("holdout:0.2"), 0)
    spec = AlgoSpec("two-tower", {"epochs": 2, "dim": 8, "hidden": 16})
    pytest.importorskip("torch")
    model, _, _ = run_cell(spec, split, 0, EvalConfig(ks=(5,)), events.append)
    steps = [(e.done, e.total) for e in events if e.kind == "train-progress"]
    assert steps == [(1, 2), (2, 2)]
    assert model.progress is None


@pytest.mark.parametrize("name", names())
def test_no_algorithm_overrides_fit(name: str) -> None:
    """What used to need a ``fit`` override (ratings optional) is the ``needs_ratings`` flag."""
    cls = plugins.load(name)
    assert all("fit" not in vars(k) for k in cls.__mro__ if k is not Recommender)


@pytest.mark.parametrize("name", ["random", "content", "popularity", "ease", "item-knn"])
def test_models_that_rank_implicit_data_fit_without_ratings(name, implicit_board) -> None:  # type: ignore[no-untyped-def]
    cls = plugins.load(name)
    assert not cls.needs_ratings
    model = make(name).fit(implicit_board)
    assert np.all(model.rating_scale_ == 0)
    if name == "item-knn":
        assert not model.rates()  # it ranks implicit data but predicts no ratings
    assert np.all(np.isfinite(model.score(np.arange(4))))


def test_rating_predictors_need_ratings_unless_they_say_otherwise() -> None:
    class Rater(Recommender[AlgoConfig]):
        predicts_ratings = True

        def _fit(self, train: Dataset) -> None: ...

        def score(self, users: np.ndarray) -> np.ndarray:
            return np.zeros((len(users), self.n_items_), np.float32)

    class Ranker(Rater):
        needs_ratings = False

    assert Rater.needs_ratings and not Ranker.needs_ratings
    assert Rater.unsuitable(make_dataset([0, 1], [1, 0])) == "needs ratings"
    with pytest.raises(UsageError, match="predicts ratings"):
        Rater().fit(make_dataset([0, 1], [1, 0]))
    Ranker().fit(make_dataset([0, 1], [1, 0]))


def test_hybrid_rating_ability_is_fitted_state(board: Dataset, tmp_path: Path) -> None:
    """A hybrid whose CF part ranks only does not predict ratings, without touching the class
    flag; the fitted state survives saving and loading."""
    params: dict[str, Any] = {"cf": "popularity"}
    model = make("hybrid", params).fit(board)
    assert not model.rates() and "predicts_ratings" not in vars(model)
    assert HybridRecommender.predicts_ratings and make("hybrid").predicts_ratings
    with pytest.raises(NotImplementedError):
        model.predict(np.array([0]), np.array([0]))
    rating = make("hybrid").fit(board)
    assert rating.rates()
    loaded, _, _ = load_model(save_model(model, "hybrid", params, tmp_path / "h", {}))
    assert not loaded.rates()
    np.testing.assert_array_equal(loaded.score(np.arange(5)), model.score(np.arange(5)))


def test_config_is_typed_without_runtime_checks() -> None:
    """``self.config`` has the algorithm's config type; the built-ins this module's owners
    maintain no longer check it with isinstance asserts."""
    root = Path(plugins.__file__).parent
    mine = ["base", "baselines", "content", "ease", "hybrid", "implicit_mf", "knn", "surprise_mf"]
    sources = [(root / f"{m}.py").read_text() for m in mine]
    sources += [p.read_text() for p in (root / "two_tower").glob("*.py")]
    assert not [s for s in sources if "isinstance(cfg" in s]
    svd = make("svd", {"n_factors": 3})
    assert type(svd.config).__name__ == "SVDConfig" and svd.config.n_factors == 3
