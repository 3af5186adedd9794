"""Vega-Lite chart specifications (built with altair) for a report; plain dicts out."""

from __future__ import annotations

from typing import Any

import pandas as pd

from recbench.report.data import ReportData

#: beyond-accuracy metrics drawn against accuracy when a run has them
BEYOND = ("coverage", "novelty", "arp", "aplt", "gini", "diversity", "personalisation")


def _alt() -> Any:
    import altair as alt

    return alt


def _color(domain: list[str], **kwargs: Any) -> Any:
    """Colour by algorithm over the report's whole list: one colour per algorithm everywhere."""
    alt = _alt()
    return alt.Color("algorithm:N", scale=alt.Scale(domain=domain), **kwargs)


def _group(frame: pd.DataFrame, several_runs: bool) -> pd.Series:
    parts = [frame["dataset"].astype(str) + " · " + frame["split"].astype(str)]
    if several_runs:
        parts.insert(0, frame["run"].astype(str))
    out = parts[0]
    for p in parts[1:]:
        out = out + " · " + p
    return out


def _facet(chart: Any, frame: pd.DataFrame) -> Any:
    alt = _alt()
    if frame["group"].nunique() > 1:
        return chart.facet(column=alt.Column("group:N", title=None))
    return chart


def bar_chart(frame: pd.DataFrame, title: str, higher: bool, domain: list[str]) -> dict[str, Any]:
    """Mean per algorithm with interval whiskers (when intervals exist)."""
    alt = _alt()
    order = list(dict.fromkeys(frame["algorithm"]))
    base = alt.Chart(frame).encode(
        x=alt.X("algorithm:N", sort=order, title=None),
    )
    bars = base.mark_bar().encode(
        y=alt.Y("mean:Q", title=title),
        color=_color(domain, legend=None),
        tooltip=["algorithm", "group", alt.Tooltip("mean:Q", format=".4f"), "low", "high"],
    )
    layers = [bars]
    if frame["low"].notna().any():
        layers.append(
            base.mark_errorbar(ticks=True).encode(y=alt.Y("low:Q", title=title), y2="high:Q")
        )
    chart = alt.layer(*layers, data=frame).properties(width=max(160, 28 * len(order)), height=180)
    better = "higher" if higher else "lower"
    chart = _facet(chart, frame).properties(title=f"{title} ({better} is better)")
    return chart.to_dict(validate=False)  # type: ignore[no-any-return]


def k_curve(frame: pd.DataFrame, title: str, domain: list[str]) -> dict[str, Any]:
    alt = _alt()
    chart = (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("k:Q", title="K"),
            y=alt.Y("mean:Q", title=title),
            color=_color(domain),
            tooltip=["algorithm", "k", alt.Tooltip("mean:Q", format=".4f")],
        )
        .properties(width=260, height=180)
    )
    return _facet(chart, frame).properties(title=f"{title} over K").to_dict(validate=False)


def learning_curves(frame: pd.DataFrame, domain: list[str]) -> dict[str, Any]:
    """Validation value by epoch, one line per algorithm (and seed / fold where several)."""
    alt = _alt()
    frame = frame.assign(fit=frame["algorithm"] + " s" + frame["seed"].astype(str)
                         + " f" + frame["fold"].astype(str))  # fmt: skip
    chart = (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("epoch:Q", title="epoch"),
            y=alt.Y("value:Q", title="validation value", scale=alt.Scale(zero=False)),
            color=_color(domain),
            detail="fit:N",
            tooltip=["algorithm", "seed", "fold", "epoch", alt.Tooltip("value:Q", format=".4f")],
        )
        .properties(width=360, height=200)
    )
    return chart.properties(title="learning curves (validation, by epoch)").to_dict(validate=False)


def segment_chart(frame: pd.DataFrame, metric: str, domain: list[str]) -> dict[str, Any]:
    alt = _alt()
    chart = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("segment:N", title=None),
            xOffset="algorithm:N",
            y=alt.Y("value:Q", title=metric),
            color=_color(domain),
            tooltip=["algorithm", "segment", alt.Tooltip("value:Q", format=".4f")],
        )
        .properties(width=260, height=180)
    )
    if frame["run"].nunique() > 1:
        chart = chart.facet(column=alt.Column("run:N", title=None))
    return chart.properties(title=f"{metric} by segment").to_dict(validate=False)


