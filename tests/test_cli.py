"""End-to-end tests of the `recbench` command on the bundled dataset (in-process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest

from recbench.data import load_dataset
from recbench.render import JSON_SCHEMA

from .helpers import REPO, run_cli

FAST = ["--algos", "popularity,baseline"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("recbench-data")


def assert_one_line_error(res, needle: str, code: int = 2) -> None:  # type: ignore[no-untyped-def]
    assert res.code == code, (res.code, res.err)
    lines = [ln for ln in res.err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, res.err
    assert lines[0].startswith("error:"), res.err
    assert needle in lines[0], res.err
    assert "Traceback" not in res.err


def test_default_algorithms_are_every_suitable_one(capsys, data_dir: Path, tmp_path: Path) -> None:
    """Without --algos every available algorithm that suits the data runs; here a small
    implicit-feedback file (no ratings, no item features) so the run stays quick."""
    from recbench.algorithms import plugins

    rng = np.random.default_rng(0)
    pairs = {(int(u), int(i)) for u, i in rng.integers(0, [40, 60], size=(900, 2))}
    path = tmp_path / "clicks.csv"
    path.write_text("user,item\n" + "".join(f"{u},{i}\n" for u, i in sorted(pairs)))
    res = run_cli(["compare", "-d", str(path), "--k", "5", "-f", "json"], capsys, data_dir)
    assert res.code == 0, res.err
    ran = {a["name"] for a in json.loads(res.out)["algorithms"]}
    expected = {
        n for n in plugins.names() if plugins.load(n).unsuitable(load_dataset(str(path))) is None
    }
    assert ran == expected and {"popularity", "als", "ease"} <= ran
    assert not ran & {"svd", "content", "baseline"}
    assert "skipping svd: it needs ratings" in res.err


def test_compare_demo_algorithms(capsys, data_dir: Path) -> None:
    res = run_cli(
        ["-q", "compare", "--algos", "random,popularity,baseline,svd,als", "--k", "10"],
        capsys,
        data_dir,
    )
    assert res.code == 0, res.err
    for name in ("random", "popularity", "baseline", "svd", "als"):
        assert name in res.out
    for col in ("RMSE", "MAE", "P@10", "R@10", "NDCG@10", "fit s", "score s"):
        assert col in res.out
    assert "random holdout: 20% of all ratings held out (seed 0)" in res.flat
    assert "full catalogue (9,742 items)" in res.flat
    assert "—" in res.out  # popularity/als have no RMSE


def test_json_output_follows_schema(capsys, data_dir: Path) -> None:
    res = run_cli(["-q", "compare", *FAST, "--k", "5,10", "--format", "json"], capsys, data_dir)
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    jsonschema.validate(doc, JSON_SCHEMA)
    assert doc["dataset"] == {
        "name": "ml-latest-small",
        "checksum": doc["dataset"]["checksum"],
        "n_ratings": 100836,
        "n_users": 610,
        "n_items": 9742,
        "duplicates_dropped": 0,
    }
    assert doc["protocol"]["ks"] == [5, 10]
    algos = {a["name"]: a for a in doc["algorithms"]}
    assert set(algos) == {"popularity", "baseline"}
    assert "rmse" not in algos["popularity"]["metrics"]
    assert 0.8 < algos["baseline"]["metrics"]["rmse"]["mean"] < 0.95
    assert set(algos["popularity"]["metrics"]) == {
        f"{m}@{k}"
        for k in (5, 10)
        for m in ("precision", "recall", "ndcg", "map", "mrr", "hitrate")
    }
    # a document missing a required key is rejected by the schema (the schema can fail)
    del doc["protocol"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, JSON_SCHEMA)


@pytest.mark.parametrize(
    ("suffix", "check"),
    [
        (".csv", lambda t: "algorithm,params,metric" in t.replace("dataset,split,fold,", "")),
        (".md", lambda t: t.startswith("| algorithm |") and "_ml-latest-small:" in t),
        (".tex", lambda t: "\\begin{tabular}" in t and "\\caption{" in t),
        (".json", lambda t: json.loads(t)["schema"] == "recbench.compare/1"),
    ],
)
def test_output_file_format_from_suffix(
    capsys, data_dir: Path, tmp_path: Path, suffix, check
) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / f"results{suffix}"
    res = run_cli(["-q", "compare", *FAST, "--output", str(target)], capsys, data_dir)
    assert res.code == 0, res.err
    assert check(target.read_text())
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temporary left behind


def test_csv_is_the_tidy_frame(capsys, data_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "r.csv"
    assert run_cli(["-q", "compare", *FAST, "-o", str(target)], capsys, data_dir).code == 0
    frame = pd.read_csv(target)
    assert list(frame.columns) == [
        "dataset", "split", "fold", "algorithm", "params", "metric", "k", "value",
        "fit_seconds", "score_seconds", "n_users", "n_test", "n_fallback", "seed",
        # each cell's interval (and, with --baseline, its comparison): tests/test_rigour.py
        "ci_low", "ci_high", "ci_method", "ci_level", "ci_over", "baseline", "test", "p",
        "p_adjusted", "correction", "mean_diff", "diff_low", "diff_high", "verdict",
    ]  # fmt: skip
    assert set(frame["metric"]) >= {"rmse", "mae", "ndcg", "precision", "recall"}


def test_output_into_missing_directory_writes_nothing(
    capsys, data_dir: Path, tmp_path: Path
) -> None:
    res = run_cli(
        ["-q", "compare", *FAST, "-o", str(tmp_path / "nope" / "r.json")], capsys, data_dir
    )
    assert_one_line_error(res, "does not exist")
    assert not (tmp_path / "nope").exists()


def test_fail_if_exits_1_naming_algorithm_and_value(capsys, data_dir: Path) -> None:
    res = run_cli(
        ["-q", "compare", *FAST, "--fail-if", "ndcg@10<0.99", "--fail-if", "rmse>5"],
        capsys,
        data_dir,
    )
    assert res.code == 1
    assert "fail-if ndcg@10<0.99: popularity ndcg@10 = 0." in res.err
    assert "fail-if ndcg@10<0.99: baseline ndcg@10 = 0." in res.err
    assert "rmse>5" not in res.err
    ok = run_cli(["-q", "compare", *FAST, "--fail-if", "baseline:rmse>5"], capsys, data_dir)
    assert ok.code == 0, ok.err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["compare", "--algos", "svdd"], "did you mean 'svd'"),
        (["compare", "--dataset", "ml-latest-smal"], "did you mean 'ml-latest-small'"),
        (["compare", "--algos", "svd", "--param", "n_factorz=5"], "unknown parameter 'n_factorz'"),
        (
            ["compare", "--algos", "svd", "--param", "n_factors=many"],
            "parameter 'n_factors' of svd",
        ),
        (["compare", "--algos", "svd", "--param", "n_factors=0"], "parameter 'n_factors' of svd"),
        (["compare", "--algos", "svd", "--param", "als.factors=3"], "'als' is not among --algos"),
        (["compare", "--k", "0"], "--k must be positive"),
        (["compare", "--k", "ten"], "--k expects whole numbers"),
        (["compare", "--split", "holdout:1.5"], "split fraction must be in (0, 1)"),
        (["compare", "--split", "holdout:0"], "split fraction must be in (0, 1)"),
        (["compare", "--split", "kfold:1"], "at least 2 folds"),
        (["compare", "--split", "bogus:3"], "unknown split 'bogus'"),
        (["compare", "--format", "xml"], "unknown --format 'xml'"),
        (["compare", "--fail-if", "ndcg<0.3"], "needs @K"),
        (["compare", "--fail-if", "ndcg@20<0.3"], "K=20 is not computed"),
        (["compare", "--fail-if", "ndcg@10 ~ 3"], "is not METRIC[@K] OP VALUE"),
        (["compare", "--no-such-option"], "No such option"),
        (["evaluate"], "exactly one of --model DIR or --algo NAME"),
        (
            ["recommend", "--model", "/nonexistent/model", "--user", "1"],
            "model directory not found",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys, data_dir: Path, args, needle) -> None:  # type: ignore[no-untyped-def]
    assert_one_line_error(run_cli(args, capsys, data_dir), needle)


def test_bad_files(capsys, data_dir: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert_one_line_error(run_cli(["compare", "-d", str(empty)], capsys, data_dir), "is empty")
    bad = tmp_path / "bad.csv"
    bad.write_text("user,item,rating\n1,2,4\n1,3,5\n2,2,five\n")
    assert_one_line_error(
        run_cli(["compare", "-d", str(bad)], capsys, data_dir), "line 4: rating 'five'"
    )
    short = tmp_path / "short.tsv"
    short.write_text("1\t2\n")
    assert_one_line_error(
        run_cli(["compare", "-d", str(short), "--columns", "user,item,rating"], capsys, data_dir),
        "line 1 has 2 fields but --columns names 3",
    )
    assert_one_line_error(
        run_cli(["compare", "-d", str(tmp_path / "missing.csv")], capsys, data_dir),
        "ratings file not found",
    )


def test_internal_errors_hide_traceback_unless_debug(
    capsys, data_dir: Path, tmp_path: Path
) -> None:
    ratings = tmp_path / "implicit.csv"
    ratings.write_text("user,item\n" + "".join(f"{u},{i}\n" for u in range(5) for i in range(4)))
    res = run_cli(["-q", "compare", "-d", str(ratings), "--algos", "svd"], capsys, data_dir)
    assert_one_line_error(res, "ratings")
    dbg = run_cli(
        ["-q", "--debug", "compare", "-d", str(ratings), "--algos", "svd"], capsys, data_dir
    )
    assert dbg.code == 2
    assert "Traceback" in dbg.err


def test_local_file_with_columns_and_tab_separator(capsys, data_dir: Path, tmp_path: Path) -> None:
    rows = [f"{u}\t{i}\t{(u * i) % 5 + 1}\t{1000 + u + i}" for u in range(30) for i in range(20)]
    path = tmp_path / "u.data"
    path.write_text("\n".join(rows) + "\n")
    res = run_cli(
        ["-q", "compare", "-d", str(path), "--columns", "user,item,rating,timestamp",
         "--sep", "\\t", "--algos", "baseline", "--split", "temporal:0.2"],
        capsys,
        data_dir,
    )  # fmt: skip
    assert res.code == 0, res.err
    assert "u.data: 600 ratings, 30 users, 20 items" in res.flat
    assert "temporal: the latest 20% of ratings" in res.flat


def test_fit_evaluate_recommend_roundtrip(capsys, data_dir: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "svd-model"
    res = run_cli(
        [
            "fit",
            "svd",
            "--out",
            str(model_dir),
            "--param",
            "n_factors=20",
            "--split",
            "holdout:0.2",
        ],
        capsys,
        data_dir,
    )
    assert res.code == 0, res.err
    assert sorted(p.name for p in model_dir.iterdir()) == [
        "arrays.npz", "config.json", "manifest.json",
    ]  # fmt: skip
    manifest = json.loads((model_dir / "manifest.json").read_text())
    assert manifest["split"] == "holdout:0.2" and manifest["seed"] == 0
    assert manifest["dataset"]["dataset"] == "ml-latest-small"
    assert {"numpy", "scikit-surprise", "recbench", "python"} <= set(manifest["versions"])

    saved = run_cli(["-q", "evaluate", "--model", str(model_dir), "-f", "json"], capsys, data_dir)
    assert saved.code == 0, saved.err
    fresh = run_cli(
        ["-q", "evaluate", "--algo", "svd", "-p", "n_factors=20", "-f", "json"], capsys, data_dir
    )
    assert fresh.code == 0, fresh.err
    m_saved = json.loads(saved.out)["algorithms"][0]["metrics"]
    m_fresh = json.loads(fresh.out)["algorithms"][0]["metrics"]
    for key in ("rmse", "mae", "ndcg@10", "precision@10"):
        assert m_saved[key]["mean"] == pytest.approx(m_fresh[key]["mean"], abs=1e-9), key

    mismatch = run_cli(
        ["evaluate", "--model", str(model_dir), "--split", "kfold:5"], capsys, data_dir
    )
    assert_one_line_error(mismatch, "was fitted on split 'holdout:0.2'")

    rec = run_cli(
        ["recommend", "--model", str(model_dir), "--user", "1", "-n", "5"], capsys, data_dir
    )
    assert rec.code == 0, rec.err
    assert "top 5 for user 1" in rec.flat
    assert "(19" in rec.out or "(20" in rec.out  # titles carry their year
    rec_json = run_cli(
        ["recommend", "--model", str(model_dir), "--user", "1", "-n", "5", "-f", "json"],
        capsys,
        data_dir,
    )
    items = json.loads(rec_json.out)["items"]
    assert len(items) == 5 and all(it["title"] for it in items)
    scores = [it["score"] for it in items]
    assert scores == sorted(scores, reverse=True)

    assert_one_line_error(
        run_cli(["recommend", "--model", str(model_dir), "--user", "999999"], capsys, data_dir),
        "user '999999' is not in dataset",
    )
    again = run_cli(["fit", "svd", "--out", str(model_dir)], capsys, data_dir)
    assert_one_line_error(again, "already holds a model")


def test_corrupt_or_foreign_model_directories(capsys, data_dir: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "m"
    assert run_cli(["-q", "fit", "baseline", "--out", str(model_dir)], capsys, data_dir).code == 0
    (model_dir / "arrays.npz").write_bytes(b"not a zip file")
    assert_one_line_error(
        run_cli(["evaluate", "--model", str(model_dir)], capsys, data_dir), "corrupt"
    )
    (model_dir / "manifest.json").write_text("{not json")
    assert_one_line_error(
        run_cli(["evaluate", "--model", str(model_dir)], capsys, data_dir), "not valid JSON"
    )
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("hello")
    assert_one_line_error(
        run_cli(["evaluate", "--model", str(foreign)], capsys, data_dir),
        "is not a recbench model directory",
    )
    assert_one_line_error(
        run_cli(["fit", "baseline", "--out", str(foreign)], capsys, data_dir),
        "exists and is not a recbench model directory",
    )
    assert (foreign / "notes.txt").read_text() == "hello"


def test_algorithms_and_datasets_commands(capsys, data_dir: Path) -> None:
    res = run_cli(["algorithms", "-f", "json"], capsys, data_dir)
    assert res.code == 0
    rows = {r["name"]: r for r in json.loads(res.out)}
    assert {"random", "popularity", "baseline", "svd", "als"} <= set(rows)
    assert rows["svd"]["tasks"] == ["rating", "ranking"]
    assert rows["als"]["tasks"] == ["ranking"]
    assert rows["svd"]["params"]["n_factors"] == 100
    assert all(r["available"] for r in rows.values())
    table = run_cli(["algorithms"], capsys, data_dir)
    assert "n_factors=100" in table.flat
    ds = run_cli(["datasets"], capsys, data_dir)
    assert "ml-latest-small" in ds.flat and "100,836" in ds.flat


def test_console_script_and_module_entry_points(tmp_path: Path) -> None:
    """A real subprocess: exit codes and stderr as a shell script in CI sees them."""
    exe = Path(sys.executable).parent / "recbench"
    env_args = {"cwd": tmp_path, "capture_output": True, "text": True, "timeout": 120}
    ok = subprocess.run([str(exe), "--version"], **env_args)  # type: ignore[call-overload]
    assert ok.returncode == 0 and ok.stdout.startswith("recbench ")
    bad = subprocess.run(  # type: ignore[call-overload]
        [sys.executable, "-m", "recbench", "compare", "--algos", "nope"], **env_args
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: unknown algorithm 'nope'")
    assert "Traceback" not in bad.stderr
    assert (REPO / "recbench" / "__main__.py").exists()


def test_several_configurations_of_one_algorithm(capsys, data_dir: Path) -> None:
    algos = "baseline[reg_u=5,reg_i=2],baseline,svd[n_factors=5;n_epochs=3]"
    res = run_cli(
        ["-q", "compare", "--algos", algos,
         "--param", "baseline.n_epochs=3", "--fail-if", "baseline[reg_u=5,reg_i=2]:rmse>9",
         "-f", "json"],
        capsys,
        data_dir,
    )  # fmt: skip
    assert res.code == 0, res.err
    algos = {a["name"]: a["params"] for a in json.loads(res.out)["algorithms"]}
    assert algos == {
        "baseline[reg_u=5,reg_i=2]": {"n_epochs": 3, "reg_u": 5.0, "reg_i": 2.0},
        "baseline": {"n_epochs": 3},
        "svd[n_factors=5,n_epochs=3]": {"n_factors": 5, "n_epochs": 3},
    }
    table = run_cli(["-q", "compare", "--algos", "svd[n_factors=5],popularity"], capsys, data_dir)
    assert "svd[n_factors=5]" in table.out  # labels are not swallowed as rich markup
    for args, needle in (
        (["compare", "--algos", "svd[n_factors=5"], "'[' without ']'"),
        (["compare", "--algos", "svd[n_factors=5],svd[n_factors=5]"], "twice"),
        (["compare", "--algos", "svd[bogus=1]"], "unknown parameter 'bogus'"),
    ):
        assert_one_line_error(run_cli(args, capsys, data_dir), needle)


def test_recommend_explain(capsys, data_dir: Path, tmp_path: Path) -> None:
    for algo, needle in (("content", "genre: "), ("popularity", "training interactions")):
        model_dir = tmp_path / algo
        assert run_cli(["-q", "fit", algo, "--out", str(model_dir)], capsys, data_dir).code == 0
        res = run_cli(
            ["recommend", "--model", str(model_dir), "--user", "1", "-n", "3", "--explain",
             "-f", "json"],
            capsys,
            data_dir,
        )  # fmt: skip
        assert res.code == 0, res.err
        items = json.loads(res.out)["items"]
        assert len(items) == 3
        assert all(needle in it["reason"] for it in items), items


def test_recommend_for_a_new_user_from_history(capsys, data_dir: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "content"
    assert run_cli(["-q", "fit", "content", "--out", str(model_dir)], capsys, data_dir).code == 0
    res = run_cli(
        ["recommend", "--model", str(model_dir), "--history", "260,1196:5,1210", "-n", "5",
         "-f", "json"],
        capsys,
        data_dir,
    )  # fmt: skip
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    got = [it["item"] for it in doc["items"]]
    assert len(got) == 5 and not {260, 1196, 1210} & set(got)  # history is not recommended back
    svd_dir = tmp_path / "svd"
    assert run_cli(["-q", "fit", "baseline", "--out", str(svd_dir)], capsys, data_dir).code == 0
    assert_one_line_error(
        run_cli(["recommend", "--model", str(svd_dir), "--history", "1"], capsys, data_dir),
        "cannot score a user unseen in training",
    )
    assert_one_line_error(
        run_cli(["recommend", "--model", str(model_dir), "--history", "1:x"], capsys, data_dir),
        "rating 'x' of item 1 is not a number",
    )


def test_preprocessing_is_applied_recorded_and_reused(
    capsys, data_dir: Path, tmp_path: Path
) -> None:
    args = ["--min-user-ratings", "20", "--min-item-ratings", "10", "--implicit-threshold", "4"]
    res = run_cli(["compare", "--algos", "popularity", *args, "-f", "json"], capsys, data_dir)
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    assert doc["dataset"]["n_ratings"] < 100836 and doc["dataset"]["n_items"] < 9742
    assert "preprocessing (implicit: rating >= 4;" in res.err
    model_dir = tmp_path / "pop"
    assert (
        run_cli(["-q", "fit", "popularity", "--out", str(model_dir), *args], capsys, data_dir).code
        == 0
    )
    manifest = json.loads((model_dir / "manifest.json").read_text())
    assert manifest["preprocessing"] == {
        "min_user_ratings": 20, "min_item_ratings": 10, "implicit_threshold": 4.0,
    }  # fmt: skip
    again = run_cli(["-q", "evaluate", "--model", str(model_dir), "-f", "json"], capsys, data_dir)
    assert again.code == 0, again.err
    assert json.loads(again.out)["dataset"]["n_ratings"] == doc["dataset"]["n_ratings"]
    bad = run_cli(["compare", "--min-user-ratings", "-3"], capsys, data_dir)
    assert_one_line_error(bad, "--min-user-ratings must be a whole number >= 0")
