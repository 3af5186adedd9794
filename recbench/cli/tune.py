"""`recbench tune ALGO`: search an algorithm's parameters on a validation split cut from the
training data, then test the best configuration once. A thin wrapper over recbench.tuning."""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from recbench import executors
from recbench.algorithms import plugins
from recbench.cli.common import get_dataset, out, recorded, state, trial_bar
from recbench.cli.options import (
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
)
from recbench.data import DatasetSpec
from recbench.data.loading import DEFAULT_DATASET
from recbench.data.preprocess import Preprocessing
from recbench.errors import UsageError
from recbench.metrics import METRICS
from recbench.split import parse_split, split_help
from recbench.tuning import (
    TuneResult,
    TuneSpec,
    load_space_file,
    parse_objective,
    resolve_space,
    study_files,
    tune,
)
from recbench.tuning.distributed import check_jobs, trials_on
from recbench.tuning.pruning import PruneSpec


def _fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _fmt_params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_fmt_value(v)}" for k, v in params.items())


def _check_format(fmt: str) -> str:
    fmt = fmt.lower()
    if fmt not in ("table", "json"):
        raise UsageError(f"unknown --format '{fmt}' (tune supports table or json)")
    return fmt


def tune_command(
    ctx: typer.Context,
    algo: Annotated[str, typer.Argument(help="Algorithm name (see `recbench algorithms`).")],
    dataset: DatasetOpt = DEFAULT_DATASET,
    columns: ColumnsOpt = None,
    sep: SepOpt = None,
    split: Annotated[
        str,
        typer.Option(
            "--split",
            help="Outer split; its test part is used once, after the search. "
            + split_help(holding_out=True),
        ),
    ] = "holdout:0.2",
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
    fmt = _check_format(fmt)
    check_jobs(jobs, workers, scheduler)
    on_dask = executors.check_options(workers, scheduler)
    split_spec = parse_split(split)
    objective = parse_objective(metric)
    if val_split is not None:
        parse_split(val_split)
    cls = plugins.load(algo)
    plugins.ensure_available(algo, cls)
    raw = plugins.parse_params(param)
    config = plugins.make_config(algo, cls, raw)
    fixed = {k: getattr(config, k) for k in raw}
    override = load_space_file(space) if space is not None else None
    dims, fixed = resolve_space(algo, cls, override, fixed)
    n_trials = trials if trials is not None or timeout is not None else 20
    spec = TuneSpec(
        algo,
        dims,
        fixed,
        objective,
        n_trials=n_trials,
        timeout=timeout,
        jobs=jobs,
        seed=st.seed,
        relevance_threshold=relevance_threshold,
        memory_mb=memory_mb,
        prune=_prune_spec(algo, cls.reports_epochs, prune, prune_startup, prune_warmup),
    )
    files = study_files(st.cache_dir, study) if study is not None else None
    prep = Preprocessing(min_user_ratings, min_item_ratings, implicit_threshold)
    ds, _ = get_dataset(st, DatasetSpec(dataset, columns, sep), prep)
    dask = executors.make_executor(workers, scheduler, local_cells=False) if on_dask else None
    with dask or nullcontext(), trial_bar(st, n_trials, objective.key) as on_progress:
        spec, runner = trials_on(dask, spec)
        result = tune(ds, split_spec, spec, files, val_split, on_progress, reference, runner)
    if not no_store:
        from recbench.store import Store
        from recbench.store.record import record_tune

        store = Store.in_data_dir(st.cache_dir)
        recorded(st, lambda: record_tune(store, result, ds, str(split_spec)))
    if fmt == "json":
        typer.echo(json.dumps(result_json(result), indent=2, default=str))
        return
    _print(result, top)


def _prune_spec(
    algo: str, reports: bool, prune: bool | None, startup: int | None, warmup: int | None
) -> PruneSpec | None:
    """The pruning asked for: on by default where the algorithm reports during fit."""
    tuned = [f"--prune-{n}" for n, v in (("startup", startup), ("warmup", warmup)) if v is not None]
    if prune is False:
        if tuned:
            raise UsageError(f"{tuned[0]} configures pruning, which --no-prune turns off")
        return None
    if not reports:
        if prune or tuned:
            raise UsageError(
                f"{algo} reports no validation value while it trains, so its trials cannot be "
                f"pruned (drop {'--prune' if prune else tuned[0]})"
            )
        return None
    default = PruneSpec()
    return PruneSpec(
        startup if startup is not None else default.startup_trials,
        warmup if warmup is not None else default.warmup_steps,
    )


def result_json(r: TuneResult) -> dict[str, Any]:
    """The tune as a JSON document for scripts."""
    key = r.spec.objective.key
    return {
        "algorithm": r.spec.algorithm,
        "dataset": r.dataset,
        "protocol": r.protocol,
        "validation": r.val_protocol,
        "metric": key,
        "direction": r.spec.objective.direction,
        "seed": r.spec.seed,
        "study": r.study,
        "trials": len([t for t in r.trials if t.state != "interrupted"]),
        "resumed_from": r.resumed,
        "interrupted": r.interrupted,
        "pruned": sum(t.state == "pruned" for t in r.trials),
        "pruning": r.pruning,
        "space": {k: d.describe() for k, d in r.spec.space.items()},
        "fixed": r.spec.fixed,
        "best_trial": r.best.number,
        "best_params": r.best.params,
        "params": r.params,
        "validation_value": r.best.value,
        "test": r.test,
        "default_test": r.default_test,
        "importances": r.importances,
        "seconds": round(r.seconds, 3),
        "trial_log": [t.__dict__ for t in r.trials],
    }


def _print(r: TuneResult, top: int) -> None:
    key = r.spec.objective.key
    done = [t for t in r.trials if t.state == "complete" and t.value is not None]
    done.sort(key=lambda t: (-(t.value or 0.0) if r.spec.objective.higher_is_better else
                             (t.value or 0.0), t.number))  # fmt: skip
    names = list(r.spec.space)
    t = Table(title=f"recbench tune · {r.spec.algorithm} · {r.dataset} · top trials by "
                    f"validation {key}")  # fmt: skip
    t.add_column("trial", justify="right")
    t.add_column(f"val {key}", justify="right")
    for n in names:
        t.add_column(n, justify="right")
    t.add_column("s", justify="right")
    # then the pruned trials that got furthest (their value is partial: not ranked with these)
    pruned = [x for x in r.trials if x.state == "pruned"]
    pruned.sort(key=lambda x: (-(x.pruned_at or 0), x.number))
    for tr in [*done[:top], *pruned[:top]]:
        value = f"{tr.value:.4f}" if tr.state == "complete" else f"pruned, step {tr.pruned_at}"
        row = [str(tr.number), value]
        row += [escape(_fmt_value(tr.params.get(n, ""))) for n in names]
        row.append(f"{tr.seconds:.1f}" if tr.seconds is not None else "")
        t.add_row(*row, style="bold" if tr.number == r.best.number else None)
    failed = [x for x in r.trials if x.state == "failed"]
    notes = [
        f"Search: {sum(x.state != 'interrupted' for x in r.trials)} trials "
        f"(seeded TPE, seed {r.spec.seed})"
        + (f", {r.resumed} of them from earlier runs of study '{r.study}'" if r.resumed else "")
        + (f", {r.interrupted} left running by a killed run and rerun" if r.interrupted else "")
        + (f", {len(pruned)} pruned by {r.pruning}" if pruned else "")
        + (f", {len(failed)} failed ({failed[0].error})" if failed else "")
        + f"; {r.seconds:.0f} s in all.",
        f"Validation: {r.val_protocol}, cut from the training part only "
        f"({r.n_train:,} ratings fitted, {r.n_validation:,} scored); the test part is not seen.",
        f"Test: {r.protocol}; used once, for the best configuration refitted on the whole "
        "training part.",
    ]
    out.print(t)
    for line in notes:
        out.print(escape(line))
    kind = METRICS[r.spec.objective.name].kind
    shown = [m for m in r.test if METRICS[m.partition("@")[0]].kind == kind]
    s = Table(title=f"{r.spec.algorithm}: best configuration, tested once")
    s.add_column("configuration")
    s.add_column(f"val {_label(key)}", justify="right")
    for m in shown:
        s.add_column(f"test {_label(m)}", justify="right")
    s.add_row(
        f"tuned (trial {r.best.number})",
        f"{r.best.value:.4f}",
        *(f"{r.test[m]:.4f}" for m in shown),
        style="bold",
    )
    if r.default_test is not None:
        nan = float("nan")
        s.add_row("defaults", "", *(f"{r.default_test.get(m, nan):.4f}" for m in shown))
    out.print(s)
    out.print(f"Chosen parameters: {escape(_fmt_params(r.params))}")
    if r.spec.fixed:
        out.print(f"Fixed (not searched): {escape(_fmt_params(r.spec.fixed))}")
    if r.importances:
        imp = ", ".join(f"{k} {v:.2f}" for k, v in r.importances.items())
        out.print(f"Parameter importances (Optuna PED-ANOVA): {escape(imp)}")


def _label(key: str) -> str:
    name, at, k = key.partition("@")
    info = METRICS.get(name)
    return f"{info.label if info else name}{at}{k}"


def register(app: typer.Typer) -> None:
    app.command("tune")(tune_command)
