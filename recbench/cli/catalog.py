"""`recbench algorithms` and `recbench datasets`: what can be run, on what.

The ``datasets`` group lists, describes, downloads, imports, adds and removes datasets. Each
command is a thin wrapper over ``recbench.data`` (store, loading, summary); this module only
parses options, draws progress and renders.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer

from recbench import data
from recbench.algorithms.plugins import describe_all
from recbench.cli.common import err, info, out, state, status
from recbench.cli.options import ColumnsOpt, SepOpt, table_or_json
from recbench.data.catalog import dataset_info
from recbench.data.loading import DEFAULT_DATASET, available
from recbench.data.registry import registry
from recbench.data.user_datasets import USER_FORMATS
from recbench.errors import UsageError
from recbench.render.catalog import (
    RichDownloadProgress,
    algorithms_table,
    datasets_table,
    info_table,
    search_space,
)

datasets_app = typer.Typer(
    help="List, describe, download, import, add and remove datasets.",
    no_args_is_help=False,
)

FormatOpt = Annotated[str, typer.Option("--format", "-f", help="table or json.")]


def algorithms(
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
) -> None:
    """List registered algorithms: family, tasks, parameters with defaults, availability."""
    fmt = table_or_json(fmt, "algorithms")
    rows = describe_all()
    spaces = {r.name: search_space(r.name) for r in rows}
    if fmt == "json":
        docs = [{**r.__dict__, "search_space": spaces[r.name]} for r in rows]
        typer.echo(json.dumps(docs, indent=2, default=str))
        return
    t = algorithms_table(rows, spaces)
    out.print(t)


# --- progress ----------------------------------------------------------------------------------


def _print_report(report: data.InstallReport, quiet: bool) -> None:
    if quiet:
        return
    for line in report.lines():
        style = ""
        if "not verified" in line or line.strip().startswith("verification: unverified"):
            style = "yellow"
        err.print(line, style=style or None, markup=False)


# --- commands ----------------------------------------------------------------------------------


@datasets_app.callback(invoke_without_command=True)
def datasets(ctx: typer.Context) -> None:
    """List datasets (same as `recbench datasets list`)."""
    if ctx.invoked_subcommand is None:
        list_datasets(ctx, fmt="table")


@datasets_app.command("list")
def list_datasets(ctx: typer.Context, fmt: FormatOpt = "table") -> None:
    """List built-in and your own datasets: size, license, and whether each is here now."""
    fmt = table_or_json(fmt, "datasets list")
    rows = available(state(ctx).data_dir)
    if fmt == "json":
        typer.echo(json.dumps(rows, indent=2))
        return
    t = datasets_table(rows, DEFAULT_DATASET)
    out.print(t)


@datasets_app.command("info")
def info_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Dataset name (or a ratings file path).")],
    fmt: FormatOpt = "table",
) -> None:
    """Describe a dataset: counts, density, rating histogram, time span, features, license."""
    fmt = table_or_json(fmt, "datasets info")
    st = state(ctx)
    with status(st, f"loading {name}"):
        doc = dataset_info(name, st.data_dir)
    if fmt == "json":
        typer.echo(json.dumps(doc, indent=2, default=str))
    else:
        out.print(info_table(doc))


@datasets_app.command("download")
def download_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Registry dataset, e.g. ml-1m.")],
    mirror: Annotated[
        str | None,
        typer.Option(
            envvar="RECBENCH_MIRROR",
            help="Base URL (or directory) serving the official archives; replaces the "
            "registry's base URL.",
        ),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds without data before retrying.")] = 60.0,
    retries: Annotated[int, typer.Option(help="Retries after a failed attempt.")] = 3,
    force: Annotated[bool, typer.Option(help="Download again even if installed.")] = False,
) -> None:
    """Download a dataset's official archive, verify its checksums, and install it."""
    st = state(ctx)
    if timeout <= 0:
        raise UsageError("--timeout must be positive")
    if retries < 0:
        raise UsageError("--retries must be >= 0")
    bar = RichDownloadProgress(name, err) if not st.quiet else None
    with bar or nullcontext():
        report = data.download_dataset(
            name,
            st.data_dir,
            mirror=mirror,
            progress=bar,
            on_stage=bar.stage if bar else None,
            timeout=timeout,
            retries=retries,
            force=force,
        )
    _print_report(report, st.quiet)


