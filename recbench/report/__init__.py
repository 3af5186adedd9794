"""Results -> one self-contained HTML report (Vega-Lite charts via altair, scripts inlined), or
PNG/SVG chart files; built from stored runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recbench.report.data import ReportData, RunData, build, read_runs
from recbench.report.html import chart_images, render_html, vega_bundle


def report_page(
    store: Any, runs: list[str], metrics: tuple[str, ...] | None, cache_dir: Path
) -> tuple[str, list[str]]:
    """The HTML report of stored ``runs`` (one self-contained page) and the notes of reading
    them; the vega bundle is kept in ``cache_dir``. Nothing is written but that cache."""
    data = build(read_runs(store, runs), metrics)
    title = "recbench report · " + ", ".join(rd.label for rd in data.runs)
    return render_html(data, vega_bundle(cache_dir), title), list(data.notes)


__all__ = [
    "ReportData",
    "RunData",
    "build",
    "chart_images",
    "read_runs",
    "render_html",
    "report_page",
    "vega_bundle",
]
