"""recbench tune: spaces, objectives, leak-free validation, reproducibility, resumable studies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recbench.algorithms import plugins
from recbench.algorithms.space import Categorical, Float, Int, describe_space, space_from_mapping
from recbench.data.model import Dataset
from recbench.errors import UsageError
from recbench.split import Split, parse_split
from recbench.tuning import (
    TuneSpec,
    parse_objective,
    resolve_space,
    study_files,
    tune,
    validation_spec,
)
from recbench.tuning import pruning as pruning_mod
from recbench.tuning import search as search_mod
from tests.helpers import make_dataset


def latent_dataset(
    n_users: int = 70, n_items: int = 50, per_user: int = 18, seed: int = 0
) -> Dataset:
    """Ratings from a rank-3 model: enough structure that parameters matter, small enough to
    fit in milliseconds."""
    rng = np.random.default_rng(seed)
    pu = rng.normal(size=(n_users, 3))
    qi = rng.normal(size=(n_items, 3))
    pop = np.linspace(1.5, 0.0, n_items)
    us, its, rs = [], [], []
    for u in range(n_users):
        s = pu[u] @ qi.T + pop
        p = np.exp(s) / np.exp(s).sum()
        chosen = rng.choice(n_items, size=per_user, replace=False, p=p)
        us += [u] * per_user
        its += chosen.tolist()
        rs += np.clip(np.round(3 + s[chosen]), 1, 5).tolist()
    ts = np.arange(len(us)) * 10
    return make_dataset(us, its, rs, ts, n_users=n_users, n_items=n_items, name="latent")


def latent_csv(directory: Path) -> Path:
    """:func:`latent_dataset` written as ``user,item,rating,timestamp`` lines, for CLI tests."""
    inter = latent_dataset().interactions
    path = directory / "latent.csv"
    rows = zip(inter.user, inter.item, inter.rating, inter.timestamp, strict=True)  # type: ignore[arg-type]
    path.write_text("".join(f"{u},{i},{r:g},{t}\n" for u, i, r, t in rows))
    return path


def spec_for(algo: str, n: int = 4, metric: str = "ndcg@10", **kw: Any) -> TuneSpec:
    cls = plugins.load(algo)
    space, fixed = resolve_space(algo, cls, kw.pop("override", None), kw.pop("fixed", {}))
    return TuneSpec(algo, space, fixed, parse_objective(metric), n_trials=n, **kw)


# -- spaces ------------------------------------------------------------------------------------


def test_every_builtin_space_is_valid_for_its_config():
    """Each declared dimension names a config field and both its bounds validate."""
    tunable = 0
    for name in plugins.names():
        try:
            cls = plugins.load(name)
        except UsageError:  # loading is test_plugins' business
            continue
        if not cls.search_space:
            with pytest.raises(UsageError, match="nothing to search"):
                resolve_space(name, cls, None, {})
            continue
        space, fixed = resolve_space(name, cls, None, {})
        assert fixed == {} and set(space) <= set(cls.Config.model_fields)
        tunable += 1
    assert tunable >= 10
    als = describe_space(plugins.load("als").search_space)
    assert als["factors"] == "8..256 int log" and als["alpha"] == "0.1..50 log"


def test_space_override_replaces_adds_and_fixes():
    base = {"factors": Int(8, 256, log=True), "alpha": Float(0.1, 50.0, log=True)}
    params = {"factors": None, "alpha": None, "iterations": None, "weighting": None}
    space, fixed = space_from_mapping(
        {
            "factors": {"low": 16, "high": 32},
            "alpha": 2.0,
            "weighting": {"choices": ["binary", "rating"]},
        },
        params,
        base,
    )
    assert space["factors"] == Int(16, 32) and "alpha" not in space
    assert space["weighting"] == Categorical(("binary", "rating")) and fixed == {"alpha": 2.0}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"nope": {"low": 1, "high": 2}}, "unknown parameter 'nope'"),
        ({"factors": {"low": 64, "high": 8}}, "empty range"),
        ({"factors": {"low": 8, "high": 8}}, "empty range"),
        ({"alpha": {"low": 0.0, "high": 1.0, "log": True}}, "log scale"),
        ({"factors": {"low": 8}}, "needs low and high"),
        ({"factors": {"low": 8, "high": 9, "step": 2}}, "unknown key 'step'"),
        ({"weighting": {"choices": []}}, "no choices"),
        ({"factors": {"low": 0, "high": 8}}, "bound 0 of 'factors' is invalid"),
    ],
)
def test_bad_space_entries_are_one_line_errors(entry, message):
    with pytest.raises(UsageError, match=message) as info:
        resolve_space("als", plugins.load("als"), entry, {})
    assert "\n" not in str(info.value)


def test_fixed_params_leave_the_search():
    space, fixed = resolve_space("als", plugins.load("als"), None, {"iterations": 7})
    assert "iterations" not in space and fixed == {"iterations": 7}


# -- objectives and validation splits ----------------------------------------------------------


def test_objective_direction_comes_from_the_metric_table():
    nd = parse_objective("NDCG@10")
    assert (nd.key, nd.direction) == ("ndcg@10", "maximize")
    assert parse_objective("p@5").key == "precision@5"
    assert parse_objective("rmse").direction == "minimize"
    for bad, msg in [("ndcg", "needs a cut-off"), ("rmse@10", "takes no"), ("foo@3", "unknown")]:
        with pytest.raises(UsageError, match=msg):
            parse_objective(bad)


def test_validation_split_defaults_to_the_outer_kind():
    assert str(validation_spec(parse_split("user-holdout:0.25"), None)) == "user-holdout:0.25"
    assert str(validation_spec(parse_split("kfold:5"), None)) == "holdout:0.2"
    assert str(validation_spec(parse_split("temporal:0.2"), "holdout:0.1")) == "holdout:0.1"
    with pytest.raises(UsageError):
        validation_spec(parse_split("holdout:0.2"), "none")


def test_metric_the_algorithm_does_not_produce_is_refused():
    ds = latent_dataset()
    with pytest.raises(UsageError, match="does not predict ratings"):
        tune(ds, parse_split("holdout:0.2"), spec_for("als", metric="rmse"))


# -- leakage -----------------------------------------------------------------------------------


def _pairs(inter: Any) -> set[tuple[int, int]]:
    return set(zip(inter.user.tolist(), inter.item.tolist(), strict=True))


def test_no_trial_ever_sees_a_test_pair(monkeypatch):
    """Trials fit and score on data carved from the outer training part only, also while they
    train (pruning's intermediate scores); the outer test part is scored exactly once, for the
    refitted best configuration."""
    ds = latent_dataset()
    split_spec = parse_split("user-holdout:0.25")
    calls: list[Split] = []
    scored: list[Split] = []

    def spy(real, seen):  # type: ignore[no-untyped-def]
        def wrapper(first, split, *args, **kwargs):  # type: ignore[no-untyped-def]
            seen.append(split)
            return real(first, split, *args, **kwargs)

        return wrapper

    # als reports during fit, so its trials take pruning's path (fit_and_score)
    monkeypatch.setattr(search_mod, "run_cell", spy(search_mod.run_cell, calls))
    monkeypatch.setattr(search_mod, "fit_and_score", spy(search_mod.fit_and_score, calls))
    monkeypatch.setattr(pruning_mod, "evaluate", spy(pruning_mod.evaluate, scored))
    result = tune(ds, split_spec, spec_for("als", n=5, fixed={"iterations": 3}), reference=False)
    from recbench.split import make_split

    outer = make_split(ds, split_spec, 0)
    test_pairs = _pairs(outer.test)
    assert test_pairs and len(calls) == 6
    *trials, final = calls
    assert len(scored) == 5 * 4  # each trial: 3 intermediate scores and its final one
    for sp in trials + scored:
        seen = _pairs(sp.train.interactions) | _pairs(sp.test)
        assert not seen & test_pairs
        assert seen <= _pairs(outer.train.interactions)
    assert _pairs(final.test) == test_pairs
    assert _pairs(final.train.interactions) == _pairs(outer.train.interactions)
    assert len(result.trials) == 5 and result.test["ndcg@10"] > 0


# -- reproducibility, budget, storage ----------------------------------------------------------


def test_same_seed_same_trials_and_best():
    ds = latent_dataset()
    runs = [tune(ds, parse_split("holdout:0.2"), spec_for("ease", n=6), reference=False)
            for _ in range(2)]  # fmt: skip
    assert [t.params for t in runs[0].trials] == [t.params for t in runs[1].trials]
    assert runs[0].best.params == runs[1].best.params
    assert runs[0].test == runs[1].test
    other = tune(ds, parse_split("holdout:0.2"), spec_for("ease", n=6, seed=1), reference=False)
    assert [t.params for t in other.trials] != [t.params for t in runs[0].trials]


def test_stored_study_resumes_and_checks_identity(tmp_path: Path):
    ds = latent_dataset()
    files = study_files(tmp_path, "s1")
    split = parse_split("holdout:0.2")
    first = tune(ds, split, spec_for("ease", n=3), files, reference=False)
    assert files.journal.exists() and first.resumed == 0
    again = tune(ds, split, spec_for("ease", n=5), files, reference=False)
    assert again.resumed == 3 and len(again.trials) == 5
    assert [t.params for t in again.trials[:3]] == [t.params for t in first.trials]
    # a fresh 5-trial run takes the same path: resuming is deterministic
    fresh = tune(ds, split, spec_for("ease", n=5), reference=False)
    assert [t.params for t in fresh.trials] == [t.params for t in again.trials]
    done = tune(ds, split, spec_for("ease", n=4), files, reference=False)
    assert len(done.trials) == 5  # the budget is already spent: nothing new
    with pytest.raises(UsageError, match="created with metric"):
        tune(ds, split, spec_for("ease", n=6, metric="recall@10"), files)
    with pytest.raises(UsageError, match="--study"):
        study_files(tmp_path, "../escape")


def test_trials_left_running_by_a_dead_process_are_rerun(tmp_path: Path):
    import optuna

    from recbench.tuning.study import open_storage

    ds = latent_dataset()
    files = study_files(tmp_path, "dead")
    split = parse_split("holdout:0.2")
    tune(ds, split, spec_for("ease", n=2), files, reference=False)
    study = optuna.load_study(study_name=search_mod.STUDY, storage=open_storage(files))
    study.ask(search_mod.distributions(spec_for("ease").space))  # left RUNNING, as after kill -9
    with open(files.journal, "ab") as fh:
        fh.write(b'{"op_code": 4, "worker_id": "x", "trial_id"')  # a half-written last line
    result = tune(ds, split, spec_for("ease", n=4), files, reference=False)
    states = [t.state for t in result.trials]
    assert result.interrupted == 1 and states.count("interrupted") == 1
    assert states.count("complete") == 4 and result.resumed == 2


def test_parallel_workers_keep_the_budget(tmp_path: Path):
    ds = latent_dataset()
    files = study_files(tmp_path, "par")
    result = tune(ds, parse_split("holdout:0.2"), spec_for("ease", n=5, jobs=2), files,
                  reference=False)  # fmt: skip
    assert [t.state for t in result.trials] == ["complete"] * 5
    assert result.best.value == max(t.value for t in result.trials if t.value is not None)


def test_tuning_module_does_not_print(capsys):
    tune(latent_dataset(), parse_split("holdout:0.2"), spec_for("ease", n=2))
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_failing_trials_are_recorded_and_an_all_failing_tune_stops(monkeypatch):
    ds = latent_dataset()

    def boom(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("numerical trouble")

    monkeypatch.setattr(search_mod, "_objective", boom)
    with pytest.raises(UsageError, match="no trial of ease completed; first error: RuntimeError"):
        tune(ds, parse_split("holdout:0.2"), spec_for("ease", n=20))
