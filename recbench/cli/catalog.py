"""`recbench algorithms` and `recbench datasets`: what can be run, on what.

The ``datasets`` group lists, describes, downloads, imports, adds and removes datasets. Each
command is a thin wrapper over ``recbench.data`` (store, loading, summary); this module only
parses options, draws progress and renders.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import TracebackType
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.progress import Progress as RichProgress
from rich.table import Table

from recbench import data
from recbench.algorithms.plugins import describe_all, load
from recbench.algorithms.space import describe_space
from recbench.cli.common import err, info, out, state, status
from recbench.data.loading import DEFAULT_DATASET, DatasetSpec, available, load_dataset, resolve
from recbench.data.registry import get_entry, registry
from recbench.data.summary import dataset_summary
from recbench.data.user_datasets import USER_FORMATS
from recbench.errors import UsageError

datasets_app = typer.Typer(
    help="List, describe, download, import, add and remove datasets.",
    no_args_is_help=False,
)

FormatOpt = Annotated[str, typer.Option("--format", "-f", help="table or json.")]


def _check_format(fmt: str) -> None:
    if fmt not in ("table", "json"):
        raise UsageError(f"unknown --format '{fmt}' (use table or json)")


def algorithms(
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
) -> None:
    """List registered algorithms: family, tasks, parameters with defaults, availability."""
    _check_format(fmt)
    rows = describe_all()
    spaces = {r.name: _search_space(r.name) for r in rows}
    if fmt == "json":
        docs = [{**r.__dict__, "search_space": spaces[r.name]} for r in rows]
        typer.echo(json.dumps(docs, indent=2, default=str))
        return
    t = Table(title="recbench algorithms (entry-point group recbench.algorithms)")
    t.add_column("name", style="bold")
    t.add_column("family")
    t.add_column("tasks")
    t.add_column("parameters (defaults; tune: search range)")
    t.add_column("available")
    t.add_column("from", style="dim")
    t.show_lines = True
    for r in rows:
        sp = spaces[r.name]
        params = (
            "\n".join(
                f"{k}={v}" + (f"  [dim]tune {escape(sp[k])}[/]" if k in sp else "")
                for k, v in r.params.items()
            )
            or "—"
        )
        avail = "[green]yes[/]" if r.available else f"[red]no[/]: {r.install}"
        src = r.source if r.package in ("recbench", "?") else f"{r.source} ({r.package})"
        t.add_row(r.name, r.family, ", ".join(r.tasks) or "—", params, avail, src)
    out.print(t)


def _search_space(name: str) -> dict[str, str]:
    """An algorithm's tuning dimensions as text (empty when it does not load)."""
    try:
        return describe_space(load(name).search_space)
    except UsageError:
        return {}


# --- progress ----------------------------------------------------------------------------------


class RichDownloadProgress:
    """A rich progress bar that speaks the tqdm subset pooch's HTTPDownloader uses.

    pooch sets ``total`` and calls ``update(n)``, ``reset()`` and ``close()``; recbench's store
    also reports stages (``stage("extracting ...")``), shown as the bar's description. Use it as
    a context manager; it draws on stderr and disappears when done.
    """

    def __init__(self, label: str) -> None:
        self.label = label
        self._bar = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        )
        self._task: TaskID = self._bar.add_task(escape(label), total=None)
        self._total: int | float | None = None
        self.n = 0

    def __enter__(self) -> RichDownloadProgress:
        self._bar.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._bar.stop()

    @property
    def total(self) -> int | float | None:
        return self._total

    @total.setter
    def total(self, value: int | float | None) -> None:
        self._total = value or None  # pooch passes 0 when the server sends no length
        self._bar.update(self._task, total=self._total)

    def update(self, n: int) -> None:
        self.n += n
        self._bar.update(self._task, completed=self.n)

    def reset(self) -> None:
        self.n = 0
        self._bar.reset(self._task, total=self._total)

    def close(self) -> None:
        if self._total:
            self._bar.update(self._task, completed=self._total)

    def stage(self, message: str) -> None:
        self._bar.update(self._task, description=escape(f"{self.label}: {message}"))


