"""Pruning tuning trials: the fit's on_epoch hook, the median pruner, records, CLI options."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recbench.algorithms import make, plugins
from recbench.algorithms.base import Recommender
from recbench.split import make_split, parse_split
from recbench.tuning import study_files, tune
from recbench.tuning.pruning import PROBE_USERS, PruneSpec, due, probe_split
from recbench.tuning.search import TuneSpec
from tests.helpers import checkerboard, run_cli
from tests.test_tuning import latent_csv, latent_dataset, spec_for
from tests.test_tuning_cli import data_args

#: prunes from the first step once one trial has completed
AGGRESSIVE = PruneSpec(startup_trials=1, warmup_steps=0)
HAS_TORCH = importlib.util.find_spec("torch") is not None
torch_only = pytest.mark.skipif(not HAS_TORCH, reason="needs torch (extra deep)")

#: small epoch-trained fits on the 40 x 30 checkerboard, 4 steps each
EPOCHS: list[Any] = [
    ("als", {"factors": 8, "iterations": 4}),
    ("bpr", {"factors": 8, "iterations": 4}),
    pytest.param("two-tower", {"dim": 8, "hidden": 16, "epochs": 4, "patience": 9},
                 marks=torch_only),
    pytest.param("ncf", {"factors": 4, "epochs": 4, "patience": 9}, marks=torch_only),
    pytest.param("multvae", {"epochs": 4, "patience": 9, "refit": False}, marks=torch_only),
]  # fmt: skip


class Recorder:
    """An on_epoch hook keeping the steps and the scores of the model's current state."""

    def __init__(self, every: int = 1) -> None:
        self.every = every
        self.steps: list[int] = []
        self.scores: list[np.ndarray] = []

    def due(self, step: int) -> bool:
        return step % self.every == 0

    def __call__(self, step: int, model: Recommender[Any]) -> None:
        self.steps.append(step)
        self.scores.append(np.array(model.score(np.arange(model.n_users_)), copy=True))


# -- the hook ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "params"), EPOCHS)
def test_hook_sees_the_current_state_once_per_epoch(name: str, params: dict[str, Any]) -> None:
    assert plugins.load(name).reports_epochs
    ds = checkerboard()
    hook = Recorder()
    model = make(name, params, seed=1).fit(ds, on_epoch=hook)
    assert hook.steps == [1, 2, 3, 4]
    changed = [not np.allclose(a, b) for a, b in zip(hook.scores, hook.scores[1:], strict=False)]
    assert all(changed)  # each call saw the state after that epoch, not a stale copy
    if name in ("als", "bpr"):  # no early stopping, so the last state is the fitted one
        np.testing.assert_allclose(hook.scores[-1], model.score(np.arange(ds.n_users)), rtol=1e-6)


@pytest.mark.parametrize(("name", "params"), EPOCHS[:2])
def test_hook_leaves_the_fit_unchanged(name: str, params: dict[str, Any]) -> None:
    ds = checkerboard()
    plain = make(name, params, seed=1).fit(ds)
    hooked = make(name, params, seed=1).fit(ds, on_epoch=Recorder())
    sparse = Recorder(every=3)
    skipped = make(name, params, seed=1).fit(ds, on_epoch=sparse)
    assert sparse.steps == [3]  # only the steps the hook wants
    for other in (hooked, skipped):
        np.testing.assert_array_equal(plain.score(np.arange(40)), other.score(np.arange(40)))


def test_models_that_do_not_train_in_epochs_ignore_the_hook() -> None:
    hook = Recorder()
    make("ease", {"l2": 5.0}).fit(checkerboard(), on_epoch=hook)
    assert not plugins.load("ease").reports_epochs and hook.steps == []


def test_hook_may_stop_the_fit() -> None:
    class Stop(Exception):
        pass

    class Stopper(Recorder):
        def __call__(self, step: int, model: Recommender[Any]) -> None:
            super().__call__(step, model)
            raise Stop

    hook = Stopper()
    with pytest.raises(Stop):
        make("als", {"factors": 8, "iterations": 10}).fit(checkerboard(), on_epoch=hook)
    assert hook.steps == [1]


def test_schedule_and_probe() -> None:
    assert [s for s in range(1, 61) if due(s)] == [*range(1, 10), *range(10, 61, 5)]
    assert sum(due(s) for s in range(1, 501)) == 36
    ds = latent_dataset(n_users=PROBE_USERS + 40)
    val = make_split(ds, parse_split("user-holdout:0.25"), 0)
    probe = probe_split(val, 0)
    users = np.unique(probe.test.user)
    assert len(users) == PROBE_USERS and probe.train is val.train
    assert set(users) <= set(np.unique(val.test.user))
    np.testing.assert_array_equal(np.unique(probe_split(val, 0).test.user), users)  # fixed
    small = make_split(latent_dataset(), parse_split("user-holdout:0.25"), 0)
    assert probe_split(small, 0) is small


# -- tuning ------------------------------------------------------------------------------------


def als_spec(n: int = 10, **kw: Any) -> TuneSpec:
    return spec_for("als", n=n, fixed={"iterations": 6}, **kw)


def _states(result: Any) -> list[str]:
    return [t.state for t in result.trials]


