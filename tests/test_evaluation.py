"""The evaluation engine: hand-computed results, batching, masking, cold users, fallbacks."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest

from recbench.algorithms import make
from recbench.algorithms.base import AlgoConfig, Recommender
from recbench.data import load_dataset
from recbench.data.model import Dataset
from recbench.evaluation import EvalConfig, evaluate
from recbench.metrics import METRIC_SPECS
from recbench.split import Split, make_split, parse_split

from .helpers import make_dataset


class FixedScores(Recommender):
    """Scores every user with the same fixed vector (item i scores -i: item 0 ranks first)."""

    Config = AlgoConfig
    state_attrs: ClassVar[tuple[str, ...]] = ()

    def _fit(self, train: Dataset) -> None:
        pass

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.tile(-np.arange(self.n_items_, dtype=np.float32), (len(users), 1))


def hand_split() -> Split:
    """User 0 trained on item 1; test items 0, 3, 5.  User 1 trained on 0; test item 9.
    User 2 has only test data (cold)."""
    train = make_dataset([0, 1], [1, 0], [4.0, 3.0], n_users=3, n_items=10)
    test = make_dataset(
        [0, 0, 0, 1, 2], [0, 3, 5, 9, 2], [5.0, 2.0, 4.0, 5.0, 3.0], n_users=3, n_items=10
    )
    return Split(train, test.interactions, "hand", 0, "hand-made")


def test_hand_computed_metrics() -> None:
    # FixedScores ranks items 0,1,2,... ; seen items are removed first.
    # user 0 (seen {1}): top-4 = 0,2,3,4 -> hits at ranks 1 and 3 of relevant {0,3,5}
    # user 1 (seen {0}): top-4 = 1,2,3,4 -> no hit of relevant {9}
    # user 2 is cold (no training data): not ranked, counted.
    split = hand_split()
    model = FixedScores().fit(split.train)
    res = evaluate(model, split, EvalConfig(ks=(4,)))
    assert res.n_ranked_users == 2 and res.n_cold_users == 1
    d = 1 / np.log2(np.arange(2, 6))
    ndcg_u0 = (d[0] + d[2]) / (d[0] + d[1] + d[2])
    assert res.metrics["precision@4"] == pytest.approx((2 / 4 + 0) / 2)
    assert res.metrics["recall@4"] == pytest.approx((2 / 3 + 0) / 2)
    assert res.metrics["ndcg@4"] == pytest.approx(ndcg_u0 / 2)
    assert res.metrics["map@4"] == pytest.approx(((1 / 1 + 2 / 3) / 3) / 2)
    assert res.metrics["mrr@4"] == pytest.approx(0.5)
    assert res.metrics["hitrate@4"] == pytest.approx(0.5)
    # relevance threshold 4: user 0 relevant {0, 5} (item 3 rated 2 is not), user 1 {9}
    res_t = evaluate(model, split, EvalConfig(ks=(4,), relevance_threshold=4.0))
    assert res_t.metrics["recall@4"] == pytest.approx((1 / 2 + 0) / 2)
    assert res_t.metrics["precision@4"] == pytest.approx((1 / 4) / 2)


def test_rating_fallbacks_are_counted_not_dropped() -> None:
    split = hand_split()
    model = make("baseline").fit(split.train)
    res = evaluate(model, split, EvalConfig(ks=(4,)))
    # every pair but none is both-known: items 3,5,9,2 unseen, user 2 unseen; (0,0) is known
    assert res.n_test_pairs == 5
    assert res.n_fallback == 4
    assert np.isfinite(res.metrics["rmse"])
    assert set(res.per_user["user"]) == {0, 1, 2}


@pytest.fixture(scope="module")
def ml_split() -> Split:
    return make_split(load_dataset("ml-latest-small"), parse_split("user-holdout:0.2"), 0)


@pytest.mark.parametrize("batch", [1, 37, 100000])
def test_results_do_not_depend_on_batch_size(ml_split: Split, batch: int) -> None:
    model = make("als", {"factors": 16, "iterations": 3}, seed=0).fit(ml_split.train)
    ref = evaluate(model, ml_split, EvalConfig(ks=(5, 10)))
    res = evaluate(model, ml_split, EvalConfig(ks=(5, 10), batch_size=batch))
    assert res.metrics == pytest.approx(ref.metrics, abs=1e-12)


def test_memory_budget_bounds_the_batch() -> None:
    cfg = EvalConfig(memory_mb=16)
    # 16 bytes per cell: 16 MiB over 59,047 items (ML-25M) leaves 17 users per batch
    assert cfg.users_per_batch(59_047) == (16 << 20) // (16 * 59_047)
    assert EvalConfig(memory_mb=1).users_per_batch(10**9) == 1


def test_per_user_values_average_to_the_reported_metric(ml_split: Split) -> None:
    model = make("popularity").fit(ml_split.train)
    res = evaluate(model, ml_split, EvalConfig(ks=(10,)))
    assert len(res.per_user) == res.n_ranked_users == 610
    assert res.per_user["ndcg@10"].mean() == pytest.approx(res.metrics["ndcg@10"])


def test_bad_eval_config() -> None:
    from recbench.errors import UsageError

    with pytest.raises(UsageError):
        EvalConfig(ks=(0,))
    with pytest.raises(UsageError):
        EvalConfig(ks=())
    with pytest.raises(UsageError):
        EvalConfig(batch_size=0)


def test_experiment_keeps_every_per_user_value_for_statistics() -> None:
    """Per-user values (the input of intervals and paired tests) survive run_cells: one row
    per (algorithm, fold, user), one column per metric key, averaging to the reported value."""
    from recbench.executors import run_cells
    from recbench.experiment import AlgoSpec

    ds = load_dataset("ml-latest-small")
    res = run_cells(
        ds,
        parse_split("kfold:2"),
        [AlgoSpec("popularity"), AlgoSpec("baseline")],
        0,
        EvalConfig(ks=(5, 10)),
    )
    pu = res.per_user
    assert list(pu.columns[:3]) == ["algorithm", "fold", "user"]
    keys = [m.key(k) for m in METRIC_SPECS if m.kind == "ranking" for k in (5, 10)]
    assert {"rmse", "mae", *keys} <= set(pu.columns)
    assert not pu.duplicated(["algorithm", "fold", "user"]).any()
    # ranking metrics are means over users; RMSE and MAE are over all pairs (per-user columns
    # hold each user's own error)
    ranked = res.results[res.results["k"].notna()]
    assert len(ranked) == 2 * 2 * 2 * 6
    for r in ranked.itertuples():
        key = f"{r.metric}@{r.k}"
        sel = pu[(pu["algorithm"] == r.algorithm) & (pu["fold"] == r.fold)][key].dropna()
        assert sel.mean() == pytest.approx(r.value, rel=1e-12), (r.algorithm, key)
    assert pu.loc[pu["algorithm"] == "baseline", ["rmse", "mae"]].notna().any().all()
