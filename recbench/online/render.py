"""Text rendering of report sections: one cell's text, and Markdown tables.

Shared by every ``abtest`` output format that is read by people (rich tables, Markdown); JSON
and CSV carry the raw numbers. Nothing prints.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from recbench.errors import UsageError
from recbench.online.report import Section, to_csv_frame, to_json

FORMATS = ("table", "json", "csv", "markdown")
SUFFIX = {".json": "json", ".csv": "csv", ".md": "markdown"}


def cell(value: Any, column: str) -> str:
    """A value as shown in column ``column``: p-values in e-notation when tiny, lifts as signed
    percentages, counts with thousands separators, missing values as a dash."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if column.startswith("p_value") or column.endswith("_p") or column == "boot_p":
            return f"{v:.2e}" if 0 < v < 1e-4 else f"{v:.4f}"
        if column.startswith("users") or column in ("expected",):
            return f"{v:,.1f}"
        if column.endswith("_rate"):
            return f"{v:.1%}"
        if "lift" in column or column.startswith(("share", "boot_")):
            return f"{v:+.2%}" if "lift" in column or column.startswith("boot_") else f"{v:.2%}"
        return f"{v:.4f}" if abs(v) < 1000 else f"{v:,.1f}"
    return str(value)


def markdown(sections: list[Section], header: list[str]) -> str:
    """The header lines, then each section as a Markdown table followed by its notes."""
    lines = [*header, ""]
    for s in sections:
        cols = list(s.frame.columns)
        lines += [f"### {s.title}", "", "| " + " | ".join(cols) + " |"]
        lines.append("|" + "|".join("---" for _ in cols) + "|")
        for row in s.frame.itertuples(index=False):
            lines.append(
                "| " + " | ".join(cell(v, c) for v, c in zip(row, cols, strict=True)) + " |"
            )
        lines += ["", *s.notes, ""]
    return "\n".join(lines)


def report_format(fmt: str | None, output: Path | None) -> str:
    """``--format`` (default: from the ``--output`` suffix, else table), checked."""
    if fmt is None:
        return SUFFIX.get(output.suffix.lower(), "table") if output is not None else "table"
    name = fmt.strip().lower()
    if name not in FORMATS:
        raise UsageError(f"unknown --format '{fmt}' (use {', '.join(FORMATS)})")
    return name


def rich_table(section: Section) -> Table:
    """One section as a rich table (numbers right-aligned)."""
    t = Table(title=section.title, title_justify="left")
    for col in section.frame.columns:
        numeric = all(
            isinstance(v, (int, float, np.number)) for v in section.frame[col] if v is not None
        )
        t.add_column(col, justify="right" if numeric else "left")
    for row in section.frame.itertuples(index=False):
        t.add_row(*(cell(v, c) for v, c in zip(row, section.frame.columns, strict=True)))
    return t


def print_sections(console: Console, sections: list[Section], header: list[str]) -> None:
    """The header lines, then each section's table and notes."""
    for line in header:
        console.print(line, markup=False)
    for s in sections:
        console.print()
        console.print(rich_table(s))
        for note in s.notes:
            console.print(note, markup=False, style="dim")


def report_text(
    fmt: str, schema: str, sections: list[Section], meta: dict[str, Any], header: list[str]
) -> str:
    """The report as text in ``fmt``: JSON, CSV, Markdown or plain tables."""
    if fmt == "json":
        return json.dumps(to_json(schema, sections, meta), indent=2) + "\n"
    if fmt == "csv":
        return str(to_csv_frame(sections).to_csv(index=False))
    if fmt == "markdown":
        return markdown(sections, header)
    buf = Console(file=io.StringIO(), width=200, highlight=False, no_color=True)
    print_sections(buf, sections, header)
    return str(buf.file.getvalue())  # type: ignore[attr-defined]
