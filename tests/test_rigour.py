"""Issue 9 wiring: intervals, baseline comparisons, repeats and beyond-accuracy metrics in
compare (library and CLI), on small synthetic data and the bundled ml-latest-small."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from recbench.evaluation import EvalConfig, evaluate
from recbench.executors import run_cells
from recbench.experiment import RESULT_COLUMNS, AlgoSpec, run_repeats
from recbench.metrics import BEYOND_NAMES, METRICS, resolve_metric
from recbench.render import JSON_SCHEMA, columns_for, latex, markdown, parse_metrics, to_json
from recbench.render.outputs import STATS_CSV_COLUMNS, render_text
from recbench.significance import StatsOptions, analyse, split_size_ratio, stats_options
from recbench.split import make_split, parse_split

from .helpers import checkerboard, run_cli

FAST = ["--algos", "popularity,baseline"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("recbench-data")


def one_line_error(res, needle: str) -> None:  # type: ignore[no-untyped-def]
    assert res.code == 2, (res.code, res.err)
    lines = [ln for ln in res.err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), res.err
    assert needle in lines[0], res.err


# --- metric records ----------------------------------------------------------------------------


def test_beyond_metrics_are_records_selected_by_name_and_all() -> None:
    for name in BEYOND_NAMES:
        assert METRICS[name].kind == "beyond"
    assert resolve_metric("Personalization") is METRICS["personalisation"]
    assert set(BEYOND_NAMES) <= set(parse_metrics("all"))
    assert not set(BEYOND_NAMES) & set(parse_metrics(None))  # not computed by default
    cols = columns_for((5, 10), ("rmse", "ndcg", "coverage"))
    assert cols == [("rmse", None), ("ndcg", 5), ("coverage", 5), ("ndcg", 10), ("coverage", 10)]


def test_evaluation_computes_selected_beyond_metrics_from_the_top_k() -> None:
    from recbench.algorithms import plugins

    ds = checkerboard()
    split = make_split(ds, parse_split("user-holdout:0.3"), 0)
    model = plugins.make("popularity", {}, seed=0).fit(split.train)
    plain = evaluate(model, split, EvalConfig(ks=(5,)))
    assert not any(k.startswith(tuple(BEYOND_NAMES)) for k in plain.metrics)
    res = evaluate(model, split, EvalConfig(ks=(5,), beyond=BEYOND_NAMES))
    # the ranking metrics do not change when beyond metrics are asked for
    for key, value in plain.metrics.items():
        assert res.metrics[key] == value
    # by hand: popularity's lists, with each user's training items masked
    train = split.train.interactions.csr("binary")
    pop = np.asarray(train.sum(axis=0)).ravel()
    users = res.per_user["user"].to_numpy()
    lists = []
    for u in users:
        scores = pop.astype(float).copy()
        scores[train[[u]].indices] = -np.inf
        order = np.lexsort((np.arange(len(scores)), -scores))[:5]
        lists.append(order[np.isfinite(scores[order])])
    recommended = np.unique(np.concatenate(lists))
    assert res.metrics["coverage@5"] == pytest.approx(len(recommended) / ds.n_items)
    n_train = int((np.diff(train.indptr) > 0).sum())
    info = -np.log2(np.maximum(pop, 1) / n_train)
    novelty = np.array([info[lst].mean() for lst in lists])
    np.testing.assert_allclose(res.per_user["novelty@5"], novelty)
    assert res.metrics["novelty@5"] == pytest.approx(novelty.mean())
    assert "coverage@5" not in res.per_user  # aggregate: one number per split
    # genre features exist on the checkerboard, so ILD uses them: lists within one group -> 0
    assert res.per_user["ild@5"].between(0, 1).all()


# --- library: intervals and comparisons ------------------------------------------------------


@pytest.fixture(scope="module")
def holdout():  # type: ignore[no-untyped-def]
    ds = checkerboard(60, 30)
    algos = [AlgoSpec("baseline"), AlgoSpec("popularity"), AlgoSpec("random")]
    algos.append(AlgoSpec("baseline", {"reg_u": 15.0}, "reg_u=15"))  # the default: identical
    return run_cells(
        ds, parse_split("holdout:0.3"), algos, 0, EvalConfig(ks=(5,), beyond=("coverage",))
    )


def test_intervals_are_centred_on_the_table_values(holdout) -> None:  # type: ignore[no-untyped-def]
    st = analyse(holdout, StatsOptions())
    summary = holdout.summary()
    for r in summary.itertuples():
        key = r.metric if pd.isna(r.k) else f"{r.metric}@{int(r.k)}"
        iv = st.intervals[(r.algorithm, key)]
        assert iv.mean == pytest.approx(r.mean, abs=1e-9), (r.algorithm, key)
        if r.metric == "coverage":
            assert iv.method == "none"  # no per-user values on a single split
        else:
            assert iv.method == "bootstrap-bca" and iv.over == "users"
            assert iv.low <= iv.mean <= iv.high
    assert any(n.startswith("±: half-width of the interval, 95% BCa over ") for n in st.notes)


def test_identical_models_get_p_1_and_no_mark(holdout) -> None:  # type: ignore[no-untyped-def]
    st = analyse(holdout, StatsOptions(baseline="baseline"), ("rmse", "mae", "ndcg", "coverage"))
    same = [c for (a, _), c in st.comparisons.items() if a == "baseline[reg_u=15]"]
    assert {c.metric for c in same} == {"rmse", "mae", "ndcg@5"}  # no paired test of coverage
    for c in same:
        assert c.result.p == 1.0 and c.p_adjusted == 1.0 and c.verdict is None
        assert st.mark("baseline[reg_u=15]", c.metric) == ""
    # popularity predicts no ratings: no RMSE comparison, the rest of the family still runs
    assert ("popularity", "rmse") not in st.comparisons
    assert ("popularity", "ndcg@5") in st.comparisons
    assert st.comparisons[("random", "rmse")].verdict == "worse"  # random ratings are far off
    assert st.mark("random", "rmse") == "▼"


def test_rating_comparisons_pair_each_users_share_of_the_pooled_error(holdout) -> None:  # type: ignore[no-untyped-def]
    st = analyse(holdout, StatsOptions(baseline="baseline"), ("rmse", "mae"))
    s = holdout.summary().set_index(["algorithm", "metric"])["mean"]
    c = st.comparisons[("random", "rmse")]
    mse_diff = s[("random", "rmse")] ** 2 - s[("baseline", "rmse")] ** 2
    assert c.result.mean_diff == pytest.approx(mse_diff, rel=1e-9)
    c = st.comparisons[("random", "mae")]
    assert c.result.mean_diff == pytest.approx(
        s[("random", "mae")] - s[("baseline", "mae")], rel=1e-9
    )


def test_best_baseline_is_the_best_on_the_first_ranking_metric(holdout) -> None:  # type: ignore[no-untyped-def]
    st = analyse(holdout, StatsOptions(baseline="best"), ("rmse", "ndcg"))
    s = holdout.summary()
    nd = s[s["metric"] == "ndcg"].set_index("algorithm")["mean"]
    assert st.baseline == nd.idxmax()
    assert "best on NDCG@5" in " ".join(st.notes)


def test_repeats_keep_per_user_values_per_repeat_and_interval_over_repeats() -> None:
    ds = checkerboard(40, 30)
    algos = [AlgoSpec("popularity"), AlgoSpec("random")]
    cfg = EvalConfig(ks=(5,))

    def once(seed: int):  # type: ignore[no-untyped-def]
        return run_cells(ds, parse_split("holdout:0.3"), algos, seed, cfg)

    res = run_repeats(once, seed=7, repeats=3)
    assert res.repeats == 3 and sorted(res.results["seed"].unique()) == [7, 8, 9]
    assert sorted(res.per_user["seed"].unique()) == [7, 8, 9]
    assert "seeds 7..9" in res.protocol
    st = analyse(res, StatsOptions(baseline="popularity"))
    iv = st.intervals[("popularity", "ndcg@5")]
    per_repeat = (
        res.results[(res.results["algorithm"] == "popularity") & (res.results["metric"] == "ndcg")]
        .groupby("seed")["value"]
        .mean()
    )
    assert iv.method == "corrected-t" and iv.over == "repeats" and iv.n == 3
    assert iv.mean == pytest.approx(per_repeat.mean())
    # Nadeau & Bengio: variance x (1/J + n_test/n_train); holdout:0.3 -> ratio 0.3 / 0.7
    ratio = split_size_ratio(res)
    assert ratio == pytest.approx(0.3 / 0.7, rel=0.02)
    ref = sps.t.interval(
        0.95, 2, loc=per_repeat.mean(), scale=np.sqrt((1 / 3 + ratio) * per_repeat.var(ddof=1))
    )
    assert (iv.low, iv.high) == pytest.approx(ref)
    assert any("95% corrected t over 3 repeats" in n for n in st.notes)
    # the paired test is over the runs too: the corrected resampled t on per-run differences
    comp = st.comparisons[("random", "ndcg@5")].result
    assert comp.test == "corrected-t" and comp.n == 3
    other = res.results[(res.results["algorithm"] == "random") & (res.results["metric"] == "ndcg")]
    d = other.groupby("seed")["value"].mean() - per_repeat
    t = d.mean() / np.sqrt((1 / 3 + ratio) * d.var(ddof=1))
    assert comp.p == pytest.approx(2 * sps.t.sf(abs(t), 2))
    assert any("corrected resampled paired t over 3 runs" in n for n in st.notes)
    assert run_repeats(once, seed=7, repeats=1).repeats == 1


def test_kfold_intervals_are_over_folds() -> None:
    ds = checkerboard(40, 30)
    res = run_cells(ds, parse_split("kfold:3"), [AlgoSpec("popularity")], 0, EvalConfig((5,)))
    st = analyse(res, StatsOptions())
    iv = st.intervals[("popularity", "ndcg@5")]
    assert iv.method == "t" and iv.over == "folds" and iv.n == 3
    assert any("95% t over 3 folds" in n for n in st.notes)


def test_kfold_with_repeats_uses_every_fold_of_every_repeat() -> None:
    """k folds x N repeats: the corrected t over all k x N runs (Bouckaert & Frank 2004) with
    n_test/n_train = 1/(k-1), for the interval and for the paired test."""
    ds = checkerboard(40, 30)
    algos = [AlgoSpec("popularity"), AlgoSpec("random")]

    def once(seed: int):  # type: ignore[no-untyped-def]
        return run_cells(ds, parse_split("kfold:3"), algos, seed, EvalConfig((5,)))

    res = run_repeats(once, seed=0, repeats=2)
    st = analyse(res, StatsOptions(baseline="popularity"))
    iv = st.intervals[("popularity", "ndcg@5")]
    assert (iv.method, iv.over, iv.n) == ("corrected-t", "folds", 6)
    assert split_size_ratio(res) == pytest.approx(0.5, rel=0.01)
    assert any("2 repeats x 3 folds" in n for n in st.notes)
    assert st.comparisons[("random", "ndcg@5")].result.n == 6


def test_outputs_carry_intervals_marks_and_p_values(holdout) -> None:  # type: ignore[no-untyped-def]
    holdout.stats = analyse(holdout, StatsOptions(baseline="baseline"), ("rmse", "ndcg"))
    try:
        md = markdown(holdout, ("rmse", "ndcg"))
        assert "±" in md and "▼" in md and "significantly better / worse than baseline" in md
        tex = latex(holdout, ("rmse", "ndcg"))
        assert r"$\pm$" in tex and r"$\blacktriangledown$" in tex
        doc = to_json(holdout)
        jsonschema.validate(doc, JSON_SCHEMA)
        cell = next(a for a in doc["algorithms"] if a["name"] == "random")["metrics"]["rmse"]
        assert cell["ci"]["method"] == "bootstrap-bca" and cell["ci"]["low"] < cell["mean"]
        comp = cell["comparison"]
        assert comp["verdict"] == "worse" and comp["diff_of"] == "mse"
        assert comp["p"] <= comp["p_adjusted"] <= 1
        assert doc["statistics"]["baseline"] == "baseline"
        bad = json.loads(json.dumps(doc))
        bad["algorithms"][0]["metrics"]["rmse"]["ci"]["method"] = "guess"
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, JSON_SCHEMA)
        frame = pd.read_csv(io.StringIO(render_text(holdout, "csv")))
        assert list(frame.columns) == [*RESULT_COLUMNS, *STATS_CSV_COLUMNS]
        row = frame[(frame["algorithm"] == "random") & (frame["metric"] == "rmse")].iloc[0]
        assert row["verdict"] == "worse" and row["p_adjusted"] >= row["p"]
    finally:
        holdout.stats = None


def test_stats_options_reject_bad_input_in_one_line() -> None:
    from recbench.errors import UsageError

    algos = ["a", "b"]
    for kwargs, needle in [
        ({"baseline": "c"}, "baseline 'c' is not one of"),
        ({"alpha": 0.0}, "alpha must lie strictly between 0 and 1"),
        ({"alpha": 1.5}, "alpha must lie strictly between 0 and 1"),
        ({"repeats": 0}, "--repeats must be a positive integer"),
        ({"test": "z"}, "unknown test 'z'"),
        ({"correction": "sidak"}, "unknown correction 'sidak'"),
        ({"significance_conditions": [("a", "a:ndcg@10 worse")]}, "give --baseline"),
        ({"baseline": "a", "significance_conditions": [("a", "x")]}, "is the baseline itself"),
    ]:
        with pytest.raises(UsageError, match=needle):
            stats_options(algorithms=algos, **kwargs)  # type: ignore[arg-type]
    assert stats_options(baseline="BEST", algorithms=algos).baseline == "best"


# --- CLI ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--baseline", "svd"], "baseline 'svd' is not one of the compared algorithms"),
        (["--alpha", "0"], "alpha must lie strictly between 0 and 1"),
        (["--alpha", "1"], "alpha must lie strictly between 0 and 1"),
        (["--repeats", "0"], "--repeats must be a positive integer"),
        (["--baseline", "popularity", "--test", "ttest"], "unknown test 'ttest'"),
        (["--baseline", "popularity", "--correction", "fdr"], "unknown correction 'fdr'"),
        (["--fail-if", "popularity:ndcg@10 worse"], "give --baseline"),
    ],
)
def test_bad_statistics_options_fail_before_any_fitting(
    capsys, data_dir: Path, monkeypatch, args, needle
) -> None:  # type: ignore[no-untyped-def]
    import recbench.executors

    def no_fitting(*a, **k):  # type: ignore[no-untyped-def]
        raise AssertionError("fitted despite bad options")

    monkeypatch.setattr(recbench.executors, "run_cells", no_fitting)
    one_line_error(run_cli(["-q", "compare", *FAST, *args], capsys, data_dir), needle)


def test_a_test_needs_two_paired_users(capsys, data_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    path.write_text("user,item,rating\n1,1,5\n1,2,4\n1,3,3\n1,4,5\n")
    res = run_cli(
        ["-q", "compare", "-d", str(path), *FAST, "--baseline", "popularity"], capsys, data_dir
    )
    one_line_error(res, "at least two paired users")


@pytest.fixture(scope="module")
def cli_json(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> dict:  # type: ignore[type-arg]
    """One compare on the bundled dataset with a baseline, written as JSON (table on stdout)."""
    from recbench.cli.app import main

    target = tmp_path_factory.mktemp("out") / "r.json"
    os.environ["RECBENCH_DATA"] = str(data_dir)
    try:
        main(["-q", "compare", *FAST, "--baseline", "popularity", "--no-store", "-o", str(target)])
    except SystemExit as exc:
        assert not exc.code
    finally:
        os.environ.pop("RECBENCH_DATA", None)
    return json.loads(target.read_text())  # type: ignore[no-any-return]


def test_cli_json_has_intervals_for_every_cell_and_comparisons(cli_json) -> None:  # type: ignore[no-untyped-def]
    jsonschema.validate(cli_json, JSON_SCHEMA)
    for algo in cli_json["algorithms"]:
        for key, cell in algo["metrics"].items():
            assert (
                cell["ci"] is not None and cell["ci"]["low"] <= cell["mean"] <= cell["ci"]["high"]
            )
            if algo["name"] == "baseline" and key in ("precision@10", "recall@10", "ndcg@10"):
                assert cell["comparison"]["baseline"] == "popularity"
    stats = cli_json["statistics"]
    assert stats["test"] == "randomization" and stats["correction"] == "holm"
    assert stats["n_comparisons"] == 3  # the table's ranking columns; popularity has no RMSE


def test_cli_table_shows_intervals_marks_and_legend(capsys, data_dir: Path) -> None:
    res = run_cli(["compare", *FAST, "--baseline", "popularity", "--no-store"], capsys, data_dir)
    assert res.code == 0, res.err
    assert "±" in res.out and "significantly better / worse than popularity" in res.flat
    assert "Pairing: the unit is the test user" in res.flat
    plain = run_cli(["compare", *FAST, "--no-ci", "--no-store"], capsys, data_dir)
    assert plain.code == 0 and "±" not in plain.out and "▲" not in plain.out


def test_fail_if_significance_condition(capsys, data_dir: Path, cli_json) -> None:  # type: ignore[no-untyped-def]
    comp = next(a for a in cli_json["algorithms"] if a["name"] == "baseline")["metrics"]
    verdict = comp["ndcg@10"]["comparison"]["verdict"]
    assert verdict in ("better", "worse")  # the two differ clearly on ml-latest-small
    other = {"better": "worse", "worse": "better"}[verdict]
    base = ["-q", "compare", *FAST, "--baseline", "popularity", "--no-store", "--no-ci"]
    hit = run_cli([*base, "--fail-if", f"baseline:ndcg@10 {verdict}"], capsys, data_dir)
    assert hit.code == 1 and f"is significantly {verdict} than popularity" in hit.err
    miss = run_cli([*base, "--fail-if", f"baseline:ndcg@10 {other}"], capsys, data_dir)
    assert miss.code == 0, miss.err


def test_report_under_repeats_uses_the_corrected_t(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A stored ``compare --repeats 3``: the report's intervals and marks are the corrected
    resampled t over the runs, with the holdout's n_test/n_train, as the compare table's."""
    from recbench.report.data import build, read_runs
    from recbench.stats import corrected_t_interval
    from recbench.store import Store

    args = ["compare", "--algos", "popularity,random", "--split", "holdout:0.2", "--k", "10"]
    res = run_cli([*args, "--repeats", "3", "--baseline", "popularity"], capsys, tmp_path)
    assert res.code == 0, res.err
    store = Store.in_data_dir(tmp_path)
    runs = read_runs(store, [store.runs()[0].run_id])
    data = build(runs, ("ndcg", "rmse"))
    rows = runs[0].results
    for algo, metric in (("popularity", "ndcg"), ("random", "rmse")):
        mine = rows[(rows["algorithm"] == algo) & (rows["metric"] == metric)]
        per_run = mine.groupby(["seed", "fold"])["value"].mean().to_numpy()
        ratio = float((mine["n_test"] / (100836 - mine["n_test"])).mean())
        ref = corrected_t_interval(per_run, ratio=ratio)
        row = data.summary[
            (data.summary["algorithm"] == algo) & (data.summary["metric"] == metric)
        ].iloc[0]
        assert (row["low"], row["high"]) == pytest.approx((ref.low, ref.high)), (algo, metric)
    assert data.marks.verdicts  # random is far worse than popularity on NDCG@10, over 3 runs
