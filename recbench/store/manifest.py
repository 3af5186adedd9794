"""What a run records about where and with what it ran: versions, machine, command."""

from __future__ import annotations

import os
import platform
import sys
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from typing import Any

#: packages whose versions are recorded in every run's manifest
DEPENDENCIES = (
    "numpy",
    "scipy",
    "pandas",
    "pyarrow",
    "pydantic",
    "scikit-surprise",
    "implicit",
    "torch",
    "optuna",
    "altair",
)


def now() -> str:
    """The current time, UTC, ISO 8601 with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _memory_gb() -> float | None:
    try:
        pages = os.sysconf("SC_PHYS_PAGES")
        size = os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    return round(pages * size / 2**30, 1)


def environment() -> dict[str, Any]:
    """recbench and dependency versions and a machine summary (no host names, no user names)."""
    from recbench import __version__

    return {
        "recbench_version": __version__,
        "python": platform.python_version(),
        "dependencies": {n: v for n in DEPENDENCIES if (v := _version(n)) is not None},
        "machine": {
            "system": platform.system(),
            "release": platform.release(),
            "arch": platform.machine(),
            "cpus": os.cpu_count(),
            "memory_gb": _memory_gb(),
            "python_implementation": sys.implementation.name,
        },
    }
