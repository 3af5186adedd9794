"""The ``recbench`` command's entry point, light so that work can start before the CLI loads.

``--workers N`` (N > 1) forks its Dask workers from a fork server that imports what they need
(:mod:`recbench.forkserver`, about 1.5 s of CPU). Started here, before this process imports
the CLI (about 1 s), the two imports run side by side on two cores, and the workers are ready
soon after the data is loaded. With it (and lazier imports, and Dask's profiler off),
``recbench compare --workers 2`` on ml-100k ``kfold:5`` went from 0.95x to 0.76x of the serial
run's wall time (``make bench-scale``, median of 5 rounds).
"""

from __future__ import annotations

import contextlib
import sys

from recbench import forkserver


def local_workers(args: list[str]) -> int:
    """The N of ``--workers N`` / ``--workers=N`` in a command line (0: none, or not a number;
    the CLI reports a bad value when it parses the line)."""
    for i, arg in enumerate(args):
        if arg == "--":
            break
        value = None
        if arg == "--workers" and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith("--workers="):
            value = arg.partition("=")[2]
        if value is not None:
            return int(value) if value.isdigit() else 0
    return 0


def main(argv: list[str] | None = None) -> None:
    """Start the workers' fork server when the line asks for a LocalCluster, then run the CLI."""
    args = list(sys.argv[1:] if argv is None else argv)
    if local_workers(args) > 1 and forkserver.available():
        with contextlib.suppress(OSError):  # Dask starts it later: only the head start is lost
            forkserver.start()
    from recbench.cli.app import main as cli_main

    cli_main(args)
