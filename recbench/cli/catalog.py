"""`recbench algorithms` and `recbench datasets`: what can be run, on what."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from recbench.algorithms.plugins import describe_all
from recbench.cli.common import out
from recbench.data.loading import DEFAULT_DATASET, available

datasets_app = typer.Typer(help="List datasets (more dataset commands arrive with the registry).")


def algorithms(
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
) -> None:
    """List registered algorithms: family, tasks, parameters with defaults, availability."""
    rows = describe_all()
    if fmt == "json":
        typer.echo(json.dumps([r.__dict__ for r in rows], indent=2, default=str))
        return
    t = Table(title="recbench algorithms (entry-point group recbench.algorithms)")
    t.add_column("name", style="bold")
    t.add_column("family")
    t.add_column("tasks")
    t.add_column("parameters (defaults)")
    t.add_column("available")
    t.add_column("from", style="dim")
    t.show_lines = True
    for r in rows:
        params = "\n".join(f"{k}={v}" for k, v in r.params.items()) or "—"
        avail = "[green]yes[/]" if r.available else f"[red]no[/]: {r.install}"
        src = r.source if r.package in ("recbench", "?") else f"{r.source} ({r.package})"
        t.add_row(r.name, r.family, ", ".join(r.tasks) or "—", params, avail, src)
    out.print(t)


@datasets_app.callback(invoke_without_command=True)
def datasets(ctx: typer.Context) -> None:
    """List the datasets available now (same as `recbench datasets list`)."""
    if ctx.invoked_subcommand is None:
        list_datasets()


@datasets_app.command("list")
def list_datasets() -> None:
    """List registry datasets and whether they load offline now; files work via --dataset PATH."""
    t = Table(title="recbench datasets")
    t.add_column("name", style="bold")
    t.add_column("ratings", justify="right")
    t.add_column("users", justify="right")
    t.add_column("items", justify="right")
    t.add_column("available")
    t.add_column("license")
    for r in available():
        name = r["name"] + (" (default)" if r["name"] == DEFAULT_DATASET else "")
        avail = "[green]bundled[/]" if r["bundled"] else ("yes" if r["available"] else "no")
        t.add_row(
            name,
            f"{r['ratings']:,}" if r["ratings"] else "?",
            f"{r['users']:,}" if r["users"] else "?",
            f"{r['items']:,}" if r["items"] else "?",
            avail,
            r["license"].split(":")[0],
        )
    t.caption = (
        "Any CSV/TSV/Parquet ratings file: --dataset PATH "
        "[--columns user,item,rating,timestamp] [--sep '\\t']"
    )
    out.print(t)


def register(app: typer.Typer) -> None:
    app.command()(algorithms)
    app.add_typer(datasets_app, name="datasets")
