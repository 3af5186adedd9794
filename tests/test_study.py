"""Study files: validation with file+line errors, grids, --dry-run, --save-study, examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from recbench.errors import UsageError
from recbench.study import load_study, make_plan, parse_study
from recbench.study.locate import key_lines

from .helpers import ML100K, REPO, run_cli

GOOD = """\
name = "tiny"
k = [5, 10]

[[algorithms]]
name = "popularity"

[[algorithms]]
name = "baseline"
params = { reg_u = [5.0, 15.0], n_epochs = 5 }
"""

# (study text, line the error must name, key it must name)
BAD = {
    "unknown key": ('k = [10]\ncolour = "red"\n[[algorithms]]\nname = "random"\n', 2, "colour"),
    "wrong type": ('k = "ten"\n[[algorithms]]\nname = "random"\n', 1, "k"),
    "empty algorithm list": ("k = [10]\nalgorithms = []\n", 2, "algorithms"),
    "grid of 0 values": (
        'k = [10]\n\n[[algorithms]]\nname = "random"\n\n[[algorithms]]\nname = "svd"\n'
        "params = { n_factors = [] }\n",
        8,
        "n_factors",
    ),
    "dataset that does not exist": (
        'datasets = ["ml-latest-smol"]\n[[algorithms]]\nname = "random"\n',
        1,
        "datasets",
    ),
    "missing file": (
        '[[datasets]]\nname = "no/such/ratings.csv"\n\n[[algorithms]]\nname = "random"\n',
        2,
        "datasets",
    ),
    "unknown algorithm": ('[[algorithms]]\nname = "svdd"\n', 2, "algorithms[0].name"),
    "bad parameter": (
        '[[algorithms]]\nname = "svd"\n[algorithms.params]\nn_factors = -3\n',
        4,
        "n_factors",
    ),
    "bad split": ('splits = ["holdout:2"]\n[[algorithms]]\nname = "random"\n', 1, "splits"),
    "unknown baseline": (
        'k = [10]\nbaseline = "svdd"\n[[algorithms]]\nname = "random"\n',
        2,
        "baseline",
    ),
    "alpha out of range": ('alpha = 2.0\n[[algorithms]]\nname = "random"\n', 1, "alpha"),
    "not TOML": ('k = [10\n[[algorithms]]\nname = "random"\n', 2, ""),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_study_is_one_line_with_file_and_line_and_records_nothing(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, line, key = BAD[case]
    study = tmp_path / "study.toml"
    study.write_text(text)
    data = tmp_path / "data"
    res = run_cli(["run", str(study)], capsys, data_dir=data)
    assert res.code == 2, res.err
    lines = res.err.strip().splitlines()
    assert len(lines) == 1, res.err
    assert lines[0].startswith(f"error: {study}:{line}:"), lines[0]
    assert key in lines[0]
    assert not (data / "runs").exists() or not any((data / "runs").iterdir())


def test_grid_expands_to_one_row_per_combination(tmp_path: Path) -> None:
    plan = make_plan(parse_study(GOOD, tmp_path / "s.toml"))
    labels = [a.label for a in plan.algorithms]
    assert labels == ["popularity", "baseline[reg_u=5.0]", "baseline[reg_u=15.0]"]
    assert plan.algorithms[1].params == {"n_epochs": 5, "reg_u": 5.0}
    assert len(plan.cells()) == 3
    assert len({c.id for c in plan.cells()}) == 3


def test_repeats_and_kfold_multiply_cells(tmp_path: Path) -> None:
    text = 'repeats = 2\nsplits = ["kfold:3", "holdout:0.1"]\n' + GOOD.split("\n", 1)[1]
    plan = make_plan(parse_study(text, tmp_path / "s.toml"))
    assert plan.seeds == [0, 1]
    assert len(plan.cells()) == (3 + 1) * 2 * 3


def test_duplicate_rows_are_rejected(tmp_path: Path) -> None:
    text = '[[algorithms]]\nname = "svd"\n\n[[algorithms]]\nname = "svd"\n'
    with pytest.raises(UsageError, match=r"s\.toml:4: algorithms\[1\]: row 'svd'"):
        make_plan(parse_study(text, tmp_path / "s.toml"))


def test_key_lines_follow_tables_and_inline_tables() -> None:
    lines = key_lines(GOOD)
    assert lines[("k",)] == 2
    assert lines[("algorithms", 1, "name")] == 8
    assert lines[("algorithms", 1, "params", "reg_u")] == 9


def test_dry_run_lists_cells_and_count(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study = tmp_path / "s.toml"
    study.write_text(GOOD)
    res = run_cli(["run", str(study), "--dry-run"], capsys, data_dir=tmp_path / "data")
    assert res.code == 0, res.err
    assert "baseline[reg_u=15.0]" in res.out
    assert res.out.strip().splitlines()[-1].startswith("3 cells")
    assert not (tmp_path / "data" / "runs").exists()


@pytest.mark.parametrize("name", ["readme-demo.toml", "ml-100k-parity.toml"])
def test_examples_validate(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = REPO / "examples" / name
    if "100k" in name and not ML100K.exists():
        pytest.skip(f"{ML100K} is absent (the shared ml-100k copy)")
    plan = make_plan(load_study(path))
    assert plan.cells()
    res = run_cli(["run", str(path), "--dry-run"], capsys)
    assert res.code == 0, res.err


def test_readme_demo_example_matches_make_demo() -> None:
    plan = make_plan(load_study(REPO / "examples" / "readme-demo.toml"))
    make_demo = "random,popularity,baseline,content,user-knn,svd,als,ease,hybrid"
    assert ",".join(a.label for a in plan.algorithms) == make_demo
    assert [str(s) for s in plan.splits] == ["holdout:0.2"]
    assert plan.eval.ks == (10,)


def test_run_writes_output_files_and_fail_if(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study = tmp_path / "s.toml"
    study.write_text(
        'k = [5]\n[[algorithms]]\nname = "popularity"\n'
        '[output]\nfiles = ["out.csv"]\nfail_if = ["ndcg@5 > 0.01"]\n'
    )
    res = run_cli(["run", str(study), "--no-store"], capsys, data_dir=tmp_path / "data")
    assert res.code == 1, res.err
    assert "fail-if ndcg@5 > 0.01: popularity" in res.err
    assert "popularity" in (tmp_path / "out.csv").read_text()
    assert not (tmp_path / "data" / "runs").exists()


def test_bad_fail_if_names_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study = tmp_path / "s.toml"
    study.write_text('[[algorithms]]\nname = "popularity"\n[output]\nfail_if = ["ndcg<0.3"]\n')
    res = run_cli(["run", str(study)], capsys, data_dir=tmp_path / "data")
    assert res.code == 2
    assert f"{study}:4: output.fail_if[0]" in res.err


def test_save_study_round_trips(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "saved.toml"
    args = ["compare", "--algos", "popularity,baseline[n_epochs=3]", "--k", "5,10", "--no-ci"]
    args += ["--baseline", "popularity", "--test", "t"]
    res = run_cli([*args, "--save-study", str(saved), "--no-store"], capsys, tmp_path / "d")
    assert res.code == 0, res.err
    plan = make_plan(load_study(saved))
    assert [a.label for a in plan.algorithms] == ["popularity", "baseline[n_epochs=3]"]
    assert plan.algorithms[1].params == {"n_epochs": 3}
    assert plan.eval.ks == (5, 10)
    study = plan.source.study
    assert (study.ci, study.baseline, study.test, study.alpha) == (False, "popularity", "t", 0.05)
    assert not (tmp_path / "d" / "runs").exists()
    again = run_cli(["run", str(saved), "--no-store", "--dry-run"], capsys, tmp_path / "d")
    assert again.code == 0 and "2 cells" in again.out


def test_study_tables_carry_intervals_and_significance(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study = tmp_path / "s.toml"
    study.write_text(
        'k = [10]\nbaseline = "popularity"\nmetrics = ["ndcg", "coverage"]\n'
        '[[algorithms]]\nname = "popularity"\n[[algorithms]]\nname = "user-knn"\n'
    )
    res = run_cli(["run", str(study), "--no-store"], capsys, data_dir=tmp_path / "d")
    assert res.code == 0, res.err
    assert "±" in res.out and "▲" in res.out and "Cov@10" in res.out
    assert "better / worse than popularity" in res.flat


def test_output_directory_is_checked_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study = tmp_path / "s.toml"
    study.write_text('[[algorithms]]\nname = "popularity"\n\n[output]\nreport = "no/dir/r.html"\n')
    res = run_cli(["run", str(study)], capsys, data_dir=tmp_path / "d")
    assert res.code == 2
    assert f"{study}:5: output.report" in res.err and "does not exist" in res.err
    assert not (tmp_path / "d" / "runs").exists()
