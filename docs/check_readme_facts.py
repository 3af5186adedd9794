"""Which facts of an earlier README are not on the docs site (a check for moving README text).

``python docs/check_readme_facts.py REV`` splits ``git show REV:README.md`` into facts (each
paragraph, list item, table row and code line; headings and marker comments left out), and
prints those that appear in no page under docs/ and not in the current README.md, after
collapsing whitespace and dropping link targets (README and site link differently). Exit 1 when
any is missing; read the list: a fact reworded on a page or replaced by a tested example is
there in substance. Used when the README became a landing page (issue 26), and for README
sections edited on other branches since.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def norm(text: str) -> str:
    """Whitespace collapsed and link targets dropped."""
    return " ".join(re.sub(r"\]\([^)]*\)", "]", text).split())


def facts(readme: str) -> list[tuple[int, str]]:
    """(line, fact) for every paragraph, list item, table row and code line of ``readme``."""
    out: list[tuple[int, str]] = []
    para: list[str] = []
    start = 0
    lines = readme.splitlines()

    def flush() -> None:
        if para:
            out.append((start, norm(" ".join(para))))
            para.clear()

    i = 0
    while i < len(lines):
        s = lines[i].strip()
        if s.startswith("```"):
            flush()
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                if lines[i].strip():
                    out.append((i + 1, norm(lines[i])))
                i += 1
        elif not s or s.startswith(("#", "<!--")) or re.match(r"^\|[-:| ]+\|$", s):
            flush()
        elif s.startswith("|"):
            flush()
            out.append((i + 1, norm(s)))
        elif re.match(r"^([-*]|\d+\.) ", s):
            flush()
            start = i + 1
            para.append(re.sub(r"^([-*]|\d+\.) ", "", s))
        else:
            if not para:
                start = i + 1
            para.append(s)
        i += 1
    flush()
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python docs/check_readme_facts.py REV", file=sys.stderr)
        return 2
    old = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{argv[0]}:README.md"],
        capture_output=True,
        text=True,
        check=False,
    )
    if old.returncode != 0:
        print(f"error: {old.stderr.strip()}", file=sys.stderr)
        return 2
    pages = [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]
    site = " \n ".join(norm(p.read_text(encoding="utf-8")) for p in pages)
    units = facts(old.stdout)
    missing = [(n, f) for n, f in units if f not in site]
    for n, f in missing:
        print(f"README.md:{n} (at {argv[0]}): {f[:200]}")
    print(
        f"{len(units)} facts, {len(units) - len(missing)} found, {len(missing)} missing",
        file=sys.stderr,
    )
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