class _NoProgress:
    """Stand-in when --quiet: nothing is drawn."""

    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


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


def _count(v: Any) -> str:
    return f"{v:,}" if isinstance(v, int) else "?"


@datasets_app.command("list")
def list_datasets(ctx: typer.Context, fmt: FormatOpt = "table") -> None:
    """List built-in and your own datasets: size, license, and whether each is here now."""
    _check_format(fmt)
    rows = available(state(ctx).cache_dir)
    if fmt == "json":
        typer.echo(json.dumps(rows, indent=2))
        return
    t = Table(title="recbench datasets")
    t.add_column("name", style="bold")
    t.add_column("ratings", justify="right")
    t.add_column("users", justify="right")
    t.add_column("items", justify="right")
    t.add_column("size", justify="right")
    t.add_column("here")
    t.add_column("license")
    styles = {"bundled": "green", "downloaded": "green", "imported": "green", "user": "cyan"}
    for r in rows:
        name = r["name"] + (" (default)" if r["name"] == DEFAULT_DATASET else "")
        st = r["status"]
        if r["verified"] == "unverified":
            st += " (unverified)"
        colour = styles.get(r["status"], "dim")
        t.add_row(
            escape(name),
            _count(r["ratings"]),
            _count(r["users"]),
            _count(r["items"]),
            r["size"] or "",
            f"[{colour}]{escape(st)}[/]",
            escape(r["license"].split(":")[0]),
        )
    t.caption = (
        "recbench datasets download NAME | import NAME PATH | add NAME FILE --format csv. "
        "Any CSV/TSV/Parquet/Netflix file also works as --dataset PATH "
        "[--columns user,item,rating,timestamp] [--sep '\\t']"
    )
    out.print(t)


@datasets_app.command("info")
def info_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Dataset name (or a ratings file path).")],
    fmt: FormatOpt = "table",
) -> None:
    """Describe a dataset: counts, density, rating histogram, time span, features, license."""
    _check_format(fmt)
    st = state(ctx)
    if name in registry():
        entry = get_entry(name)
        if not entry.bundled and data.read_install_manifest(st.cache_dir, name) is None:
            doc = {**entry.to_dict(), "status": "not installed"}
            doc["get_it"] = data.not_installed_message(name)
            if fmt == "json":
                typer.echo(json.dumps(doc, indent=2, default=str))
                return
            t = Table(title=f"{name}: {entry.title}", show_header=False)
            t.add_column(style="bold")
            t.add_column()
            for key in ("ratings", "users", "items"):
                t.add_row(key, _count(doc[key]))
            t.add_row("rating scale", str(entry.rating_scale or "?"))
            t.add_row("features", ", ".join(entry.features) or "—")
            if entry.split:
                t.add_row("split", f"{entry.split} (its own train/test files: --split given)")
            t.add_row("size", entry.size or "?")
            t.add_row("license", entry.license)
            t.add_row("citation", entry.citation)
            t.add_row("status", f"[yellow]{escape(doc['get_it'])}[/]")
            out.print(t)
            return
    spec = resolve(DatasetSpec(name), st.cache_dir)
    with status(st, f"loading {spec.dataset}"):
        ds = load_dataset(spec, st.cache_dir)
    doc = dataset_summary(ds)
    manifest = data.read_install_manifest(st.cache_dir, name) if name in registry() else None
    if manifest is not None:
        doc["installed"] = {
            "action": manifest.get("action"),
            "origin": manifest.get("origin"),
            "when": manifest.get("installed"),
            "verification": manifest.get("verification"),
        }
    if fmt == "json":
        typer.echo(json.dumps(doc, indent=2, default=str))
        return
    _render_info(doc)


