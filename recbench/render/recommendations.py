"""``recbench recommend``'s output: the JSON document and the rich table of one user's top-N
(what :mod:`recbench.serving` found: items, scores, names and reasons)."""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.markup import escape
from rich.table import Table

from recbench.data.text import strip_control


def recommendation_doc(
    user: str | None, history: str | None, algorithm: str, recs: Any, names: Any, reasons: Any
) -> dict[str, Any]:
    """The top-N as JSON: rank, raw item id, title, score (and reason) per item."""
    items = [
        {
            "rank": r + 1,
            "item": names.raw[r],
            "title": None if names.titles is None else names.titles[r],
            "score": float(recs.scores[r]),
            **({"reason": reasons[r]} if reasons is not None else {}),
        }
        for r in range(len(recs.items))
    ]
    return {
        "user": user,
        "history": history,
        "algorithm": algorithm,
        "approximate": recs.approximate,
        "items": items,
    }


def recommendation_table(
    algorithm: str, who: str, recs: Any, names: Any, reasons: list[str] | None
) -> Table:
    """The top-N as a table: rank, item, title and genres when known, score, reason."""
    title = f"{algorithm} · top {len(recs.items)} for {who}"
    t = Table(title=escape(strip_control(title)))
    t.add_column("#", justify="right")
    t.add_column("item", justify="right")
    if names.titles is not None:
        t.add_column("title")
    if names.genres is not None:
        t.add_column("genres", style="dim")
    t.add_column("score", justify="right")
    if reasons is not None:
        t.add_column("why")
    for r in range(len(recs.items)):
        row = [str(r + 1), strip_control(str(names.raw[r]))]
        if names.titles is not None:
            row.append(names.titles[r])
        if names.genres is not None:
            row.append(names.genres[r])
        row.append(f"{recs.scores[r]:.4f}")
        if reasons is not None:
            row.append(reasons[r])
        t.add_row(*(escape(c) for c in row))
    return t


def plain(value: object) -> object:
    """JSON for numpy scalars that reach the document."""
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
