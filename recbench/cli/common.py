"""Shared CLI plumbing: global state, consoles, dataset loading, progress, output files."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from recbench.algorithms import plugins
from recbench.data import Dataset, DatasetSpec, default_data_dir, load_dataset
from recbench.data.loading import resolve
from recbench.data.preprocess import Preprocessing
from recbench.data.preprocess import apply as apply_preprocessing
from recbench.errors import UsageError
from recbench.experiment import AlgoSpec, Event
from recbench.metrics import ALIASES, METRICS

out = Console(highlight=False, soft_wrap=False)
if not out.is_terminal and "COLUMNS" not in os.environ:
    # Piped or captured output (CI logs, files): wide enough that tables do not wrap cells.
    out = Console(highlight=False, soft_wrap=False, width=160)
err = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass
class State:
    """Global options, shared by every command through the Typer context."""

    seed: int = 0
    data_dir: Path | None = None
    debug: bool = False
    quiet: bool = False

    @property
    def cache_dir(self) -> Path:
        return self.data_dir or default_data_dir()


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, State) else State()


def info(st: State, message: str) -> None:
    if not st.quiet:
        err.print(message)


def get_dataset(
    st: State, spec: DatasetSpec, prep: Preprocessing | None = None
) -> tuple[Dataset, DatasetSpec]:
    """Load (from the cache when possible) and preprocess; notes go to stderr."""
    spec = resolve(spec, st.cache_dir)
    with status(st, f"loading {spec.dataset}"):
        ds = load_dataset(spec, cache_dir=st.cache_dir)
    if prep is not None and not prep.is_identity:
        ds, summary = apply_preprocessing(ds, prep)
        info(
            st,
            f"preprocessing ({summary['description']}): removed "
            f"{summary['ratings_removed']:,} ratings, {summary['users_removed']:,} users, "
            f"{summary['items_removed']:,} items",
        )
    return ds, spec


@contextmanager
def status(st: State, message: str) -> Iterator[None]:
    if st.quiet or not err.is_terminal:
        yield
        return
    with err.status(message):
        yield


def parse_ks(text: str) -> tuple[int, ...]:
    ks: list[int] = []
    for part in text.split(","):
        part = part.strip()
        try:
            k = int(part)
        except ValueError:
            raise UsageError(
                f"--k expects whole numbers like 10 or 5,10,20, got '{part}'"
            ) from None
        if k <= 0:
            raise UsageError(f"--k must be positive, got {k}")
        if k not in ks:
            ks.append(k)
    return tuple(ks)


_ALGO_RE = re.compile(r"\s*([A-Za-z0-9_.\-]+)\s*(?:\[(.*)\])?\s*", re.S)


def split_algo_list(text: str) -> list[tuple[str, dict[str, str], str | None]]:
    """``a,b[k=v,k2=v2],b[k=w]`` -> [(name, params, variant), ...] (commas inside [] kept)."""
    parts: list[str] = []
    depth, cur = 0, ""
    for ch in text:
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if depth < 0:
            raise UsageError(f"--algos '{text}': ']' without '['")
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if depth:
        raise UsageError(f"--algos '{text}': '[' without ']'")
    parts.append(cur)
    out = []
    for part in parts:
        if not part.strip():
            continue
        m = _ALGO_RE.fullmatch(part)
        if not m:
            raise UsageError(f"--algos: cannot read '{part.strip()}' (use NAME or NAME[k=v,...])")
        name, inner = m.group(1), m.group(2)
        params: dict[str, str] = {}
        variant = None
        if inner is not None:
            pairs = [p for p in re.split(r"[,;]", inner) if p.strip()]
            params = plugins.parse_params(pairs)
            variant = ",".join(f"{k}={v}" for k, v in params.items())
        out.append((name, params, variant))
    return out


def parse_algos(text: str | None, param_pairs: list[str] | None) -> list[AlgoSpec]:
    """``--algos`` plus ``--param [algo.]name=value`` -> validated AlgoSpecs.

    Entries are ``name`` or ``name[k=v,...]`` (a labelled configuration; several of one
    algorithm may share a table). A bare ``--param name=value`` applies to every selected
    algorithm that has that parameter (an error when none has it); ``algo.name=value`` targets
    the entries of one algorithm. Values inside brackets win over ``--param``.
    """
    if text is None:
        entries = []
        for n in plugins.entries():
            try:
                cls = plugins.load(n)
            except UsageError:
                continue
            if not cls.missing_requirements():
                entries.append((n, {}, None))
    else:
        entries = split_algo_list(text)
        if not entries:
            raise UsageError("--algos is empty")
    names = list(dict.fromkeys(n for n, _, _ in entries))
    classes = {n: plugins.load(n) for n in names}
    for n, cls in classes.items():
        plugins.ensure_available(n, cls)
    shared: dict[str, dict[str, Any]] = {n: {} for n in names}
    for key, value in plugins.parse_params(param_pairs).items():
        algo, dot, pname = key.rpartition(".")
        if dot:
            if algo not in shared:
                raise UsageError(
                    f"--param {key}: '{algo}' is not among --algos ({', '.join(names)})"
                )
            shared[algo][pname] = value
            continue
        takers = [n for n, cls in classes.items() if pname in cls.Config.model_fields]
        if not takers:
            raise UsageError(
                f"unknown parameter '{pname}': none of {', '.join(names)} has it "
                "(see `recbench algorithms`)"
            )
        for n in takers:
            shared[n][pname] = value
    specs: list[AlgoSpec] = []
    for n, own, variant in entries:
        params = {**shared[n], **own}
        config = plugins.make_config(n, classes[n], params)  # validates, naming the parameter
        typed = {k: getattr(config, k) for k in params}  # "10" -> 10 in results and manifests
        specs.append(AlgoSpec(n, typed, variant))
    labels = [s.label for s in specs]
    dup = sorted({lab for lab in labels if labels.count(lab) > 1})
    if dup:
        raise UsageError(f"--algos lists '{dup[0]}' twice")
    return specs


@dataclass(frozen=True)
class FailIf:
    text: str
    algorithm: str | None
    metric: str
    k: int | None
    op: str
    value: float

    def key(self) -> str:
        return self.metric if self.k is None else f"{self.metric}@{self.k}"

    def triggered(self, actual: float) -> bool:
        return {
            "<": actual < self.value,
            "<=": actual <= self.value,
            ">": actual > self.value,
            ">=": actual >= self.value,
        }[self.op]


_FAIL_RE = re.compile(
    r"^\s*(?:(?P<algo>[^:]+?)\s*:)?\s*(?P<metric>[A-Za-z]+)\s*(?:@\s*(?P<k>\d+))?"
    r"\s*(?P<op><=|>=|<|>)\s*(?P<val>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)


def parse_fail_if(texts: list[str] | None, ks: tuple[int, ...]) -> list[FailIf]:
    conds = []
    for text in texts or []:
        m = _FAIL_RE.match(text)
        if not m:
            raise UsageError(
                f"--fail-if '{text}' is not METRIC[@K] OP VALUE, e.g. 'ndcg@10<0.30' or "
                "'svd:rmse>0.95'"
            )
        metric = m["metric"].lower()
        metric = ALIASES.get(metric, metric)
        if metric not in METRICS:
            raise UsageError(f"--fail-if '{text}': unknown metric '{m['metric']}'")
        kind = METRICS[metric].kind
        k = int(m["k"]) if m["k"] else None
        if kind == "ranking" and k is None:
            raise UsageError(f"--fail-if '{text}': {metric} needs @K, e.g. {metric}@{ks[0]}")
        if kind == "rating" and k is not None:
            raise UsageError(f"--fail-if '{text}': {metric} takes no @K")
        if k is not None and k not in ks:
            raise UsageError(
                f"--fail-if '{text}': K={k} is not computed (--k {','.join(map(str, ks))})"
            )
        conds.append(FailIf(text.strip(), m["algo"], metric, k, m["op"], float(m["val"])))
    return conds


@contextmanager
def progress_bar(st: State, total: int) -> Iterator[Any]:
    """A rich progress bar over experiment cells; yields an Event callback."""
    if st.quiet:
        yield None
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    task = bar.add_task("starting", total=total)

    def on_event(ev: Event) -> None:
        fold = f" fold {ev.fold + 1}/{ev.n_folds}" if ev.n_folds > 1 else ""
        name = escape(ev.algorithm)
        if ev.kind == "cell-start":
            bar.update(task, description=f"{name}{fold}: fitting")
        elif ev.kind == "train-progress":
            loss = f", loss {ev.loss:.4f}" if ev.loss is not None else ""
            bar.update(task, description=f"{name}{fold}: epoch {ev.done}/{ev.total}{loss}")
        elif ev.kind == "eval-progress":
            bar.update(task, description=f"{name}{fold}: ranking {ev.done}/{ev.total} users")
        elif ev.kind == "cell-done":
            bar.advance(task)

    with bar:
        yield on_event


def write_atomic(path: Path, text: str) -> None:
    """Write a results file via a temporary file + rename: never half-written."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"--output {path} is a directory")
    if not path.parent.exists():
        raise UsageError(f"--output: directory {path.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


FORMAT_BY_SUFFIX = {".json": "json", ".csv": "csv", ".md": "markdown", ".tex": "latex"}
