"""Progress on the terminal (stderr): experiment cells, tuning trials, and both in turn.

Drawn with rich and gone when done; nothing is drawn with ``quiet`` (and cells only on a
terminal). The CLI passes its stderr console.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

from recbench.experiment import Event

#: a tuning progress snapshot (recbench.tuning.records.TuneProgress: finished, target, running,
#: failed, pruned, best_value, best_params)
TuneProgress = Any


def counting_bar(console: Console) -> RichProgress:
    """The CLI's progress bar on stderr: description, bar, done/total, elapsed; gone when done."""
    return RichProgress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


@contextmanager
def cell_progress(
    console: Console, quiet: bool, total: int
) -> Iterator[Callable[[Event], None] | None]:
    """A rich progress bar over experiment cells (terminals only); yields an Event callback."""
    if quiet or not console.is_terminal:
        yield None
        return
    bar = counting_bar(console)
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


@contextmanager
def trial_bar(
    console: Console, quiet: bool, target: int | None, key: str
) -> Iterator[Callable[..., None]]:
    """A rich progress bar of tuning trials: count, best value so far, best parameters, elapsed;
    yields ``update(progress, label="trials")``."""
    if quiet or target == 0:
        yield lambda *args: None
        return
    bar = counting_bar(console)
    task = bar.add_task("trials", total=target)

    def update(p: TuneProgress, label: str = "trials") -> None:
        params = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in p.best_params.items()
        )
        best = (
            f"best {key} {p.best_value:.4f} ({params})"
            if p.best_value is not None
            else "no trial finished yet"
        )
        extra = f", {p.running} running" if p.running else ""
        extra += f", {p.pruned} pruned" if p.pruned else ""
        extra += f", {p.failed} failed" if p.failed else ""
        bar.update(
            task,
            completed=p.finished,
            total=p.target,
            description=escape(f"{label}{extra}: {best}"),
        )

    with bar:
        yield update


class RunDisplay:
    """The progress of one experiment: the tuning trials' bar, then the cells' bar (rich shows
    one live display at a time). ``cells()`` switches from the first to the second."""

    def __init__(self, console: Console, quiet: bool, tune_trials: int, key: str) -> None:
        self.console, self.quiet = console, quiet
        self._tune, self._cells = ExitStack(), ExitStack()
        self._show = self._tune.enter_context(trial_bar(console, quiet, tune_trials, key))
        self._event: Callable[[Event], None] | None = None

    def on_tune(self, label: str, progress: TuneProgress) -> None:
        self._show(progress, label)

    def on_event(self, event: Event) -> None:
        if self._event is not None:
            self._event(event)

    @property
    def events(self) -> Callable[[Event], None] | None:
        """The cell-event callback, None when no cell bar will be drawn (as
        :func:`cell_progress` yields None): a fit then gets no progress callback at all."""
        return None if self.quiet or not self.console.is_terminal else self.on_event

    def cells(self, n_cells: int) -> None:
        self._tune.close()
        self._event = self._cells.enter_context(cell_progress(self.console, self.quiet, n_cells))

    def close(self) -> None:
        self._tune.close()
        self._cells.close()


@contextmanager
def run_display(
    console: Console, quiet: bool, tune_trials: int = 0, key: str = ""
) -> Iterator[RunDisplay]:
    """A :class:`RunDisplay`, closed on the way out."""
    display = RunDisplay(console, quiet, tune_trials, key)
    try:
        yield display
    finally:
        display.close()
