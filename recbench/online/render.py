"""Text rendering of report sections: one cell's text, and Markdown tables.

Shared by every ``abtest`` output format that is read by people (rich tables, Markdown); JSON
and CSV carry the raw numbers. Nothing prints.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from recbench.online.report import Section


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
