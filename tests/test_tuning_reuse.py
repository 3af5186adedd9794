"""``--algos "NAME[@study=S]"``: a stored tune's best parameters reused by compare, with the
caption saying where they came from and a warning when the study saw other data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import run_cli
from tests.test_tuning import latent_csv
from tests.test_tuning_cli import data_args


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("recbench-reuse")


@pytest.fixture(scope="module")
def ratings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return latent_csv(tmp_path_factory.mktemp("reuse-data"))


SPLIT = ["--split", "user-holdout:0.25"]


_TUNED: dict[Path, dict] = {}  # type: ignore[type-arg]


@pytest.fixture
def tuned(capsys, data_dir: Path, ratings: Path) -> dict:  # type: ignore[no-untyped-def,type-arg]
    """A stored ease study of 5 trials (its JSON document), made once per module."""
    if data_dir not in _TUNED:
        res = run_cli(["-q", "tune", "ease", *data_args(ratings), *SPLIT, "--trials", "5",
                       "--study", "ease-s", "--format", "json"], capsys, data_dir)  # fmt: skip
        assert res.code == 0, res.err
        _TUNED[data_dir] = json.loads(res.out)
    return _TUNED[data_dir]


def _compare(capsys, data_dir: Path, ratings: Path, algos: str, *extra: str):  # type: ignore[no-untyped-def]
    return run_cli([*extra, "compare", "--algos", algos, *data_args(ratings), *SPLIT,
                    "--format", "json", "--no-store"], capsys, data_dir)  # fmt: skip


def test_compare_runs_the_studys_best_parameters(capsys, data_dir, ratings, tuned) -> None:
    res = _compare(capsys, data_dir, ratings, "ease[@study=ease-s],popularity")
    assert res.code == 0, res.err
    assert "warning" not in res.err
    doc = json.loads(res.out)
    (row,) = [a for a in doc["algorithms"] if a["name"] == "ease[@study=ease-s]"]
    assert row["params"] == tuned["params"]
    # the same configuration written out by hand gives the same test metrics
    l2 = tuned["params"]["l2"]
    res2 = _compare(capsys, data_dir, ratings, f"ease[l2={l2!r}]")
    assert res2.code == 0, res2.err
    (by_hand,) = json.loads(res2.out)["algorithms"]
    assert by_hand["metrics"]["ndcg@10"]["mean"] == row["metrics"]["ndcg@10"]["mean"]
    assert by_hand["metrics"]["ndcg@10"]["mean"] == pytest.approx(tuned["test"]["ndcg@10"])
    text = doc["protocol"]["description"]
    assert "parameters of study ease-s (best of 5 completed trials" in text
    assert "tuned on this split's training part only" in text


def test_bracket_values_win_over_the_study(capsys, data_dir, ratings, tuned) -> None:
    res = _compare(capsys, data_dir, ratings, "ease[@study=ease-s,l2=7]")
    assert res.code == 0, res.err
    (row,) = json.loads(res.out)["algorithms"]
    assert row["name"] == "ease[@study=ease-s,l2=7]" and row["params"]["l2"] == 7


@pytest.mark.parametrize(
    ("before", "after", "which"),
    [(["--seed", "3"], [], "seed 3"), ([], ["--repeats", "3"], "seeds 1, 2")],
)
def test_another_seed_of_the_same_split_is_refused(  # type: ignore[no-untyped-def]
    capsys, data_dir, ratings, tuned, before: list[str], after: list[str], which: str
) -> None:
    """Every repeat's seed is checked: on the data and split the study was tuned on, a seed
    other than its own has test pairs that were the study's training or validation data."""
    res = run_cli([*before, "compare", "--algos", "ease[@study=ease-s]", *data_args(ratings),
                   *SPLIT, *after, "--format", "json", "--no-store"], capsys, data_dir)  # fmt: skip
    assert res.code == 2, res.err
    assert len(res.err.strip().splitlines()) == 1 and "Traceback" not in res.err
    assert "study ease-s was tuned on seed 0's user-holdout:0.25 split" in res.err
    assert f"the test pairs of {which} were among its trials' training" in res.err


