"""Reading and validating an experiment log (CSV, TSV or Parquet) into one row per user.

A log has columns ``user``, ``arm``, ``impressions``, ``clicks`` (names matched without regard
to case; ``user_id``/``userId``, ``variant``/``group`` accepted) and optional numeric value
columns (summed per user). Several rows per user in one arm (e.g. one per day) are summed. A user
found in more than one arm breaks the randomisation: such users are counted, reported and left
out of the analysis. Columns ``rated_clicks`` and ``rating_sum`` together (as written by
``abtest simulate --save-log``) give the engagement metric, the mean rating of clicked items.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recbench.errors import DataError, UsageError

REQUIRED = ("user", "arm", "impressions", "clicks")
LOG_COLUMN_ALIASES = {
    "user": ("user", "user_id", "userid", "uid", "visitor"),
    "arm": ("arm", "variant", "group", "bucket", "treatment"),
    "impressions": ("impressions", "views", "exposures"),
    "clicks": ("clicks", "click"),
}
NOT_VALUES = {"day", "date", "timestamp", "time", "ts"}
#: columns that together give the engagement metric (mean rating of clicked items)
ENGAGEMENT = ("rated_clicks", "rating_sum")


@dataclass(frozen=True)
class UserLog:
    """A validated log aggregated to one row per user, and what was left out."""

    users: pd.DataFrame  # user, arm, impressions, clicks, values...
    values: list[str]
    n_rows: int
    overlap_users: int
    overlap_examples: list[str]


def read_log(path: Path) -> pd.DataFrame:
    """Read a CSV/TSV/Parquet log; one-line errors for missing, empty or unreadable files."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"log file not found: {path}")
    if path.is_dir():
        raise DataError(f"{path} is a directory; give the log file itself")
    if path.stat().st_size == 0:
        raise DataError(f"log {path} is empty")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        sep = "\t" if path.suffix.lower() in (".tsv", ".tab") else None
        return pd.read_csv(path, sep=sep, engine="python", skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataError(f"log {path} is empty") from None
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot read log {path}: {first}") from None


def _rename(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    lower = {str(c).strip().lower(): c for c in frame.columns}
    mapping: dict[object, str] = {}
    missing = []
    for role in REQUIRED:
        found = next((lower[a] for a in LOG_COLUMN_ALIASES[role] if a in lower), None)
        if found is None:
            missing.append(role)
        else:
            mapping[found] = role
    if missing:
        has = ", ".join(str(c) for c in frame.columns) or "none"
        raise DataError(
            f"log {path} lacks column(s) {', '.join(repr(m) for m in missing)} "
            f"(has: {has}; needs user, arm, impressions, clicks)"
        )
    return frame.rename(columns=mapping)


def _line(path: Path, index: int) -> str:
    """Where row ``index`` is: a CSV line number (header = line 1) or a Parquet row."""
    if Path(path).suffix.lower() in (".parquet", ".pq"):
        return f"row {index + 1}"
    return f"line {index + 2}"


def _numeric(frame: pd.DataFrame, col: str, path: Path) -> np.ndarray:
    values = pd.to_numeric(frame[col], errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"log {path}, {_line(path, i)}: {col} must be a number, got {frame[col].iloc[i]!r}"
        )
    return values


def load_log(path: Path, values: list[str] | None = None) -> UserLog:
    """Read, validate and aggregate a log (see the module docstring)."""
    raw = read_log(path)
    if not len(raw):
        raise DataError(f"log {path} has no rows")
    frame = _rename(raw, path)
    imp = _numeric(frame, "impressions", path)
    clk = _numeric(frame, "clicks", path)
    for name, arr in (("impressions", imp), ("clicks", clk)):
        neg = np.flatnonzero(arr < 0)
        if len(neg):
            raise DataError(
                f"log {path}, {_line(path, int(neg[0]))}: negative {name} ({arr[neg[0]]:g})"
            )
    over = np.flatnonzero(clk > imp)
    if len(over):
        i = int(over[0])
        raise DataError(
            f"log {path}, {_line(path, i)}: clicks ({clk[i]:g}) exceed impressions ({imp[i]:g})"
        )
    if frame["user"].isna().any() or frame["arm"].isna().any():
        i = int(np.flatnonzero(frame["user"].isna() | frame["arm"].isna())[0])
        raise DataError(f"log {path}, {_line(path, i)}: user or arm is empty")
    extra = [c for c in ENGAGEMENT if c in frame.columns]
    if len(extra) < len(ENGAGEMENT):
        extra = []
    if values is None:
        values = [
            str(c)
            for c in frame.columns
            if c not in REQUIRED
            and c not in extra
            and str(c).lower() not in NOT_VALUES
            and pd.api.types.is_numeric_dtype(frame[c])
        ]
    else:
        for v in values:
            if v not in frame.columns or v in REQUIRED:
                raise UsageError(f"--value '{v}' is not a value column of log {path}")
    cols = {"impressions": imp, "clicks": clk}
    for v in [*extra, *values]:
        cols[v] = _numeric(frame, v, path)
    data = pd.DataFrame(
        {"user": frame["user"].astype(str), "arm": frame["arm"].astype(str), **cols}
    )
    per = data.groupby(["user", "arm"], sort=False, as_index=False).sum()
    arms_per_user = per.groupby("user", sort=False)["arm"].transform("size").to_numpy()
    multi = arms_per_user > 1
    overlap = per.loc[multi, "user"].unique()
    users = per.loc[~multi].reset_index(drop=True)
    if not len(users):
        raise DataError(f"log {path}: every user appears in more than one arm")
    return UserLog(users, list(values), len(raw), len(overlap), [str(u) for u in overlap[:5]])
