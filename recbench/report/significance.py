"""Significance marks for the report: every algorithm against a baseline on the ranking columns,
one correction over the table. Paired over users (pooled across folds) for one split or one
k-fold; with repeats, over runs by the corrected resampled t (Nadeau & Bengio 2003), as
``compare`` does (:mod:`recbench.significance`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recbench.errors import RecbenchError
from recbench.metrics import METRICS

#: the report's defaults (a study's ``baseline`` / ``test`` / ``correction`` / ``alpha`` win)
DEFAULTS = {"baseline": "best", "test": "randomization", "correction": "holm", "alpha": 0.05}


@dataclass
class Marks:
    """Verdicts per (run, dataset, split, algorithm, column): "better" or "worse"."""

    verdicts: dict[tuple[str, str, str, str, str], str] = field(default_factory=dict)
    baselines: dict[tuple[str, str, str], str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=lambda: dict(DEFAULTS))


def _settings(manifest: dict[str, Any]) -> dict[str, Any]:
    return {k: manifest.get(k) or v for k, v in DEFAULTS.items()}


def run_ratio(manifest: dict[str, Any], dataset: str, rows: pd.DataFrame) -> float:
    """The runs' mean n_test/n_train for the corrected resampled t: each run's test ratings
    (``n_test`` of its result rows) against the rest of the dataset the manifest records."""
    from recbench.stats import size_ratio

    sizes = [d.get("n_ratings") for d in manifest.get("datasets", []) if d.get("name") == dataset]
    if not sizes or not sizes[0] or "n_test" not in rows:
        return 0.0
    per_run = rows.groupby(["seed", "fold"], sort=False)["n_test"].max()
    return size_ratio(per_run.to_numpy(dtype=float), float(sizes[0]))


def _group_values(
    pu: pd.DataFrame, algos: list[str], cols: list[str]
) -> dict[str, np.ndarray] | None:
    """(users x cols) per algorithm, pooled over folds and repeats, on one shared user axis."""
    from recbench.stats import pool_by_user

    pooled = {}
    for algo in algos:
        rows = pu[pu["algorithm"] == algo]
        if not len(rows):
            return None
        pooled[algo] = pool_by_user(rows["user"].to_numpy(), rows[cols].to_numpy(dtype=float))
    users = np.unique(np.concatenate([p.users for p in pooled.values()]))
    out = {}
    for algo, p in pooled.items():
        full = np.full((len(users), len(cols)), np.nan)
        full[np.searchsorted(users, p.users)] = p.values
        out[algo] = full
    return out


def _run_values(
    res: pd.DataFrame, algos: list[str], cols: list[str]
) -> dict[str, np.ndarray] | None:
    """(runs x cols) table values per algorithm, rows in (seed, fold) order."""
    keys = [
        m if pd.isna(k) else f"{m}@{int(k)}" for m, k in zip(res["metric"], res["k"], strict=True)
    ]
    frame = res.assign(_key=keys)
    frame = frame[frame["_key"].isin(cols)]
    table = frame.pivot_table(
        index=["seed", "fold"], columns=["algorithm", "_key"], values="value", aggfunc="mean"
    )
    out = {}
    for algo in algos:
        out[algo] = np.column_stack(
            [
                table[(algo, c)].to_numpy(dtype=float)
                if (algo, c) in table
                else np.full(len(table), np.nan)
                for c in cols
            ]
        )
    return out if len(table) >= 2 else None


def significance(runs: list[Any], summary: pd.DataFrame) -> Marks:
    """Marks for every run of the report (runs without per-user values get none)."""
    from recbench.stats import compare_to_baseline, pick_best

    marks = Marks()
    if not len(summary):
        return marks
    for rd in runs:
        s = _settings(rd.run.manifest)
        marks.settings = s
        pu, res = rd.per_user, rd.results
        if not len(pu) or "cell_id" not in pu or "cell_id" not in res:
            continue
        cell_group = dict(
            zip(res["cell_id"], zip(res["dataset"], res["split"], strict=True), strict=True)
        )
        pu = pu.assign(_group=pu["cell_id"].map(cell_group))
        mine = summary[summary["run"] == rd.run.run_id]
        for (ds, sp), g in mine.groupby(["dataset", "split"], sort=False):
            ranked = g[g["k"].notna() & g["metric"].map(lambda m: METRICS[m].kind == "ranking")]
            cols = list(
                dict.fromkeys(
                    METRICS[m].key(int(k))
                    for m, k in zip(ranked["metric"], ranked["k"], strict=True)
                )
            )
            cols = [c for c in cols if c in pu]
            algos = list(dict.fromkeys(g["algorithm"]))
            if not cols or len(algos) < 2:
                continue
            rows = res[(res["dataset"] == ds) & (res["split"] == sp)]
            repeated = "seed" in rows and rows["seed"].nunique() > 1
            if repeated:
                values = _run_values(rows, algos, cols)
            else:
                values = _group_values(pu[pu["_group"] == (ds, sp)], algos, cols)
            if values is None:
                continue
            higher = [METRICS[c.split("@")[0]].higher_is_better for c in cols]
            baseline = str(s["baseline"])
            if baseline == "best":
                first = ranked[ranked["column"] == ranked["column"].iloc[0]]
                means = dict(zip(first["algorithm"], first["mean"], strict=True))
                baseline = pick_best(means, bool(higher[0]))
            if baseline not in values:
                continue
            try:
                found = compare_to_baseline(
                    values,
                    baseline,
                    cols,
                    higher,
                    test=str(s["test"]),
                    correction=str(s["correction"]),
                    alpha=float(s["alpha"]),
                    skip_unpaired=True,
                    ratio=run_ratio(rd.run.manifest, ds, rows) if repeated else None,
                )
            except RecbenchError:
                continue
            marks.baselines[(rd.run.run_id, ds, sp)] = baseline
            for c in found:
                if c.verdict:
                    marks.verdicts[(rd.run.run_id, ds, sp, c.algorithm, c.metric)] = c.verdict
    return marks