def test_another_split_is_flagged_as_possible_leakage(capsys, data_dir, ratings, tuned) -> None:  # type: ignore[no-untyped-def]
    res = run_cli(["compare", "--algos", "ease[@study=ease-s]", *data_args(ratings),
                   "--split", "holdout:0.2", "--repeats", "2", "--format", "json", "--no-store"],
                  capsys, data_dir)  # fmt: skip
    assert res.code == 0, res.err
    assert "warning:" in res.err and "tuned with another split (" in res.err
    assert "this test part may have informed the choice" in res.err
    doc = json.loads(res.out)
    assert "tuned with another split (" in doc["protocol"]["description"]


@pytest.mark.parametrize(
    ("algos", "message"),
    [
        ("ease[@study=nope]", "no stored study 'nope'"),
        ("als[@study=ease-s]", "@study=ease-s tuned ease, not als; write ease[@study=ease-s]"),
        ("ease[@stud=ease-s]", "the one @-key is @study=NAME"),
        ("ease[@study=]", "the one @-key is @study=NAME"),
        ("ease[@study=a,@study=b]", "names @study twice"),
        ("ease[@study=../x]", "--study '../x': use letters"),
    ],
)
def test_bad_study_references_are_one_line_errors(
    capsys, data_dir, ratings, tuned, algos: str, message: str
) -> None:
    res = _compare(capsys, data_dir, ratings, algos)
    assert res.code == 2
    assert message in res.err, res.err
    assert len(res.err.strip().splitlines()) == 1 and "Traceback" not in res.err


def test_a_study_file_entry_reuses_a_stored_study(
    capsys, data_dir, ratings, tuned, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from recbench.study import load_study, make_plan

    body = (
        'splits = ["user-holdout:0.25"]\n'
        f'[[datasets]]\nname = "{ratings}"\ncolumns = "user,item,rating,timestamp"\nsep = ","\n'
        '[[algorithms]]\nname = "ease"\nstudy = "ease-s"\n'
        '[[algorithms]]\nname = "ease"\nstudy = "ease-s"\nvariant = "mine"\nparams = { l2 = 3 }\n'
    )
    path = tmp_path / "s.toml"
    path.write_text(body)
    plan = make_plan(load_study(path), data_dir)
    first, second = plan.algorithms
    assert first.label == "ease[@study=ease-s]" and first.params == tuned["params"]
    assert second.label == "ease[mine]" and second.params == {"l2": 3}
    path.write_text(body.replace('study = "ease-s"', 'study = "gone"', 1))
    with pytest.raises(
        Exception, match=r"s.toml:\d+: algorithms\[0\].study: @study=gone: no stored"
    ):
        make_plan(load_study(path), data_dir)


def test_a_study_file_with_repeats_is_checked_for_every_seed(
    capsys, data_dir, ratings, tuned, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """``recbench run``: a stored study reused on its own split is leak-free for its seed only;
    with ``repeats = 2`` the second seed is refused before any work, naming file, line, key."""
    body = (
        'splits = ["user-holdout:0.25"]\n[output]\nformat = "json"\n'
        f'[[datasets]]\nname = "{ratings}"\ncolumns = "user,item,rating,timestamp"\nsep = ","\n'
        '[[algorithms]]\nname = "ease"\nstudy = "ease-s"\n'
    )
    path = tmp_path / "s.toml"
    path.write_text(body)
    res = run_cli(["-q", "run", str(path), "--no-store"], capsys, data_dir)
    assert res.code == 0, res.err
    desc = json.loads(res.out)["protocol"]["description"]
    assert "ease: parameters of study ease-s" in desc
    assert "tuned on this split's training part only" in desc
    path.write_text("repeats = 2\n" + body)
    res = run_cli(["-q", "run", str(path), "--no-store"], capsys, data_dir)
    assert res.code == 2 and len(res.err.strip().splitlines()) == 1, res.err
    assert "s.toml:" in res.err and "algorithms[0].study" in res.err
    assert "the test pairs of seed 1 were among its trials' training" in res.err
