"""`recbench compare` and `evaluate`: thin wrappers over the experiment and evaluation library."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from recbench import executors, failif
from recbench.candidates import parse_candidates
from recbench.cli.common import (
    State,
    err,
    get_dataset,
    info,
    model_split,
    out,
    remember,
    start_live,
    state,
    status,
    warn,
    write_results,
)
from recbench.cli.options import (
    AlphaOpt,
    BaselineOpt,
    CandidatesOpt,
    CiOpt,
    ColumnsOpt,
    CorrectionOpt,
    DatasetOpt,
    FailIfOpt,
    ImplicitOpt,
    KOpt,
    MemoryOpt,
    MetricsOpt,
    MinItemOpt,
    MinUserOpt,
    MlflowOpt,
    NoStoreOpt,
    OutputOpt,
    ParamOpt,
    RepeatsOpt,
    RepeatTargetsOpt,
    ResultFormatOpt,
    SaveStudyOpt,
    SegmentOpt,
    SepOpt,
    SplitOpt,
    TestOpt,
    ThresholdOpt,
)
from recbench.data import DatasetSpec, Preprocessing
from recbench.data.loading import DEFAULT_DATASET
from recbench.data.sources import SPLIT_DEFAULT_HELP, default_split
from recbench.errors import UsageError
from recbench.evaluation import EvalConfig, check_candidates
from recbench.experiment import AlgoSpec, ExperimentResult
from recbench.failif import check_fail_if
from recbench.mlflow_export import export_recorded, preflight
from recbench.persistence import load_model
from recbench.pipeline import (
    ExperimentRequest,
    Hooks,
    Recording,
    RowsFor,
    check_saved_options,
    check_split,
    evaluate_saved,
    run_experiment,
)
from recbench.render import print_table, render_text, table_text, tables
from recbench.render.progress import RunDisplay, cell_progress, run_display
from recbench.result_options import ResultOptions
from recbench.rows import parse_algos
from recbench.significance import StatsOptions, analyse, stats_options
from recbench.split import parse_split, split_help
from recbench.store.live import LiveRun, hooks
from recbench.study.command import study_options
from recbench.tuning.problem import parse_objective
from recbench.tuning.reuse import StoredBest


def _emit(
    st: State,
    res: ExperimentResult,
    req: ResultOptions,
    by_segment: bool,
    command: str,
    stats: StatsOptions | None = None,
) -> None:
    """Print/write results, then apply --fail-if (exit 1 naming what failed)."""
    for line in res.warnings:
        warn(line)
    if stats is not None:
        res.stats = analyse(res, stats, req.metrics)
    shown = tables(res, req.metrics, by_segment, command)
    fmt, output = req.fmt, req.output
    if output is not None:
        if fmt == "table":
            text = table_text(res, req.metrics, by_segment, command)
        else:
            text = render_text(res, fmt, req.metrics, by_segment)
        try:
            write_results(output, text)
        except UsageError:
            _print_results(res, req, shown, by_segment)  # the work is not lost
            raise
        if not st.quiet:
            for table in shown:
                print_table(out, table)
        info(st, f"wrote {fmt} results to {output}")
    else:
        _print_results(res, req, shown, by_segment)
    failures = check_fail_if(res, failif.cap(req.fail_if, res.dataset.n_items))
    if failures:
        for line in failures:
            err.print(f"fail-if {line}", markup=False)
        raise typer.Exit(1)


def _print_results(
    res: ExperimentResult, req: ResultOptions, shown: list[Table], by_segment: bool
) -> None:
    if req.fmt == "table":
        for table in shown:
            print_table(out, table)
    else:
        typer.echo(render_text(res, req.fmt, req.metrics, by_segment), nl=False)


def compare(
    ctx: typer.Context,
    algos: Annotated[
        str | None,
        typer.Option(
            "--algos",
            "-a",
            help="Comma list of algorithms (default: all available); NAME[k=v,...] for a "
            "configuration, NAME[@study=S] for the best parameters of a stored `tune --study S`.",
        ),
    ] = None,
    dataset: DatasetOpt = DEFAULT_DATASET,
    columns: ColumnsOpt = None,
    sep: SepOpt = None,
    split: SplitOpt = None,
    k: KOpt = "10",
    param: ParamOpt = None,
    relevance_threshold: ThresholdOpt = None,
    metrics: MetricsOpt = None,
    fmt: ResultFormatOpt = None,
    output: OutputOpt = None,
    fail_if: FailIfOpt = None,
    by_segment: SegmentOpt = False,
    min_user_ratings: MinUserOpt = 0,
    min_item_ratings: MinItemOpt = 0,
    implicit_threshold: ImplicitOpt = None,
    memory_mb: MemoryOpt = 256,
    no_store: NoStoreOpt = False,
    save_study: SaveStudyOpt = None,
    tune_trials: Annotated[
        int,
        typer.Option(
            "--tune",
            help="Tune each algorithm first: N trials on a validation split cut from the "
            "training part, in each repeat from that repeat's own (see `recbench tune`).",
        ),
    ] = 0,
    tune_metric: Annotated[
        str | None, typer.Option(help="Metric --tune optimises (default ndcg@ the first --k).")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Run the cells on a Dask LocalCluster of N processes (extra: scale)."),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Run the cells on an existing Dask cluster, e.g. tcp://HOST:8786."),
    ] = None,
    ci: CiOpt = True,
    baseline: BaselineOpt = None,
    test: TestOpt = "randomization",
    correction: CorrectionOpt = "holm",
    alpha: AlphaOpt = 0.05,
    repeats: RepeatsOpt = 1,
    candidates: CandidatesOpt = None,
    repeat_targets: RepeatTargetsOpt = False,
    mlflow: MlflowOpt = False,
) -> None:
    """Fit and evaluate several algorithms on one dataset and split; print a comparison table."""
    st = state(ctx)
    if mlflow:  # before any work: installed, and the tracking URI answers
        preflight(recorded=not no_store)
    executors.check_options(workers, scheduler)
    req = ResultOptions(k, relevance_threshold, memory_mb, fmt, output, metrics, fail_if,
                        parse_candidates(candidates, st.seed), repeat_targets)  # fmt: skip
    ctx.call_on_close(req.undo)
    split_spec = parse_split(
        split or default_split(DatasetSpec(dataset, columns, sep), st.data_dir)
    )
    check_split(split_spec, "compare")
    studies: dict[str, StoredBest] = {}
    specs = parse_algos(algos, param, st.data_dir, studies)
    sig = [(c.algorithm, c.text) for c in req.fail_if if c.significance]
    stats = stats_options(ci=ci, baseline=baseline, test=test, correction=correction, alpha=alpha,
                          repeats=repeats, seed=st.seed, algorithms=[s.label for s in specs],
                          significance_conditions=sig)  # fmt: skip
    prep = Preprocessing(min_user_ratings, min_item_ratings, implicit_threshold)
    live: list[LiveRun | None] = [None]
    display: list[RunDisplay | None] = [None]
    asked: list[AlgoSpec] = []  # --save-study writes the rows as given (its `tune` tunes them)

    def start(rows_for: RowsFor, eval_config: EvalConfig, rows: list[AlgoSpec]) -> Recording:
        # each cell is recorded as it finishes; a matching interrupted compare is resumed
        asked[:] = rows
        if display[0] is not None:
            display[0].cells(len(rows) * split_spec.n_folds * stats.repeats)
        live[0] = start_live(st, ds, split_spec, rows_for, stats.repeats, eval_config, no_store,
                             rows, study_options(scope))  # fmt: skip
        return lambda seed: hooks(live[0], seed)

    scope = locals()
    # the cluster (--workers) starts in the background while the data loads
    with executors.make_executor(workers, scheduler) as executor:
        ds, _ = get_dataset(st, DatasetSpec(dataset, columns, sep), prep)
        request = ExperimentRequest(ds, split_spec, specs, req.eval, st.seed, stats.repeats,
                                    "compare", algos is None, stats.baseline is not None,
                                    tune_trials, tune_metric, studies)  # fmt: skip
        key = ""
        if tune_trials:  # the bar names the metric tuned (K capped at the catalogue)
            key = parse_objective(tune_metric or f"ndcg@{min(req.eval.ks[0], ds.n_items)}").key
        try:
            with run_display(err, st.quiet, tune_trials, key) as shown:
                display[0] = shown
                res = run_experiment(request, Hooks(shown.events, executor, shown.on_tune, start))
        except BaseException as exc:  # the run's recorded cells stay; it is marked failed
            if live[0] is not None:
                live[0].abort(exc)
            raise
    for line in res.notes:
        info(st, f"note: {line}")
    run_id = remember(
        st, res, "compare", no_store, save_study, asked, study_options(scope), live[0]
    )
    try:
        _emit(st, res, req, by_segment, "compare", stats)
    finally:  # from the recorded run, as `recbench runs export RUN --to mlflow`
        if mlflow:
            info(st, export_recorded(st.data_dir, run_id))


def evaluate(
    ctx: typer.Context,
    model: Annotated[Path | None, typer.Option("--model", "-m", help="A model directory.")] = None,
    algo: Annotated[str | None, typer.Option("--algo", help="Fit this algorithm instead.")] = None,
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset",
            "-d",
            help="Registry name or path to a CSV/TSV/Parquet file (with --algo; default "
            f"{DEFAULT_DATASET}).",
        ),
    ] = None,
    columns: ColumnsOpt = None,
    sep: SepOpt = None,
    split: Annotated[
        str | None,
        typer.Option(
            "--split",
            help="With --algo: "
            + split_help(holding_out=True)
            + SPLIT_DEFAULT_HELP
            + " A saved model is evaluated on the split in its manifest.",
        ),
    ] = None,
    k: KOpt = "10",
    param: ParamOpt = None,
    relevance_threshold: ThresholdOpt = None,
    metrics: MetricsOpt = None,
    fmt: ResultFormatOpt = None,
    output: OutputOpt = None,
    fail_if: FailIfOpt = None,
    by_segment: SegmentOpt = False,
    min_user_ratings: MinUserOpt = 0,
    min_item_ratings: MinItemOpt = 0,
    implicit_threshold: ImplicitOpt = None,
    memory_mb: MemoryOpt = 256,
    no_store: NoStoreOpt = False,
    save_study: SaveStudyOpt = None,
    ci: CiOpt = True,
    candidates: CandidatesOpt = None,
    repeat_targets: RepeatTargetsOpt = False,
) -> None:
    """Evaluate a saved model on the split it was fitted on, or fit and evaluate one algorithm."""
    st = state(ctx)
    if (model is None) == (algo is None):
        raise UsageError("give exactly one of --model DIR or --algo NAME")
    req = ResultOptions(k, relevance_threshold, memory_mb, fmt, output, metrics, fail_if,
                        parse_candidates(candidates, st.seed), repeat_targets)  # fmt: skip
    ctx.call_on_close(req.undo)
    if algo is not None:
        spec = DatasetSpec(dataset or DEFAULT_DATASET, columns, sep)
        split_spec = parse_split(split or default_split(spec, st.data_dir))
        check_split(split_spec, "evaluate")
        specs = parse_algos(algo, param, st.data_dir)
        prep = Preprocessing(min_user_ratings, min_item_ratings, implicit_threshold)
        ds, _ = get_dataset(st, spec, prep)
        request = ExperimentRequest(ds, split_spec, specs, req.eval, st.seed, command="evaluate")
        with cell_progress(err, st.quiet, split_spec.n_folds) as on_event:
            res = run_experiment(request, Hooks(on_event))
        for line in res.notes:
            info(st, f"note: {line}")
        remember(st, res, "evaluate", no_store, save_study, specs, study_options(locals()))
        _emit(st, res, req, by_segment, "evaluate", StatsOptions(ci=ci, seed=st.seed))
        return
    assert model is not None
    check_saved_options(dataset, columns, sep, param, (min_user_ratings, min_item_ratings,
                        implicit_threshold))  # fmt: skip
    fitted, config, manifest = load_model(model)
    ds, split_obj, split_spec, seed = model_split(st, model, manifest, split)
    check_candidates(ds, split_spec, seed, req.eval)
    with status(st, "evaluating"):
        res = evaluate_saved(model, fitted, config, manifest, ds, split_obj, split_spec, seed,
                             req.eval)  # fmt: skip
    for line in res.notes:
        info(st, f"note: {line}")
    remember(st, res, "evaluate", no_store, save_study)
    _emit(st, res, req, by_segment, "evaluate", StatsOptions(ci=ci, seed=st.seed))


def register(app: typer.Typer) -> None:
    app.command()(compare)
    app.command()(evaluate)
