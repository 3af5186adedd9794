"""recbench's optional extras: which are installed, which are missing, and what each enables.

Read from the installed package's own metadata (``Provides-Extra`` and each requirement's
``extra == ...`` marker), so a new extra in pyproject.toml is listed without a change here;
``USES`` only says in words what each one is for. ``recbench --version`` prints
:func:`version_text`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import metadata

from recbench import __version__

#: what each extra enables (an extra missing here is listed with its packages only)
USES = {
    "deep": "torch models: two-tower, ncf, cluster-ncf, multvae, lightgcn, sequence models; "
    "HNSW retrieval",
    "scale": "--workers / --scheduler: compare, tune and studies on Dask",
    "mlflow": "runs export --to mlflow, compare --mlflow",
    "docs": "the documentation site (make docs)",
    "dev": "tests, lint and type checks",
}
_EXTRA = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True)
class Extra:
    """One extra: its distributions and those of them not installed."""

    name: str
    packages: tuple[str, ...]
    missing: tuple[str, ...]

    @property
    def installed(self) -> bool:
        return not self.missing

    @property
    def uses(self) -> str:
        return USES.get(self.name, "")


def _installed(dist: str) -> bool:
    try:
        metadata.version(dist)
    except metadata.PackageNotFoundError:
        return False
    return True


def extras(dist: str = "recbench") -> list[Extra] | None:
    """Every extra of the installed ``dist`` with what is missing of it (None: not installed,
    e.g. run from a source tree on PYTHONPATH)."""
    try:
        meta = metadata.metadata(dist)
        reqs = metadata.requires(dist) or []
    except metadata.PackageNotFoundError:
        return None
    out = []
    for name in meta.get_all("Provides-Extra") or []:
        pkgs = []
        for req in reqs:
            marker = _EXTRA.search(req.partition(";")[2])
            found = _NAME.match(req)
            if marker and marker.group(1) == name and found:
                pkgs.append(found.group(1))
        missing = tuple(p for p in pkgs if not _installed(p))
        out.append(Extra(name, tuple(pkgs), missing))
    return out


def version_text() -> str:
    """``recbench X.Y.Z`` and one line per extra: installed or what is missing, and its use."""
    lines = [f"recbench {__version__}"]
    found = extras()
    if found is None:
        lines.append("extras: unknown (recbench is not installed; pip install -e .)")
        return "\n".join(lines)
    lines.append("extras (pip install 'recbench[NAME]'):")
    states = ["installed" if e.installed else f"missing: {', '.join(e.missing)}" for e in found]
    width = max((len(e.name) for e in found), default=0)
    wide = max((len(s) for s in states), default=0)
    for e, state in zip(found, states, strict=True):
        lines.append(f"  {e.name:<{width}}  {state:<{wide}}  {e.uses}".rstrip())
    return "\n".join(lines)
