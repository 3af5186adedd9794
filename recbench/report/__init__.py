"""Results -> one self-contained HTML report (Vega-Lite charts via altair, scripts inlined), or
PNG/SVG chart files; built from stored runs."""

from __future__ import annotations

from recbench.report.data import ReportData, RunData, build, read_runs
from recbench.report.html import chart_images, render_html, vega_bundle

__all__ = [
    "ReportData",
    "RunData",
    "build",
    "chart_images",
    "read_runs",
    "render_html",
    "vega_bundle",
]
