"""Output formats as records: name, file suffix, writer, help line.

``OUTPUT_FORMATS`` is the one table; ``--format`` choices, the suffix -> format map used for
``--output FILE`` and :func:`render_text` dispatch derive from it. Adding a format is one record
(and its writer) plus its test. Every writer takes ``by_segment`` and, when it is set, includes
the metrics by user segment.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recbench.errors import UsageError, suggest
from recbench.experiment import RESULT_COLUMNS, ExperimentResult
from recbench.render.jsondoc import to_json
from recbench.render.layout import DEFAULT_METRICS
from recbench.render.tables import latex, markdown, table_text

#: (result, metrics shown, with segments) -> the whole text of the output
Writer = Callable[[ExperimentResult, tuple[str, ...], bool], str]


@dataclass(frozen=True)
class OutputFormat:
    """One ``--format``: its name, the file suffix that selects it, its writer, a help line."""

    name: str
    suffix: str
    write: Writer
    help: str


def _table(res: ExperimentResult, metrics: tuple[str, ...], by_segment: bool) -> str:
    return table_text(res, metrics, by_segment)


def _json(res: ExperimentResult, metrics: tuple[str, ...], by_segment: bool) -> str:
    # the document always carries the segment means (``segments``); metrics: all of them
    return json.dumps(to_json(res), indent=2) + "\n"


def _markdown(res: ExperimentResult, metrics: tuple[str, ...], by_segment: bool) -> str:
    return markdown(res, metrics, by_segment)


def _latex(res: ExperimentResult, metrics: tuple[str, ...], by_segment: bool) -> str:
    return latex(res, metrics, by_segment)


#: columns of CSV output with ``--by-segment``: the result columns plus the segment
SEGMENT_CSV_COLUMNS = [*RESULT_COLUMNS, "segment"]


def segment_rows_frame(res: ExperimentResult) -> pd.DataFrame:
    """Per-fold segment metrics as tidy result rows (``segment`` set; sizes in n_users/n_test)."""
    seg = res.segments
    if seg is None or not len(seg):
        return pd.DataFrame(columns=SEGMENT_CSV_COLUMNS)
    sizes = seg[seg["metric"].isin(["n_users", "n_test"])]
    size = sizes.pivot_table(
        index=["algorithm", "fold", "segment"], columns="metric", values="value", sort=False
    )
    values = seg[~seg["metric"].isin(["n_users", "n_test"])]
    split = res.results["split"].iloc[0] if len(res.results) else str(res.split)
    rows: list[dict[str, Any]] = []
    for r in values.itertuples():
        name, _, k = str(r.metric).partition("@")
        n = size.loc[(r.algorithm, r.fold, r.segment)] if len(size) else pd.Series(dtype=float)
        rows.append(
            {
                "dataset": res.dataset.name,
                "split": split,
                "fold": r.fold,
                "algorithm": r.algorithm,
                "params": json.dumps(res.params.get(str(r.algorithm), {}), sort_keys=True),
                "metric": name,
                "k": int(k) if k else None,
                "value": r.value,
                "fit_seconds": np.nan,
                "score_seconds": np.nan,
                "n_users": n.get("n_users", np.nan),
                "n_test": n.get("n_test", np.nan),
                "n_fallback": np.nan,
                "seed": res.seed,
                "segment": r.segment,
            }
        )
    frame = pd.DataFrame(rows, columns=SEGMENT_CSV_COLUMNS)
    for col in ("k", "n_users", "n_test"):
        frame[col] = frame[col].astype("Int64")
    return frame


#: columns CSV rows gain when intervals / comparisons were computed (per cell, so every fold
#: row of a cell repeats them): the interval of the cell's table value, the paired comparison
STATS_CSV_COLUMNS = [
    "ci_low",
    "ci_high",
    "ci_method",
    "ci_level",
    "ci_over",
    "baseline",
    "test",
    "p",
    "p_adjusted",
    "correction",
    "mean_diff",
    "diff_low",
    "diff_high",
    "verdict",
]


def with_stats(res: ExperimentResult) -> pd.DataFrame:
    """The tidy rows plus, when computed, each cell's interval and comparison columns."""
    frame = res.results
    st = res.stats
    if st is None:
        return frame
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for a, key in dict.fromkeys(
        (str(a), m if pd.isna(k) else f"{m}@{int(k)}")
        for a, m, k in zip(frame["algorithm"], frame["metric"], frame["k"], strict=True)
    ):
        row: dict[str, Any] = dict.fromkeys(STATS_CSV_COLUMNS)
        iv = st.interval(a, key)
        if iv is not None:
            row.update(
                ci_low=iv.low,
                ci_high=iv.high,
                ci_method=iv.method,
                ci_level=iv.level,
                ci_over=iv.over,
            )
        c = st.comparisons.get((a, key))
        if c is not None:
            row.update(
                baseline=c.baseline,
                test=c.result.test,
                p=c.result.p,
                p_adjusted=c.p_adjusted,
                correction=c.correction,
                mean_diff=c.result.mean_diff,
                diff_low=c.result.low,
                diff_high=c.result.high,
                verdict=c.verdict or "",
            )
        cells[(a, key)] = row
    extra = pd.DataFrame(
        [
            cells[(str(a), m if pd.isna(k) else f"{m}@{int(k)}")]
            for a, m, k in zip(frame["algorithm"], frame["metric"], frame["k"], strict=True)
        ],
        columns=STATS_CSV_COLUMNS,
        index=frame.index,
    )
    return pd.concat([frame, extra], axis=1)


