"""Argument checks shared by the stats modules: every bad value raises a one-line UsageError."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from recbench.errors import UsageError, suggest


def check_alpha(alpha: float) -> float:
    """Return ``alpha`` as a float when it lies strictly between 0 and 1."""
    a = _number(alpha, "alpha")
    if not 0.0 < a < 1.0:
        raise UsageError(f"alpha must lie strictly between 0 and 1, got {alpha}")
    return a


def check_level(level: float) -> float:
    """Return a confidence level as a float when it lies strictly between 0 and 1."""
    x = _number(level, "confidence level")
    if not 0.0 < x < 1.0:
        raise UsageError(f"confidence level must lie strictly between 0 and 1, got {level}")
    return x


def check_choice(name: str, choices: Sequence[str], what: str) -> str:
    """Return ``name`` lower-cased when it is one of ``choices``."""
    key = str(name).strip().lower()
    if key not in choices:
        raise UsageError(
            f"unknown {what} '{name}' (choose from {', '.join(choices)}){suggest(key, choices)}"
        )
    return key


def check_positive_int(value: int, what: str) -> int:
    """Return ``value`` when it is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise UsageError(f"{what} must be a positive integer, got {value}")
    return int(value)


def as_columns(values: ArrayLike, what: str) -> NDArray[np.float64]:
    """``values`` as a float64 (n, m) matrix; a 1-D array becomes one column."""
    try:
        x = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise UsageError(f"{what} must be numeric") from None
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise UsageError(f"{what} must be a 1-D or 2-D array, got {x.ndim} dimensions")
    if np.isinf(x).any():
        raise UsageError(f"{what} contains infinite values")
    return x


def _number(value: float, what: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{what} must be a number, got {value!r}") from None
    if math.isnan(x):
        raise UsageError(f"{what} must be a number, got NaN")
    return x
