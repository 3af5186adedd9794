"""``recbench runs export``: one table of a run as tidy rows, written atomically as CSV, JSON
lines, JSON (with the manifest and coverage) or Parquet; the format is ``--to`` or the file's
suffix. (``--to mlflow`` is :mod:`recbench.mlflow_export`.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from recbench.atomic import atomic_file, atomic_write_text
from recbench.errors import UsageError

#: file formats: name -> suffix (``--to NAME`` or a file with that suffix)
FORMATS = {"csv": ".csv", "jsonl": ".jsonl", "json": ".json", "parquet": ".parquet"}
#: every ``--to`` choice, the tracking tools included
TARGETS = (*FORMATS, "mlflow")


def export_format(output: Path | None, to: str | None) -> str:
    """The format of an export: ``to`` when given, else ``output``'s suffix, else CSV on
    standard output. A binary format without a file, or an unknown one, is a UsageError."""
    if to is not None:
        fmt = to.lower()
        if fmt not in TARGETS:
            raise UsageError(f"--to must be one of {', '.join(TARGETS)}, got '{to}'")
    elif output is None:
        fmt = "csv"
    else:
        by_suffix = {s: f for f, s in FORMATS.items()}
        found = by_suffix.get(output.suffix.lower())
        if found is None:
            raise UsageError(
                f"--output {output}: use a {', '.join(FORMATS.values())} file, or say --to FORMAT"
            )
        fmt = found
    if fmt == "mlflow" and output is not None:
        raise UsageError("--output does not apply to --to mlflow (see --tracking-uri)")
    if fmt == "parquet" and output is None:
        raise UsageError("--to parquet writes a file: give --output FILE.parquet")
    return fmt


def _plain(value: Any) -> Any:
    """A cell as a JSON value: numpy scalars as Python numbers, anything else odd as text."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    return value.item() if hasattr(value, "item") else str(value)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows as dicts of JSON values, missing values as None. Floats keep every digit
    (pandas' own to_json rounds to 10 significant digits)."""
    plain = frame.astype(object).where(frame.notna(), None)
    return [{str(k): _plain(v) for k, v in r.items()} for r in plain.to_dict(orient="records")]


def export_text(
    frame: pd.DataFrame, fmt: str, table: str, manifest: dict[str, Any], coverage: dict[str, Any]
) -> str:
    """A text format's content: CSV, JSON lines (one object per row, NaN as null) or one JSON
    document holding the manifest, the coverage and the rows."""
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "jsonl":
        return "".join(json.dumps(r) + "\n" for r in records(frame))
    if fmt == "json":
        doc = {
            "manifest": manifest,
            "coverage": coverage,
            table: records(frame),
        }
        return json.dumps(doc, indent=2, default=str) + "\n"
    raise UsageError(f"{fmt} is not a text format")


def write_export(
    output: Path,
    frame: pd.DataFrame,
    table: str,
    manifest: dict[str, Any],
    coverage: dict[str, Any],
    fmt: str | None = None,
) -> None:
    """Write ``frame`` (the run's ``table``) to ``output`` in ``fmt`` (default: by suffix); an
    unknown format is a UsageError, a failed write an OSError (nothing half-written is left)."""
    fmt = fmt or export_format(output, None)
    if fmt == "parquet":
        with atomic_file(output, "wb") as fh:
            frame.to_parquet(fh, index=False)
    else:
        atomic_write_text(output, export_text(frame, fmt, table, manifest, coverage))
