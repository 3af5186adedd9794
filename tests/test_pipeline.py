"""One experiment path (issue 23): compare, evaluate, recbench.compare and a study apply the same
rules: the split must hold test data out, K is capped at the catalogue with a note, and an
algorithm that refuses the data is reported unable while the others run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import recbench
from recbench import pipeline
from recbench.errors import UsageError
from recbench.evaluation import EvalConfig
from recbench.experiment import AlgoSpec
from recbench.split import parse_split

from .helpers import run_cli

N_ITEMS = 12
REFUSING = {"name": "ease", "params": {"max_memory_gb": 1e-6}}


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 users x 12 items, every user with 8 ratings (fast, and a catalogue under K=50)."""
    rng = np.random.default_rng(0)
    lines = ["user,item,rating"]
    for u in range(30):
        for i in rng.choice(N_ITEMS, 8, replace=False):
            lines.append(f"{u},{i},{int(rng.integers(1, 6))}")
    path = tmp_path_factory.mktemp("pipeline") / "small.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_k_capped_the_same_by_every_entry(
    small_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    note = f"--k 50 is more than the {N_ITEMS} items"
    ds = recbench.data.load_dataset(str(small_csv), tmp_path)
    request = pipeline.ExperimentRequest(
        ds, parse_split("holdout:0.2"), [AlgoSpec("popularity")], EvalConfig(ks=(5, 50))
    )
    res = pipeline.run_experiment(request)
    assert res.eval_config.ks == (5, N_ITEMS) and any(note in n for n in res.notes)
    assert set(res.results["k"].dropna()) == {5, N_ITEMS}

    api = recbench.compare("popularity", str(small_csv), k=[5, 50], data_dir=tmp_path, store=False)
    (group,) = api.groups
    assert group.eval_config.ks == (5, N_ITEMS) and any(note in n for n in group.notes)
    assert api.to_frame()["value"].tolist() == res.results["value"].tolist()

    study = {"datasets": [str(small_csv)], "algorithms": ["popularity"], "k": [5, 50]}
    ran = recbench.run(study, data_dir=tmp_path, store=False)
    assert set(ran.to_frame()["k"].dropna()) == {5, N_ITEMS}

    cli = run_cli(["compare", "-d", str(small_csv), "-a", "popularity", "--k", "5,50",
                   "--no-store", "-f", "json"], capsys, tmp_path)  # fmt: skip
    assert cli.code == 0 and note in cli.err
    assert f"ndcg@{N_ITEMS}" in cli.out


def test_a_refusal_is_unable_in_every_entry(small_csv: Path, tmp_path: Path) -> None:
    rows = [REFUSING, "popularity"]
    api = recbench.compare(rows, str(small_csv), data_dir=tmp_path, store=False)
    ran = recbench.run(
        {"datasets": [str(small_csv)], "algorithms": rows}, data_dir=tmp_path, store=False
    )
    for res in (api, ran):
        (group,) = res.groups
        (label,) = [a for a in group.algorithms if a.startswith("ease")]
        assert "needs about" in group.unable[label]
        assert set(group.results["algorithm"]) == {"popularity"}


def test_everything_refusing_is_one_line(small_csv: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    res = run_cli(["evaluate", "-d", str(small_csv), "--algo", "ease", "-p", "max_memory_gb=1e-6",
                   "--no-store"], capsys, tmp_path)  # fmt: skip
    assert res.code == 2 and "needs about" in res.err and len(res.err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["compare", "evaluate", "abtest plan --algo"])
def test_a_split_without_test_data_is_refused_by_name(command: str, small_csv: Path) -> None:
    ds = recbench.data.load_dataset(str(small_csv), small_csv.parent)
    request = pipeline.ExperimentRequest(
        ds, parse_split("none"), [AlgoSpec("popularity")], command=command
    )
    with pytest.raises(UsageError, match=f"^{command} needs a split with test data"):
        pipeline.run_experiment(request)


def test_tune_refuses_before_any_trial(small_csv: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    res = run_cli(["tune", "ease", "-d", str(small_csv), "-p", "max_memory_gb=1e-9", "-n", "2",
                   "--no-store"], capsys, tmp_path)  # fmt: skip
    assert res.code == 2 and res.err.strip().splitlines() == [res.err.strip()]
    assert "ease: EASE on" in res.err and "no trial" not in res.err
