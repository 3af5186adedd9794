"""`recbench report RUN... [-o report.html] [--format html|png|svg]`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from recbench.atomic import atomic_write_bytes
from recbench.cli.common import info, state, warn, write_report
from recbench.errors import UsageError


def _metrics(spec: str | None) -> tuple[str, ...] | None:
    if spec is None:
        return None
    from recbench.render import check_metrics

    return check_metrics(spec)


def report(
    ctx: typer.Context,
    runs: Annotated[list[str], typer.Argument(help="Run ids (unique prefixes, latest).")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="HTML file, or a directory for --format png|svg."),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="html (one file), png or svg (one per chart).")
    ] = "html",
    metrics: Annotated[
        str | None,
        typer.Option(help="Metrics to show (comma list or all; default: the run's own)."),
    ] = None,
) -> None:
    """One self-contained HTML report of stored runs (several runs side by side)."""
    st = state(ctx)
    fmt = fmt.lower()
    if fmt not in ("html", "png", "svg"):
        raise UsageError(f"--format must be html, png or svg, got '{fmt}'")
    if fmt == "html":
        write_report(st, runs, output or Path("report.html"), _metrics(metrics))
        return
    from recbench.report import build, chart_images, read_runs
    from recbench.store import Store

    folder = output or Path("report-charts")
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--output {folder} is not a directory (png/svg write one file per chart)")
    folder.mkdir(parents=True, exist_ok=True)
    data = build(read_runs(Store.in_data_dir(st.data_dir), runs), _metrics(metrics))
    for note in data.notes:
        warn(note)
    for i, (cap, blob) in enumerate(chart_images(data, fmt)):
        name = re.sub(r"[^A-Za-z0-9@_-]+", "-", cap).strip("-").lower()
        path = folder / f"{i + 1:02d}-{name}.{fmt}"
        atomic_write_bytes(path, blob)
    info(st, f"wrote charts to {folder}")


def register(app: typer.Typer) -> None:
    app.command()(report)
