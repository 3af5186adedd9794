"""Rendering: an ExperimentResult -> rich table, text, JSON, CSV, Markdown or LaTeX.

Every format carries the protocol (the caption) so a number never travels without the conditions
it was measured under. Rendering only builds objects and strings; the CLI prints or writes them.

- ``layout``: columns, caption and summary grid shared by every format (plain text)
- ``tables``: rich / text / Markdown / LaTeX tables, each escaping labels for its medium
- ``jsondoc``: the JSON document and its schema
- ``outputs``: ``OUTPUT_FORMATS``, one record per ``--format`` (name, suffix, writer)
"""

from __future__ import annotations

from recbench.render.jsondoc import JSON_SCHEMA, JSON_SCHEMA_ID, to_json
from recbench.render.layout import (
    DEFAULT_METRICS,
    MISSING,
    UNABLE,
    caption,
    check_metrics,
    columns_for,
    label,
    parse_metrics,
    segment_summary,
)
from recbench.render.outputs import (
    FORMAT_BY_SUFFIX,
    OUTPUT_FORMAT_BY_NAME,
    OUTPUT_FORMAT_NAMES,
    OUTPUT_FORMATS,
    OutputFormat,
    format_help,
    output_format,
    render_text,
)
from recbench.render.tables import (
    latex,
    markdown,
    print_table,
    rich_table,
    segment_table,
    table_text,
    tables,
)

__all__ = [
    "DEFAULT_METRICS",
    "FORMAT_BY_SUFFIX",
    "JSON_SCHEMA",
    "JSON_SCHEMA_ID",
    "MISSING",
    "OUTPUT_FORMATS",
    "OUTPUT_FORMAT_BY_NAME",
    "OUTPUT_FORMAT_NAMES",
    "UNABLE",
    "OutputFormat",
    "caption",
    "check_metrics",
    "columns_for",
    "format_help",
    "label",
    "latex",
    "markdown",
    "output_format",
    "parse_metrics",
    "print_table",
    "render_text",
    "rich_table",
    "segment_summary",
    "segment_table",
    "table_text",
    "tables",
    "to_json",
]
