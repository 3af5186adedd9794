"""`recbench tune` from the command line: output, one-line errors, and a real kill -9 + resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import REPO, run_cli
from tests.test_tuning import latent_csv


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("recbench-data")


@pytest.fixture(scope="module")
def ratings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return latent_csv(tmp_path_factory.mktemp("tune-data"))


def data_args(path: Path) -> list[str]:
    return ["-d", str(path), "--columns", "user,item,rating,timestamp", "--sep", ","]


def test_tune_json_reports_choice_and_one_test(capsys, data_dir: Path, ratings: Path) -> None:
    res = run_cli(
        ["-q", "tune", "ease", *data_args(ratings), "--split", "user-holdout:0.25",
         "--trials", "4", "--format", "json"],
        capsys,
        data_dir,
    )  # fmt: skip
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    assert doc["algorithm"] == "ease" and doc["metric"] == "ndcg@10"
    assert doc["direction"] == "maximize" and doc["trials"] == 4
    assert set(doc["best_params"]) == {"l2"} and doc["params"] == doc["best_params"]
    assert 0 < doc["test"]["ndcg@10"] <= 1 and doc["default_test"] is not None
    assert "per-user holdout" in doc["validation"] and len(doc["trial_log"]) == 4


def test_tune_table_names_the_protocol(capsys, data_dir: Path, ratings: Path) -> None:
    res = run_cli(["tune", "item-knn", *data_args(ratings), "--trials", "3", "-p", "k=20"],
                  capsys, data_dir)  # fmt: skip
    assert res.code == 0, res.err
    flat = res.flat
    assert "top trials by validation ndcg@10" in flat
    assert "cut from the training part only" in flat and "used once" in flat
    assert "tuned" in flat and "k=20" in flat  # a fixed parameter is kept in the refit


def test_algorithms_lists_search_spaces(capsys, data_dir: Path) -> None:
    res = run_cli(["algorithms"], capsys, data_dir)
    assert res.code == 0 and "tune 8..256 int log" in res.flat
    doc = json.loads(run_cli(["algorithms", "-f", "json"], capsys, data_dir).out)
    als = next(r for r in doc if r["name"] == "als")
    assert als["search_space"]["regularization"] == "0.0001..1 log"


def _space_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "space.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["tune", "alss"], "unknown algorithm 'alss'"),
        (["tune", "als", "--space", "SPACE:[nope]\nlow = 1\nhigh = 2\n"], "unknown parameter"),
        (["tune", "als", "--space", "SPACE:factors = {low = 64, high = 8}\n"], "empty range"),
        (["tune", "als", "--space", "SPACE:factors = [1, 2\n"], "cannot read"),
        (["tune", "als", "--metric", "rmse"], "does not predict ratings"),
        (["tune", "als", "--metric", "ndcg"], "needs a cut-off"),
        (["tune", "als", "--trials", "0"], "--trials must be at least 1"),
        (["tune", "als", "--jobs", "0"], "--jobs must be at least 1"),
        (["tune", "als", "--study", "a/b"], "--study 'a/b'"),
        (["tune", "als", "--val-split", "none"], "needs held-out data"),
        (["tune", "random"], "nothing to search"),
        (["tune", "als", "-p", "factor=3"], "unknown parameter 'factor'"),
        (["tune", "als", "--format", "csv"], "unknown --format"),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys, data_dir, ratings, tmp_path, args, needle) -> None:  # type: ignore[no-untyped-def]
    args = [
        _space_file(tmp_path, a.removeprefix("SPACE:")) if a.startswith("SPACE:") else a
        for a in args
    ]
    res = run_cli(["-q", *args, *data_args(ratings)], capsys, data_dir)
    assert res.code == 2, (res.code, res.err)
    lines = [ln for ln in res.err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), res.err
    assert needle in lines[0], lines[0]


def _finished(journal: Path) -> int:
    import optuna
    from optuna.trial import TrialState

    from recbench.tuning.search import STUDY
    from recbench.tuning.study import StudyFiles, open_storage

    if not journal.exists() or journal.stat().st_size == 0:
        return 0
    try:
        study = optuna.load_study(study_name=STUDY, storage=open_storage(StudyFiles(journal, "k9")))
    except KeyError:  # the study record is not written yet
        return 0
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


@pytest.mark.slow
def test_kill_9_then_rerun_continues_the_study(data_dir: Path, ratings: Path, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A real process killed with SIGKILL mid-search; the rerun keeps its completed trials."""
    home = tmp_path / "data"
    env = {**os.environ, "RECBENCH_DATA": str(home), "PYTHONPATH": str(REPO)}
    base = [sys.executable, "-m", "recbench", "-q", "tune", "als", *data_args(ratings),
            "--study", "k9", "-p", "iterations=2"]  # fmt: skip
    journal = home / "studies" / "k9.journal"
    proc = subprocess.Popen([*base, "--trials", "1000"], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while _finished(journal) < 3:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "no trials completed in time"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    before = _finished(journal)
    assert 3 <= before < 1000
    out = subprocess.run([*base, "--trials", str(before + 2), "--format", "json"], env=env,
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["resumed_from"] >= before and doc["trials"] == before + 2
    states = [t["state"] for t in doc["trial_log"]]
    assert states.count("complete") == before + 2
    assert states.count("interrupted") == doc["interrupted"] <= 1


def test_compare_tune_reports_tuned_parameters(capsys, data_dir: Path, ratings: Path) -> None:
    res = run_cli(
        ["-q", "compare", "-a", "ease,popularity", *data_args(ratings), "--tune", "3",
         "-f", "json"],
        capsys,
        data_dir,
    )  # fmt: skip
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    desc = doc["protocol"]["description"]
    assert "tuned per algorithm with 3 trials" in desc and "not tuned" in desc
    params = {a["name"]: a["params"] for a in doc["algorithms"]}
    assert set(params["ease"]) == {"l2"} and params["popularity"] == {}


def test_compare_tune_refuses_kfold(capsys, data_dir: Path, ratings: Path) -> None:
    res = run_cli(["-q", "compare", "-a", "ease", *data_args(ratings), "--split", "kfold:3",
                   "--tune", "2"], capsys, data_dir)  # fmt: skip
    assert res.code == 2 and "one train/test split" in res.err
