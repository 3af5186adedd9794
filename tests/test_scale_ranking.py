"""The fast ranking routes give exactly the plain path's lists and metrics (tie rule included)."""

from __future__ import annotations

import importlib.util
import threading

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recbench import ranking
from recbench.algorithms import plugins
from recbench.data.model import Dataset
from recbench.evaluation import EvalConfig, capability_gap, evaluate, history_matrix
from recbench.metrics.topk import mask_seen, top_k
from recbench.split import Split, make_split, parse_split


@pytest.fixture(autouse=True)
def fast_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small test batches take the fast routes too."""
    monkeypatch.setattr(ranking, "MIN_FAST_CELLS", 0)


def _finite_lists(idx: np.ndarray, vals: np.ndarray) -> list[list[int]]:
    return [list(i[np.isfinite(v)]) for i, v in zip(idx, vals, strict=True)]


@pytest.mark.parametrize("k", [1, 3, 10, 29])
@pytest.mark.parametrize("levels", [3, 1000])
def test_select_top_equals_top_k_with_ties(k: int, levels: int) -> None:
    rng = np.random.default_rng(k * levels)
    scores = rng.integers(0, levels, (200, 400)).astype(np.float32)
    scores[rng.random(scores.shape) < 0.3] = -np.inf  # seen items
    scores[5] = -np.inf
    scores[6, :] = 1.0  # one big tie
    scores[7, 3:] = -np.inf  # fewer than K left
    scores[8, ::2] = np.nan
    want = top_k(scores.copy(), k)
    before = scores.copy()
    got = ranking.select_top(scores, k)
    np.testing.assert_array_equal(scores, before)  # input untouched
    assert _finite_lists(*got) == _finite_lists(*want)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0][np.isfinite(got[1])], want[0][np.isfinite(want[1])])


def _plain(model: object, split: Split, k: int) -> tuple[np.ndarray, np.ndarray]:
    seen = history_matrix(split)
    users = np.flatnonzero(np.diff(seen.indptr) > 0)
    scores = np.asarray(model.score(users), dtype=np.float32)  # type: ignore[attr-defined]
    mask_seen(scores, seen, users)
    return top_k(scores, k)


@pytest.mark.parametrize(
    "name, params, route",
    [
        ("popularity", {}, "one list"),
        ("als", {"factors": 8, "iterations": 3}, "dot product"),
        # the two-tower's scores are its user and item embeddings' dot products: the same route
        pytest.param(
            "two-tower",
            {"epochs": 2, "dim": 8, "hidden": 16},
            "dot product",
            marks=pytest.mark.skipif(
                importlib.util.find_spec("torch") is None, reason="torch (extra 'deep') missing"
            ),
        ),
        ("ease", {}, "scores"),
        # scored in two threads (thread_safe_score)
        ("item-knn", {"k": 10}, "scores"),
        ("baseline", {}, "scores"),
        ("random", {}, "scores"),
    ],
)
def test_ranker_routes_equal_the_plain_path(
    board: Dataset,
    name: str,
    params: dict,
    route: str,  # type: ignore[type-arg]
) -> None:
    split = make_split(board, parse_split("holdout:0.3"), seed=1)
    model = plugins.make(name, params, seed=0).fit(split.train)
    seen = history_matrix(split)
    users = np.flatnonzero(np.diff(seen.indptr) > 0)
    for k in (1, 5, 30):
        ranker = ranking.Ranker(model, seen, None, k)
        assert ranker.route == route
        got = np.concatenate([ranker(b)[0] for b in np.array_split(users, 3)])
        gvals = np.concatenate([ranker(b)[1] for b in np.array_split(users, 3)])
        want = _plain(model, split, k)
        assert _finite_lists(got, gvals) == _finite_lists(*want)


@pytest.mark.parametrize("name", ["item-knn", "user-knn", "ease", "baseline"])
def test_thread_safe_scores_run_in_two_threads_with_the_same_lists(
    board: Dataset, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """Half-batches are scored in two threads (both cores) and give the one-call lists."""
    monkeypatch.setattr(ranking, "cores", lambda: 2)
    split = make_split(board, parse_split("holdout:0.3"), seed=1)
    model = plugins.make(name, {}, seed=0).fit(split.train)
    assert model.thread_safe_score
    seen = history_matrix(split)
    users = np.flatnonzero(np.diff(seen.indptr) > 0)
    want = _plain(model, split, 10)
    threads: set[int] = set()
    together = threading.Barrier(2, timeout=10)  # both halves run at once, or this times out
    score = model.score

    def recording(batch: np.ndarray) -> np.ndarray:
        threads.add(threading.get_ident())
        together.wait()
        return score(batch)

    monkeypatch.setattr(model, "score", recording)
    got = ranking.Ranker(model, seen, None, 10)(users)
    assert len(threads) == 2
    assert _finite_lists(*got) == _finite_lists(*want)
    np.testing.assert_array_equal(got[1], want[1])


def _metrics(model: object, split: Split, monkeypatch: pytest.MonkeyPatch, on: bool) -> pd.Series:
    monkeypatch.setattr(ranking, "ENABLED", on)
    cfg = EvalConfig(ks=(1, 5, 10), batch_size=97)
    res = evaluate(model, split, cfg)  # type: ignore[arg-type]
    return res.per_user.set_index("user").sort_index(axis=1).stack()


@pytest.mark.parametrize("spec", ["holdout:0.2", "item-cold:0.2", "user-cold:0.2"])
@pytest.mark.parametrize(
    "name, params", [("popularity", {}), ("als", {"factors": 16, "iterations": 3})]
)
def test_evaluate_identical_with_and_without_fast_routes(
    ml_small: Dataset,
    monkeypatch: pytest.MonkeyPatch,
    spec: str,
    name: str,
    params: dict,  # type: ignore[type-arg]
) -> None:
    split = make_split(ml_small, parse_split(spec), seed=0)
    model = plugins.make(name, params, seed=0).fit(split.train)
    if capability_gap(model, split):
        return  # unable under this protocol either way
    fast = _metrics(model, split, monkeypatch, True)
    plain = _metrics(model, split, monkeypatch, False)
    pd.testing.assert_series_equal(fast, plain)


def test_one_list_with_blocked_items_and_tiny_catalogue() -> None:
    """Fewer unseen items than K: the rest are -inf, as top_k leaves them."""
    from .helpers import make_dataset

    ds = make_dataset([0, 0, 0, 1, 1, 2], [0, 1, 2, 0, 3, 1], [5, 4, 3, 2, 1, 5])
    model = plugins.make("popularity", {}, seed=0).fit(ds)
    seen = sp.csr_array(ds.interactions.csr("binary"))
    blocked = np.zeros(ds.n_items, dtype=bool)
    blocked[3] = True
    users = np.arange(ds.n_users)
    got = ranking.Ranker(model, seen, blocked, 10)(users)
    scores = np.asarray(model.score(users), dtype=np.float32)
    mask_seen(scores, seen, users)
    scores[:, blocked] = -np.inf
    want = top_k(scores, 10)
    assert _finite_lists(*got) == _finite_lists(*want)