def test_aggressive_pruner_prunes_records_and_never_chooses_a_pruned_trial() -> None:
    ds = latent_dataset()
    split = parse_split("user-holdout:0.25")
    result = tune(ds, split, als_spec(prune=AGGRESSIVE), reference=False)
    states = _states(result)
    assert len(states) == 10 and "pruned" in states
    assert set(states) <= {"complete", "pruned"}
    pruned = [t for t in result.trials if t.state == "pruned"]
    assert all(t.pruned_at is not None and 1 <= t.pruned_at < 6 for t in pruned)
    assert result.best.state == "complete"
    complete = [t.value for t in result.trials if t.state == "complete"]
    assert result.best.value == max(v for v in complete if v is not None)
    # a pruned trial's partial value never wins, even when it is the highest
    assert result.best.number not in {t.number for t in pruned}
    assert result.pruning is not None and "MedianPruner" in result.pruning
    again = tune(ds, split, als_spec(prune=AGGRESSIVE), reference=False)
    assert _states(again) == states and again.best.params == result.best.params


def test_no_prune_prunes_none_and_same_trials_complete_alike() -> None:
    ds = latent_dataset()
    split = parse_split("user-holdout:0.25")
    off = tune(ds, split, als_spec(prune=None), reference=False)
    assert _states(off) == ["complete"] * 10 and off.pruning is None
    on = tune(ds, split, als_spec(prune=AGGRESSIVE), reference=False)
    # the hook does not change a fit: trials both runs completed have the same value
    for a, b in zip(on.trials, off.trials, strict=True):
        if a.state == "complete" and a.params == b.params:
            assert a.value == b.value


def test_algorithms_without_epochs_are_not_pruned() -> None:
    result = tune(latent_dataset(), parse_split("holdout:0.2"), spec_for("ease", n=8,
                  prune=AGGRESSIVE), reference=False)  # fmt: skip
    assert _states(result) == ["complete"] * 8 and result.pruning is None


def test_pruned_trials_use_the_budget_and_resume(tmp_path: Path) -> None:
    ds = latent_dataset()
    split = parse_split("user-holdout:0.25")
    files = study_files(tmp_path, "pruned")
    first = tune(ds, split, als_spec(n=6, prune=AGGRESSIVE), files, reference=False)
    assert len(first.trials) == 6 and "pruned" in _states(first)
    again = tune(ds, split, als_spec(n=10, prune=AGGRESSIVE), files, reference=False)
    assert again.resumed == 6 and len(again.trials) == 10
    assert _states(again)[:6] == _states(first)
    fresh = tune(ds, split, als_spec(n=10, prune=AGGRESSIVE), reference=False)
    assert _states(fresh) == _states(again)  # resuming continues deterministically
    assert [t.params for t in fresh.trials] == [t.params for t in again.trials]


def test_parallel_jobs_prune_within_the_budget(tmp_path: Path) -> None:
    ds = latent_dataset()
    files = study_files(tmp_path, "par")
    result = tune(ds, parse_split("user-holdout:0.25"), als_spec(n=8, jobs=2,
                  prune=PruneSpec(2, 0)), files, reference=False)  # fmt: skip
    states = _states(result)
    assert len(states) == 8 and set(states) <= {"complete", "pruned"}
    assert result.best.state == "complete"


# -- the command line --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("recbench-data")


@pytest.fixture(scope="module")
def ratings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return latent_csv(tmp_path_factory.mktemp("prune-data"))


def _tune_als(ratings: Path, *extra: str) -> list[str]:
    return ["-q", "tune", "als", *data_args(ratings), "--split", "user-holdout:0.25", "--trials",
            "8", "-p", "iterations=5", "--no-reference", "--no-store", *extra]  # fmt: skip


def test_cli_records_pruned_trials(capsys, data_dir: Path, ratings: Path) -> None:
    args = _tune_als(ratings, "--prune-startup", "1", "--prune-warmup", "0")
    res = run_cli([*args, "--format", "json"], capsys, data_dir)
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    states = [t["state"] for t in doc["trial_log"]]
    assert doc["pruned"] == states.count("pruned") >= 1 and doc["trials"] == 8
    assert "MedianPruner" in doc["pruning"]
    assert doc["trial_log"][doc["best_trial"]]["state"] == "complete"
    assert all(t["pruned_at"] for t in doc["trial_log"] if t["state"] == "pruned")
    table = run_cli(args, capsys, data_dir)
    assert table.code == 0, table.err
    assert "pruned, step" in table.flat and "pruned by median pruning" in table.flat


def test_cli_no_prune_prunes_none(capsys, data_dir: Path, ratings: Path) -> None:
    res = run_cli([*_tune_als(ratings, "--no-prune"), "--format", "json"], capsys, data_dir)
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    assert doc["pruned"] == 0 and doc["pruning"] is None
    assert {t["state"] for t in doc["trial_log"]} == {"complete"}


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--no-prune", "--prune-warmup", "2"], "--prune-warmup configures pruning"),
        (["--prune-startup", "-1"], "--prune-startup must be 0 or more"),
        (["--prune-warmup", "-2"], "--prune-warmup must be 0 or more"),
    ],
)
def test_cli_bad_pruning_options_are_one_line_errors(
    capsys, data_dir: Path, ratings: Path, extra: list[str], needle: str
) -> None:
    res = run_cli(_tune_als(ratings, *extra), capsys, data_dir)
    assert res.code == 2 and needle in res.err and len(res.err.strip().splitlines()) == 1


@pytest.mark.parametrize("extra", [["--prune"], ["--prune-warmup", "1"]])
def test_cli_refuses_pruning_an_algorithm_without_epochs(
    capsys, data_dir: Path, ratings: Path, extra: list[str]
) -> None:
    res = run_cli(["tune", "ease", *data_args(ratings), "--trials", "2", *extra], capsys, data_dir)
    assert res.code == 2 and "reports no validation value while it trains" in res.err
    assert len(res.err.strip().splitlines()) == 1