def scatter(frame: pd.DataFrame, x: str, y: str, domain: list[str]) -> dict[str, Any]:
    alt = _alt()
    chart = (
        alt.Chart(frame)
        .mark_point(filled=True, size=80)
        .encode(
            x=alt.X(f"{x}:Q", title=x),
            y=alt.Y(f"{y}:Q", title=y),
            color=_color(domain),
            tooltip=["algorithm", "group", x, y],
        )
        .properties(width=300, height=220, title=f"{y} vs {x}")
    )
    return chart.to_dict(validate=False)  # type: ignore[no-any-return]


def time_chart(frame: pd.DataFrame) -> dict[str, Any]:
    alt = _alt()
    long = frame.melt(
        id_vars=["group", "algorithm"],
        value_vars=["fit_seconds", "score_seconds"],
        var_name="phase",
        value_name="seconds",
    )
    chart = (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X("algorithm:N", sort=list(dict.fromkeys(frame["algorithm"])), title=None),
            xOffset="phase:N",
            y=alt.Y("seconds:Q", title="seconds (mean per fold)"),
            color=alt.Color("phase:N"),
            tooltip=["algorithm", "phase", alt.Tooltip("seconds:Q", format=".3f")],
        )
        .properties(width=max(200, 40 * frame["algorithm"].nunique()), height=180)
    )
    return _facet(chart, long).properties(title="fit and score time").to_dict(validate=False)


def chart_specs(data: ReportData) -> list[tuple[str, dict[str, Any]]]:
    """(caption, Vega-Lite spec) for every chart of the report, in page order."""
    several = len(data.runs) > 1
    summ = data.summary.copy()
    if not len(summ):
        return []
    domain = list(dict.fromkeys(summ["algorithm"]))
    summ["group"] = _group(summ, several)
    specs: list[tuple[str, dict[str, Any]]] = []
    # a bar chart per metric (ranking metrics at each run's first K)
    for metric in dict.fromkeys(summ["metric"]):
        sel = summ[summ["metric"] == metric]
        if sel["k"].notna().any():
            first_k = sel["k"].dropna().iloc[0]
            sel = sel[sel["k"] == first_k]
        title = str(sel["column"].iloc[0])
        specs.append((title, bar_chart(sel, title, bool(sel["higher_is_better"].iloc[0]), domain)))
    # metric@K curves when several K were run
    ranked = summ[summ["k"].notna()]
    if ranked["k"].nunique() > 1:
        for metric in dict.fromkeys(ranked["metric"]):
            sel = ranked[ranked["metric"] == metric]
            label = str(sel["column"].iloc[0]).split("@")[0]
            specs.append((f"{label}@K", k_curve(sel, label, domain)))
    # learning curves of the fits that stop early on validation (e.g. lightgcn's Recall@20)
    curves = [rd.curves for rd in data.runs if len(rd.curves)]
    if curves:
        frame = pd.concat(curves, ignore_index=True)
        caption = "learning curves: validation value by epoch (" + ", ".join(
            dict.fromkeys(frame["algorithm"].astype(str))) + ")"  # fmt: skip
        specs.append((caption, learning_curves(frame, domain)))
    # per-segment charts
    if len(data.segments):
        seg = data.segments[data.segments["metric"] != "n_test"]
        seg = seg[~seg["metric"].astype(str).str.startswith("n_")]
        for metric in dict.fromkeys(seg["metric"]):
            specs.append(
                (
                    f"{metric} by segment",
                    segment_chart(seg[seg["metric"] == metric], metric, domain),
                )
            )
    # accuracy against beyond-accuracy metrics
    beyond = [m for m in BEYOND if m in set(summ["metric"])]
    acc = [m for m in ("ndcg", "recall", "precision") if m in set(summ["metric"])]
    if beyond and acc:
        wide = summ.pivot_table(
            index=["group", "algorithm"], columns="metric", values="mean", aggfunc="first"
        ).reset_index()
        for b in beyond:
            specs.append((f"{acc[0]} vs {b}", scatter(wide, b, acc[0], domain)))
    if len(data.times):
        times = data.times.copy()
        times["group"] = _group(times, several)
        specs.append(("fit and score time", time_chart(times)))
    return specs
