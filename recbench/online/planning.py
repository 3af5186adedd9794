"""Where an ``abtest plan`` gets its inputs: a pilot log, a per-user file, a stored run.

A pilot (or historical) log in ``abtest analyze``'s format gives a CTR plan its baseline rate,
impressions per user and between-user spread (:func:`recbench.online.power.ratio_model_from_log`);
a per-user file or a stored run's per-user values give a per-user mean and sd. Nothing prints.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recbench.errors import DataError, UsageError
from recbench.online.analysis import order_arms
from recbench.online.logs import load_log, read_log
from recbench.online.power import RatioModel, ratio_model_from_log


def pilot_model(path: Path, control: str | None = None) -> tuple[float, RatioModel, str | None]:
    """Baseline CTR and impression model of a pilot log; with several arms, of its ``control``
    arm (by default as analyze picks it: 'control', 'A' or the first). Returns (rate, model,
    arm or None)."""
    users = load_log(path, []).users
    arms = [str(a) for a in pd.unique(users["arm"])]
    arm = order_arms(arms, control)[0] if len(arms) > 1 or control is not None else None
    part = users if arm is None else users[users["arm"] == arm]
    rate, model = ratio_model_from_log(
        part["clicks"].to_numpy(np.float64), part["impressions"].to_numpy(np.float64)
    )
    return rate, model, arm


def per_user_values(path: Path, column: str) -> np.ndarray:
    """One numeric column of a CSV/TSV/Parquet of per-user values."""
    frame = read_log(path)
    if column not in frame.columns:
        raise DataError(
            f"{path} has no column '{column}' (has: {', '.join(map(str, frame.columns))})"
        )
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(np.float64)


def stored_per_user(
    run_id: str, frame: pd.DataFrame, algo: str | None, column: str
) -> tuple[np.ndarray, str]:
    """Per-user ``column`` values of one algorithm in a stored run's per-user table (``frame``;
    its first fold). The caller reads the store: online sits beside it, never above it."""
    if not len(frame) or "algorithm" not in frame.columns:
        raise UsageError(f"run {run_id} has no per-user values")
    algos = list(dict.fromkeys(str(a) for a in frame["algorithm"]))
    if algo is None:
        if len(algos) > 1:
            raise UsageError(
                f"run {run_id} has several algorithms ({', '.join(algos)}); pick one with --algo"
            )
        algo = algos[0]
    if algo not in algos:
        raise UsageError(f"run {run_id} has no algorithm '{algo}' ({', '.join(algos)})")
    if column not in frame.columns:
        have = [c for c in frame.columns if "@" in str(c) or c in ("rmse", "mae")]
        raise UsageError(f"run {run_id} has no per-user '{column}' (it has: {', '.join(have)})")
    part = frame[frame["algorithm"] == algo]
    if "fold" in part.columns:
        part = part[part["fold"] == part["fold"].min()]
    return part[column].to_numpy(np.float64), f"{algo} in run {run_id}"


def ctr_model(
    impressions_mean: float | None, impressions_sd: float | None, icc: float | None
) -> RatioModel | None:
    """The CTR model given by flags, or None when none is given (a per-user proportion)."""
    if impressions_mean is None:
        if impressions_sd is not None or icc is not None:
            raise UsageError("--impressions-sd and --icc need --impressions-mean")
        return None
    if icc is not None and not 0 <= icc < 1:
        raise UsageError(f"--icc must be in [0, 1), got {icc}")
    if icc and impressions_sd is None:
        raise UsageError("--icc needs --impressions-sd (heavy users weigh more when users differ)")
    return RatioModel(impressions_mean, impressions_sd or 0.0, icc or 0.0)
