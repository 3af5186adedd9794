"""``scipy.stats``, imported on first use.

Importing ``scipy.stats`` costs about 0.6 s. Modules that imported it at load time made every
command pay it, ``recbench --help`` included, though few need it (the online tests' normal
quantiles, paired tests). They call :func:`sps` where they need the module instead.
"""

from __future__ import annotations

from functools import cache
from types import ModuleType


@cache
def sps() -> ModuleType:
    """The ``scipy.stats`` module (imported on the first call)."""
    import scipy.stats

    return scipy.stats
