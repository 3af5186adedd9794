"""The numbers a report shows, from stored runs: summary rows with intervals, segments, times."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recbench.errors import RecbenchError
from recbench.metrics import METRICS
from recbench.store import RunInfo, Store


@dataclass
class RunData:
    """One stored run's tables, read once."""

    run: RunInfo
    results: pd.DataFrame
    per_user: pd.DataFrame
    segments: pd.DataFrame

    @property
    def label(self) -> str:
        name = self.run.manifest.get("name")
        return f"{self.run.run_id} ({name})" if name else self.run.run_id


def read_runs(store: Store, refs: list[str]) -> list[RunData]:
    runs = [store.get(r) for r in refs]
    return [
        RunData(r, store.results(r), store.table(r, "per_user"), store.table(r, "segments"))
        for r in runs
    ]


@dataclass
class ReportData:
    """Long summary rows: run, dataset, split, algorithm, metric, k, mean, low, high, n, ..."""

    runs: list[RunData]
    summary: pd.DataFrame
    segments: pd.DataFrame
    times: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _intervals(
    pu: pd.DataFrame, cols: list[str], folds: list[tuple[Any, Any]]
) -> dict[str, tuple[float, float]]:
    """95% intervals of one algorithm's metric columns (stats.cell_intervals: bootstrap over
    users for one split, t over folds or repeats otherwise); absent when not available."""
    from recbench.stats import cell_intervals

    cols = [c for c in cols if c in pu]
    if not cols:
        return {}
    runs, repeats = [], []
    for fold, seed in folds:
        sel = pu[pu["fold"] == fold]
        if "seed" in sel:
            sel = sel[sel["seed"] == seed]
        values = sel[cols].dropna().to_numpy(dtype=float)
        if len(values) < 2:
            return {}
        runs.append(values)
        repeats.append(int(seed))
    try:
        ivs = cell_intervals(runs, repeats=repeats, n_boot=1000, method="percentile")
    except RecbenchError:
        return {}
    return {c: (iv.low, iv.high) for c, iv in zip(cols, ivs, strict=True)}


def build(runs: list[RunData]) -> ReportData:
    """Summaries of every run; ranking metrics get intervals from the per-user values."""
    rows: list[dict[str, Any]] = []
    segs, times = [], []
    for rd in runs:
        res = rd.results
        if not len(res):
            continue
        keys = ["dataset", "split", "algorithm", "metric", "k"]
        intervals: dict[tuple[Any, Any, Any], dict[str, tuple[float, float]]] = {}
        pu = rd.per_user
        for (ds, sp, algo), g in res.groupby(keys[:3], sort=False):
            cols = [
                METRICS[m].key(int(k))
                for m, k in zip(g["metric"], g["k"], strict=True)
                if m in METRICS and METRICS[m].kind == "ranking" and not pd.isna(k)
            ]
            folds = list(dict.fromkeys(zip(g["fold"], g["seed"], strict=True)))
            if len(pu) and "algorithm" in pu:
                intervals[(ds, sp, algo)] = _intervals(
                    pu[pu["algorithm"] == algo], list(dict.fromkeys(cols)), folds
                )
        for (ds, sp, algo, metric, k), g in res.groupby(keys, sort=False, dropna=False):
            mean = float(g["value"].mean())
            low = high = np.nan
            spec = METRICS.get(str(metric))
            col = spec.key(None if pd.isna(k) else int(k)) if spec else None
            found = intervals.get((ds, sp, algo), {})
            if spec is not None and spec.kind == "ranking" and col in found:
                low, high = found[col]
            elif len(g) > 1:
                sd = float(g["value"].std(ddof=1))
                half = 1.96 * sd / np.sqrt(len(g))
                low, high = mean - half, mean + half
            rows.append(
                {
                    "run": rd.run.run_id,
                    "dataset": ds,
                    "split": sp,
                    "algorithm": algo,
                    "metric": metric,
                    "k": None if pd.isna(k) else int(k),
                    "column": spec.column(None if pd.isna(k) else int(k)) if spec else metric,
                    "mean": mean,
                    "low": low,
                    "high": high,
                    "n": len(g),
                    "higher_is_better": _higher(str(metric)),
                }
            )
        t = res.groupby(["dataset", "split", "algorithm"], sort=False).agg(
            fit_seconds=("fit_seconds", "mean"), score_seconds=("score_seconds", "mean")
        )
        t = t.reset_index()
        t.insert(0, "run", rd.run.run_id)
        times.append(t)
        if len(rd.segments):
            s = rd.segments.groupby(["algorithm", "segment", "metric"], sort=False)["value"]
            s = s.mean().reset_index()
            s.insert(0, "run", rd.run.run_id)
            segs.append(s)
    summary = pd.DataFrame(rows)
    return ReportData(
        runs,
        summary,
        pd.concat(segs, ignore_index=True) if segs else pd.DataFrame(),
        pd.concat(times, ignore_index=True) if times else pd.DataFrame(),
    )


def _higher(metric: str) -> bool:
    spec = METRICS.get(metric)
    return bool(spec.higher_is_better) if spec is not None else metric not in ("rmse", "mae")
