"""`recbench runs list | show | diff | rm | export`, and recording compare/evaluate runs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.markup import escape
from rich.table import Table

from recbench.cli.common import State, info, out, state, warn, write_results
from recbench.errors import UsageError
from recbench.experiment import AlgoSpec, ExperimentResult
from recbench.metrics import METRICS
from recbench.store import RunInfo, Store
from recbench.store.coverage import Coverage, coverage, restrict
from recbench.store.diff import setting_changes, summary
from recbench.store.live import LiveRun
from recbench.study.command import manifest_extra, study_text

app = typer.Typer(
    help="Runs recorded in the results store (DATA_DIR/runs).",
    no_args_is_help=True,
)

NoStoreOpt = Annotated[
    bool, typer.Option("--no-store", help="Do not record this run in the results store.")
]
SaveStudyOpt = Annotated[
    Path | None,
    typer.Option("--save-study", help="Write the equivalent study file (for `recbench run`)."),
]


#: compare/evaluate keyword arguments that a saved study keeps
OPTION_KEYS = (
    "dataset",
    "columns",
    "sep",
    "split",
    "k",
    "metrics",
    "relevance_threshold",
    "fmt",
    "output",
    "fail_if",
    "by_segment",
    "min_user_ratings",
    "min_item_ratings",
    "implicit_threshold",
    "memory_mb",
    "repeats",
    "ci",
    "baseline",
    "test",
    "correction",
    "alpha",
    "tune_trials",
    "tune_metric",
    "workers",
    "scheduler",
)


def study_options(scope: dict[str, Any]) -> dict[str, Any]:
    """The options of a compare/evaluate call (its ``locals()``) that a study file keeps."""
    return {k: scope.get(k) for k in OPTION_KEYS}


def _store(st: State) -> Store:
    return Store.in_data_dir(st.cache_dir)


def start_live(
    st: State,
    ds: Any,
    split: Any,
    rows_for: Callable[[int], list[AlgoSpec]],
    repeats: int,
    eval_config: Any,
    no_store: bool,
    asked: list[AlgoSpec],
    options: dict[str, Any],
) -> LiveRun | None:
    """Before compare's cells: its store run, recorded cell by cell (None with --no-store). A
    matching interrupted or failed compare is resumed, saying so."""
    if no_store:
        return None
    rows = {seed: rows_for(seed) for seed in range(st.seed, st.seed + repeats)}
    extra = manifest_extra(study_text("compare", asked, options, st.seed), options)
    live = LiveRun(_store(st), ds, split, rows, eval_config, "compare", extra)
    try:
        live.open()
    except OSError as exc:  # an unreadable store: run without resuming
        warn(f"could not look for a run to resume in the results store ({exc.strerror or exc})")
    if live.resumed is not None:
        run_id, n = live.resumed
        info(st, f"resuming run {run_id}: {n} of {live.n_cells} cells were recorded; running "
                 "the rest (remove it with `recbench runs rm` to start over)")  # fmt: skip
    return live


def remember(
    st: State,
    res: ExperimentResult,
    command: str,
    no_store: bool = False,
    save_study: Path | None = None,
    specs: list[AlgoSpec] | None = None,
    options: dict[str, Any] | None = None,
    live: LiveRun | None = None,
) -> str | None:
    """After compare/evaluate: write ``--save-study`` and record the run (unless --no-store);
    a compare's cells are recorded already (``live``): its run is marked complete."""
    text = study_text(command, specs, options, st.seed)
    if save_study is not None:
        if text is None:
            raise UsageError(f"--save-study applies to `recbench {command} --algo/--algos`")
        write_results(save_study, text)
        info(st, f"wrote study file {save_study} (run it with: recbench run {save_study})")
    if no_store:
        return None
    from recbench.store.record import record_experiment

    extra = manifest_extra(text, options)
    if live is not None:
        return _recorded(st, lambda: live.finish(protocol=res.protocol, **extra))
    return _recorded(st, lambda: record_experiment(_store(st), res, command, extra))


def remember_tune(st: State, result: Any, dataset: Any, split: str, no_store: bool) -> None:
    """After ``recbench tune``: record the tuned (and default) test metrics as a run."""
    if not no_store:
        from recbench.store.record import record_tune

        _recorded(st, lambda: record_tune(_store(st), result, dataset, split))


def _recorded(st: State, record: Callable[[], str | None]) -> str | None:
    """Record a run; a failed write is a warning (the results are printed all the same)."""
    from recbench.store.runs import StoreWriteError

    try:
        run_id = record()
    except StoreWriteError as exc:
        warn(f"run not recorded in full in the results store ({exc.reason}): {exc.outcome}; "
             "see --no-store")  # fmt: skip
        return None
    except OSError as exc:
        warn(f"run not recorded in the results store ({exc.strerror or exc}); see --no-store")
        return None
    if run_id is not None:
        info(st, f"recorded run {run_id} (see: recbench runs show {run_id})")
    return run_id


