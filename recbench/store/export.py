"""``recbench runs export``: one table of a run written atomically as CSV, JSON (with the
manifest and coverage) or Parquet, chosen by the file's suffix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from recbench.atomic import atomic_file, atomic_write_text
from recbench.errors import UsageError


def write_export(
    output: Path,
    frame: pd.DataFrame,
    table: str,
    manifest: dict[str, Any],
    coverage: dict[str, Any],
) -> None:
    """Write ``frame`` (the run's ``table``) to ``output``; an unknown suffix is a UsageError,
    a failed write an OSError (nothing half-written is left)."""
    suffix = output.suffix.lower()
    if suffix == ".csv":
        atomic_write_text(output, frame.to_csv(index=False))
    elif suffix == ".json":
        doc = {
            "manifest": manifest,
            "coverage": coverage,
            table: json.loads(frame.to_json(orient="records")),
        }
        atomic_write_text(output, json.dumps(doc, indent=2, default=str) + "\n")
    elif suffix == ".parquet":
        with atomic_file(output, "wb") as fh:
            frame.to_parquet(fh, index=False)
    else:
        raise UsageError(f"--output {output}: use a .csv, .json or .parquet file")
