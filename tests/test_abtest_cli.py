"""`recbench abtest simulate | plan | analyze` end to end, in process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from recbench.online import power
from tests.helpers import checkerboard, run_cli


def write_log(path: Path, counts: tuple[int, int], rates=(0.05, 0.06), seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    arm = np.repeat(["control", "treatment"], counts)
    imp = rng.integers(1, 11, len(arm))
    clicks = rng.binomial(imp, np.where(arm == "control", rates[0], rates[1]))
    pd.DataFrame(
        {"user": np.arange(len(arm)), "arm": arm, "impressions": imp, "clicks": clicks}
    ).to_csv(path, index=False)
    return path


# --- plan ------------------------------------------------------------------------------------


def test_plan_matches_statsmodels(capsys, tmp_path):
    res = run_cli(["abtest", "plan", "--baseline", "0.1", "--lift", "0.05", "-f", "json"], capsys)
    assert res.code == 0, res.err
    row = json.loads(res.out)["plan"]["rows"][0]
    es = proportion_effectsize(0.105, 0.1)
    n = NormalIndPower().solve_power(effect_size=es, alpha=0.05, power=0.8)
    assert abs(row["users_control"] - n) <= 1
    table = run_cli(["abtest", "plan", "--baseline", "0.1", "--lift", "0.01,0.05"], capsys)
    assert (
        table.code == 0 and "sample size" in table.out and f"{row['users_control']:,}" in table.out
    )


def test_plan_inverse_and_per_user_file(capsys, tmp_path):
    res = run_cli(
        ["abtest", "plan", "--baseline", "0.1", "--users", "20000", "--format", "json"], capsys
    )
    assert res.code == 0, res.err
    lift = json.loads(res.out)["plan"]["rows"][0]["lift"]
    back = run_cli(
        ["abtest", "plan", "--baseline", "0.1", "--lift", str(lift), "--format", "json"], capsys
    )
    assert abs(json.loads(back.out)["plan"]["rows"][0]["users_control"] - 20000) <= 1
    values = pd.DataFrame({"user": range(500), "ndcg@10": np.linspace(0, 1, 500)})
    values.to_csv(tmp_path / "per_user.csv", index=False)
    res = run_cli(
        ["abtest", "plan", "--per-user", str(tmp_path / "per_user.csv"), "--lift", "0.05", "-f",
         "json"],
        capsys,
    )  # fmt: skip
    assert res.code == 0, res.err
    row = json.loads(res.out)["plan"]["rows"][0]
    assert row["metric"] == "mean" and row["sd"] == pytest.approx(values["ndcg@10"].std())


@pytest.mark.parametrize(
    "args",
    [
        ["--baseline", "0.1"],
        ["--baseline", "0.1", "--lift", "0.1", "--users", "100"],
        ["--lift", "0.1"],
        ["--baseline", "1.5", "--lift", "0.1"],
        ["--mean", "1.0", "--lift", "0.1"],
        ["--baseline", "0.1", "--lift", "x"],
        ["--baseline", "0.1", "--users", "12.5"],
        ["--baseline", "0.1", "--lift", "0.1", "--format", "yaml"],
    ],
)
def test_plan_bad_options(capsys, args):
    res = run_cli(["abtest", "plan", *args], capsys)
    assert res.code == 2
    assert res.err.startswith("error:") and len(res.err.strip().splitlines()) == 1


def test_plan_ctr_is_clustered_by_user(capsys, tmp_path):
    """A CTR plan uses the delta-method variance (recbench.online.power.plan_ratio; its power is
    simulated in test_online_plan.py), not one Bernoulli trial per user."""
    args = ["abtest", "plan", "--baseline", "0.05", "--lift", "0.05", "-f", "json"]
    ctr = ["--impressions-mean", "12", "--impressions-sd", "15", "--icc", "0.02"]
    res = run_cli([*args, *ctr], capsys)
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    row = doc["plan"]["rows"][0]
    want = power.plan_ratio(0.05, power.RatioModel(12.0, 15.0, 0.02), 0.05)
    assert doc["metric"] == "ratio" and row["metric"] == "ratio"
    assert row["users_control"] == want.n_control and row["icc"] == 0.02
    assert (row["imp_mean"], row["imp_sd"]) == (12.0, 15.0)
    alone = run_cli(args, capsys)
    assert alone.code == 0 and "for a CTR add --impressions-mean or --pilot" in alone.err
    per_trial = json.loads(alone.out)["plan"]["rows"][0]["users_control"]
    assert per_trial > 5 * row["users_control"]


def test_plan_ctr_from_a_pilot_log(capsys, tmp_path):
    rng = np.random.default_rng(4)
    n = 6000
    imp = 1 + rng.poisson(rng.gamma(2.0, 4.0, n))
    clicks = rng.binomial(imp, rng.beta(1.0, 19.0, n))
    arm = np.where(np.arange(n) < 4000, "control", "treatment")
    clicks[arm == "treatment"] = 0  # the other arm must not be used
    pd.DataFrame({"user": np.arange(n), "variant": arm, "views": imp, "clicks": clicks}).to_csv(
        tmp_path / "pilot.csv", index=False
    )
    res = run_cli(
        ["abtest", "plan", "--pilot", str(tmp_path / "pilot.csv"), "--lift", "0.05", "-f", "json"],
        capsys,
    )
    assert res.code == 0, res.err
    rate, model = power.ratio_model_from_log(clicks[:4000], imp[:4000])
    row = json.loads(res.out)["plan"]["rows"][0]
    assert row["baseline"] == pytest.approx(rate)
    assert row["users_control"] == power.plan_ratio(rate, model, 0.05).n_control
    assert row["icc"] == pytest.approx(model.icc) and 0.02 < model.icc < 0.08
    assert "(arm control)" in res.err and "4,000 users" in res.err
    res = run_cli(
        ["abtest", "plan", "--pilot", str(tmp_path / "pilot.csv"), "--baseline", "0.1",
         "--users", "5000", "-f", "json"],
        capsys,
    )  # fmt: skip
    assert res.code == 0, res.err
    assert json.loads(res.out)["plan"]["rows"][0]["lift"] == pytest.approx(
        power.detectable_ratio(0.1, model, 5000).lift
    )
    other = ["abtest", "plan", "--pilot", str(tmp_path / "pilot.csv"), "--lift", "0.05"]
    res = run_cli([*other, "--control", "treatment"], capsys)  # no clicks in that arm
    assert res.code == 2 and "CTR is 0" in res.err and len(res.err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--baseline", "0.05", "--impressions-sd", "3", "--lift", "0.1"], "--impressions-mean"),
        (["--impressions-mean", "5", "--lift", "0.1"], "give exactly one"),
        (["--baseline", "0.05", "--impressions-mean", "5", "--icc", "1.5", "--lift", "0.1"],
         "--icc"),
        (["--baseline", "0.05", "--impressions-mean", "5", "--icc", "0.1", "--lift", "0.1"],
         "--impressions-sd"),
        (["--baseline", "0.05", "--impressions-mean", "-1", "--lift", "0.1"], "--impressions-mean"),
        (["--pilot", "nope.csv", "--lift", "0.1"], "not found"),
        (["--pilot", "nope.csv", "--impressions-mean", "5", "--lift", "0.1"], "--pilot"),
        (["--pilot", "nope.csv", "--mean", "1", "--sd", "1", "--lift", "0.1"], "give exactly one"),
    ],
)  # fmt: skip
def test_plan_ctr_bad_options(capsys, tmp_path, args, needle):
    res = run_cli(["abtest", "plan", *args], capsys)
    assert res.code == 2, res.out
    assert needle in res.err and len(res.err.strip().splitlines()) == 1


# --- analyze ---------------------------------------------------------------------------------


def test_analyze_recovers_known_rates(capsys, tmp_path):
    log = write_log(tmp_path / "log.csv", (20_000, 20_000))
    res = run_cli(["abtest", "analyze", str(log), "--format", "json"], capsys)
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    assert doc["schema"] == "recbench.abtest.analyze/1" and doc["control"] == "control"
    ctr = {r["arm"]: r for r in doc["arms"]["rows"] if r["metric"] == "ctr"}
    for arm, rate in (("control", 0.05), ("treatment", 0.06)):
        assert ctr[arm]["ci_low"] < rate < ctr[arm]["ci_high"]
    comp = next(r for r in doc["comparisons"]["rows"] if r["metric"] == "ctr")
    assert comp["lift_low"] < 0.2 < comp["lift_high"] and comp["p_value"] < 1e-6
    assert doc["sample_ratio_mismatch"] is False
    table = run_cli(["abtest", "analyze", str(log)], capsys)
    assert table.code == 0 and "against control" in table.out and "SAMPLE-RATIO" not in table.err


def test_analyze_flags_sample_ratio_mismatch(capsys, tmp_path):
    bad = write_log(tmp_path / "bad.csv", (52_000, 48_000))
    res = run_cli(["abtest", "analyze", str(bad), "-f", "json"], capsys)
    assert res.code == 0
    assert json.loads(res.out)["sample_ratio_mismatch"] is True
    assert "SAMPLE-RATIO MISMATCH" in res.err
    ok = write_log(tmp_path / "ok.csv", (50_100, 49_900))
    res = run_cli(["abtest", "analyze", str(ok), "-f", "json"], capsys)
    assert json.loads(res.out)["sample_ratio_mismatch"] is False and "MISMATCH" not in res.err


def test_analyze_formats_and_output(capsys, tmp_path):
    log = write_log(tmp_path / "log.csv", (300, 300))
    out = tmp_path / "res.csv"
    res = run_cli(["-q", "abtest", "analyze", str(log), "-o", str(out)], capsys)
    assert res.code == 0, res.err
    frame = pd.read_csv(out)
    assert set(frame["section"]) == {"arms", "comparisons", "sample_ratio"}
    md = run_cli(["abtest", "analyze", str(log), "-f", "markdown", "--bootstrap", "200"], capsys)
    assert md.code == 0 and "| arm |" in md.out and "boot_low" in md.out
    pq = tmp_path / "log.parquet"
    pd.read_csv(log).to_parquet(pq)
    assert run_cli(["abtest", "analyze", str(pq), "--control", "treatment"], capsys).code == 0


def test_analyze_reports_users_in_two_arms(capsys, tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("user,arm,impressions,clicks\n1,A,3,1\n1,B,2,0\n2,A,4,1\n3,B,5,2\n4,A,1,0\n")
    res = run_cli(["abtest", "analyze", str(path)], capsys)
    assert res.code == 0, res.err
    assert "1 user(s) appear in more than one arm" in res.err


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("user,arm,clicks\n1,A,1\n2,B,0\n", "lacks column(s) 'impressions'"),
        ("user,arm,impressions,clicks\n1,A,3,-1\n2,B,3,1\n", "negative clicks"),
        ("user,arm,impressions,clicks\n1,A,3,1\n2,B,3,4\n", "exceed impressions"),
        ("user,arm,impressions,clicks\n1,A,3,1\n2,A,3,0\n", "only one arm"),
        ("user,arm,impressions,clicks\n", "has no rows"),
        ("", "is empty"),
    ],
)
def test_analyze_bad_logs_exit_2(capsys, tmp_path, text, needle):
    path = tmp_path / "log.csv"
    path.write_text(text)
    res = run_cli(["abtest", "analyze", str(path)], capsys)
    assert res.code == 2
    assert res.err.startswith("error:") and needle in res.err
    assert len(res.err.strip().splitlines()) == 1


def test_analyze_missing_file_exit_2(capsys, tmp_path):
    res = run_cli(["abtest", "analyze", str(tmp_path / "nope.csv")], capsys)
    assert res.code == 2 and "not found" in res.err


# --- simulate --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ratings_file(tmp_path_factory) -> Path:
    ds = checkerboard(n_users=80, n_items=30, seed=2)
    path = tmp_path_factory.mktemp("data") / "ratings.csv"
    ds.interactions.to_frame().rename(columns={"user": "userId", "item": "movieId"}).to_csv(
        path, index=False
    )
    return path


def test_simulate_json(capsys, tmp_path, ratings_file):
    args = ["abtest", "simulate", "--algos", "random,ease", "--dataset", str(ratings_file),
            "--users", "2000", "--days", "5", "--k", "5", "--interleave", "--repeat", "3",
            "--format", "json"]  # fmt: skip
    res = run_cli(args, capsys, data_dir=tmp_path)
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    assert doc["schema"] == "recbench.abtest.simulate/1"
    assert doc["algorithms"] == ["random", "ease"] and doc["visitors"] == 2000
    assert len(doc["sequential"]["rows"]) == 5
    ctr = next(r for r in doc["comparisons"]["rows"] if r["metric"] == "ctr")
    assert ctr["lift"] > 0 and ctr["p_value"] < 0.01
    methods = [r["method"] for r in doc["sensitivity"]["rows"]]
    assert len(methods) == 2 and doc["interleaving"]["rows"][0]["wins_treatment"] > 0
    assert doc["repeat"]["rows"][0]["seeds"] == 3


def test_simulate_table_aa_and_cascade(capsys, tmp_path, ratings_file):
    args = ["abtest", "simulate", "--algos", "ease", "--dataset", str(ratings_file),
            "--click-model", "cascade", "--users", "500"]  # fmt: skip
    res = run_cli(args, capsys, data_dir=tmp_path)
    assert res.code == 0, res.err
    assert "ease (A/A)" in res.out and "cascade click model" in res.out
    assert "day by day" in res.out


@pytest.mark.parametrize(
    "extra",
    [
        ["--algos", "random,ease,popularity"],
        ["--algos", "ease", "--click-model", "dbn"],
        ["--algos", "ease", "--share", "1.5"],
        ["--algos", "ease", "--split", "none"],
        ["--algos", "nosuch"],
        ["--algos", "ease", "--examination", "power:abc"],
        ["--algos", "ease", "--k", "0"],
    ],
)
def test_simulate_bad_options_exit_2(capsys, tmp_path, ratings_file, extra):
    res = run_cli(["abtest", "simulate", "--dataset", str(ratings_file), *extra], capsys, tmp_path)
    assert res.code == 2, res.err
    assert res.err.startswith("error:") and len(res.err.strip().splitlines()) == 1


def test_plan_from_an_algorithms_per_user_metric(capsys, tmp_path, ratings_file):
    args = ["abtest", "plan", "--algo", "ease", "--dataset", str(ratings_file), "--column",
            "ndcg@5", "--lift", "0.05", "-f", "json"]  # fmt: skip
    res = run_cli(args, capsys, data_dir=tmp_path)
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    row = doc["plan"]["rows"][0]
    assert row["metric"] == "mean" and 0 < row["baseline"] <= 1 and row["sd"] > 0
    assert "ndcg@5 of ease" in doc["source"]
    bad = run_cli(["abtest", "plan", "--algo", "ease", "--dataset", str(ratings_file), "--column",
                   "ndcg@x", "--lift", "0.05"], capsys, data_dir=tmp_path)  # fmt: skip
    assert bad.code == 2


def test_simulated_log_round_trips_through_analyze(capsys, tmp_path, ratings_file):
    log = tmp_path / "sim.csv"
    args = ["abtest", "simulate", "--algos", "random,ease", "--dataset", str(ratings_file),
            "--users", "1500", "--save-log", str(log), "-f", "json"]  # fmt: skip
    sim = run_cli(args, capsys, data_dir=tmp_path)
    assert sim.code == 0, sim.err
    res = run_cli(["abtest", "analyze", str(log), "--control", "random", "-f", "json"], capsys)
    assert res.code == 0, res.err
    simulated, analysed = json.loads(sim.out), json.loads(res.out)
    assert analysed["comparisons"]["rows"] == simulated["comparisons"]["rows"]
    assert {r["metric"] for r in analysed["arms"]["rows"]} == {
        "ctr", "clicks/user", "conversion", "engagement"
    }  # fmt: skip


def test_plan_from_a_stored_run(capsys, tmp_path, ratings_file):
    args = ["compare", "--algos", "popularity,ease", "--dataset", str(ratings_file), "--k", "5"]
    assert run_cli(args, capsys, data_dir=tmp_path).code == 0
    res = run_cli(
        ["abtest", "plan", "--run", "latest", "--algo", "ease", "--column", "ndcg@5", "--lift",
         "0.05", "-f", "json"],
        capsys,
        data_dir=tmp_path,
    )  # fmt: skip
    assert res.code == 0, res.err
    row = json.loads(res.out)["plan"]["rows"][0]
    fresh = run_cli(
        ["abtest", "plan", "--algo", "ease", "--dataset", str(ratings_file), "--column",
         "ndcg@5", "--lift", "0.05", "-f", "json"],
        capsys,
        data_dir=tmp_path,
    )  # fmt: skip
    assert json.loads(fresh.out)["plan"]["rows"][0]["users_control"] == row["users_control"]
    both = run_cli(["abtest", "plan", "--run", "latest", "--lift", "0.05"], capsys, tmp_path)
    assert both.code == 2 and "pick one with --algo" in both.err
