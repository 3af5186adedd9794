"""Rendering: an ExperimentResult -> rich table, JSON, CSV, Markdown or LaTeX text.

Every format carries the protocol (the caption) so a number never travels without the conditions
it was measured under. Rendering only builds objects and strings; the CLI prints or writes them.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
from rich import box
from rich.markup import escape
from rich.table import Table

from recbench import __version__
from recbench.experiment import ExperimentResult, summarise
from recbench.metrics import METRICS, RANKING_METRICS

FORMATS = ("table", "json", "csv", "markdown", "latex")
DEFAULT_METRICS = ("rmse", "mae", "precision", "recall", "ndcg")
MISSING = "—"
UNABLE = "unable"
JSON_SCHEMA_ID = "https://recbench.dev/schema/compare-1.json"

#: JSON Schema of ``recbench compare --format json`` (checked by the test suite).
JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": JSON_SCHEMA_ID,
    "type": "object",
    "required": ["schema", "recbench_version", "dataset", "protocol", "algorithms", "rows"],
    "properties": {
        "schema": {"const": "recbench.compare/1"},
        "recbench_version": {"type": "string"},
        "dataset": {
            "type": "object",
            "required": ["name", "checksum", "n_ratings", "n_users", "n_items"],
            "properties": {
                "name": {"type": "string"},
                "checksum": {"type": "string"},
                "n_ratings": {"type": "integer"},
                "n_users": {"type": "integer"},
                "n_items": {"type": "integer"},
            },
        },
        "protocol": {
            "type": "object",
            "required": ["split", "description", "seed", "n_folds", "ks", "relevance_threshold"],
            "properties": {
                "split": {"type": "string"},
                "description": {"type": "string"},
                "seed": {"type": "integer"},
                "n_folds": {"type": "integer", "minimum": 1},
                "ks": {"type": "array", "items": {"type": "integer", "minimum": 1}},
                "relevance_threshold": {"type": ["number", "null"]},
                "ranking": {"type": "string"},
            },
        },
        "algorithms": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "name",
                    "params",
                    "fit_seconds",
                    "score_seconds",
                    "n_fallback",
                    "n_cold_users",
                    "metrics",
                ],
                "properties": {
                    "name": {"type": "string"},
                    "params": {"type": "object"},
                    "fit_seconds": {"type": "number", "minimum": 0},
                    "score_seconds": {"type": "number", "minimum": 0},
                    "n_fallback": {"type": "integer", "minimum": 0},
                    "n_cold_users": {"type": "integer", "minimum": 0},
                    "unable": {"type": ["string", "null"]},
                    "metrics": {
                        "type": "object",
                        "patternProperties": {
                            "^(rmse|mae|(precision|recall|ndcg|map|mrr|hitrate)@[0-9]+)$": {
                                "type": "object",
                                "required": ["mean", "std", "folds"],
                                "properties": {
                                    "mean": {"type": "number"},
                                    "std": {"type": ["number", "null"]},
                                    "folds": {"type": "array", "items": {"type": "number"}},
                                },
                            }
                        },
                        "additionalProperties": False,
                    },
                },
            },
        },
        "rows": {"type": "array", "items": {"type": "object"}},
        "segments": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["algorithm", "segment", "metric", "mean"],
            },
        },
    },
}


def columns_for(ks: tuple[int, ...], metrics: tuple[str, ...]) -> list[tuple[str, int | None]]:
    """(metric, k) columns in display order: rating metrics first, then ranking per K."""
    cols: list[tuple[str, int | None]] = [(m, None) for m in metrics if METRICS[m].kind == "rating"]
    for k in ks:
        cols += [(m, k) for m in metrics if METRICS[m].kind == "ranking"]
    return cols


def label(metric: str, k: int | None) -> str:
    lab = METRICS[metric].label
    return lab if k is None else f"{lab}@{k}"


def _ranking_caption(res: ExperimentResult, rel: str) -> str:
    n_items = res.dataset.interactions.n_items
    if res.split.cold == "items":
        pool = "candidates are only the held-out (cold) items"
    elif res.split.cold == "users":
        pool = f"full catalogue ({n_items:,} items), each held-out user's fold-in items excluded"
    else:
        pool = f"full catalogue ({n_items:,} items), each user's training items excluded"
    return f"Ranking: {pool}, no sampled negatives; {rel}; mean over users with >= 1 relevant item."


def caption(res: ExperimentResult) -> list[str]:
    """The protocol, stated in a few lines."""
    ds = res.dataset
    inter = ds.interactions
    cfg = res.eval_config
    rel = (
        "every held-out rating is relevant"
        if cfg.relevance_threshold is None
        else f"held-out ratings >= {cfg.relevance_threshold:g} are relevant"
    )
    prep = ds.source.get("preprocessing") if isinstance(ds.source, dict) else None
    prep_text = ""
    if prep:
        from recbench.data.preprocess import Preprocessing

        prep_text = f" Preprocessing: {Preprocessing.from_dict(prep).describe()}."
    lines = [
        f"{ds.name}: {len(inter):,} ratings, {inter.n_users:,} users, {inter.n_items:,} items."
        f"{prep_text} Split: {res.protocol}.",
        _ranking_caption(res, rel),
    ]
    cold = {a: n for a, n in res.cold_users.items() if n}
    if cold:
        n = max(cold.values())
        lines.append(f"{n:,} test users with no training ratings are not ranked (see cold-start).")
    s = summarise(res.results)
    fb = s[(s["metric"] == "rmse") & (s["n_fallback"] > 0)]
    if len(fb):
        n_test = int(fb["n_test"].iloc[0])
        parts = ", ".join(f"{r.algorithm} {int(r.n_fallback):,}" for r in fb.itertuples())
        lines.append(
            f"Rating: all {n_test:,} test pairs predicted; pairs whose user or item has no "
            f"training rating use the model's fallback estimate ({parts})."
        )
    by_reason: dict[str, list[str]] = {}
    for algo, reason in res.unable.items():
        by_reason.setdefault(reason, []).append(algo)
    for reason, algos in by_reason.items():
        lines.append(f"{UNABLE}: {', '.join(algos)} {reason} (not counted as zeros).")
    lines.append(f"{MISSING}: the algorithm does not produce this metric. Seconds: mean per fold.")
    return lines


def _cells(res: ExperimentResult, metrics: tuple[str, ...]):  # type: ignore[no-untyped-def]
    summ = summarise(res.results)
    algos = res.algorithms or list(dict.fromkeys(res.results["algorithm"]))
    cols = columns_for(res.eval_config.ks, metrics)
    table: dict[str, dict[tuple[str, int | None], tuple[float, float]]] = {a: {} for a in algos}
    for r in summ.itertuples():
        k = None if pd.isna(r.k) else int(r.k)
        table[str(r.algorithm)][(str(r.metric), k)] = (float(r.mean), float(r.std))
    timing = summ.groupby("algorithm", sort=False)[["fit_seconds", "score_seconds"]].first()
    best: dict[tuple[str, int | None], float] = {}
    for col in cols:
        vals = [table[a][col][0] for a in algos if col in table[a]]
        if vals:
            best[col] = max(vals) if METRICS[col[0]].higher_is_better else min(vals)
    return algos, cols, table, timing, best


def _timing(timing: pd.DataFrame, algo: str) -> list[str]:
    if algo not in timing.index:
        return [MISSING, MISSING]
    tm = timing.loc[algo]
    return [f"{tm.fit_seconds:.2f}", f"{tm.score_seconds:.2f}"]


def _fmt(mean: float, std: float, folds: int) -> str:
    if folds > 1 and not math.isnan(std):
        return f"{mean:.4f} ± {std:.4f}"
    return f"{mean:.4f}"


def rich_table(res: ExperimentResult, metrics: tuple[str, ...] = DEFAULT_METRICS) -> Table:
    """The comparison table; the best value of each metric is bold green."""
    algos, cols, table, timing, best = _cells(res, metrics)
    folds = res.split.n_folds
    title = f"recbench compare · {res.dataset.name} · {res.split}"
    t = Table(
        title=title,
        caption="\n".join(caption(res)),
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    t.add_column("algorithm", style="bold", no_wrap=True)
    for m, k in cols:
        t.add_column(label(m, k), justify="right", no_wrap=True)
    t.add_column("fit s", justify="right", style="dim", no_wrap=True)
    t.add_column("score s", justify="right", style="dim", no_wrap=True)
    for a in algos:
        cells = []
        for col in cols:
            if a in res.unable:
                cells.append(f"[yellow]{UNABLE}[/]")
                continue
            if col not in table[a]:
                cells.append(f"[dim]{MISSING}[/dim]")
                continue
            mean, std = table[a][col]
            text = f"{mean:.4f}"
            if np.isclose(mean, best[col]):
                text = f"[bold green]{text}[/]"
            if folds > 1 and not math.isnan(std):
                text += f"\n[dim]±{std:.4f}[/]"
            cells.append(text)
        t.add_row(escape(a), *cells, *_timing(timing, a))
    return t


def _plain_rows(
    res: ExperimentResult, metrics: tuple[str, ...]
) -> tuple[list[str], list[list[str]], dict]:  # type: ignore[type-arg]
    algos, cols, table, timing, best = _cells(res, metrics)
    folds = res.split.n_folds
    header = ["algorithm", *(label(m, k) for m, k in cols), "fit s", "score s"]
    rows = []
    bold: dict = {}
    for a in algos:
        row = [a]
        for col in cols:
            if a in res.unable:
                row.append(UNABLE)
                continue
            if col not in table[a]:
                row.append(MISSING)
                continue
            mean, std = table[a][col]
            row.append(_fmt(mean, std, folds))
            bold[(a, len(row) - 1)] = bool(np.isclose(mean, best[col]))
        row += _timing(timing, a)
        rows.append(row)
    return header, rows, bold


def markdown(res: ExperimentResult, metrics: tuple[str, ...] = DEFAULT_METRICS) -> str:
    header, rows, bold = _plain_rows(res, metrics)
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    for i, row in enumerate(rows):
        cells = [f"**{c}**" if bold.get((row[0], j)) else c for j, c in enumerate(row)]
        del i
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"_{c}_" for c in caption(res)]
    return "\n".join(lines) + "\n"


def _latex_escape(text: str) -> str:
    for a, b in (
        ("\\", r"\textbackslash{}"),
        ("&", r"\&"),
        ("%", r"\%"),
        ("_", r"\_"),
        ("#", r"\#"),
        ("$", r"\$"),
        ("{", r"\{"),
        ("}", r"\}"),
        ("—", "---"),
        ("±", r"$\pm$"),
        (">=", r"$\geq$"),
        ("·", r"$\cdot$"),
    ):
        text = text.replace(a, b)
    return text


def latex(res: ExperimentResult, metrics: tuple[str, ...] = DEFAULT_METRICS) -> str:
    header, rows, bold = _plain_rows(res, metrics)
    spec = "l" + "r" * (len(header) - 1)
    out = [r"\begin{table}[ht]", r"\centering", rf"\begin{{tabular}}{{{spec}}}", r"\toprule"]
    out.append(" & ".join(_latex_escape(h) for h in header) + r" \\")
    out.append(r"\midrule")
    for row in rows:
        cells = [
            rf"\textbf{{{_latex_escape(c)}}}" if bold.get((row[0], j)) else _latex_escape(c)
            for j, c in enumerate(row)
        ]
        out.append(" & ".join(cells) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}"]
    out.append(r"\caption{" + _latex_escape(" ".join(caption(res))) + "}")
    out.append(r"\end{table}")
    return "\n".join(out) + "\n"


def to_json(res: ExperimentResult) -> dict[str, Any]:
    """The documented JSON document (see JSON_SCHEMA)."""
    ds = res.dataset
    inter = ds.interactions
    summ = summarise(res.results)
    algos = []
    groups = dict(tuple(res.results.groupby("algorithm", sort=False)))
    for name in res.algorithms or list(groups):
        if name not in groups:  # unable under this protocol: no metrics at all
            algos.append(
                {
                    "name": str(name),
                    "params": res.params.get(name, {}),
                    "fit_seconds": 0.0,
                    "score_seconds": 0.0,
                    "n_fallback": 0,
                    "n_cold_users": 0,
                    "unable": res.unable.get(name, "produced no metrics"),
                    "metrics": {},
                }
            )
            continue
        grp = groups[name]
        mets: dict[str, Any] = {}
        for (metric, k), g in grp.groupby(["metric", "k"], sort=False, dropna=False):
            key = metric if pd.isna(k) else f"{metric}@{int(k)}"
            vals = [float(v) for v in g.sort_values("fold")["value"]]
            std = float(np.std(vals, ddof=1)) if len(vals) > 1 else None
            mets[key] = {"mean": float(np.mean(vals)), "std": std, "folds": vals}
        s = summ[summ["algorithm"] == name]
        fb = s.loc[s["metric"] == "rmse", "n_fallback"]
        algos.append(
            {
                "name": str(name),
                "params": json.loads(grp["params"].iloc[0]),
                "fit_seconds": float(grp.groupby("fold")["fit_seconds"].first().mean()),
                "score_seconds": float(grp.groupby("fold")["score_seconds"].first().mean()),
                "n_fallback": int(fb.iloc[0]) if len(fb) else 0,
                "n_cold_users": int(res.cold_users.get(str(name), 0)),
                "unable": res.unable.get(name),
                "metrics": mets,
            }
        )
    rows = json.loads(res.results.to_json(orient="records"))
    return {
        "schema": "recbench.compare/1",
        "recbench_version": __version__,
        "dataset": {
            "name": ds.name,
            "checksum": ds.checksum,
            "n_ratings": len(inter),
            "n_users": inter.n_users,
            "n_items": inter.n_items,
        },
        "protocol": {
            "split": str(res.split),
            "description": res.protocol,
            "seed": res.seed,
            "n_folds": res.split.n_folds,
            "ks": list(res.eval_config.ks),
            "relevance_threshold": res.eval_config.relevance_threshold,
            "ranking": caption(res)[1],
        },
        "algorithms": algos,
        "rows": rows,
        "segments": json.loads(segment_summary(res).to_json(orient="records")),
    }


def segment_summary(res: ExperimentResult) -> pd.DataFrame:
    """Mean over folds of every per-segment metric: algorithm, segment, metric, mean."""
    seg = res.segments
    if seg is None or not len(seg):
        return pd.DataFrame(columns=["algorithm", "segment", "metric", "mean"])
    out = seg.groupby(["algorithm", "segment", "metric"], sort=False)["value"].mean()
    return out.rename("mean").reset_index()


def segment_table(res: ExperimentResult, metrics: tuple[str, ...] = DEFAULT_METRICS) -> Table:
    """Metrics by user history length and by warm/cold item (``--by-segment``)."""
    summ = segment_summary(res)
    cols = [
        (m, k)
        for m, k in columns_for(res.eval_config.ks, metrics)
        if (m if k is None else f"{m}@{k}") in set(summ["metric"])
    ]
    t = Table(
        title=f"by segment · {res.dataset.name} · {res.split}",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        caption="history = the user's training (or fold-in) interactions; cold items have no "
        "training interactions. Means over folds.",
        caption_justify="left",
    )
    t.add_column("algorithm", style="bold", no_wrap=True)
    t.add_column("segment", no_wrap=True)
    for m, k in cols:
        t.add_column(label(m, k), justify="right", no_wrap=True)
    t.add_column("n", justify="right", style="dim")
    for (algo, segment), grp in summ.groupby(["algorithm", "segment"], sort=False):
        values = dict(zip(grp["metric"], grp["mean"], strict=True))
        cells = []
        for m, k in cols:
            v = values.get(m if k is None else f"{m}@{k}")
            cells.append(MISSING if v is None or np.isnan(v) else f"{v:.4f}")
        n = values.get("n_users", values.get("n_test", float("nan")))
        t.add_row(escape(str(algo)), str(segment), *cells, f"{n:,.0f}")
    return t


def render_text(res: ExperimentResult, fmt: str, metrics: tuple[str, ...] = DEFAULT_METRICS) -> str:
    """Every non-table format as text."""
    if fmt == "json":
        return json.dumps(to_json(res), indent=2) + "\n"
    if fmt == "csv":
        return res.results.to_csv(index=False)
    if fmt == "markdown":
        return markdown(res, metrics)
    if fmt == "latex":
        return latex(res, metrics)
    raise ValueError(f"unknown format {fmt}")


def parse_metrics(spec: str | None) -> tuple[str, ...]:
    """``--metrics rmse,ndcg`` / ``all`` -> metric names (validated by the CLI)."""
    if spec is None:
        return DEFAULT_METRICS
    if spec.strip().lower() == "all":
        return ("rmse", "mae", *RANKING_METRICS)
    return tuple(m.strip().lower() for m in spec.split(","))
