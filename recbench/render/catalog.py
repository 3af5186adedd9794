"""Rich tables for the catalogue commands (``recbench algorithms``, ``datasets list | info``)
and the download progress bar; they take what the library describes and read nothing."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from rich.console import Console
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

from recbench.algorithms.plugins import load
from recbench.algorithms.space import describe_space
from recbench.errors import UsageError


def algorithms_table(rows: list[Any], spaces: dict[str, dict[str, str]]) -> Table:
    """``recbench algorithms``: one row per registered algorithm (plugins.describe_all)."""
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
    return t


def search_space(name: str) -> dict[str, str]:
    """An algorithm's tuning dimensions as text (empty when it does not load)."""
    try:
        return describe_space(load(name).search_space)
    except UsageError:
        return {}


def _count(v: Any) -> str:
    return f"{v:,}" if isinstance(v, int) else "?"


def datasets_table(rows: list[dict[str, Any]], default: str) -> Table:
    """``recbench datasets list``: one row per dataset (data.loading.available)."""
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
        name = r["name"] + (" (default)" if r["name"] == default else "")
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
    return t


def info_table(doc: dict[str, Any]) -> Table:
    """``recbench datasets info``: a dataset's summary, or how to get one not installed."""
    if doc.get("status") != "not installed":
        return _installed_table(doc)
    t = Table(title=f"{doc['name']}: {doc['title']}", show_header=False)
    t.add_column(style="bold")
    t.add_column()
    for key in ("ratings", "users", "items"):
        t.add_row(key, _count(doc[key]))
    t.add_row("rating scale", str(doc.get("rating_scale") or "?"))
    t.add_row("features", ", ".join(doc.get("features") or []) or "—")
    if doc.get("split"):
        t.add_row("split", f"{doc['split']} (its own train/test files: --split given)")
    t.add_row("size", doc.get("size") or "?")
    t.add_row("license", doc.get("license") or "")
    t.add_row("citation", doc.get("citation") or "")
    t.add_row("status", f"[yellow]{escape(doc['get_it'])}[/]")
    return t


def _installed_table(doc: dict[str, Any]) -> Table:
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
    return t


class RichDownloadProgress:
    """A rich progress bar that speaks the tqdm subset pooch's HTTPDownloader uses.

    pooch sets ``total`` and calls ``update(n)``, ``reset()`` and ``close()``; recbench's store
    also reports stages (``stage("extracting ...")``), shown as the bar's description. Use it as
    a context manager; it draws on stderr and disappears when done.
    """

    def __init__(self, label: str, console: Console) -> None:
        self.label = label
        self._bar = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
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
