"""Study keys for compare's --tune/--tune-metric and --workers/--scheduler: validation with
file+line errors, same rows as compare, --save-study round trip, Dask cells recorded once."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from recbench.errors import UsageError
from recbench.study import COMPARE_KEYS, load_study, make_plan, parse_study

from .helpers import run_cli

ALGOS = '\n[[algorithms]]\nname = "popularity"\n'

# (study text, line the error must name, key it must name, words the message must hold)
BAD = {
    "tune 0": (f"k = [10]\ntune = 0\n{ALGOS}", 2, "tune", "greater than or equal to 1"),
    "tune not a number": (f'tune = "40"\n{ALGOS}', 1, "tune", "integer"),
    "unknown tune metric": (
        f'tune = 2\ntune_metric = "ndgc@10"\n{ALGOS}',
        2,
        "tune_metric",
        "unknown --metric 'ndgc@10'",
    ),
    "tune metric without K": (f'tune = 2\ntune_metric = "ndcg"\n{ALGOS}', 2, "tune_metric", "@10"),
    "tune metric without tune": (f'tune_metric = "ndcg@10"\n{ALGOS}', 1, "tune_metric", "tune = N"),
    "tune with kfold": (f'splits = ["kfold:3"]\ntune = 2\n{ALGOS}', 1, "splits[0]", "one train"),
    "workers 0": (f"workers = 0\n{ALGOS}", 1, "workers", "greater than or equal to 1"),
    "bad scheduler": (f'scheduler = "not an address"\n{ALGOS}', 1, "scheduler", "Dask address"),
    "workers and scheduler": (
        f'workers = 2\nscheduler = "tcp://h:8786"\n{ALGOS}',
        2,
        "scheduler",
        "not both",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_tune_and_executor_keys_name_file_line_and_key(case: str, tmp_path: Path) -> None:
    text, line, key, words = BAD[case]
    path = tmp_path / "study.toml"
    with pytest.raises(UsageError) as info:
        make_plan(parse_study(text, path))
    message = str(info.value)
    assert len(message.splitlines()) == 1, message
    assert message.startswith(f"{path}:{line}: {key}:"), message
    assert words in message, message


def test_compare_keys_cover_tune_and_executor_options() -> None:
    for option, key in (
        ("--tune", "tune"),
        ("--tune-metric", "tune_metric"),
        ("--workers", "workers"),
        ("--scheduler", "scheduler"),
    ):
        assert COMPARE_KEYS[option] == key


def test_plan_keeps_tune_settings(tmp_path: Path) -> None:
    plan = make_plan(parse_study(f"k = [5, 10]\ntune = 3\n{ALGOS}", tmp_path / "s.toml"))
    assert plan.tune == 3 and plan.tune_objective is not None
    assert plan.tune_objective.key == "ndcg@5"  # as compare: ndcg@ the first K
    plan = make_plan(parse_study(f'tune = 3\ntune_metric = "rmse"\n{ALGOS}', tmp_path / "s.toml"))
    assert plan.tune_objective is not None and plan.tune_objective.key == "rmse"


def _values(text: str) -> list[tuple[Any, ...]]:
    rows = json.loads(text)["rows"]
    return [(r["algorithm"], r["fold"], r["metric"], r["k"], r["value"]) for r in rows]


def test_study_tune_matches_compare_tune_and_save_study_round_trips(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "saved.toml"
    args = ["-q", "compare", "--algos", "popularity,baseline", "--tune", "2"]
    args += ["--tune-metric", "ndcg@10", "--format", "json", "--no-store"]
    res = run_cli([*args, "--save-study", str(saved)], capsys, tmp_path / "d")
    assert res.code == 0, res.err
    text = saved.read_text()
    assert "tune = 2\n" in text and 'tune_metric = "ndcg@10"' in text
    # the rows as asked for, not the tuned values: the study tunes them again
    plan = make_plan(load_study(saved))
    assert plan.tune == 2 and plan.algorithms[1].params == {}
    again = run_cli(["-q", "run", str(saved), "--no-store"], capsys, tmp_path / "d")
    assert again.code == 0, again.err
    assert _values(again.out) == _values(res.out)
    compared, studied = json.loads(res.out), json.loads(again.out)
    assert [a["params"] for a in studied["algorithms"]] == [
        a["params"] for a in compared["algorithms"]
    ]
    assert compared["algorithms"][1]["params"]  # baseline really was tuned
    assert studied["protocol"]["description"] == compared["protocol"]["description"]
    assert "tuned per algorithm with 2 trials" in studied["protocol"]["description"]


def test_save_study_writes_workers_and_scheduler(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from recbench.study.save import compare_study

    text = compare_study([], {"workers": 2}, 0)
    assert "workers = 2\n" in text
    text = compare_study([], {"scheduler": "tcp://10.0.0.5:8786"}, 0)
    assert 'scheduler = "tcp://10.0.0.5:8786"\n' in text
    saved = tmp_path / "saved.toml"
    args = ["-q", "compare", "--algos", "popularity", "--workers", "1", "--no-store"]
    res = run_cli([*args, "--save-study", str(saved)], capsys, tmp_path / "d")
    assert res.code == 0, res.err
    assert "workers = 1\n" in saved.read_text()
    assert load_study(saved).study.workers == 1


@pytest.mark.skipif(
    importlib.util.find_spec("distributed") is None,
    reason="needs the scale extra (dask[distributed])",
)
@pytest.mark.slow
def test_study_workers_two_gives_the_serial_rows_and_records_each_cell_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = (
        'splits = ["kfold:2"]\n[output]\nformat = "json"\n'
        '[[algorithms]]\nname = "popularity"\n[[algorithms]]\nname = "baseline"\n'
        "params = { n_epochs = 3 }\n"
    )
    serial, parallel = tmp_path / "serial.toml", tmp_path / "parallel.toml"
    serial.write_text(body)
    parallel.write_text("workers = 2\n" + body)
    one = run_cli(["-q", "run", str(serial), "--no-store"], capsys, tmp_path / "d")
    two = run_cli(["-q", "run", str(parallel)], capsys, tmp_path / "d")
    assert one.code == 0 and two.code == 0, two.err
    assert _values(one.out) == _values(two.out)
    runs = [p for p in (tmp_path / "d" / "runs").iterdir() if p.is_dir()]
    assert len(runs) == 1
    cells = [p for p in (runs[0] / "cells").iterdir() if p.is_dir()]
    assert len(cells) == 4  # 2 rows x 2 folds, each recorded once


@pytest.mark.skipif(
    importlib.util.find_spec("distributed") is None,
    reason="needs the scale extra (dask[distributed])",
)
@pytest.mark.slow
def test_study_workers_resume_runs_only_missing_cells_and_records_none_twice(
    tmp_path: Path,
) -> None:
    from recbench.store import Store
    from recbench.study import execute
    from recbench.study.runner import _cell_frames, load_datasets

    body = (
        'splits = ["kfold:2"]\n[[algorithms]]\nname = "popularity"\n'
        '[[algorithms]]\nname = "baseline"\nparams = { n_epochs = 3 }\n'
    )
    serial = make_plan(parse_study(body, tmp_path / "serial.toml"))
    parallel = make_plan(parse_study("workers = 2\n" + body, tmp_path / "parallel.toml"))
    store = Store.in_data_dir(tmp_path)
    datasets, _ = load_datasets(serial, tmp_path)
    # an interrupted run: only popularity's fold 0 recorded (its fold 1 still to run)
    writer = store.create({"fingerprint": serial.fingerprint([d.checksum for d in datasets])})
    first = serial.cells()[0]
    writer.record_cell(first.id, *_cell_frames(first, 0, serial, datasets[0], None))
    writer.close()
    done = execute(parallel, tmp_path, store)
    assert (done.resumed_from, done.ran) == (1, 3)
    (run,) = store.runs()
    ids = run.cell_ids()
    assert len(ids) == 4 == len(set(ids))
    reference = execute(serial, tmp_path, None)
    keep = ["algorithm", "fold", "metric", "k", "value"]
    assert done.results()[keep].equals(reference.results()[keep])
