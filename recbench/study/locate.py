"""Line numbers for keys of a TOML document, so errors can say ``study.toml:12``.

``tomllib`` keeps no positions, so the text is scanned once: table headers (``[a.b]``,
``[[a]]``), ``key = value`` lines (dotted keys too), keys inside one-line inline tables and the
items of arrays that start one per line. Each path (``("algorithms", 1, "params", "n_factors")``)
maps to the line where it is written; :func:`line_of` falls back to the closest ancestor.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

Path = tuple[str | int, ...]

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(
    r"""^\s*((?:[A-Za-z0-9_\-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_\-]+|"[^"]*"|'[^']*'))*)\s*="""
)
_INLINE_KEY = re.compile(r"""[{,]\s*([A-Za-z0-9_\-]+|"[^"]*"|'[^']*')\s*=""")


def _parts(dotted: str) -> list[str]:
    out = []
    for p in re.findall(r"""[A-Za-z0-9_\-]+|"[^"]*"|'[^']*'""", dotted):
        out.append(p[1:-1] if p[:1] in "\"'" else p)
    return out


def key_lines(text: str) -> dict[Path, int]:
    """Map each key path written in ``text`` to its 1-based line number (first occurrence)."""
    lines: dict[Path, int] = {}
    counts: dict[tuple[str | int, ...], int] = {}
    arrays: dict[tuple[str, ...], Path] = {}  # array-of-tables name path -> current element path
    current: Path = ()
    open_array: Path | None = None  # key path of a multi-line array being read
    array_index = 0
    depth = 0
    for no, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0] if '"' not in raw and "'" not in raw else raw
        if open_array is not None:
            stripped = line.strip()
            if stripped and not stripped.startswith("]"):
                lines.setdefault((*open_array, array_index), no)
                array_index += stripped.count(",") if stripped.endswith(",") else 1
            depth += line.count("[") - line.count("]")
            if depth <= 0:
                open_array = None
            continue
        m = _HEADER.match(line)
        if m and not _KEY.match(line):
            names = _parts(m.group(2))
            path: list[str | int] = []
            for i, name in enumerate(names):
                path.append(name)
                prefix = tuple(names[: i + 1])
                if i < len(names) - 1 and prefix in arrays:
                    path = list(arrays[prefix])
            if m.group(1) == "[[":
                key = tuple(names)
                idx = counts.get(key, -1) + 1
                counts[key] = idx
                path.append(idx)
                arrays[key] = tuple(path)
            current = tuple(path)
            lines.setdefault(current, no)
            continue
        m = _KEY.match(line)
        if not m:
            continue
        keypath = (*current, *_parts(m.group(1)))
        lines.setdefault(keypath, no)
        value = line[m.end() :].strip()
        if value.startswith("{"):
            for inner in _INLINE_KEY.finditer(value):
                name = inner.group(1)
                name = name[1:-1] if name[:1] in "\"'" else name
                lines.setdefault((*keypath, name), no)
        elif value.startswith("["):
            depth = value.count("[") - value.count("]")
            if depth > 0:
                open_array, array_index = keypath, 0
    return lines


def line_of(lines: dict[Path, int], loc: Sequence[str | int]) -> int:
    """The line of ``loc`` or of its closest written ancestor (1 when none is written)."""
    path = tuple(loc)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return 1


def dotted(loc: Sequence[str | int]) -> str:
    """``("algorithms", 1, "params", "k")`` -> ``algorithms[1].params.k``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text
