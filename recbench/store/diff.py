"""Summaries of stored runs and the difference between two runs (settings and metric deltas)."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

KEYS = ["dataset", "split", "algorithm", "metric", "k"]


def summary(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample std over folds and repeats per (dataset, split, algorithm, metric, k)."""
    if not len(results):
        return pd.DataFrame(columns=[*KEYS, "mean", "std", "n", "fit_seconds", "score_seconds"])
    g = results.groupby(KEYS, sort=False, dropna=False)
    return g.agg(
        mean=("value", "mean"),
        std=("value", "std"),
        n=("value", "size"),
        fit_seconds=("fit_seconds", "mean"),
        score_seconds=("score_seconds", "mean"),
    ).reset_index()


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: obj}


#: manifest keys compared by ``runs diff`` (times, ids and the raw study text are not settings)
SETTING_KEYS = ("kind", "datasets", "splits", "seeds", "ks", "relevance_threshold", "metrics")


def setting_changes(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(key, value in a, value in b) for each setting that differs, parameters included."""
    fa = _flatten({k: a.get(k) for k in SETTING_KEYS})
    fb = _flatten({k: b.get(k) for k in SETTING_KEYS})
    pa = {x["label"]: x for x in a.get("algorithms") or []}
    pb = {x["label"]: x for x in b.get("algorithms") or []}
    for label in dict.fromkeys([*pa, *pb]):
        fa.update(_flatten(pa.get(label, {}).get("params") or {}, f"params.{label}"))
        fb.update(_flatten(pb.get(label, {}).get("params") or {}, f"params.{label}"))
    fa["algorithms"] = ",".join(pa)
    fb["algorithms"] = ",".join(pb)
    changes = []
    for key in dict.fromkeys([*fa, *fb]):
        va, vb = fa.get(key), fb.get(key)
        if json.dumps(va, default=str) != json.dumps(vb, default=str):
            changes.append((key, va, vb))
    return changes


def _match_labels(sa: pd.DataFrame, sb: pd.DataFrame) -> pd.DataFrame:
    """Rename b's algorithm labels to a's where a label is in one run only but its algorithm
    name is unique in both (``svd[n_factors=50]`` vs ``svd[n_factors=100]``)."""
    la, lb = set(sa["algorithm"]), set(sb["algorithm"])

    def base(label: str) -> str:
        return label.split("[", 1)[0]

    only_a = sorted(la - lb)
    only_b = sorted(lb - la)
    rename = {}
    for x in only_b:
        same_a = [y for y in only_a if base(y) == base(x)]
        same_b = [y for y in only_b if base(y) == base(x)]
        if len(same_a) == 1 and len(same_b) == 1:
            rename[x] = same_a[0]
    out = sb.copy()
    out["algorithm_b"] = out["algorithm"]
    out["algorithm"] = out["algorithm"].replace(rename)
    return out


def diff(results_a: pd.DataFrame, results_b: pd.DataFrame) -> pd.DataFrame:
    """Metric means of two runs side by side: a, b, delta = b - a, relative change."""
    sa, sb = summary(results_a), _match_labels(summary(results_a), summary(results_b))
    merged = sa[[*KEYS, "mean"]].merge(
        sb[[*KEYS, "algorithm_b", "mean"]],
        on=KEYS,
        how="outer",
        suffixes=("_a", "_b"),
        sort=False,
    )
    # keep run a's row order (metrics as its table shows them), then rows only b has
    order = {key: i for i, key in enumerate(zip(*(sa[c] for c in KEYS), strict=True))}
    pos = [order.get(key, len(order)) for key in zip(*(merged[c] for c in KEYS), strict=True)]
    merged = merged.assign(_pos=pos).sort_values("_pos", kind="stable").drop(columns="_pos")
    merged = merged.reset_index(drop=True).rename(columns={"mean_a": "a", "mean_b": "b"})
    merged["delta"] = merged["b"] - merged["a"]
    denom = merged["a"].abs()
    merged["relative"] = merged["delta"].where(denom > 0) / denom.where(denom > 0)
    merged["k"] = merged["k"].astype("Int64")
    return merged
