"""Search spaces as data: the dimensions an algorithm's parameters are tuned over.

Each built-in algorithm (and any plugin) declares ``search_space = {"factors": Int(8, 256,
log=True), ...}`` next to its ``Config``. The records are plain data with no dependency on the
tuner, so the algorithms layer stays below ``recbench.tuning`` (which maps them onto Optuna).
A space can be overridden from a TOML/JSON file (:func:`space_from_mapping`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from recbench.errors import UsageError, suggest


@dataclass(frozen=True)
class Float:
    """A real parameter in ``[low, high]``, sampled uniformly or on a log scale."""

    low: float
    high: float
    log: bool = False

    def describe(self) -> str:
        return f"{self.low:g}..{self.high:g}{' log' if self.log else ''}"


@dataclass(frozen=True)
class Int:
    """An integer parameter in ``[low, high]`` (both included), optionally on a log scale."""

    low: int
    high: int
    log: bool = False

    def describe(self) -> str:
        return f"{self.low}..{self.high} int{' log' if self.log else ''}"


@dataclass(frozen=True)
class Categorical:
    """One of a fixed list of values."""

    choices: tuple[Any, ...]

    def describe(self) -> str:
        return "{" + ", ".join(str(c) for c in self.choices) + "}"


Dim = Float | Int | Categorical
#: a search space: parameter name -> dimension
Space = dict[str, Dim]


def check_dim(name: str, dim: Dim) -> None:
    """Raise a one-line :class:`UsageError` for an empty or malformed dimension."""
    if isinstance(dim, Categorical):
        if not dim.choices:
            raise UsageError(f"search space: '{name}' has no choices")
        return
    if not dim.low < dim.high:
        raise UsageError(
            f"search space: '{name}' has an empty range {dim.low}..{dim.high} "
            "(low must be below high; give a single value to fix a parameter)"
        )
    if dim.log and dim.low <= 0:
        raise UsageError(f"search space: '{name}' is on a log scale, so low must be > 0")


def describe_space(space: Mapping[str, Dim]) -> dict[str, str]:
    """``{"factors": "8..256 int log", ...}`` for listings."""
    return {name: dim.describe() for name, dim in space.items()}


_DIM_KEYS = {"low", "high", "log", "type", "choices"}


def dim_from_value(name: str, value: Any) -> Dim | Any:
    """One entry of a space file: a table (a dimension) or a plain value (fixed parameter)."""
    if not isinstance(value, Mapping):
        return value
    unknown = [k for k in value if k not in _DIM_KEYS]
    if unknown:
        raise UsageError(
            f"search space: '{name}' has unknown key '{unknown[0]}' "
            "(use low, high, log, type or choices)"
        )
    kind = value.get("type")
    if kind is None:
        if "choices" in value:
            kind = "categorical"
        elif _is_int(value.get("low")) and _is_int(value.get("high")):
            kind = "int"
        else:
            kind = "float"
    if kind == "categorical":
        choices = value.get("choices")
        if not isinstance(choices, list | tuple):
            raise UsageError(f"search space: '{name}' needs choices = [...]")
        dim: Dim = Categorical(tuple(choices))
    elif kind in ("int", "float"):
        if "low" not in value or "high" not in value:
            raise UsageError(f"search space: '{name}' needs low and high")
        low, high, log = value["low"], value["high"], value.get("log", False)
        if not isinstance(log, bool):
            raise UsageError(f"search space: '{name}': log must be true or false")
        try:
            if kind == "int":
                if not (_is_int(low) and _is_int(high)):
                    raise ValueError
                dim = Int(int(low), int(high), log)
            else:
                dim = Float(float(low), float(high), log)
        except (TypeError, ValueError):
            raise UsageError(
                f"search space: '{name}' needs numeric{' whole' if kind == 'int' else ''} "
                f"low and high, got {low!r} and {high!r}"
            ) from None
    else:
        raise UsageError(
            f"search space: '{name}' has unknown type '{kind}' (use int, float or categorical)"
        )
    check_dim(name, dim)
    return dim


def space_from_mapping(
    data: Mapping[str, Any], params: Mapping[str, Any], base: Mapping[str, Dim]
) -> tuple[Space, dict[str, Any]]:
    """Apply an override file's entries to ``base``: (space, fixed parameters).

    ``params`` are the algorithm's parameter names. A table replaces (or adds) a dimension; a
    plain value fixes the parameter and removes it from the search.
    """
    space = dict(base)
    fixed: dict[str, Any] = {}
    for name, value in data.items():
        if name not in params:
            raise UsageError(
                f"search space: unknown parameter '{name}'{suggest(name, params)} "
                f"(parameters: {', '.join(params) or 'none'})"
            )
        dim = dim_from_value(name, value)
        if isinstance(dim, Float | Int | Categorical):
            space[name] = dim
            fixed.pop(name, None)
        else:
            space.pop(name, None)
            fixed[name] = dim
    return space, fixed


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)
