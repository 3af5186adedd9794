"""Where an ``abtest plan`` gets its inputs: a pilot log, a per-user file, a stored run.

A pilot (or historical) log in ``abtest analyze``'s format gives a CTR plan its baseline rate,
impressions per user and between-user spread (:func:`recbench.online.power.ratio_model_from_log`);
a per-user file or a stored run's per-user values give a per-user mean and sd. Nothing prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recbench.errors import DataError, UsageError
from recbench.online import power
from recbench.online.analysis import order_arms
from recbench.online.logs import load_log, read_log
from recbench.online.power import RatioModel, ratio_model_from_log
from recbench.online.report import Section, plan_sections


def column_ks(column: str) -> tuple[int, ...]:
    """The cut-off of an offline metric column such as ``ndcg@10`` (10 when it names none)."""
    k_text = column.partition("@")[2]
    try:
        return (int(k_text),) if k_text else (10,)
    except ValueError:
        raise UsageError(f"--column '{column}' is not METRIC@K, e.g. ndcg@10") from None


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


def parse_floats(text: str | None, name: str) -> list[float]:
    """``0.02`` or ``0.01,0.02`` -> numbers (none for None); a one-line error otherwise."""
    if text is None:
        return []
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"{name} expects numbers like 0.02 or 0.01,0.02, got '{text}'") from None


@dataclass
class PlanSource:
    """Where ``abtest plan`` takes its baseline from: exactly one is given."""

    baseline: float | None = None
    impressions_mean: float | None = None
    impressions_sd: float | None = None
    icc: float | None = None
    pilot: Path | None = None
    control: str | None = None
    mean: float | None = None
    sd: float | None = None
    per_user: Path | None = None
    #: a stored run or an algorithm to fit (resolved by the caller with :meth:`needs_values`)
    run: str | None = None
    algo: str | None = None
    column: str = "ndcg@10"

    def check(self) -> RatioModel | None:
        """The CTR model asked for; refuses a source given twice or not at all."""
        model = ctr_model(self.impressions_mean, self.impressions_sd, self.icc)
        ctr = self.pilot is not None or model is not None
        if self.pilot is not None and model is not None:
            raise UsageError(
                "--pilot measures impressions per user; drop --impressions-mean/sd, --icc"
            )
        rate_given = self.baseline is not None or self.pilot is not None
        given = (self.mean, self.per_user, self.run or self.algo)
        sources = rate_given + sum(x is not None for x in given)
        if sources != 1 or (ctr and self.baseline is None and self.pilot is None):
            raise UsageError(
                "give exactly one of --baseline RATE [--impressions-mean M ...], --pilot LOG, "
                "--mean M --sd S, --per-user FILE, --run REF or --algo NAME"
            )
        return model


def plan_report(
    src: PlanSource,
    lifts: list[float],
    n_users: list[float],
    alpha: float,
    power_: float,
    ratio: float,
    values: tuple[np.ndarray, str] | None = None,
) -> tuple[list[Section], dict[str, Any], list[str], list[str]]:
    """``abtest plan``: sections, JSON meta, header and notes. ``values`` are the per-user
    values and their label for ``--run``/``--algo`` (read or computed by the caller)."""
    model = src.check()
    baseline, mean, sd = src.baseline, src.mean, src.sd
    notes: list[str] = []
    described = "a per-user proportion (one trial per user)"
    if src.pilot is not None:
        rate, model, arm = pilot_model(src.pilot, src.control)
        baseline = rate if baseline is None else baseline
        notes.append(
            f"{src.pilot}{f' (arm {arm})' if arm else ''}: CTR {rate:.4f}, impressions per user "
            f"mean {model.impressions_mean:.2f} sd {model.impressions_sd:.2f}, icc "
            f"{model.icc:.4f} over {model.users:,} users",
        )
        described = f"CTR clustered by user, from {src.pilot.name} ({model.users:,} users)"
    elif model is not None:
        described = "CTR clustered by user (delta method)"
    elif baseline is not None:
        notes.append("planning a per-user proportion; for a CTR add --impressions-mean or --pilot")
    elif src.per_user is not None:
        values = per_user_values(src.per_user, src.column), src.per_user.name
    if values is not None:
        mean, sd, count = power.per_user_moments(values[0])
        notes.append(f"{values[1]} {src.column}: mean {mean:.4f}, sd {sd:.4f} over {count:,} users")
        described = f"per-user {src.column} of {values[1]} ({count:,} users)"
    elif mean is not None:
        described = "per-user mean"
    plans = power.plans(
        lifts, n_users, baseline=baseline, mean=mean, sd=sd, model=model,
        alpha=alpha, power=power_, ratio=ratio,
    )  # fmt: skip
    header = [
        f"recbench abtest plan · {described} · alpha {alpha:g} · power {power_:g} · ratio {ratio:g}"
    ]
    meta = {
        "alpha": alpha, "power": power_, "ratio": ratio, "metric": plans[0].metric,
        "source": described,
    }  # fmt: skip
    return plan_sections(plans), meta, header, notes