def _render_info(doc: dict[str, Any]) -> None:
    t = Table(title=f"{doc['name']}", show_header=False)
    t.add_column(style="bold")
    t.add_column()
    t.add_row("ratings", f"{doc['ratings']:,}")
    t.add_row("users", f"{doc['users']:,}")
    rated = f" ({doc['items_rated']:,} rated)" if doc["items_rated"] != doc["items"] else ""
    t.add_row("items", f"{doc['items']:,}{rated}")
    t.add_row("density", f"{doc['density']:.4%}")
    for key in ("ratings_per_user", "ratings_per_item"):
        s = doc[key]
        t.add_row(
            key.replace("_", " "), f"min {s['min']:,}, median {s['median']:g}, max {s['max']:,}"
        )
    if doc["implicit"]:
        t.add_row("ratings", "implicit (no rating values)")
    else:
        peak = max(c for _, c in doc["rating_histogram"]) or 1
        lines = [
            f"{label:>8} {'█' * max(1, round(30 * c / peak))} {c:,}"
            for label, c in doc["rating_histogram"]
        ]
        t.add_row("rating histogram", "\n".join(lines))
    span = doc["time_span"]
    t.add_row(
        "time span", f"{span['first']} to {span['last']} ({span['days']:,} days)" if span else "—"
    )
    t.add_row("item features", ", ".join(doc["item_features"]) or "—")
    if doc.get("genres"):
        t.add_row("genres", f"{len(doc['genres'])}: " + ", ".join(doc["genres"]))
    t.add_row("user features", ", ".join(doc["user_features"]) or "—")
    if doc.get("parts"):
        counts = ", ".join(f"{n:,} {part}" for part, n in doc["parts"].items())
        t.add_row("given split", f"{counts} (--split given)")
    src = doc["source"]
    where = src.get("path", "")
    t.add_row("source", f"{src.get('kind', '?')}: {where}")
    if src.get("order"):
        t.add_row("event order", str(src["order"]))
    for note in src.get("notes") or []:
        t.add_row("note", escape(str(note)))
    if "installed" in doc and doc["installed"]["verification"]:
        v = doc["installed"]["verification"]
        t.add_row("verification", f"{v['status']} ({v['method']})")
    dropped = {k: v for k, v in src.items() if k.endswith("_dropped") and v}
    if dropped:
        t.add_row(
            "cleaning", ", ".join(f"{k.replace('_', ' ')}: {v:,}" for k, v in dropped.items())
        )
    if doc["license"]:
        t.add_row("license", doc["license"])
    if doc["citation"]:
        t.add_row("citation", doc["citation"])
    t.add_row("checksum", doc["checksum"][:16] + "…")
    out.print(t)


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
    bar = RichDownloadProgress(name) if not st.quiet else None
    with bar or _NoProgress():
        report = data.download_dataset(
            name,
            st.cache_dir,
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
        report = data.import_dataset(name, path, st.cache_dir, force=force)
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
    columns: Annotated[
        str | None,
        typer.Option(help="Column roles in file order, e.g. user,item,rating,timestamp."),
    ] = None,
    sep: Annotated[
        str | None,
        typer.Option(
            help="Field separator: ',', ';', '|', '::', tab ('\\t' or tab) or space (' ' or "
            "space); default: sniffed from line 1."
        ),
    ] = None,
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
            st.cache_dir,
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
    removed = data.remove_dataset(name, st.cache_dir)
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
        record, ds = synth_dataset(name, cfg, st.cache_dir, force=force)
    info(
        st,
        f"generated {record.name}: {len(ds.interactions):,} ratings, {ds.n_users:,} users, "
        f"{ds.n_items:,} items ({record.path}); use --dataset {record.name}",
    )


def register(app: typer.Typer) -> None:
    app.command()(algorithms)
    app.add_typer(datasets_app, name="datasets")
