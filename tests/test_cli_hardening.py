"""Inputs a new user tries: each is one line on stderr and exit 2 (or a note), never exit 3;
results files are checked before any work and never lost; help and messages say what is true."""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path

import pytest

from recbench.split import KINDS, SPLIT_KIND_BY_NAME

from .helpers import run_cli
from .test_cli import assert_one_line_error

POP = ["--algos", "popularity"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("recbench-data")


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the dataset is loaded: the error must come before any work."""

    def boom(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("work started before the options were checked")

    monkeypatch.setattr("recbench.cli.common.load_dataset", boom)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--seed", "-1", "compare", *POP], "--seed must be a whole number from 0"),
        (["--seed", "99999999999999999999", "compare", *POP], "--seed must be a whole number"),
        (["compare", *POP, "--k", "99999999999999999999"], "is too large"),
        (["compare", *POP, "--output", "/proc/x.json"], "--output /proc/x.json cannot be written"),
        (["compare", *POP, "--output", "/nonexistent-dir/r.json"], "does not exist"),
        (["compare", *POP, "--output", "/"], "is a directory"),
        (["compare", *POP, "--output", "/dev/null"], "is not a regular file"),
        (["algorithms", "--format", "csv"], "unknown --format 'csv'"),
        (["recommend", "--model", "m", "--user", "1", "--format", "csv"], "table or json"),
    ],
)
def test_bad_input_before_any_work(capsys, data_dir: Path, no_work, args, needle) -> None:  # type: ignore[no-untyped-def]
    assert_one_line_error(run_cli(args, capsys, data_dir), needle)


def test_dataset_symlink_loop(capsys, data_dir: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.symlink_to(b)
    b.symlink_to(a)
    assert_one_line_error(run_cli(["compare", *POP, "-d", str(a)], capsys, data_dir), "loop")
    gone = tmp_path / "gone.csv"
    gone.symlink_to(tmp_path / "missing.csv")
    assert_one_line_error(
        run_cli(["compare", *POP, "-d", str(gone)], capsys, data_dir), "not found"
    )


def test_huge_k_is_clamped_to_the_catalogue(capsys, data_dir: Path) -> None:
    res = run_cli(
        ["compare", *POP, "--k", "10,1000000000", "-f", "json", "--fail-if", "ndcg@1000000000<0"],
        capsys,
        data_dir,
    )
    assert res.code == 0, res.err
    assert "note: --k 1000000000 is more than the 9,742 items of ml-latest-small; using K=9742" in (
        res.err
    )
    keys = set(json.loads(res.out)["algorithms"][0]["metrics"])
    assert {"ndcg@10", "ndcg@9742"} <= keys and "ndcg@1000000000" not in keys


def test_results_survive_a_failed_write(
    capsys, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The directory was fine when checked, the write fails later: the table goes to stdout."""

    def full(path, text):  # type: ignore[no-untyped-def]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("recbench.cli.common.atomic_write_text", full)
    res = run_cli(["-q", "compare", *POP, "-o", str(tmp_path / "r.txt")], capsys, data_dir)
    assert_one_line_error(res, "could not write --output")
    assert "No space left on device" in res.err
    assert "popularity" in res.out and "NDCG@10" in res.out


def test_results_file_honours_the_umask(capsys, data_dir: Path, tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        res = run_cli(["-q", "compare", *POP, "-o", str(tmp_path / "r.json")], capsys, data_dir)
    finally:
        os.umask(old)
    assert res.code == 0, res.err
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o640


def _help(capsys, args: list[str]) -> str:  # type: ignore[no-untyped-def]
    res = run_cli([*args, "--help"], capsys)
    assert res.code == 0, res.err
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", res.out).split())


def test_split_help_lists_every_kind_a_command_accepts(capsys) -> None:  # type: ignore[no-untyped-def]
    assert {"user-cold", "item-cold", "none"} <= set(KINDS)
    for command in ("compare", "evaluate", "fit", "tune"):
        text = _help(capsys, [command])
        for kind in KINDS:
            if kind == "none" and command != "fit":
                continue
            takes_value = SPLIT_KIND_BY_NAME[kind].arg != "none"
            assert (f"{kind}:" if takes_value else f"{kind} (") in text, (command, kind)


def test_recommend_help_lists_only_its_formats(capsys) -> None:  # type: ignore[no-untyped-def]
    text = _help(capsys, ["recommend"])
    assert "table or json" in text
    assert not {"csv", "markdown", "latex"} & set(re.findall(r"[a-z]+", text))


def test_help_keeps_bracketed_text(capsys) -> None:  # type: ignore[no-untyped-def]
    """rich reads ``[k=v,...]`` as markup and drops it; help texts are escaped."""
    text = _help(capsys, ["compare"])
    assert "NAME[k=v,...] for a configuration" in text
    assert "NAME[@study=S] for the best parameters" in text
    assert "[ALGO.]NAME=VALUE" in _help(capsys, ["abtest", "simulate"])


def test_sep_help_lists_space(capsys) -> None:  # type: ignore[no-untyped-def]
    for command in (["compare"], ["datasets", "add"]):
        text = _help(capsys, command)
        assert "space (' ' or space)" in text and "sniffed from line 1" in text, command


def test_fail_if_keeps_labels_with_brackets(capsys, data_dir: Path) -> None:
    res = run_cli(
        ["-q", "compare", "--algos", "baseline[n_epochs=2]", "--fail-if", "rmse>0"],
        capsys,
        data_dir,
    )
    assert res.code == 1, res.err
    assert "fail-if rmse>0: baseline[n_epochs=2] rmse = 0." in res.err


def test_evaluate_model_rejects_options_it_would_ignore(
    capsys, data_dir: Path, tmp_path: Path
) -> None:
    model = tmp_path / "pop"
    assert run_cli(["-q", "fit", "popularity", "--out", str(model)], capsys, data_dir).code == 0
    for extra in (["--dataset", "ml-100k"], ["--columns", "user,item"], ["-d", "ml-latest-small"]):
        res = run_cli(["evaluate", "--model", str(model), *extra], capsys, data_dir)
        assert_one_line_error(res, "applies to --algo")
    res = run_cli(["-q", "evaluate", "--model", str(model)], capsys, data_dir)
    assert res.code == 0, res.err
    assert "recbench evaluate · ml-latest-small" in res.out and "compare" not in res.out
    res = run_cli(["-q", "evaluate", "--algo", "popularity"], capsys, data_dir)
    assert "recbench evaluate · ml-latest-small" in res.out
    written = tmp_path / "r.txt"
    res = run_cli(["-q", "evaluate", "--model", str(model), "-o", str(written)], capsys, data_dir)
    assert res.code == 0, res.err
    assert "recbench evaluate · ml-latest-small" in written.read_text()
    for bad in ("1:nan", "1:99", "1:0"):
        res = run_cli(["recommend", "--model", str(model), "--history", bad], capsys, data_dir)
        assert_one_line_error(res, "cannot score a user unseen in training")
    content = tmp_path / "content"
    assert run_cli(["-q", "fit", "content", "--out", str(content)], capsys, data_dir).code == 0
    for bad, needle in (("1:nan", "not a finite number"), ("1:99", "outside ml-latest-small's")):
        res = run_cli(["recommend", "--model", str(content), "--history", bad], capsys, data_dir)
        assert_one_line_error(res, needle)


def test_no_blank_line_before_an_error(capsys, data_dir: Path) -> None:
    """An error after the experiment ran (the progress bar was up) is the first stderr line."""
    res = run_cli(["compare", *POP, "--fail-if", "svd:rmse>1"], capsys, data_dir)
    assert res.code == 2
    lines = res.err.splitlines()
    assert lines[-1] == "error: --fail-if 'svd:rmse>1': 'svd' was not run"
    assert all(line.strip() for line in lines), res.err  # notes may come first, blank lines not


def test_global_option_after_the_command_says_where_it_goes(capsys, data_dir: Path) -> None:
    res = run_cli(["compare", "--seed", "7", *POP], capsys, data_dir)
    assert_one_line_error(
        res, "--seed is a global option and goes before the command: recbench --seed 7 compare"
    )
    res = run_cli(["fit", "popularity", "--quiet"], capsys, data_dir)
    assert_one_line_error(res, "recbench --quiet fit popularity")


def test_dataset_warnings_are_printed(
    capsys, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recbench.cli import common

    real = common.load_dataset

    def with_warnings(*args, **kwargs):  # type: ignore[no-untyped-def]
        ds = real(*args, **kwargs)
        notes = ["3 ratings are negative", "a title holds \x1b[31mescapes"]
        return replace(ds, source={**ds.source, "warnings": notes})

    monkeypatch.setattr(common, "load_dataset", with_warnings)
    res = run_cli(["-q", "compare", *POP, "-f", "json"], capsys, data_dir)
    assert res.code == 0, res.err
    assert res.err.splitlines() == [
        "warning: ml-latest-small: 3 ratings are negative",
        "warning: ml-latest-small: a title holds escapes",
    ]


def test_start_up_removes_what_killed_runs_left_in_the_data_directory(
    capsys, tmp_path: Path
) -> None:
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    parsed = tmp_path / "data" / "parsed"
    parsed.mkdir(parents=True)
    stale = parsed / f".ml-latest-small.rbtmp-tmp-{dead.pid}-0a1b2c3d"
    stale.mkdir()
    (stale / "ratings.parquet").write_bytes(b"half a file")
    live = parsed / f".other.rbtmp-tmp-{os.getpid()}-0a1b2c3d"  # a running writer's: kept
    live.mkdir()
    for path in (stale / "ratings.parquet", stale, live):
        os.utime(path, (0, 0))
    assert run_cli(["algorithms", "-f", "json"], capsys, tmp_path / "data").code == 0
    assert not stale.exists() and live.exists()


def test_ci_runs_lint_with_mypy_and_the_tests() -> None:
    from .helpers import REPO

    ci = (REPO / ".ci" / "run").read_text()
    assert ci.index("make lint") < ci.index("make test")
    lint = (REPO / "Makefile").read_text().split("\nlint:")[1].split("\n\n")[0]
    assert "ruff check" in lint and "$(BIN)/mypy recbench" in lint


def test_cli_and_persistence_names_say_what_they_are() -> None:
    """No second `read_manifest`, `FORMATS`, `Progress` or `progress_bar` on the CLI side."""
    from recbench import persistence
    from recbench.cli import common, options

    for module in (common, options, persistence):
        for name in ("read_manifest", "FORMATS", "FORMAT", "Progress", "progress_bar"):
            assert not hasattr(module, name), (module.__name__, name)
    from recbench.render import progress

    assert persistence.read_model_meta and progress.cell_progress and progress.counting_bar


def test_every_test_user_cold_says_no_test_user_it_can_score(
    capsys, data_dir: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """One rating per user: every held-out user is cold, so nothing can be ranked; the row says
    why instead of '—' (which the legend reserves for a metric the algorithm lacks)."""
    path = tmp_path / "cold.csv"
    path.write_text("user,item\n" + "".join(f"u{u},i{u % 17}\n" for u in range(200)))
    args = ["compare", *POP, "-d", str(path), "--no-store"]
    res = run_cli([*args, "-f", "json"], capsys, data_dir)
    assert res.code == 0, res.err
    (algo,) = json.loads(res.out)["algorithms"]
    assert algo["unable"] == "has no test user it can score (all 40 are cold: no training ratings)"
    assert algo["n_cold_users"] == 40 and algo["metrics"] == {}
    table = run_cli(args, capsys, data_dir)
    assert "unable: popularity has no test user it can score" in table.flat


def test_duplicate_pairs_are_counted_in_a_note(capsys, data_dir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rows = [f"{u},{i},{(u + i) % 5 + 1}\n" for u in range(1, 31) for i in range(1, 21)]
    path = tmp_path / "dups.csv"
    path.write_text("user,item,rating\n" + "".join(rows) + "1,1,2\n2,3,5\n")  # 602 rows
    args = ["compare", *POP, "-d", str(path), "--no-store"]
    res = run_cli([*args, "-f", "json"], capsys, data_dir)
    assert res.code == 0, res.err
    dataset = json.loads(res.out)["dataset"]
    assert (dataset["n_ratings"], dataset["duplicates_dropped"]) == (600, 2)
    note = "Loading dropped 2 duplicate (user, item) rows (the latest of each pair kept)."
    assert note in run_cli(args, capsys, data_dir).flat
    clean = run_cli(["compare", *POP, "--no-store", "-f", "json"], capsys, data_dir)
    assert json.loads(clean.out)["dataset"]["duplicates_dropped"] == 0


def test_datasets_lists_the_counts_add_reported(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "shop.csv"
    path.write_text("user,item,rating\n" + "".join(f"{u},{u % 7},4\n" for u in range(50)))
    data = tmp_path / "data"
    added = run_cli(["datasets", "add", "shop", str(path)], capsys, data)
    assert added.code == 0 and "added shop: 50 ratings, 50 users, 7 items" in added.err
    table = run_cli(["datasets"], capsys, data)
    assert re.search(r"shop\s*│\s*50\s*│\s*50\s*│\s*7\s*│", table.out), table.out

    def shop() -> dict:  # type: ignore[type-arg]
        rows = json.loads(run_cli(["datasets", "list", "--format", "json"], capsys, data).out)
        return next(r for r in rows if r["name"] == "shop")

    assert (shop()["ratings"], shop()["users"], shop()["items"]) == (50, 50, 7)
    with path.open("a") as fh:  # the file changed since: the counts are no longer known
        fh.write("50,8,3\n")
    assert (shop()["ratings"], shop()["users"], shop()["items"]) == (None, None, None)