def _coverage(store: Store, run: RunInfo) -> Coverage:
    """The run's coverage, its notes warned on stderr (missing cells, folds left out)."""
    cov = coverage(run, store.cells(run))
    for line in cov.notes():
        warn(line)
    return cov


def _results(store: Store, run: RunInfo) -> tuple[pd.DataFrame, Coverage]:
    """A run's results, limited to the folds every algorithm finished when cells are missing."""
    cov = _coverage(store, run)
    return restrict(store.results(run), cov), cov


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def list_runs(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per run.")] = False,
) -> None:
    """List recorded runs, oldest first."""
    runs = _store(state(ctx)).runs()
    if as_json:
        typer.echo(json.dumps([_brief(r, len(r.cell_ids())) for r in runs], indent=2))
        return
    title = escape(f"recbench runs · {_store(state(ctx)).root}")
    table = Table(title=title, title_style="bold")
    for col in ("run", "kind", "status", "started", "datasets", "splits", "algorithms", "cells"):
        table.add_column(col, no_wrap=col != "datasets", overflow="fold")
    for r in runs:
        b = _brief(r, len(r.cell_ids()))
        row = (
            r.run_id,
            b["kind"] or "?",
            b["status"],
            str(b["started"] or "")[:16].replace("T", " "),
            ",".join(b["datasets"]),
            ",".join(b["splits"]),
            str(len(b["algorithms"])) if r.problem is None else "?",
            f"{b['cells']}/{b['n_cells'] or '?'}",
        )
        table.add_row(*(escape(str(x)) for x in row))
    out.print(table)
    for r in runs:
        if r.problem is not None:
            warn(f"run {r.run_id} is corrupt: {r.problem} (remove it: recbench runs rm {r.run_id})")


def _brief(r: RunInfo, cells: int) -> dict[str, Any]:
    m = r.manifest
    return {
        "run_id": r.run_id,
        "kind": m.get("kind"),
        "status": r.status,
        "started": m.get("started"),
        "ended": m.get("ended"),
        "name": m.get("name"),
        "datasets": [d.get("name") for d in m.get("datasets") or []],
        "splits": m.get("splits") or [],
        "algorithms": [a.get("label") for a in m.get("algorithms") or []],
        "cells": cells,
        "n_cells": m.get("n_cells"),
        **({"problem": r.problem} if r.problem else {}),
        **({"error": m["error"]} if m.get("error") else {}),
    }


def show(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="Run id, unique prefix, or latest.")],
    as_json: Annotated[bool, typer.Option("--json", help="Manifest and summary as JSON.")] = False,
) -> None:
    """A run's manifest and its results (mean over folds and repeats)."""
    store = _store(state(ctx))
    info_ = store.get(run)
    results, cov = _results(store, info_)
    summ = summary(results)
    m = info_.manifest
    if as_json:
        doc = {k: v for k, v in m.items() if k != "study"}
        doc["status"] = info_.status
        doc["coverage"] = cov.to_dict()
        doc["summary"] = json.loads(summ.to_json(orient="records"))
        typer.echo(json.dumps(doc, indent=2, default=str))
        return
    out.print(f"run {info_.run_id} · {m.get('kind')} · {info_.status}", markup=False)
    for key in ("name", "started", "ended", "error", "recbench_version", "python", "study_path"):
        if m.get(key):
            out.print(f"  {key}: {m[key]}", markup=False)
    for d in m.get("datasets") or []:
        out.print(
            f"  dataset: {d.get('name')} ({d.get('n_ratings'):,} ratings, checksum "
            f"{str(d.get('checksum'))[:12]})",
            markup=False,
        )
    out.print(
        f"  splits: {', '.join(m.get('splits') or [])}; seeds: {m.get('seeds')}", markup=False
    )
    machine = m.get("machine") or {}
    out.print(
        f"  machine: {machine.get('system')} {machine.get('arch')}, {machine.get('cpus')} CPUs, "
        f"{machine.get('memory_gb')} GB",
        markup=False,
    )
    title = f"results of {info_.run_id}"
    if not cov.is_complete:
        title += f" ({cov.n_recorded} of {cov.n_cells} cells)"
    out.print(summary_table(summ, title))


def summary_table(summ: pd.DataFrame, title: str) -> Table:
    """Algorithms as rows, metric@K as columns (mean over folds and repeats)."""
    table = Table(title=title, title_style="bold")
    if not len(summ):
        return table
    summ = summ.copy()
    summ["col"] = [
        METRICS[m].column(None if pd.isna(k) else int(k)) if m in METRICS else str(m)
        for m, k in zip(summ["metric"], summ["k"], strict=True)
    ]
    cols = list(dict.fromkeys(summ["col"]))
    groups = summ[["dataset", "split"]].drop_duplicates()
    single = len(groups) == 1
    if single:
        table.title = escape(f"{title} · {groups.iloc[0]['dataset']} · {groups.iloc[0]['split']}")
    keys = ["algorithm"] if single else ["dataset", "split", "algorithm"]
    for name in (*keys, *cols):
        table.add_column(name, justify="left" if name in keys else "right", no_wrap=True)
    for key, g in summ.groupby(["dataset", "split", "algorithm"], sort=False):
        values = dict(zip(g["col"], g["mean"], strict=True))
        labels = [str(key[2])] if single else [str(x) for x in key]
        table.add_row(*(escape(x) for x in labels), *(_fmt(values.get(c)) for c in cols))
    return table


