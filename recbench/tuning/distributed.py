"""Tuning trials on Dask: ``recbench tune ALGO --workers N`` / ``--scheduler ADDRESS``.

Each Dask task is one trial loop (:func:`recbench.tuning.search.run_trials`): it asks the study
for a trial under the study's ask lock, evaluates it and tells the result, until the trial
budget or the deadline is reached, exactly as the ``--jobs N`` worker processes do. The loops
share the study's Optuna journal file, so the journal (``DATA/studies/NAME.journal`` with
``--study``, else a temporary directory) and its lock files must be on a filesystem every
worker sees: a LocalCluster always does; a cluster on other machines needs ``--data-dir`` on a
shared filesystem and ``--study``. A loop that cannot see the journal fails with a one-line
error saying so.

The cluster itself is started (or connected to) by :mod:`recbench.executors`; this module only
needs its Dask client. A worker that dies mid-trial is replaced and its loop rerun by Dask;
the trial it was running stays ``running`` in the journal and is marked interrupted (and
rerun) when the study resumes.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from recbench.errors import UsageError
from recbench.tuning.search import TrialRunner, TuneSpec, _Work, run_trials

#: seconds between progress polls of the journal while the loops run
POLL_SECONDS = 0.5


def check_jobs(jobs: int, workers: int | None, scheduler: str | None) -> None:
    """``--jobs`` (trial processes here) and ``--workers``/``--scheduler`` (trials on Dask)
    are two ways to run trials in parallel: one of them, not both."""
    if (workers is not None or scheduler is not None) and jobs != 1:
        flag = "--workers" if workers is not None else "--scheduler"
        raise UsageError(
            f"give --jobs N (trial processes here) or {flag} (trials on Dask), not both"
        )


def _trial_loop(work: _Work, stop: Any) -> None:
    """A Dask task: trials against the shared journal until the budget is used or ``stop``."""
    if not work.files.journal.exists():
        raise UsageError(
            f"the study's journal {work.files.journal} is not visible on Dask worker "
            f"{os.uname().nodename}: put --data-dir on a filesystem every worker shares "
            "and name the study with --study"
        )
    run_trials(work, stop)


def run_on_dask(
    client: Any, loops: int, work: _Work, on_poll: Callable[[], None], poll: float = POLL_SECONDS
) -> None:
    """Run ``loops`` trial loops as Dask tasks on ``client``'s cluster; ``on_poll`` is called
    about every ``poll`` seconds. A loop's error stops the others after their current trial
    and is raised here; so is an interrupt of this process."""
    from distributed import Event

    tag = os.urandom(4).hex()
    stop = Event(f"recbench-tune-stop-{tag}", client=client)
    data = client.scatter(work, hash=False)
    futures = [
        client.submit(_trial_loop, data, stop, pure=False, key=f"recbench-trials-{i}-{tag}")
        for i in range(loops)
    ]
    try:
        while not all(f.done() for f in futures):
            if any(f.status == "error" for f in futures):
                stop.set()  # the others end after their current trial
            time.sleep(poll)
            on_poll()
        client.gather(futures)  # re-raise a loop's error
    except BaseException:
        stop.set()
        raise
    finally:
        for f in futures:
            f.release()
        data.release()


def dask_trials(client: Any, loops: int) -> TrialRunner:
    """The trial runner :func:`recbench.tuning.search.search` takes: ``loops`` loops on Dask."""
    if loops < 1:
        raise UsageError(f"the Dask cluster has no worker threads to run trials on ({loops})")
    return functools.partial(run_on_dask, client, loops)


def trials_on(executor: Any | None, spec: TuneSpec) -> tuple[TuneSpec, TrialRunner | None]:
    """``spec`` and the trial runner for a Dask executor (one with ``client`` and ``cores``,
    from :func:`recbench.executors.make_executor`; None: trials as ``spec.jobs`` says). On Dask
    one loop runs per worker thread, as ``--jobs`` would (a constant-liar sampler, one
    thread per fit)."""
    if executor is None:
        return spec, None
    loops = int(executor.cores)
    return replace(spec, jobs=loops), dask_trials(executor.client, loops)
