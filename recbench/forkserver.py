"""The fork server that ``--workers N`` forks its Dask worker processes from.

A worker process needs numpy, pandas, scipy, Dask and the algorithms' libraries: about 1.5 s of
imports. multiprocessing's fork server imports them once and forks every worker from there, so
workers start without importing anything, and without forking this process (its threads and
OpenMP pools do not survive a fork).

Dask starts the fork server when it starts the first worker, after the command has imported
the CLI and loaded the data. :func:`start` starts it earlier, as the ``recbench`` command
starts (:mod:`recbench.cli.launch`), so that the server's imports run on a second core while
this process imports the CLI. Standard library only, so that it costs nothing itself.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os

#: what every worker needs, imported once by the fork server; a missing one is skipped.
#: The algorithms come from the plugin table (:mod:`recbench.algorithms.preload`: every
#: registered algorithm without an optional extra, so torch is left out: it takes longer to
#: import than most runs' cells).
WORKER_MODULES = (
    "__main__",  # the `recbench` script: workers then do not run it again
    "distributed",
    "numpy",
    "pandas",
    "scipy.sparse",
    "recbench.executors.cluster",
    "recbench.algorithms.preload",
)

#: thread counts Dask's nanny sets to 1 before it starts a worker (its
#: ``distributed.nanny.pre-spawn-environ``): one core per worker process, no idle threads
#: spinning. A fork server started before the nanny does not see them, so :func:`start`
#: gives them to it (values the user set are kept, as Dask keeps them).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

_started_early = False


def available() -> bool:
    """Whether this platform has a fork server (Linux, macOS; not Windows)."""
    return "forkserver" in multiprocessing.get_all_start_methods()


def started_early() -> bool:
    """Whether :func:`start` started the fork server in this process."""
    return _started_early


def preload() -> None:
    """Make the fork server, when it starts, import :data:`WORKER_MODULES`."""
    multiprocessing.get_context("forkserver").set_forkserver_preload(list(WORKER_MODULES))


def start() -> None:
    """Start the fork server now (if not running), importing :data:`WORKER_MODULES`, with one
    thread per worker process (:data:`THREAD_VARIABLES`). Returns at once: the server imports
    in its own process."""
    global _started_early
    preload()
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    # the server inherits this process's environment when it starts, and only then
    os.environ.update({name: value or "1" for name, value in saved.items()})
    try:
        multiprocessing.forkserver.ensure_running()
        _started_early = True
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
