"""Significance marks for the report: every algorithm against a baseline on the ranking columns,
paired over users (pooled across folds and repeats), one correction over the table."""

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
            sub = pu[pu["_group"] == (ds, sp)]
            values = _group_values(sub, algos, cols)
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
                )
            except RecbenchError:
                continue
            marks.baselines[(rd.run.run_id, ds, sp)] = baseline
            for c in found:
                if c.verdict:
                    marks.verdicts[(rd.run.run_id, ds, sp, c.algorithm, c.metric)] = c.verdict
    return marks
