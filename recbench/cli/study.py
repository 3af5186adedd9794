"""`recbench run STUDY.toml`: run a study file, recording and resuming through the store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from recbench.cli.common import State, err, info, out, state, write_report, write_results
from recbench.errors import RecbenchError, UsageError
from recbench.render.outputs import check_output
from recbench.render.progress import cell_progress
from recbench.study import StudyRun, load_study, make_plan
from recbench.study.outputs import check_outputs, dry_run_lines, fail_if_conditions, group_path


def emit_study(st: State, run: StudyRun) -> None:
    """Print each (dataset, split) table, write the output files, then check fail_if."""
    from recbench.cli.options import result_format
    from recbench.render import render_text, rich_table, segment_table

    plan = run.plan
    sf = plan.source
    output = sf.study.output
    fmt = output.format or "table"
    for g in run.groups:
        if fmt == "table":
            table = rich_table(g, plan.metrics)
            if isinstance(table.title, str) and table.title.startswith("recbench compare"):
                table.title = "recbench run" + table.title[len("recbench compare") :]
            out.print(table)
            if output.by_segment:
                out.print(segment_table(g, plan.metrics))
        else:
            typer.echo(render_text(g, result_format(fmt, None), plan.metrics), nl=False)
    for j, name in enumerate(output.files):
        target = sf.resolve_path(name)
        for i, g in enumerate(run.groups):
            path = group_path(target, run, i)
            try:
                check_output(path)
                ffmt = result_format(None, path)
                text = render_text(g, "markdown" if ffmt == "table" else ffmt, plan.metrics)
                write_results(path, text)
            except RecbenchError as exc:
                raise sf.error(("output", "files", j), str(exc)) from None
            info(st, f"wrote {path}")
    if output.report and run.run_id is not None:
        write_report(st, [run.run_id], sf.resolve_path(output.report))
    from recbench.failif import cap, check_fail_if

    conds = fail_if_conditions(plan)
    failures = [f for g in run.groups for f in check_fail_if(g, cap(conds, g.dataset.n_items))]
    if failures:
        for line in failures:
            err.print(f"fail-if {line}", markup=False)
        raise typer.Exit(1)


def run(
    ctx: typer.Context,
    study: Annotated[Path, typer.Argument(help="A study file (TOML); see examples/.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the cells it would run, run nothing.")
    ] = False,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Start a new run even if an unfinished one matches.")
    ] = False,
    no_store: Annotated[
        bool, typer.Option("--no-store", help="Do not record the run (no resume either).")
    ] = False,
) -> None:
    """Run a study file: datasets x splits x algorithms (grids) x repeats, resumable."""
    from recbench.store import Store
    from recbench.study import execute

    st = state(ctx)
    sf = load_study(study)
    plan = make_plan(sf, st.data_dir)
    fail_if_conditions(plan)
    check_outputs(plan)
    if sf.study.output.report and no_store:
        raise sf.error(("output", "report"), "a report is made from the store: drop --no-store")
    if dry_run:
        for line in dry_run_lines(plan):
            typer.echo(line)
        return
    store = None if no_store else Store.in_data_dir(st.data_dir)
    with cell_progress(err, st.quiet, len(plan.cells())) as on_event:
        result = execute(plan, st.data_dir, store, on_event, fresh=fresh)
    for note in result.notes:
        info(st, note)
    if result.run_id is not None:
        again = f", {result.resumed_from} resumed from the store" if result.resumed_from else ""
        info(st, f"run {result.run_id}: {result.ran} cell(s) run{again}")
    emit_study(st, result)


def register(app: typer.Typer) -> None:
    app.command(name="run")(run)


__all__ = ["UsageError", "emit_study", "register", "run"]
