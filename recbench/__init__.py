"""recbench: benchmark recommender-system algorithms under stated protocols.

Python API (imported lazily, so ``import recbench`` stays fast): :func:`compare`, :func:`run`,
:func:`runs` (see :mod:`recbench.api`).
"""

from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("recbench")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__", "compare", "run", "runs"]


def __getattr__(name: str) -> Any:
    if name in ("compare", "run", "runs"):
        from recbench import api

        return getattr(api, name)
    raise AttributeError(f"module 'recbench' has no attribute {name!r}")
