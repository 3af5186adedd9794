"""The CLI stays thin (issue 23): each command parses options, calls the library, renders.

A cli module imports from ``recbench.cli`` only ``options`` and ``common`` (``app`` registers
the commands and ``launch`` starts ``app``); ``cli/`` holds at most 2,400 lines and no file
over 400, so logic that grows goes into the library.
"""

from __future__ import annotations

import ast
from pathlib import Path

import recbench.cli

CLI = Path(recbench.cli.__file__).parent
SHARED = {"options", "common"}
#: the modules allowed to import a command module, and which
ROOTS = {"app": None, "launch": {"app"}}
MAX_TOTAL, MAX_FILE = 2_400, 400


def _cli_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "recbench.cli":
                found |= {a.name for a in node.names}
            elif node.module.startswith("recbench.cli."):
                found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            found |= {
                a.name.split(".")[2] for a in node.names if a.name.startswith("recbench.cli.")
            }
    return found


def test_cli_modules_import_only_options_and_common() -> None:
    wrong = []
    for path in sorted(CLI.glob("*.py")):
        allowed = ROOTS.get(path.stem, set())
        if allowed is None:  # app registers every command
            continue
        extra = _cli_imports(path) - SHARED - allowed
        if extra:
            wrong.append(f"cli/{path.name} imports cli.{', cli.'.join(sorted(extra))}")
    assert wrong == [], "move the shared logic into the library (or cli/common.py): " + "; ".join(
        wrong
    )


def test_cli_line_counts_stay_within_the_targets() -> None:
    sizes = {p.name: len(p.read_text("utf-8").splitlines()) for p in CLI.glob("*.py")}
    big = {name: n for name, n in sizes.items() if n > MAX_FILE}
    assert big == {}, f"cli files over {MAX_FILE} lines: {big}"
    total = sum(sizes.values())
    assert total <= MAX_TOTAL, f"cli/ holds {total} lines (at most {MAX_TOTAL}): {sizes}"


def test_the_checks_can_fail(tmp_path: Path) -> None:
    """The import check sees both import forms."""
    probe = tmp_path / "probe.py"
    probe.write_text("from recbench.cli.run import compare\nimport recbench.cli.tune\n")
    assert _cli_imports(probe) == {"run", "tune"}