@datasets_app.command("import")
def import_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Registry dataset, e.g. ml-100k or netflix.")],
    path: Annotated[Path, typer.Argument(help="The official archive or an extracted directory.")],
    force: Annotated[bool, typer.Option(help="Replace an installed copy.")] = False,
) -> None:
    """Install a registry dataset from a copy you have; report what could not be verified."""
    st = state(ctx)
    with status(st, f"importing {name}"):
        report = data.import_dataset(name, path, st.data_dir, force=force)
    _print_report(report, st.quiet)


@datasets_app.command("add")
def add_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A name for --dataset (letters, digits, - _).")],
    path: Annotated[
        Path | None,
        typer.Argument(help="Your ratings file, or a sequence file or split directory."),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help=f"One of {', '.join(USER_FORMATS)}; default: told by the path's shape "
            "(a LightGCN/RecBole/NCF directory, .inter, Amazon JSON, S3-Rec lines), else csv.",
        ),
    ] = None,
    columns: ColumnsOpt = None,
    sep: SepOpt = None,
    item_features: Annotated[
        Path | None,
        typer.Option(help="CSV/TSV/Parquet of item features with an item id column."),
    ] = None,
    train: Annotated[
        Path | None, typer.Option(help="A given split's training table (with --test).")
    ] = None,
    valid: Annotated[Path | None, typer.Option(help="A given split's validation table.")] = None,
    test: Annotated[Path | None, typer.Option(help="A given split's test table.")] = None,
    force: Annotated[bool, typer.Option(help="Replace a dataset of the same name.")] = False,
) -> None:
    """Register your own ratings so `--dataset NAME` works in every command."""
    st = state(ctx)
    with status(st, f"reading {path or train}"):
        record, ds = data.add_dataset(
            name,
            path,
            st.data_dir,
            format=fmt,
            columns=columns,
            sep=sep,
            item_features=item_features,
            force=force,
            parts={"train": train, "valid": valid, "test": test},
        )
    info(
        st,
        f"added {record.name}: {len(ds.interactions):,} ratings, {ds.n_users:,} users, "
        f"{ds.n_items:,} items ({record.format}, {record.path}); "
        f"use --dataset {record.name}",
    )


@datasets_app.command("remove")
def remove_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A downloaded/imported or user dataset.")],
) -> None:
    """Remove a downloaded or imported copy (and its cache), or forget one of your datasets."""
    st = state(ctx)
    removed = data.remove_dataset(name, st.data_dir)
    for what in removed:
        info(st, f"removed {what}")
    if name not in registry():
        info(st, "your own files were left in place")


@datasets_app.command("synth")
def synth_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A name for --dataset (letters, digits, - _).")],
    users: Annotated[int, typer.Option(help="Number of users.")] = 10_000,
    items: Annotated[int, typer.Option(help="Number of items.")] = 2_000,
    ratings: Annotated[int, typer.Option(help="Number of ratings (exact).")] = 500_000,
    seed: Annotated[int | None, typer.Option(help="Generator seed (default: --seed).")] = None,
    rank: Annotated[int, typer.Option(help="Rank of the planted rating model.")] = 16,
    popularity_exponent: Annotated[
        float, typer.Option(help="Power-law exponent of item popularity.")
    ] = 1.0,
    activity_sigma: Annotated[float, typer.Option(help="Log-normal sigma of activity.")] = 1.0,
    min_user_ratings: Annotated[int, typer.Option(help="Fewest ratings per user.")] = 5,
    item_features: Annotated[
        bool, typer.Option("--item-features", help="Also write titles and genres.")
    ] = False,
    force: Annotated[bool, typer.Option(help="Replace a dataset of the same name.")] = False,
) -> None:
    """Generate a synthetic MovieLens-shaped dataset and register it as NAME."""
    from recbench.data.synth import SynthConfig, synth_dataset

    st = state(ctx)
    cfg = SynthConfig(
        n_users=users,
        n_items=items,
        n_ratings=ratings,
        seed=st.seed if seed is None else seed,
        rank=rank,
        popularity_exponent=popularity_exponent,
        activity_sigma=activity_sigma,
        min_user_ratings=min_user_ratings,
        item_features=item_features,
    )
    with status(st, f"generating {name}"):
        record, ds = synth_dataset(name, cfg, st.data_dir, force=force)
    info(
        st,
        f"generated {record.name}: {len(ds.interactions):,} ratings, {ds.n_users:,} users, "
        f"{ds.n_items:,} items ({record.path}); use --dataset {record.name}",
    )


def register(app: typer.Typer) -> None:
    app.command()(algorithms)
    app.add_typer(datasets_app, name="datasets")
