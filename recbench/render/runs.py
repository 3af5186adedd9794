"""Rich tables and lines for ``recbench runs``: the store's runs, one run, two runs' deltas.

Takes what :mod:`recbench.store` reads (manifests, summaries, deltas); reads nothing itself.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from rich.markup import escape
from rich.table import Table

from recbench.metrics import METRICS


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def run_brief(r: Any, cells: int) -> dict[str, Any]:
    m = r.manifest
    return {
        "run_id": r.run_id,
        "kind": m.get("kind"),
        "status": r.status,
        "started": m.get("started"),
        "ended": m.get("ended"),
        "name": m.get("name"),
        "datasets": [d.get("name") for d in m.get("datasets") or []],
        "splits": m.get("splits") or [],
        "algorithms": [a.get("label") for a in m.get("algorithms") or []],
        "cells": cells,
        "n_cells": m.get("n_cells"),
        **({"problem": r.problem} if r.problem else {}),
        **({"error": m["error"]} if m.get("error") else {}),
    }


def _column(metric: str, k: int | None) -> str:
    """A stored metric's column header; a sampled one (``ndcg_s100``) as ``NDCG@10 (100
    sampled)``, a name recbench no longer knows as itself."""
    from recbench.candidates import stored_metric

    spec = METRICS.get(metric) or stored_metric(metric)
    return spec.column(k) if spec is not None else metric


def summary_table(summ: pd.DataFrame, title: str) -> Table:
    """Algorithms as rows, metric@K as columns (mean over folds and repeats)."""
    table = Table(title=title, title_style="bold")
    if not len(summ):
        return table
    summ = summ.copy()
    summ["col"] = [_column(str(m), None if pd.isna(k) else int(k))
                   for m, k in zip(summ["metric"], summ["k"], strict=True)]  # fmt: skip
    cols = list(dict.fromkeys(summ["col"]))
    groups = summ[["dataset", "split"]].drop_duplicates()
    single = len(groups) == 1
    if single:
        table.title = escape(f"{title} · {groups.iloc[0]['dataset']} · {groups.iloc[0]['split']}")
    keys = ["algorithm"] if single else ["dataset", "split", "algorithm"]
    for name in (*keys, *cols):
        table.add_column(name, justify="left" if name in keys else "right", no_wrap=True)
    for key, g in summ.groupby(["dataset", "split", "algorithm"], sort=False):
        values = dict(zip(g["col"], g["mean"], strict=True))
        labels = [str(key[2])] if single else [str(x) for x in key]
        table.add_row(*(escape(x) for x in labels), *(_fmt(values.get(c)) for c in cols))
    return table


def show_lines(run_id: str, status: str, m: dict[str, Any]) -> list[str]:
    """``runs show``: the lines above the results table (what ran, where, on what)."""
    lines = [f"run {run_id} · {m.get('kind')} · {status}"]
    for key in ("name", "started", "ended", "error", "recbench_version", "python", "study_path"):
        if m.get(key):
            lines.append(f"  {key}: {m[key]}")
    for d in m.get("datasets") or []:
        lines.append(
            f"  dataset: {d.get('name')} ({d.get('n_ratings'):,} ratings, checksum "
            f"{str(d.get('checksum'))[:12]})"
        )
    lines.append(f"  splits: {', '.join(m.get('splits') or [])}; seeds: {m.get('seeds')}")
    machine = m.get("machine") or {}
    lines.append(
        f"  machine: {machine.get('system')} {machine.get('arch')}, {machine.get('cpus')} CPUs, "
        f"{machine.get('memory_gb')} GB"
    )
    return lines


def runs_table(title: str, runs: list[Any], briefs: list[dict[str, Any]]) -> Table:
    """``runs list``: one row per run (a corrupt run's algorithms shown as ?)."""
    table = Table(title=title, title_style="bold")
    for col in ("run", "kind", "status", "started", "datasets", "splits", "algorithms", "cells"):
        table.add_column(col, no_wrap=col != "datasets", overflow="fold")
    for r, b in zip(runs, briefs, strict=True):
        row = (
            r.run_id,
            b["kind"] or "?",
            b["status"],
            str(b["started"] or "")[:16].replace("T", " "),
            ",".join(b["datasets"]),
            ",".join(b["splits"]),
            str(len(b["algorithms"])) if r.problem is None else "?",
            f"{b['cells']}/{b['n_cells'] or '?'}",
        )
        table.add_row(*(escape(str(x)) for x in row))
    return table


def delta_table(deltas: pd.DataFrame) -> Table:
    """``runs diff``: the metric deltas (b - a), one row per dataset, split, algorithm, metric."""
    table = Table(title="metric deltas (b - a)", title_style="bold")
    for name in ("dataset", "split", "algorithm", "metric", "a", "b", "delta", "change"):
        table.add_column(name, justify="right" if name in ("a", "b", "delta", "change") else "left")
    for r in deltas.itertuples():
        metric = r.metric if pd.isna(r.k) else f"{r.metric}@{int(r.k)}"
        algo = (
            r.algorithm
            if r.algorithm == r.algorithm_b or pd.isna(r.algorithm_b)
            else (f"{r.algorithm} -> {r.algorithm_b}")
        )
        delta = "—" if pd.isna(r.delta) else f"{r.delta:+.4f}"
        rel = "—" if pd.isna(r.relative) else f"{100 * r.relative:+.1f}%"
        cells = (r.dataset, r.split, algo, metric, _fmt(r.a), _fmt(r.b), delta, rel)
        table.add_row(*(escape(str(x)) for x in cells))
    return table


def show_doc(
    manifest: dict[str, Any], status: str, coverage: dict[str, Any], summ: pd.DataFrame
) -> dict[str, Any]:
    """``runs show --json``: the manifest (without the study text), status, coverage, summary."""
    doc = {k: v for k, v in manifest.items() if k != "study"}
    doc["status"] = status
    doc["coverage"] = coverage
    doc["summary"] = json.loads(summ.to_json(orient="records"))
    return doc


def diff_doc(a: str, b: str, changes: list[Any], deltas: pd.DataFrame) -> dict[str, Any]:
    """``runs diff --json``: the two run ids, the settings that changed and the deltas."""
    return {
        "a": a,
        "b": b,
        "changes": [{"key": k, "a": va, "b": vb} for k, va, vb in changes],
        "deltas": json.loads(deltas.to_json(orient="records")),
    }


def diff_lines(a: str, b: str, changes: list[Any]) -> list[str]:
    """``runs diff``'s header: the runs, then each changed setting (or that none changed)."""
    lines = [f"runs diff a={a}  b={b}"]
    lines += [f"  changed {key}: {va!r} -> {vb!r}" for key, va, vb in changes]
    return lines if changes else [*lines, "  no setting changed"]
