"""The package's layers (``../shared/DESIGN.md``): each top-level unit imports only units below it.

A unit is a top-level module or package of ``recbench``. Adding a unit means giving it a rank
here; an import of an equal or higher rank fails the test, which also rules out import circles.
"""

from __future__ import annotations

import ast
from pathlib import Path

import recbench

ROOT = Path(recbench.__file__).parent

#: lower ranks are imported by higher ones, never the other way round
RANKS: dict[str, int] = {
    "errors": 0,
    "atomic": 0,
    "forkserver": 0,
    "extras": 0,
    "data": 1,
    "split": 2,
    "metrics": 3,
    "stats": 3,
    "algorithms": 4,
    "ranking": 5,
    "candidates": 5,
    "evaluation": 6,
    "experiment": 7,
    "executors": 8,
    "significance": 8,
    "persistence": 8,
    "tuning": 8,
    "online": 8,
    "render": 8,
    "store": 8,
    "rows": 9,
    "pipeline": 9,
    "failif": 9,
    "serving": 10,
    "study": 10,
    "report": 10,
    "result_options": 10,
    "api": 11,
    "mlflow_export": 11,
    "cli": 12,
    "__main__": 13,
}


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports() -> list[tuple[str, str, str]]:
    """(importing unit, imported unit, file) for every recbench import between units."""
    found = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        src = _unit(".".join(p for p in rel.parts if p != "__init__"))
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
                if node.module == "recbench":
                    names = [f"recbench.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name.startswith("recbench.") and _unit(name) not in (src, "__version__"):
                    found.append((src, _unit(name), str(path.relative_to(ROOT.parent))))
    return found


def test_every_unit_has_a_rank() -> None:
    units = {_unit(f"recbench.{p.stem if p.is_file() else p.name}") for p in ROOT.iterdir()}
    units -= {"__init__", "__pycache__", "py"}
    missing = sorted(u for u in units if u not in RANKS and not u.startswith("_"))
    assert missing == [], f"give these units a rank in tests/test_layers.py: {missing}"


def test_no_unit_imports_a_layer_above_or_beside_it() -> None:
    wrong = [
        f"{file}: {src} (rank {RANKS[src]}) imports {dst} (rank {RANKS[dst]})"
        for src, dst, file in _imports()
        if src in RANKS and dst in RANKS and RANKS[dst] >= RANKS[src]
    ]
    assert wrong == []
