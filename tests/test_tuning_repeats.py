"""Tuning under repeats (issue 22): ``compare --tune N --repeats R`` and a study with ``tune``
and several seeds tune each repeat on validation carved from that repeat's own training part,
so no repeat's test pairs reach the trials that chose its parameters; the choice is reported per
repeat; a stored study is refused for a seed whose split it did not tune on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from recbench import executors
from recbench.experiment import AlgoSpec
from recbench.split import Split
from recbench.study import runner as runner_mod
from recbench.tuning import search as search_mod
from tests.helpers import run_cli
from tests.test_tuning import latent_csv
from tests.test_tuning_cli import data_args

SPLIT = ["--split", "user-holdout:0.25"]
#: (algorithm, the trial's seed argument, the split it fitted and scored on, its parameters)
Trial = tuple[str, int, Split, dict[str, Any]]
#: (the repeat's seed, the row it ran, the split whose test part it was scored on)
CellRun = tuple[int, AlgoSpec, Split]


@pytest.fixture(scope="module")
def ratings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return latent_csv(tmp_path_factory.mktemp("repeat-data"))


def _pairs(inter: Any) -> set[tuple[int, int]]:
    return set(zip(inter.user.tolist(), inter.item.tolist(), strict=True))


def _spy(monkeypatch: pytest.MonkeyPatch) -> tuple[list[Trial], list[CellRun]]:
    """Record every trial's fit (tuning) and every cell's fit (the comparison proper)."""
    trials: list[Trial] = []
    cells: list[CellRun] = []

    def trial_spy(real):  # type: ignore[no-untyped-def]
        def wrapper(algo, split, seed, *args, **kwargs):  # type: ignore[no-untyped-def]
            trials.append((algo.name, seed, split, dict(algo.params)))
            return real(algo, split, seed, *args, **kwargs)

        return wrapper

    def cell_spy(real):  # type: ignore[no-untyped-def]
        def wrapper(name, index, algo, split, seed, *args, **kwargs):  # type: ignore[no-untyped-def]
            cells.append((seed, algo, split))
            return real(name, index, algo, split, seed, *args, **kwargs)

        return wrapper

    monkeypatch.setattr(search_mod, "run_cell", trial_spy(search_mod.run_cell))
    monkeypatch.setattr(search_mod, "fit_and_score", trial_spy(search_mod.fit_and_score))
    monkeypatch.setattr(executors, "cell_here", cell_spy(executors.cell_here))
    monkeypatch.setattr(runner_mod, "cell_here", cell_spy(runner_mod.cell_here))
    return trials, cells


def assert_no_repeat_leak(trials: list[Trial], cells: list[CellRun]) -> None:
    """For every repeat: the trials that chose each of its rows' parameters (the tune whose
    trials include exactly those parameters) never fitted or scored a pair of its test part."""
    seeds = sorted({seed for seed, _, _ in cells})
    assert len(seeds) >= 2, "the run must have several repeats"
    tuned_names = {name for name, *_ in trials}
    checked = 0
    for seed in seeds:
        mine = [(algo, sp) for s, algo, sp in cells if s == seed]
        test: set[tuple[int, int]] = set().union(*(_pairs(sp.test) for _, sp in mine))
        assert test
        for algo, _ in mine:
            if algo.name not in tuned_names:
                continue  # not tuned (no search space)
            tunes = {s for name, s, _, p in trials if name == algo.name and p == algo.params}
            assert tunes, f"{algo.label}'s parameters in repeat seed {seed} come from no trial"
            for tune_seed in tunes:
                for name, s, sp, _ in trials:
                    if name != algo.name or s != tune_seed:
                        continue
                    seen = _pairs(sp.train.interactions) | _pairs(sp.test)
                    leaked = seen & test
                    assert not leaked, (
                        f"repeat seed {seed}: {len(leaked)} of its {len(test)} test pairs were "
                        f"in the training or validation data of {algo.name}'s trials (tuned "
                        f"with seed {tune_seed}) that chose its parameters"
                    )
                    checked += 1
    assert checked


def test_compare_tune_with_repeats_never_tunes_on_a_repeats_test_pairs(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    ratings: Path,
) -> None:
    trials, cells = _spy(monkeypatch)
    args = ["-q", "compare", "-a", "ease,popularity", *data_args(ratings), *SPLIT]
    res = run_cli([*args, "--tune", "3", "--repeats", "3", "-f", "json", "--no-store"], capsys,
                  tmp_path)  # fmt: skip
    assert res.code == 0, res.err
    assert_no_repeat_leak(trials, cells)
    # the choice is reported per repeat, with its spread, in the caption and the JSON
    doc = json.loads(res.out)
    tuning = doc["tuning"]
    assert tuning["protocol"] == "per-repeat" and tuning["seeds"] == [0, 1, 2]
    chosen = [r["algorithms"]["ease"]["params"] for r in tuning["repeats"]]
    rows = [row for row in doc["rows"] if row["algorithm"] == "ease"]
    ran = {row["seed"]: json.loads(row["params"]) for row in rows}
    assert [ran[s] for s in (0, 1, 2)] == chosen
    assert tuning["spread"]["ease"]["l2"]["values"] == [c["l2"] for c in chosen]
    assert tuning["not_tuned"] == ["popularity"]
    desc = doc["protocol"]["description"]
    assert "tuned per repeat and algorithm with 3 trials" in desc
    assert "chosen per repeat (seeds 0, 1, 2): ease l2 " in desc


def test_study_tune_with_several_seeds_never_tunes_on_a_repeats_test_pairs(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    ratings: Path,
) -> None:
    study = tmp_path / "s.toml"
    study.write_text(
        'repeats = 2\ntune = 2\nsplits = ["user-holdout:0.25"]\n[output]\nformat = "json"\n'
        f'[[datasets]]\nname = "{ratings}"\ncolumns = "user,item,rating,timestamp"\nsep = ","\n'
        '[[algorithms]]\nname = "ease"\n[[algorithms]]\nname = "popularity"\n'
    )
    trials, cells = _spy(monkeypatch)
    res = run_cli(["-q", "run", str(study), "--no-store"], capsys, tmp_path / "d")
    assert res.code == 0, res.err
    assert_no_repeat_leak(trials, cells)
    doc = json.loads(res.out)
    assert [r["seed"] for r in doc["tuning"]["repeats"]] == [0, 1]
    assert "tuned per repeat and algorithm with 2 trials" in doc["protocol"]["description"]


def test_one_repeat_keeps_the_single_tune_caption(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, ratings: Path
) -> None:
    res = run_cli(["-q", "compare", "-a", "ease", *data_args(ratings), *SPLIT, "--tune", "2",
                   "-f", "json", "--no-store"], capsys, tmp_path)  # fmt: skip
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    assert (
        "parameters tuned per algorithm with 2 trials (Optuna TPE, seed 0)"
        in (doc["protocol"]["description"])
    )
    assert doc["tuning"]["seeds"] == [0] and len(doc["tuning"]["repeats"]) == 1


def test_spread_names_each_parameters_values_and_range() -> None:
    from recbench.tuning.repeats import spread, spread_text

    chosen = [{"l2": 10.0, "k": 5, "sim": "cosine"}, {"l2": 40.0, "k": 5, "sim": "jaccard"}]
    s = spread(chosen)
    assert s["l2"] == {
        "values": [10.0, 40.0],
        "distinct": 2,
        "min": 10.0,
        "max": 40.0,
        "ratio": 4.0,
    }
    assert s["k"]["distinct"] == 1 and s["sim"]["values"] == ["cosine", "jaccard"]
    assert "ratio" not in s["sim"]
    text = spread_text(chosen)
    assert text == {"l2": "10/40 (max/min 4)", "k": "5 in every repeat", "sim": "cosine/jaccard"}
