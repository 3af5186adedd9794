"""``scipy.stats`` and ``scipy.optimize``, imported on first use.

Importing them costs about 0.6 s and 0.2 s. Modules that imported them at load time made
every command pay that, ``recbench --help`` included, though few need them (the online tests'
normal quantiles and root finding, paired tests). They call :func:`sps` / :func:`spo` where
they need the module instead.
"""

from __future__ import annotations

from functools import cache
from types import ModuleType


@cache
def sps() -> ModuleType:
    """The ``scipy.stats`` module (imported on the first call)."""
    import scipy.stats

    return scipy.stats


@cache
def spo() -> ModuleType:
    """The ``scipy.optimize`` module (imported on the first call)."""
    import scipy.optimize

    return scipy.optimize
