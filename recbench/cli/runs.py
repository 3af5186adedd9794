"""`recbench runs list | show | diff | rm | export`, and recording compare/evaluate runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.markup import escape

from recbench.cli.common import State, info, out, state, warn
from recbench.errors import UsageError
from recbench.render.runs import (
    delta_table,
    diff_doc,
    diff_lines,
    run_brief,
    runs_table,
    show_doc,
    show_lines,
    summary_table,
)
from recbench.store import RunInfo, Store
from recbench.store.coverage import Coverage, coverage, restrict
from recbench.store.diff import setting_changes, summary
from recbench.store.export import export_format, export_text, write_export

app = typer.Typer(
    help="Runs recorded in the results store (DATA_DIR/runs).",
    no_args_is_help=True,
)


def _store(st: State) -> Store:
    return Store.in_data_dir(st.data_dir)


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


def list_runs(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per run.")] = False,
) -> None:
    """List recorded runs, oldest first."""
    runs = _store(state(ctx)).runs()
    if as_json:
        typer.echo(json.dumps([run_brief(r, len(r.cell_ids())) for r in runs], indent=2))
        return
    title = escape(f"recbench runs · {_store(state(ctx)).root}")
    table = runs_table(title, runs, [run_brief(r, len(r.cell_ids())) for r in runs])
    out.print(table)
    for r in runs:
        if r.problem is not None:
            warn(f"run {r.run_id} is corrupt: {r.problem} (remove it: recbench runs rm {r.run_id})")


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
        typer.echo(
            json.dumps(show_doc(m, info_.status, cov.to_dict(), summ), indent=2, default=str)
        )
        return
    for line in show_lines(info_.run_id, info_.status, m):
        out.print(line, markup=False)
    title = f"results of {info_.run_id}"
    if not cov.is_complete:
        title += f" ({cov.n_recorded} of {cov.n_cells} cells)"
    out.print(summary_table(summ, title))


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
        typer.echo(json.dumps(diff_doc(a.run_id, b.run_id, changes, deltas), indent=2, default=str))
        return
    for line in diff_lines(a.run_id, b.run_id, changes):
        out.print(line, markup=False)
    out.print(delta_table(deltas))


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
        typer.Option("--output", "-o", help="File (format by suffix unless --to; else stdout)."),
    ] = None,
    table: Annotated[
        str, typer.Option("--table", help="results, per_user or segments.")
    ] = "results",
    to: Annotated[str | None, typer.Option(help="csv, jsonl, json, parquet or mlflow.")] = None,
    tracking_uri: Annotated[
        str | None, typer.Option(help="MLflow tracking URI (MLFLOW_TRACKING_URI).")
    ] = None,
    experiment: Annotated[str | None, typer.Option(help="MLflow experiment (recbench).")] = None,
) -> None:
    """Export a run's tidy rows (or per-user values, or segments), or the run to MLflow (extra:
    mlflow; one MLflow run per algorithm row; exported again it is skipped or replaced)."""
    if table not in ("results", "per_user", "segments"):
        raise UsageError(f"--table must be results, per_user or segments, got '{table}'")
    st = state(ctx)
    fmt = export_format(output, to)
    store = _store(st)
    if fmt == "mlflow":
        from recbench.mlflow_export import export_run

        done = export_run(store, run, tracking_uri=tracking_uri, experiment=experiment,
                          cache_dir=st.data_dir / "cache")  # fmt: skip
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