def _csv(res: ExperimentResult, metrics: tuple[str, ...], by_segment: bool) -> str:
    # tidy rows carry every metric computed (``metrics`` selects table columns only)
    if not by_segment:
        return with_stats(res).to_csv(index=False)
    overall = with_stats(res).assign(segment="")
    seg = segment_rows_frame(res)
    frame = pd.concat([overall, seg], ignore_index=True) if len(seg) else overall
    return frame.to_csv(index=False)


#: Every output format, in help order. Adding a format = one record plus its test.
OUTPUT_FORMATS: tuple[OutputFormat, ...] = (
    OutputFormat("table", ".txt", _table, "aligned table with the protocol as caption"),
    OutputFormat("json", ".json", _json, "document: protocol, metrics per algorithm, rows"),
    OutputFormat("csv", ".csv", _csv, "tidy rows, one per algorithm, fold, metric and K"),
    OutputFormat("markdown", ".md", _markdown, "Markdown table with the caption in italics"),
    OutputFormat("latex", ".tex", _latex, "booktabs LaTeX table with the protocol as caption"),
)
OUTPUT_FORMAT_BY_NAME: dict[str, OutputFormat] = {f.name: f for f in OUTPUT_FORMATS}
OUTPUT_FORMAT_NAMES: tuple[str, ...] = tuple(OUTPUT_FORMAT_BY_NAME)
#: --output FILE suffix -> format name
FORMAT_BY_SUFFIX: dict[str, str] = {f.suffix: f.name for f in OUTPUT_FORMATS}


def format_help() -> str:
    """``--format`` help: every format with the suffix that selects it."""
    parts = ", ".join(f"{f.name} ({f.suffix})" for f in OUTPUT_FORMATS)
    return f"One of {parts}; default: from the --output suffix, else table."


def output_format(name: str) -> OutputFormat:
    """The record for ``--format NAME`` (any case); UsageError naming the choices otherwise."""
    fmt = OUTPUT_FORMAT_BY_NAME.get(name.strip().lower())
    if fmt is None:
        raise UsageError(
            f"unknown --format '{name}'{suggest(name.lower(), OUTPUT_FORMAT_NAMES)} "
            f"(use {', '.join(OUTPUT_FORMAT_NAMES)})"
        )
    return fmt


def render_text(
    res: ExperimentResult,
    fmt: str,
    metrics: tuple[str, ...] = DEFAULT_METRICS,
    by_segment: bool = False,
) -> str:
    """The whole output in format ``fmt`` (any of OUTPUT_FORMATS, the table included)."""
    return output_format(fmt).write(res, metrics, by_segment)


def check_output(path: Path | None) -> Path | None:
    """Check before any work that the results file can be written; the path to write to.

    The directory must exist and accept a new file (a probe file is created and removed); an
    existing target must be a regular file (never a device or a directory). A symlink is
    followed, so the file it points to is replaced.
    """
    if path is None:
        return None
    path = Path(path)
    try:
        if path.is_symlink():
            path = path.resolve(strict=False)
        if path.is_dir():
            raise UsageError(f"--output {path} is a directory")
        if path.exists() and not path.is_file():
            raise UsageError(f"--output {path} exists and is not a regular file")
        parent = path.parent
        if not parent.is_dir():
            raise UsageError(f"--output: directory {parent} does not exist")
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as exc:
        raise UsageError(f"--output {path} cannot be written ({exc.strerror})") from None
    except RuntimeError as exc:  # a symlink loop (Python < 3.13)
        raise UsageError(f"--output {path} cannot be written ({exc})") from None
    return path
