"""The numbers a report shows, from stored runs: summary rows with intervals, segments, times."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recbench.errors import RecbenchError
from recbench.metrics import DEFAULT_METRICS, METRICS, RATING_METRICS
from recbench.report.significance import run_ratio
from recbench.store import RunInfo, Store
from recbench.store.coverage import Coverage, coverage, restrict


@dataclass
class RunData:
    """One stored run's tables, read once."""

    run: RunInfo
    results: pd.DataFrame
    per_user: pd.DataFrame
    segments: pd.DataFrame
    #: the protocol sentence of each dataset x split, as the cells recorded it
    protocols: list[str] = field(default_factory=list)
    #: the cells the run holds against those it should (tables keep only complete folds)
    coverage: Coverage | None = None
    #: learning curves the cells recorded: algorithm, seed, fold, epoch, value
    curves: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def label(self) -> str:
        name = self.run.manifest.get("name")
        return f"{self.run.run_id} ({name})" if name else self.run.run_id


def read_runs(store: Store, refs: list[str]) -> list[RunData]:
    """The runs' tables; where a run misses cells, only the folds every algorithm finished
    (:mod:`recbench.store.coverage`; ``RunData.coverage.notes()`` says what was left out)."""
    runs = [store.get(r) for r in refs]
    out = []
    for r in runs:
        cells = store.cells(r)
        cov = coverage(r, cells)
        protocols = [str(c.get("protocol")) for c in cells if c.get("protocol")]
        curves = pd.DataFrame(
            [
                {
                    "algorithm": c.get("label"),
                    "seed": c.get("seed"),
                    "fold": c.get("fold"),
                    "epoch": e,
                    "value": v,
                }
                for c in cells
                for e, v in c.get("curve") or []
            ],
            columns=["algorithm", "seed", "fold", "epoch", "value"],
        )
        out.append(
            RunData(
                r,
                restrict(store.results(r), cov),
                restrict(store.table(r, "per_user"), cov),
                restrict(store.table(r, "segments"), cov),
                list(dict.fromkeys(protocols)),
                cov,
                curves,
            )
        )
    return out


@dataclass
class ReportData:
    """Long summary rows: run, dataset, split, algorithm, metric, k, mean, low, high, n, ..."""

    runs: list[RunData]
    summary: pd.DataFrame
    segments: pd.DataFrame
    times: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    marks: Any = None


def _intervals(
    pu: pd.DataFrame, cols: list[str], folds: list[tuple[Any, Any]], ratio: float
) -> dict[str, tuple[float, float]]:
    """95% intervals of one algorithm's metric columns (stats.cell_intervals: bootstrap over
    users for one split, t over folds, the corrected resampled t with repeats, ``ratio`` the
    runs' n_test/n_train); absent when not available."""
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
        ivs = cell_intervals(runs, repeats=repeats, ratio=ratio, n_boot=1000, method="percentile")
    except RecbenchError:
        return {}
    return {c: (iv.low, iv.high) for c, iv in zip(cols, ivs, strict=True)}


def _run_interval(g: pd.DataFrame, ratio: float) -> tuple[float, float]:
    """95% interval of a metric from its per-run values: t over the folds of one k-fold, the
    corrected resampled t over every run with repeats (as ``compare``)."""
    from recbench.stats import corrected_t_interval, t_interval

    vals = g.groupby(["seed", "fold"], sort=True)["value"].mean().to_numpy(dtype=float)
    try:
        if g["seed"].nunique() > 1:
            iv = corrected_t_interval(vals, ratio=ratio)
        else:
            iv = t_interval(vals)
    except RecbenchError:
        return float("nan"), float("nan")
    return iv.low, iv.high


def report_metrics(run: RunInfo, metrics: tuple[str, ...] | None) -> tuple[str, ...]:
    """The metrics a report shows: those asked for, else the run's own, else the defaults."""
    if metrics:
        return metrics
    stored = run.manifest.get("metrics")
    return tuple(stored) if stored else DEFAULT_METRICS


def build(runs: list[RunData], metrics: tuple[str, ...] | None = None) -> ReportData:
    """Summaries of every run; ranking metrics get intervals from the per-user values.

    ``metrics`` (names, e.g. ``("rmse", "ndcg")``) limits what is shown; by default each run's
    study metrics, or the table's defaults for compare runs.
    """
    rows: list[dict[str, Any]] = []
    segs, times = [], []
    for rd in runs:
        res = rd.results
        if not len(res):
            continue
        res = res[res["metric"].isin(report_metrics(rd.run, metrics))]
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
                    pu[pu["algorithm"] == algo],
                    list(dict.fromkeys(cols)),
                    folds,
                    run_ratio(rd.run.manifest, ds, g),
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
                low, high = _run_interval(g, run_ratio(rd.run.manifest, ds, g))
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
            first_k = min((int(k) for k in res["k"].dropna()), default=None)
            shown = [m for m in report_metrics(rd.run, metrics) if METRICS[m].kind == "rating"]
            ranking = [m for m in report_metrics(rd.run, metrics) if METRICS[m].kind == "ranking"]
            if ranking and first_k is not None:
                best = "ndcg" if "ndcg" in ranking else ranking[0]
                shown.append(METRICS[best].key(first_k))
            seg = rd.segments[rd.segments["metric"].isin(shown)]
            s = seg.groupby(["algorithm", "segment", "metric"], sort=False)["value"]
            s = s.mean().reset_index()
            s.insert(0, "run", rd.run.run_id)
            segs.append(s)
    summary = pd.DataFrame(rows)
    from recbench.report.significance import significance

    notes = [line for rd in runs if rd.coverage is not None for line in rd.coverage.notes()]
    return ReportData(
        runs,
        summary,
        pd.concat(segs, ignore_index=True) if segs else pd.DataFrame(),
        pd.concat(times, ignore_index=True) if times else pd.DataFrame(),
        notes=notes,
        marks=significance(runs, summary),
    )


def _higher(metric: str) -> bool:
    spec = METRICS.get(metric)
    return bool(spec.higher_is_better) if spec is not None else metric not in RATING_METRICS
