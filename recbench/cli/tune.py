"""`recbench tune ALGO`: search an algorithm's parameters on a validation split cut from the
training data, then test the best configuration once. A thin wrapper over recbench.tuning."""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer

from recbench import executors
from recbench.cli.common import err, get_dataset, out, recorded, state
from recbench.cli.options import (
    SPLIT_DEFAULT_HELP,
    ColumnsOpt,
    DatasetOpt,
    ImplicitOpt,
    MemoryOpt,
    MinItemOpt,
    MinUserOpt,
    NoStoreOpt,
    ParamOpt,
    SepOpt,
    ThresholdOpt,
    table_or_json,
)
from recbench.data import DatasetSpec
from recbench.data.loading import DEFAULT_DATASET
from recbench.data.preprocess import Preprocessing
from recbench.data.sources import default_split
from recbench.render.progress import trial_bar
from recbench.split import parse_split, split_help
from recbench.tuning import study_files, tune
from recbench.tuning.distributed import check_jobs, trials_on
from recbench.tuning.output import tune_json, tune_report
from recbench.tuning.request import tune_spec


def tune_command(
    ctx: typer.Context,
    algo: Annotated[str, typer.Argument(help="Algorithm name (see `recbench algorithms`).")],
    dataset: DatasetOpt = DEFAULT_DATASET,
    columns: ColumnsOpt = None,
    sep: SepOpt = None,
    split: Annotated[
        str | None,
        typer.Option(
            "--split",
            help="Outer split; its test part is used once, after the search. "
            + split_help(holding_out=True)
            + SPLIT_DEFAULT_HELP,
        ),
    ] = None,
    val_split: Annotated[
        str | None,
        typer.Option(
            "--val-split",
            help="Split carving validation data from the training part "
            "(default: the same kind as --split).",
        ),
    ] = None,
    metric: Annotated[
        str, typer.Option("--metric", help="Metric to optimise, e.g. ndcg@10, recall@20, rmse.")
    ] = "ndcg@10",
    trials: Annotated[
        int | None,
        typer.Option(
            "--trials",
            "-n",
            help="Trials in the study (default 20; a resumed study counts its finished ones).",
        ),
    ] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Start no trial after this many seconds.")
    ] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Parallel trial processes.")] = 1,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Run the trials on a Dask LocalCluster of N processes, N at a time "
            "(extra: scale; instead of --jobs).",
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Run the trials on an existing Dask cluster, e.g. tcp://HOST:8786, one per "
            "worker thread. The study's journal must be on a filesystem every worker shares: "
            "--data-dir there, and --study NAME.",
        ),
    ] = None,
    study: Annotated[
        str | None,
        typer.Option(
            "--study",
            help="Keep the study as DATA/studies/NAME.journal; rerunning resumes it.",
        ),
    ] = None,
    space: Annotated[
        Path | None,
        typer.Option(
            "--space",
            help="TOML/JSON file: NAME = {low, high, log} or {choices = [...]} replaces a "
            "dimension, NAME = value fixes it.",
        ),
    ] = None,
    param: ParamOpt = None,
    relevance_threshold: ThresholdOpt = None,
    min_user_ratings: MinUserOpt = 0,
    min_item_ratings: MinItemOpt = 0,
    implicit_threshold: ImplicitOpt = None,
    memory_mb: MemoryOpt = 256,
    top: Annotated[int, typer.Option("--top", help="Trials shown in the table.")] = 10,
    reference: Annotated[
        bool,
        typer.Option("--reference/--no-reference", help="Also test the default configuration."),
    ] = True,
    prune: Annotated[
        bool | None,
        typer.Option(
            "--prune/--no-prune",
            help="Stop trials whose validation value, scored during the fit on up to 500 "
            "validation users, trails the median of completed trials at the same epoch "
            "(Optuna MedianPruner). Default: on for algorithms that train in epochs and report "
            "(als, bpr, two-tower, ncf, cluster-ncf, multvae); others are never pruned.",
        ),
    ] = None,
    prune_startup: Annotated[
        int | None,
        typer.Option("--prune-startup", help="Completed trials before any is pruned (default 5)."),
    ] = None,
    prune_warmup: Annotated[
        int | None,
        typer.Option(
            "--prune-warmup", help="Epochs a trial runs before it can be pruned (default 3)."
        ),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
    no_store: NoStoreOpt = False,
) -> None:
    """Tune ALGO's parameters on a validation split cut from the training part (Optuna TPE);
    refit the best configuration on the whole training part and report its test metrics."""
    st = state(ctx)
    fmt = table_or_json(fmt, "tune")
    check_jobs(jobs, workers, scheduler)
    on_dask = executors.check_options(workers, scheduler)
    split_spec = parse_split(
        split or default_split(DatasetSpec(dataset, columns, sep), st.data_dir)
    )
    spec = tune_spec(
        algo, param, space, metric, trials, timeout, jobs, st.seed, relevance_threshold,
        memory_mb, prune, prune_startup, prune_warmup,
    )  # fmt: skip
    if val_split is not None:
        parse_split(val_split)
    files = study_files(st.data_dir, study) if study is not None else None
    prep = Preprocessing(min_user_ratings, min_item_ratings, implicit_threshold)
    ds, _ = get_dataset(st, DatasetSpec(dataset, columns, sep), prep)
    dask = executors.make_executor(workers, scheduler, local_cells=False) if on_dask else None
    with (
        dask or nullcontext(),
        trial_bar(err, st.quiet, spec.n_trials, spec.objective.key) as on_progress,
    ):
        spec, runner = trials_on(dask, spec)
        result = tune(ds, split_spec, spec, files, val_split, on_progress, reference, runner)
    if not no_store:
        from recbench.store import Store
        from recbench.store.record import record_tune

        store = Store.in_data_dir(st.data_dir)
        recorded(st, lambda: record_tune(store, result, ds, str(split_spec)))
    if fmt == "json":
        typer.echo(json.dumps(tune_json(result), indent=2, default=str))
        return
    for part in tune_report(result, top):
        out.print(part)


def register(app: typer.Typer) -> None:
    app.command("tune")(tune_command)