def diff(
    ctx: typer.Context,
    run_a: Annotated[str, typer.Argument(help="The first run (the reference).")],
    run_b: Annotated[str, typer.Argument(help="The second run.")],
    as_json: Annotated[bool, typer.Option("--json", help="Changes and deltas as JSON.")] = False,
) -> None:
    """What changed between two runs, and the metric deltas (b - a)."""
    from recbench.store.diff import diff as diff_runs

    store = _store(state(ctx))
    a, b = store.get(run_a), store.get(run_b)
    changes = setting_changes(a.manifest, b.manifest)
    deltas = diff_runs(_results(store, a)[0], _results(store, b)[0])
    if as_json:
        doc = {
            "a": a.run_id,
            "b": b.run_id,
            "changes": [{"key": k, "a": va, "b": vb} for k, va, vb in changes],
            "deltas": json.loads(deltas.to_json(orient="records")),
        }
        typer.echo(json.dumps(doc, indent=2, default=str))
        return
    out.print(f"runs diff a={a.run_id}  b={b.run_id}", markup=False)
    if changes:
        for key, va, vb in changes:
            out.print(f"  changed {key}: {va!r} -> {vb!r}", markup=False)
    else:
        out.print("  no setting changed")
    table = Table(title="metric deltas (b - a)", title_style="bold")
    for name in ("dataset", "split", "algorithm", "metric", "a", "b", "delta", "change"):
        table.add_column(name, justify="right" if name in ("a", "b", "delta", "change") else "left")
    for r in deltas.itertuples():
        metric = r.metric if pd.isna(r.k) else f"{r.metric}@{int(r.k)}"
        algo = (
            r.algorithm
            if r.algorithm == r.algorithm_b or pd.isna(r.algorithm_b)
            else (f"{r.algorithm} -> {r.algorithm_b}")
        )
        delta = "—" if pd.isna(r.delta) else f"{r.delta:+.4f}"
        rel = "—" if pd.isna(r.relative) else f"{100 * r.relative:+.1f}%"
        cells = (r.dataset, r.split, algo, metric, _fmt(r.a), _fmt(r.b), delta, rel)
        table.add_row(*(escape(str(x)) for x in cells))
    out.print(table)


def rm(
    ctx: typer.Context,
    runs: Annotated[list[str], typer.Argument(help="Run ids (or unique prefixes).")],
) -> None:
    """Delete runs from the store."""
    st = state(ctx)
    store = _store(st)
    found = [store.get(r) for r in runs]
    for r in found:
        store.remove(r)
        info(st, f"removed run {r.run_id}")


def export(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="Run id, unique prefix, or latest.")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File (format by suffix unless --to; default: out)."),
    ] = None,
    table: Annotated[
        str, typer.Option("--table", help="results, per_user or segments.")
    ] = "results",
    to: Annotated[str | None, typer.Option(help="csv, jsonl, json, parquet or mlflow.")] = None,
    tracking_uri: Annotated[
        str | None, typer.Option(help="MLflow's (MLFLOW_TRACKING_URI).")
    ] = None,
    experiment: Annotated[str | None, typer.Option(help="MLflow experiment (recbench).")] = None,
) -> None:
    """Export a run's tidy rows (or per-user values, or segments), or the run to MLflow (extra:
    mlflow; one MLflow run per algorithm row; exported again it is skipped or replaced)."""
    from recbench.store.export import export_format, export_text, write_export

    if table not in ("results", "per_user", "segments"):
        raise UsageError(f"--table must be results, per_user or segments, got '{table}'")
    st = state(ctx)
    fmt = export_format(output, to)
    store = _store(st)
    if fmt == "mlflow":
        from recbench.mlflow_export import export_run

        done = export_run(store, run, tracking_uri=tracking_uri, experiment=experiment,
                          cache_dir=st.cache_dir / "cache")  # fmt: skip
        return info(st, done.message())
    r = store.get(run)
    cov = _coverage(store, r)
    frame = store.table(r, table)
    manifest = {**r.manifest, "status": r.status}
    if output is None:
        typer.echo(export_text(frame, fmt, table, manifest, cov.to_dict()), nl=False)
        return
    try:
        write_export(output, frame, table, manifest, cov.to_dict(), fmt)
    except OSError as exc:
        raise UsageError(f"could not write --output {output} ({exc.strerror})") from None
    info(st, f"wrote {len(frame):,} {table} rows of run {r.run_id} to {output}")


app.command("list")(list_runs)
app.command("show")(show)
app.command("diff")(diff)
app.command("rm")(rm)
app.command("export")(export)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="runs")
