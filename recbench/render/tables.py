"""Tables: the comparison (and, with ``--by-segment``, the segment) table as rich, text,
Markdown and LaTeX. Labels such as ``svd[n_factors=20]`` are escaped for each medium."""

from __future__ import annotations

import io

import numpy as np
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from recbench.experiment import ExperimentResult
from recbench.render.layout import (
    DEFAULT_METRICS,
    MISSING,
    SEGMENT_CAPTION,
    UNABLE,
    caption,
    grid,
    label,
    segment_grid,
)

#: width of tables written to files (wide enough that no column wraps)
TEXT_WIDTH = 200


_MARK_STYLE = {"▲": "bold green", "▼": "bold red"}


def rich_table(
    res: ExperimentResult,
    metrics: tuple[str, ...] = DEFAULT_METRICS,
    command: str = "compare",
) -> Table:
    """The comparison table; the best value of each metric is bold green."""
    g = grid(res, metrics)
    folds = res.split.n_folds
    t = Table(
        title=escape(f"recbench {command} · {res.dataset.name} · {res.split}"),
        caption=escape("\n".join(caption(res))),
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    t.add_column("algorithm", style="bold", no_wrap=True)
    for m, k in g.columns:
        t.add_column(label(m, k), justify="right", no_wrap=True)
    t.add_column("fit s", justify="right", style="dim", no_wrap=True)
    t.add_column("score s", justify="right", style="dim", no_wrap=True)
    for a in g.algorithms:
        cells = []
        for col in g.columns:
            if a in res.unable:
                cells.append(f"[yellow]{UNABLE}[/]")
                continue
            if col not in g.cells[a]:
                cells.append(f"[dim]{MISSING}[/dim]")
                continue
            mean = g.cells[a][col][0]
            text = f"{mean:.4f}"
            if np.isclose(mean, g.best[col]):
                text = f"[bold green]{text}[/]"
            spread = g.spread(a, col, folds)
            if spread:
                text += f" [dim]{spread}[/]"
            mark = g.mark(a, col)
            if mark:
                text += f" [{_MARK_STYLE[mark]}]{mark}[/]"
            cells.append(text)
        t.add_row(escape(a), *cells, *g.timing_cells(a))
        row = [escape(a), *cells, *g.timing_cells(a)]
        for column, cell in zip(t.columns, row, strict=True):  # numbers are never cut
            width = max(Text.from_markup(cell).cell_len, len(str(column.header)))
            column.min_width = max(column.min_width or 0, width)
    return t


def segment_table(res: ExperimentResult, metrics: tuple[str, ...] = DEFAULT_METRICS) -> Table:
    """Metrics by user history length and by warm/cold item (``--by-segment``)."""
    cols, rows = segment_grid(res, metrics)
    t = Table(
        title=escape(f"by segment · {res.dataset.name} · {res.split}"),
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        caption=escape(SEGMENT_CAPTION),
        caption_justify="left",
    )
    t.add_column("algorithm", style="bold", no_wrap=True)
    t.add_column("segment", no_wrap=True)
    for m, k in cols:
        t.add_column(label(m, k), justify="right", no_wrap=True)
    t.add_column("n", justify="right", style="dim")
    for algo, segment, cells, n in rows:
        t.add_row(escape(algo), escape(segment), *cells, n)
    return t


def tables(
    res: ExperimentResult,
    metrics: tuple[str, ...] = DEFAULT_METRICS,
    by_segment: bool = False,
    command: str = "compare",
) -> list[Table]:
    """The rich tables to show: the comparison, then the segment table when asked for."""
    out = [rich_table(res, metrics, command)]
    if by_segment:
        out.append(segment_table(res, metrics))
    return out


def print_table(console: Console, table: Table) -> None:
    """Print ``table`` without cutting any number: wider than the console when it must be
    (the terminal then wraps lines rather than rich cropping digits)."""
    needed = Measurement.get(console, console.options, table).minimum
    console.print(table, width=max(console.width, needed), crop=False)


def table_text(
    res: ExperimentResult,
    metrics: tuple[str, ...] = DEFAULT_METRICS,
    by_segment: bool = False,
    command: str = "compare",
) -> str:
    """The tables as plain text (no colour), as written to a results file."""
    buf = io.StringIO()
    console = Console(file=buf, width=TEXT_WIDTH, highlight=False, no_color=True)
    for t in tables(res, metrics, by_segment, command):
        print_table(console, t)
    return buf.getvalue()


def _plain_rows(
    res: ExperimentResult, metrics: tuple[str, ...]
) -> tuple[list[str], list[list[str]], set[tuple[int, int]]]:
    """Header, rows of text cells, and the (row, column) positions of the best values."""
    g = grid(res, metrics)
    folds = res.split.n_folds
    header = ["algorithm", *(label(m, k) for m, k in g.columns), "fit s", "score s"]
    rows = []
    bold: set[tuple[int, int]] = set()
    for i, a in enumerate(g.algorithms):
        row = [a]
        for col in g.columns:
            if a in res.unable:
                row.append(UNABLE)
                continue
            if col not in g.cells[a]:
                row.append(MISSING)
                continue
            mean = g.cells[a][col][0]
            text = " ".join(
                t for t in (f"{mean:.4f}", g.spread(a, col, folds), g.mark(a, col)) if t
            )
            row.append(text)
            if np.isclose(mean, g.best[col]):
                bold.add((i, len(row) - 1))
        row += g.timing_cells(a)
        rows.append(row)
    return header, rows, bold


def _segment_plain(
    res: ExperimentResult, metrics: tuple[str, ...]
) -> tuple[list[str], list[list[str]]]:
    cols, rows = segment_grid(res, metrics)
    header = ["algorithm", "segment", *(label(m, k) for m, k in cols), "n"]
    return header, [[algo, seg, *cells, n] for algo, seg, cells, n in rows]


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|")


def _md_table(header: list[str], rows: list[list[str]], bold: set[tuple[int, int]]) -> list[str]:
    lines = [
        "| " + " | ".join(_md_cell(h) for h in header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    for i, row in enumerate(rows):
        cells = [f"**{_md_cell(c)}**" if (i, j) in bold else _md_cell(c) for j, c in enumerate(row)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown(
    res: ExperimentResult, metrics: tuple[str, ...] = DEFAULT_METRICS, by_segment: bool = False
) -> str:
    """A Markdown table with the caption in italics (and the segment table when asked for)."""
    header, rows, bold = _plain_rows(res, metrics)
    lines = _md_table(header, rows, bold)
    lines.append("")
    lines += [f"_{_md_cell(c)}_" for c in caption(res)]
    if by_segment:
        seg_header, seg_rows = _segment_plain(res, metrics)
        lines += ["", "By segment:", ""]
        lines += _md_table(seg_header, seg_rows, set())
        lines += ["", f"_{SEGMENT_CAPTION}_"]
    return "\n".join(lines) + "\n"


def _latex_escape(text: str) -> str:
    for a, b in (
        ("\\", r"\textbackslash{}"),
        ("&", r"\&"),
        ("%", r"\%"),
        ("_", r"\_"),
        ("#", r"\#"),
        ("$", r"\$"),
        ("{", r"\{"),
        ("}", r"\}"),
        ("~", r"\textasciitilde{}"),
        ("^", r"\textasciicircum{}"),
        ("—", "---"),
        ("±", r"$\pm$"),
        ("▲", r"$\blacktriangle$"),
        ("▼", r"$\blacktriangledown$"),
        (">=", r"$\geq$"),
        ("·", r"$\cdot$"),
    ):
        text = text.replace(a, b)
    return text


def _latex_table(
    header: list[str], rows: list[list[str]], bold: set[tuple[int, int]], text: str
) -> list[str]:
    spec = "l" + "r" * (len(header) - 1)
    out = [r"\begin{table}[ht]", r"\centering", rf"\begin{{tabular}}{{{spec}}}", r"\toprule"]
    out.append(" & ".join(_latex_escape(h) for h in header) + r" \\")
    out.append(r"\midrule")
    for i, row in enumerate(rows):
        cells = [
            rf"\textbf{{{_latex_escape(c)}}}" if (i, j) in bold else _latex_escape(c)
            for j, c in enumerate(row)
        ]
        out.append(" & ".join(cells) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}"]
    out.append(r"\caption{" + _latex_escape(text) + "}")
    out.append(r"\end{table}")
    return out


def latex(
    res: ExperimentResult, metrics: tuple[str, ...] = DEFAULT_METRICS, by_segment: bool = False
) -> str:
    """A booktabs LaTeX table with the protocol as its caption (and the segment table)."""
    header, rows, bold = _plain_rows(res, metrics)
    out = _latex_table(header, rows, bold, " ".join(caption(res)))
    if by_segment:
        seg_header, seg_rows = _segment_plain(res, metrics)
        out += _latex_table(seg_header, seg_rows, set(), f"By segment. {SEGMENT_CAPTION}")
    return "\n".join(out) + "\n"
