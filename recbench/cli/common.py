"""Shared CLI plumbing: global state, consoles, notes and warnings, dataset loading, the
experiment progress bar, and writing results files."""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape

from recbench.atomic import atomic_write_text
from recbench.data import (
    Dataset,
    DatasetSpec,
    Preprocessing,
    clean_stale_data_dir,
    default_data_dir,
    load_dataset,
    resolve_source,
)
from recbench.data.oserrors import disk_error_message
from recbench.data.preprocess import apply as apply_preprocessing
from recbench.data.preprocess import summary_line
from recbench.data.text import strip_control
from recbench.errors import UsageError
from recbench.split import Split, SplitSpec

if TYPE_CHECKING:
    from recbench.evaluation import EvalConfig
    from recbench.experiment import AlgoSpec, ExperimentResult
    from recbench.store.live import LiveRun

#: the largest --seed (the numeric libraries take 32-bit seeds)
MAX_SEED = 2**32 - 1
#: exit status when the reader of standard output went away (128 + SIGPIPE, as a shell says)
PIPE_CLOSED = 141


def silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's last flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


class _Output(Console):
    """Standard output. A closed pipe (``recbench ... | head``) exits 141 quietly; rich's own
    handler exits 1, which is --fail-if's status."""

    def on_broken_pipe(self) -> None:
        if self.quiet:
            return
        silence_stdout()
        raise SystemExit(PIPE_CLOSED)


out = _Output(highlight=False, soft_wrap=False)
if not out.is_terminal and "COLUMNS" not in os.environ:
    # Piped or captured output (CI logs, files): wide enough that tables do not wrap cells.
    out = _Output(highlight=False, soft_wrap=False, width=160)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def os_error_exit(exc: OSError) -> tuple[int, str | None]:
    """Exit status and one-line message for an OS error that reached the top: a closed pipe
    (141, no message), a full or read-only disk (2, advice), else (3, None): a bug."""
    if isinstance(exc, BrokenPipeError) or exc.errno == errno.EPIPE:
        return PIPE_CLOSED, None
    message = disk_error_message(exc)
    return (2, message) if message is not None else (3, None)


@dataclass
class State:
    """Global options, shared by every command through the Typer context."""

    seed: int = 0
    #: the data directory (--data-dir, $RECBENCH_DATA or the user cache directory): datasets,
    #: the parsed-data cache, studies and the results store
    data_dir: Path = field(default_factory=default_data_dir)
    debug: bool = False
    quiet: bool = False


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, State) else State()


def info(st: State, message: str) -> None:
    """A note on stderr (not with --quiet); printed as is, never read as rich markup."""
    if not st.quiet:
        err.print(strip_control(message), markup=False)


def warn(message: str) -> None:
    """``warning: ...`` on stderr, even with --quiet."""
    err.print(f"warning: {strip_control(message)}", markup=False)


def clean_leftovers(st: State) -> None:
    """At start-up: remove what killed recbench processes left in the data directory."""
    clean_stale_data_dir(st.data_dir)


def get_dataset(
    st: State, spec: DatasetSpec, prep: Preprocessing | None = None
) -> tuple[Dataset, DatasetSpec]:
    """Load (from the cache when possible) and preprocess; notes and warnings go to stderr.

    Returns the dataset and the spec to record (a file path made absolute)."""
    source = resolve_source(spec, st.data_dir)
    with status(st, f"loading {source.spec.dataset}"):
        ds = load_dataset(source, st.data_dir, note=lambda message: info(st, message))
    for message in ds.source.get("warnings") or []:
        warn(f"{ds.name}: {message}")
    if prep is not None and not prep.is_identity:
        ds, summary = apply_preprocessing(ds, prep)
        info(st, summary_line(summary))
    return ds, source.spec


@contextmanager
def status(st: State, message: str) -> Iterator[None]:
    """A spinner on stderr while a step runs (terminals only)."""
    if st.quiet or not err.is_terminal:
        yield
        return
    with err.status(escape(message)):
        yield


def model_split(
    st: State, model: Path, manifest: dict[str, Any], split: str | None
) -> tuple[Dataset, Split, SplitSpec, int]:
    """The dataset and split a model was fitted on (pipeline.model_data), with progress."""
    from recbench.pipeline import model_data

    return model_data(model, manifest, split, lambda d, p: get_dataset(st, d, p)[0])


def start_live(
    st: State,
    ds: Dataset,
    split: SplitSpec,
    rows_for: Callable[[int], list[AlgoSpec]],
    repeats: int,
    eval_config: EvalConfig,
    no_store: bool,
    asked: list[AlgoSpec],
    options: dict[str, Any],
) -> LiveRun | None:
    """Before compare's cells: its store run, recorded cell by cell (None with --no-store). A
    matching interrupted or failed compare is resumed, saying so."""
    if no_store:
        return None
    from recbench.store import Store
    from recbench.study.command import open_live

    rows = {seed: rows_for(seed) for seed in range(st.seed, st.seed + repeats)}
    store = Store.in_data_dir(st.data_dir)
    live, note, warning = open_live(store, ds, split, rows, eval_config, asked, options, st.seed)
    if warning is not None:
        warn(warning)
    if note is not None:
        info(st, note)
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
    """After compare/evaluate: write ``--save-study`` and record the run (unless --no-store)."""
    from recbench.store import Store
    from recbench.study.command import record_run, study_text

    text = study_text(command, specs, options, st.seed)
    if save_study is not None:
        if text is None:
            raise UsageError(f"--save-study applies to `recbench {command} --algo/--algos`")
        write_results(save_study, text)
        info(st, f"wrote study file {save_study} (run it with: recbench run {save_study})")
    if no_store:
        return None
    return recorded(st, record_run(Store.in_data_dir(st.data_dir), res, command, text, options,
                                   live))  # fmt: skip


def recorded(st: State, record: Callable[[], str | None]) -> str | None:
    """Record a run; a failed write is a warning (the results are printed all the same)."""
    from recbench.store.runs import StoreWriteError
    from recbench.study.command import recording_failure

    try:
        run_id = record()
    except (StoreWriteError, OSError) as exc:
        warn(recording_failure(exc))
        return None
    if run_id is not None:
        info(st, f"recorded run {run_id} (see: recbench runs show {run_id})")
    return run_id


def write_report(
    st: State, runs: list[str], output: Path, metrics: tuple[str, ...] | None = None
) -> None:
    """Build the HTML report of stored runs and write it atomically."""
    from recbench.report import report_page
    from recbench.store import Store

    with status(st, "building the report"):
        page, notes = report_page(
            Store.in_data_dir(st.data_dir), runs, metrics, st.data_dir / "cache"
        )
    for note in notes:
        warn(note)
    write_results(output, page)
    info(st, f"wrote report {output} ({output.stat().st_size / 1e6:.2f} MB)")


def write_results(path: Path, text: str) -> None:
    """Write a results file atomically (never half-written; mode from the umask)."""
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise UsageError(f"could not write --output {path} ({exc.strerror})") from None
