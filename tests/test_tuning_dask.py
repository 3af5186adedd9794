"""Tuning trials on Dask (``tune --workers N`` / ``--scheduler``): a real LocalCluster of two
processes runs the trial loops against the study's journal, the study keeps its trial count
and resumes; bad options are one-line exit-2 errors."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from recbench import executors
from recbench.data.model import Dataset
from recbench.errors import UsageError
from recbench.split import parse_split
from recbench.tuning import parse_objective, resolve_space
from recbench.tuning.distributed import _trial_loop, check_jobs, dask_trials, trials_on
from recbench.tuning.search import TuneSpec, _Work, search
from recbench.tuning.study import StudyFiles

from .helpers import run_cli

dask_needed = pytest.mark.skipif(
    importlib.util.find_spec("distributed") is None,
    reason="needs the scale extra (dask[distributed])",
)
#: a cheap algorithm with a search space: fits ml-latest-small in a fraction of a second
ALGO = "baseline"


def _spec(n: int, jobs: int = 1) -> TuneSpec:
    from recbench.algorithms import plugins

    space, fixed = resolve_space(ALGO, plugins.load(ALGO), None, {"n_epochs": 5})
    return TuneSpec(ALGO, space, fixed, parse_objective("ndcg@10"), n_trials=n, jobs=jobs)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--workers", "0"], "--workers must be at least 1"),
        (["--workers", "2", "--jobs", "2"], "not both"),
        (["--scheduler", "tcp://h:1", "-j", "3"], "not both"),
        (["--workers", "2", "--scheduler", "tcp://h:1"], "not both"),
        (["--scheduler", "no address"], "not a Dask address"),
    ],
)
def test_bad_dask_options_are_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    res = run_cli(["-q", "tune", ALGO, "--trials", "2", *args], capsys)
    assert res.code == 2, (res.code, res.err)
    lines = [ln for ln in res.err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0], res.err


def test_jobs_alone_and_workers_alone_are_fine() -> None:
    check_jobs(4, None, None)
    check_jobs(1, 2, None)
    assert trials_on(None, _spec(3)) == (_spec(3), None)


def test_a_loop_that_cannot_see_the_journal_says_so(tmp_path: Path, ml_small: Dataset) -> None:
    files = StudyFiles(tmp_path / "elsewhere" / "s.journal", "s")
    work = _Work(_spec(1), files, None, None, {})  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="shares"):
        _trial_loop(work, None)


@dask_needed
@pytest.mark.slow
def test_local_cluster_runs_the_trials(ml_small: Dataset) -> None:
    split = parse_split("user-holdout:0.2")
    with executors.make_executor(workers=2, local_cells=False) as ex:
        assert isinstance(ex, executors.DaskExecutor)
        spec, runner = trials_on(ex, _spec(5))
        assert spec.jobs == 2 and runner is not None
        found = search(ml_small, split, spec, trial_runner=runner)
        assert ex.cluster.scheduler.transition_counter > 0  # the loops ran there
        with pytest.raises(UsageError, match="no worker threads"):
            dask_trials(ex.client, 0)
    assert len(found.trials) == 5 and {t.state for t in found.trials} == {"complete"}
    assert found.best.state == "complete" and set(found.best.params) == {"reg_u", "reg_i"}


@dask_needed
@pytest.mark.slow
def test_cli_workers_tune_counts_trials_and_resumes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    base = ["-q", "tune", ALGO, "-p", "n_epochs=5", "--study", "dask", "--workers", "2",
            "--format", "json", "--no-store", "--no-reference"]  # fmt: skip
    first = run_cli([*base, "--trials", "4"], capsys, tmp_path)
    assert first.code == 0, first.err
    doc = json.loads(first.out)
    assert doc["trials"] == 4 and doc["resumed_from"] == 0
    assert [t["state"] for t in doc["trial_log"]] == ["complete"] * 4
    again = run_cli([*base, "--trials", "6"], capsys, tmp_path)
    assert again.code == 0, again.err
    doc2 = json.loads(again.out)
    assert doc2["trials"] == 6 and doc2["resumed_from"] == 4
    kept = {t["number"]: t["params"] for t in doc["trial_log"]}
    assert {t["number"]: t["params"] for t in doc2["trial_log"][:4]} == kept
    assert (tmp_path / "studies" / "dask.journal").is_file()


@dask_needed
@pytest.mark.slow
def test_compare_tune_with_workers_tunes_on_the_cluster(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``compare --tune N --workers 2``: the trial loops and then the cells run on one
    LocalCluster; the tuned parameters reach the table and the caption says so."""
    res = run_cli(["-q", "compare", "--algos", f"{ALGO},popularity", "-p", "n_epochs=5",
                   "--split", "user-holdout:0.25", "--tune", "3", "--workers", "2",
                   "--format", "json", "--no-store"], capsys, tmp_path)  # fmt: skip
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    rows = {a["name"]: a for a in doc["algorithms"]}
    from recbench.algorithms import plugins

    space = set(plugins.load(ALGO).search_space)
    assert space and space <= set(rows[ALGO]["params"])  # every searched parameter chosen
    assert rows[ALGO]["params"]["n_epochs"] == 5  # a fixed one kept
    assert "tuned per algorithm with 3 trials" in doc["protocol"]["description"]
    assert rows["popularity"]["metrics"]["ndcg@10"]["mean"] > 0
