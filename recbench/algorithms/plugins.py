"""The plugin table: the ``recbench.algorithms`` entry-point group.

Built-in algorithms register in recbench's own ``pyproject.toml`` exactly as a third-party
package would in its own, so there is one list of algorithms and nothing to keep in sync.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from pydantic import ValidationError

from recbench.algorithms.base import AlgoConfig, Recommender
from recbench.errors import MissingExtraError, UsageError, suggest

GROUP = "recbench.algorithms"


def entries() -> dict[str, EntryPoint]:
    """Registered algorithm names -> entry points (the first registration of a name wins)."""
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=GROUP):
        found.setdefault(ep.name, ep)
    return dict(sorted(found.items()))


def names() -> list[str]:
    return list(entries())


def load(name: str) -> type[Recommender]:
    """The Recommender class registered under ``name``."""
    table = entries()
    if name not in table:
        raise UsageError(
            f"unknown algorithm '{name}'{suggest(name, table)} "
            f"(available: {', '.join(table)}; see `recbench algorithms`)"
        )
    ep = table[name]
    try:
        cls = ep.load()
    except Exception as exc:
        dist = ep.dist.name if ep.dist else "its package"
        raise UsageError(
            f"algorithm '{name}' ({ep.value}, from {dist}) failed to load: {exc}"
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, Recommender)):
        raise UsageError(f"algorithm '{name}' ({ep.value}) is not a recbench Recommender")
    return cls


def install_hint(cls: type[Recommender]) -> str:
    if cls.extra:
        return f"pip install 'recbench[{cls.extra}]'"
    return "pip install " + " ".join(cls.missing_requirements())


def ensure_available(name: str, cls: type[Recommender]) -> None:
    missing = cls.missing_requirements()
    if missing:
        raise MissingExtraError(
            f"algorithm '{name}' needs {', '.join(missing)}, which is not installed; "
            f"run: {install_hint(cls)}"
        )


def parse_params(pairs: list[str] | None) -> dict[str, str]:
    """``["k=v", ...]`` -> dict, with one-line errors for malformed entries."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--param expects NAME=VALUE, got '{pair}'")
        out[key] = value.strip()
    return out


def make_config(name: str, cls: type[Recommender], params: dict[str, Any]) -> AlgoConfig:
    """Validate parameters against the algorithm's typed config; errors name the parameter."""
    fields = cls.Config.model_fields
    for key in params:
        if key not in fields:
            known = ", ".join(fields) or "none"
            raise UsageError(
                f"unknown parameter '{key}' for {name}{suggest(key, fields)} (parameters: {known})"
            )
    try:
        return cls.Config(**params)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "?"
        raise UsageError(
            f"parameter '{field}' of {name}: {err['msg']} (got {err.get('input')!r})"
        ) from None


def make(name: str, params: dict[str, Any] | None = None, seed: int = 0) -> Recommender:
    """Instantiate a registered algorithm with validated parameters."""
    cls = load(name)
    ensure_available(name, cls)
    return cls(make_config(name, cls, params or {}), seed=seed)


@dataclass(frozen=True)
class AlgorithmInfo:
    name: str
    family: str
    tasks: list[str]
    params: dict[str, Any]
    available: bool
    install: str
    description: str
    source: str
    package: str


def describe_all() -> list[AlgorithmInfo]:
    """Rows for ``recbench algorithms``; an algorithm that fails to load is shown as such."""
    rows = []
    for name, ep in entries().items():
        pkg = ep.dist.name if ep.dist else "?"
        try:
            cls = load(name)
        except UsageError as exc:
            rows.append(AlgorithmInfo(name, "?", [], {}, False, str(exc), "", "?", pkg))
            continue
        defaults = {k: f.default for k, f in cls.Config.model_fields.items()}
        missing = cls.missing_requirements()
        rows.append(
            AlgorithmInfo(
                name=name,
                family=cls.family,
                tasks=cls.tasks(),
                params=defaults,
                available=not missing,
                install=install_hint(cls) if missing else "",
                description=cls.description,
                source=cls.source,
                package=pkg,
            )
        )
    return rows
