"""`recbench abtest simulate | plan | analyze`: online tests, rehearsed, sized and analysed.

Thin wrappers over ``recbench.online``: this module parses options, calls the library and
renders its sections (rich tables, Markdown, CSV or one JSON object).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from recbench.cli.common import (
    State,
    get_dataset,
    info,
    out,
    state,
    status,
    warn,
    write_results,
)
from recbench.cli.options import check_output
from recbench.data import DatasetSpec
from recbench.data.loading import DEFAULT_DATASET
from recbench.evaluation import EvalConfig
from recbench.online import power
from recbench.online.analysis import analyze_users, check_analysis
from recbench.online.clicks import ClickModel
from recbench.online.logs import load_log
from recbench.online.planning import (
    PlanSource,
    column_ks,
    parse_floats,
    plan_report,
    stored_per_user,
)
from recbench.online.render import print_sections, report_format, report_text
from recbench.online.report import Section, analysis_report, simulation_report
from recbench.online.simulate import SimConfig, check_simulation, fit_arms
from recbench.pipeline import ExperimentRequest, check_split, offline_per_user
from recbench.rows import parse_algos
from recbench.split import make_split, parse_split
from recbench.store import Store

abtest_app = typer.Typer(
    help="Online tests: simulate A/B and interleaving on held-out data, plan sample sizes, "
    "analyse experiment logs.",
    no_args_is_help=True,
)

FormatOpt = Annotated[
    str | None,
    typer.Option("--format", "-f", help="table, json, csv or markdown (default: from --output)."),
]
OutputOpt = Annotated[Path | None, typer.Option("--output", "-o", help="Write results here.")]
AlphaOpt = Annotated[float, typer.Option(help="Significance level (two-sided).")]


def _emit(
    fmt: str,
    output: Path | None,
    schema: str,
    sections: list[Section],
    meta: dict[str, Any],
    header: list[str],
    quiet: bool,
) -> None:
    """Print or write a report in the chosen format."""
    if output is not None:
        write_results(output, report_text(fmt, schema, sections, meta, header))
        if not quiet and fmt == "table":
            print_sections(out, sections, header)
    elif fmt == "table":
        print_sections(out, sections, header)
    else:
        typer.echo(report_text(fmt, schema, sections, meta, header), nl=False)


# --- simulate -----------------------------------------------------------------------------------


def simulate_cmd(
    ctx: typer.Context,
    algos: Annotated[
        str,
        typer.Option(
            "--algos",
            "-a",
            help="CONTROL,TREATMENT algorithms (one name: an A/A test of that model).",
        ),
    ],
    dataset: Annotated[
        str, typer.Option("--dataset", "-d", help="Registry name or ratings file.")
    ] = DEFAULT_DATASET,
    columns: Annotated[str | None, typer.Option(help="Column roles in file order.")] = None,
    sep: Annotated[str | None, typer.Option(help="Field separator, e.g. ',' or '\\t'.")] = None,
    split: Annotated[str, typer.Option(help="Split whose held-out part drives clicks.")] = (
        "holdout:0.2"
    ),
    k: Annotated[int, typer.Option("--k", help="Slate length.")] = 10,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="[ALGO.]NAME=VALUE; repeatable.")
    ] = None,
    relevance_threshold: Annotated[
        float | None,
        typer.Option(help="Held-out ratings >= this are relevant (default: every held-out one)."),
    ] = None,
    click_model: Annotated[
        str, typer.Option("--click-model", help="position (PBM) or cascade.")
    ] = "position",
    examination: Annotated[
        str,
        typer.Option(help="PBM examination: log (1/log2(rank+1)), power:ETA, or e1,e2,..."),
    ] = "log",
    attract_relevant: Annotated[
        float, typer.Option(help="Click chance of an examined relevant held-out item.")
    ] = 0.7,
    attract_other: Annotated[
        float, typer.Option(help="Click chance of an examined item that is not.")
    ] = 0.05,
    share: Annotated[float, typer.Option(help="Share of users in the treatment arm.")] = 0.5,
    sessions: Annotated[int, typer.Option(help="Sessions (slate views) per user.")] = 1,
    days: Annotated[int, typer.Option(help="Days of traffic (daily sequential looks).")] = 14,
    users: Annotated[
        int | None,
        typer.Option(help="Visitors, drawn with replacement (default: each held-out user once)."),
    ] = None,
    alpha: AlphaOpt = 0.05,
    interleave: Annotated[
        bool, typer.Option("--interleave", help="Also run team-draft interleaving.")
    ] = False,
    repeats: Annotated[
        int,
        typer.Option("--repeat", help="Also re-draw assignment and clicks under N seeds."),
    ] = 0,
    save_log: Annotated[
        Path | None,
        typer.Option(help="Also write the simulated per-user log (CSV) for `abtest analyze`."),
    ] = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
) -> None:
    """Simulate an A/B test (and interleaving) of two algorithms on held-out users."""
    st = state(ctx)
    fmt = report_format(fmt, output)
    output = check_output(output)
    save_log = check_output(save_log)
    click = ClickModel(click_model.strip().lower(), examination, attract_relevant, attract_other)
    cfg = SimConfig(click, share, sessions, days, users, alpha)
    split_spec = parse_split(split)
    specs = parse_algos(algos, param, st.data_dir)
    check_simulation(repeats, k, split_spec, len(specs))
    ds, _ = get_dataset(st, DatasetSpec(dataset, columns, sep))
    sp = make_split(ds, split_spec, st.seed)
    fitted = fit_arms(sp, specs, st.seed, lambda label: status(st, f"fitting {label}"))
    with status(st, "simulating"):
        sim, sections, header, meta = simulation_report(
            sp, fitted, k, relevance_threshold, cfg, st.seed, interleave, repeats, ds.name,
            str(split_spec),
        )  # fmt: skip
    if save_log is not None:
        cols = ["user", "arm", "day", "impressions", "clicks", "rated_clicks", "rating_sum"]
        write_results(save_log, sim.log[cols].to_csv(index=False))
        info(st, f"wrote the simulated log ({len(sim.log):,} users) to {save_log}")
    _emit(fmt, output, "recbench.abtest.simulate/1", sections, meta, header, st.quiet)
    if sim.analysis.srm.mismatch:
        warn("sample-ratio mismatch in the simulated assignment (see the sample ratio table)")


# --- plan ---------------------------------------------------------------------------------------


def _offline_per_user(
    st: State,
    algo: str,
    param: list[str] | None,
    column: str,
    dataset: str,
    columns: str | None,
    sep: str | None,
    split: str,
) -> np.ndarray:
    """Per-user values of an offline metric (e.g. ndcg@10) of one algorithm on one split."""
    ks = column_ks(column)
    (spec,) = parse_algos(algo, param, st.data_dir)
    split_spec = parse_split(split)
    check_split(split_spec, "abtest plan --algo")
    ds, _ = get_dataset(st, DatasetSpec(dataset, columns, sep))
    request = ExperimentRequest(ds, split_spec, [spec], EvalConfig(ks=ks), st.seed,
                                command="abtest plan --algo")  # fmt: skip
    with status(st, f"fitting and evaluating {spec.label}"):
        return offline_per_user(request, column)


def plan_cmd(
    ctx: typer.Context,
    baseline: Annotated[
        float | None,
        typer.Option(
            help="Baseline rate in (0, 1). Alone: a per-user proportion (conversion, one trial "
            "per user); a CTR (clicks / impressions) also needs --impressions-mean or --pilot."
        ),
    ] = None,
    impressions_mean: Annotated[
        float | None, typer.Option(help="CTR: mean impressions per user.")
    ] = None,
    impressions_sd: Annotated[
        float | None, typer.Option(help="CTR: standard deviation of impressions per user.")
    ] = None,
    icc: Annotated[
        float | None,
        typer.Option(
            help="CTR: intra-user correlation of clicks, Var(user CTR) / (p (1 - p)) "
            "(default 0: every user clicks at the same rate, the fewest users)."
        ),
    ] = None,
    pilot: Annotated[
        Path | None,
        typer.Option(
            help="CTR: a pilot or historical log in `analyze`'s format (its control arm): "
            "baseline CTR (unless --baseline), impressions per user and --icc."
        ),
    ] = None,
    control: Annotated[
        str | None,
        typer.Option(help="With --pilot: its arm (default: 'control', 'A' or the first)."),
    ] = None,
    mean: Annotated[float | None, typer.Option(help="Baseline mean of a per-user metric.")] = None,
    sd: Annotated[float | None, typer.Option(help="Per-user standard deviation (with --mean).")] = (
        None
    ),
    per_user: Annotated[
        Path | None,
        typer.Option(help="CSV/Parquet of per-user values of a stored run (mean and sd)."),
    ] = None,
    run: Annotated[
        str | None,
        typer.Option(
            help="A stored run (id, prefix or latest; see `recbench runs list`): per-user "
            "--column values of its --algo."
        ),
    ] = None,
    algo: Annotated[
        str | None,
        typer.Option(
            help="With --run: the algorithm in it; alone: fit it on --dataset/--split now and "
            "use its per-user --column values."
        ),
    ] = None,
    column: Annotated[
        str, typer.Option(help="Per-user metric: a --per-user column, or with --algo e.g. ndcg@10.")
    ] = "ndcg@10",
    dataset: Annotated[
        str, typer.Option("--dataset", "-d", help="With --algo: registry name or ratings file.")
    ] = DEFAULT_DATASET,
    columns: Annotated[str | None, typer.Option(help="With --algo: column roles.")] = None,
    sep: Annotated[str | None, typer.Option(help="With --algo: field separator.")] = None,
    split: Annotated[str, typer.Option(help="With --algo: the split to evaluate on.")] = (
        "holdout:0.2"
    ),
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="With --algo: NAME=VALUE.")
    ] = None,
    lift: Annotated[
        str | None, typer.Option(help="Relative lift(s) to detect, e.g. 0.02 or 0.01,0.02,0.05.")
    ] = None,
    users: Annotated[
        str | None,
        typer.Option(help="Control users per arm; gives the detectable lift (the inverse)."),
    ] = None,
    alpha: AlphaOpt = 0.05,
    power_: Annotated[float, typer.Option("--power", help="Power (1 - beta).")] = 0.8,
    ratio: Annotated[float, typer.Option(help="Treatment users per control user.")] = 1.0,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
) -> None:
    """Users needed per arm for a lift (or the lift detectable with given users).

    Planned with the variance `abtest analyze` tests with. A CTR is a ratio clustered by user
    (delta method): e.g. --baseline 0.05 --impressions-mean 12 --impressions-sd 15 --icc 0.02
    --lift 0.05, or --pilot last_month.csv --lift 0.05.
    """
    st = state(ctx)
    fmt = report_format(fmt, output)
    output = check_output(output)
    lifts, n_users = parse_floats(lift, "--lift"), parse_floats(users, "--users")
    power.check_targets(lifts, n_users)
    src = PlanSource(baseline, impressions_mean, impressions_sd, icc, pilot, control, mean, sd,
                     per_user, run, algo, column)  # fmt: skip
    src.check()
    values = None
    if run is not None:
        store = Store.in_data_dir(st.data_dir)
        info_run = store.get(run)
        frame = store.table(info_run, "per_user")
        values = stored_per_user(info_run.run_id, frame, algo, column)
    elif algo is not None:
        values = _offline_per_user(st, algo, param, column, dataset, columns, sep, split), algo
    sections, meta, header, notes = plan_report(src, lifts, n_users, alpha, power_, ratio, values)
    for note in notes:
        info(st, note)
    _emit(fmt, output, "recbench.abtest.plan/1", sections, meta, header, st.quiet)


# --- analyze ------------------------------------------------------------------------------------


def analyze_cmd(
    ctx: typer.Context,
    log: Annotated[Path, typer.Argument(help="CSV/TSV/Parquet: user, arm, impressions, clicks.")],
    control: Annotated[
        str | None, typer.Option(help="Control arm (default: 'control', 'A' or the first).")
    ] = None,
    value: Annotated[
        list[str] | None,
        typer.Option(
            "--value",
            help="Value column (mean per user); repeatable. Default: every other numeric column.",
        ),
    ] = None,
    shares: Annotated[
        str | None,
        typer.Option(help="Intended arm shares, control first, e.g. 50,50 (default: equal)."),
    ] = None,
    srm_threshold: Annotated[
        float, typer.Option(help="Flag sample-ratio mismatch when the chi-square p < this.")
    ] = 0.001,
    bootstrap: Annotated[
        int, typer.Option(help="Also a Poisson-bootstrap interval with N replicates.")
    ] = 0,
    alpha: AlphaOpt = 0.05,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
) -> None:
    """Analyse an experiment log: per-arm rates, lifts, p-values and a sample-ratio check."""
    st = state(ctx)
    fmt = report_format(fmt, output)
    output = check_output(output)
    check_analysis(bootstrap, srm_threshold)
    share_list = parse_floats(shares, "--shares") or None
    user_log = load_log(log, value)
    with status(st, "analysing"):
        analysis = analyze_users(user_log.users, control, alpha, user_log.values, share_list,
                                 srm_threshold, bootstrap, st.seed)  # fmt: skip
    sections, meta, header, warnings = analysis_report(analysis, user_log, log, alpha,
                                                       srm_threshold)  # fmt: skip
    _emit(fmt, output, "recbench.abtest.analyze/1", sections, meta, header, st.quiet)
    for line in warnings:
        warn(line)


def register(app: typer.Typer) -> None:
    abtest_app.command("simulate")(simulate_cmd)
    abtest_app.command("plan")(plan_cmd)
    abtest_app.command("analyze")(analyze_cmd)
    app.add_typer(abtest_app, name="abtest")
