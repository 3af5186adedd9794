"""What every output format shows: the metric columns, the caption, the summary grid.

Format-independent: these functions return plain values and strings (no rich markup, no LaTeX);
each writer escapes them for its own medium.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from recbench.data.model import Dataset
from recbench.errors import UsageError
from recbench.experiment import ExperimentResult, fold_summary
from recbench.metrics import DEFAULT_METRICS, METRIC_ALIASES, METRIC_SPECS, METRICS, RATING_SPECS
from recbench.stats import Interval
from recbench.stats.table import TableStats

MISSING = "—"
UNABLE = "unable"

Column = tuple[str, int | None]

__all__ = [
    "DEFAULT_METRICS",
    "MISSING",
    "UNABLE",
    "Column",
    "Grid",
    "caption",
    "columns_for",
    "grid",
    "label",
    "parse_metrics",
    "segment_summary",
]


def columns_for(ks: tuple[int, ...], metrics: tuple[str, ...]) -> list[Column]:
    """(metric, k) columns in display order: rating metrics first, then ranking and
    beyond-accuracy metrics per K."""
    cols: list[Column] = [(m, None) for m in metrics if METRICS[m].kind == "rating"]
    for k in ks:
        cols += [(m, k) for m in metrics if METRICS[m].kind == "ranking"]
        cols += [(m, k) for m in metrics if METRICS[m].kind == "beyond"]
    return cols


def label(metric: str, k: int | None) -> str:
    """Column header of a metric: ``RMSE``, ``NDCG@10``."""
    return METRICS[metric].column(k)


def key(metric: str, k: int | None) -> str:
    """Result key of a metric: ``rmse``, ``ndcg@10``."""
    return METRICS[metric].key(k)


def parse_metrics(spec: str | None) -> tuple[str, ...]:
    """``--metrics rmse,ndcg`` / ``all`` -> metric names (validated by the CLI)."""
    if spec is None:
        return DEFAULT_METRICS
    if spec.strip().lower() == "all":
        return tuple(m.name for m in METRIC_SPECS)
    return tuple(m.strip().lower() for m in spec.split(","))


def check_metrics(spec: str | None) -> tuple[str, ...]:
    """:func:`parse_metrics`, every name checked: an unknown one is a one-line error."""
    metrics = tuple(METRIC_ALIASES.get(m, m) for m in parse_metrics(spec))  # hr -> hitrate
    for m in metrics:
        if m not in METRICS:
            raise UsageError(f"unknown metric '{m}' in --metrics (use {', '.join(METRICS)})")
    return metrics


def _ranking_caption(res: ExperimentResult, rel: str) -> str:
    n_items = res.dataset.interactions.n_items
    if res.split.cold == "items":
        pool = "candidates are only the held-out (cold) items"
    elif res.split.cold == "users":
        pool = f"full catalogue ({n_items:,} items), each held-out user's fold-in items excluded"
    elif not res.eval_config.exclude_history:
        pool = (
            f"full catalogue ({n_items:,} items), history items not excluded "
            "(--repeat-targets: a repeat of a history item can be a hit)"
        )
    else:
        pool = f"full catalogue ({n_items:,} items), each user's training items excluded"
    cand = res.eval_config.candidates
    sampled = (
        "no sampled negatives"
        if cand is None
        else f"the ({cand.text}) columns rank the test items against {cand.text} negatives"
    )
    return f"Ranking: {pool}, {sampled}; {rel}; mean over users with >= 1 relevant item."


def sampled_lines(res: ExperimentResult) -> list[str]:
    """The sampled-candidate caveat, and for each sampled column whose order of algorithms
    differs from its full-catalogue column's, a line with the Kendall tau of the two orders."""
    from recbench.candidates import CITATION, SampledMetric
    from recbench.stats.agreement import discordant_pairs, kendall_tau, order

    cand = res.eval_config.candidates
    if cand is None:
        return []
    lines = [
        f"Sampled columns ({cand.text}, {cand.sampler}, one frozen set per user, seed "
        f"{cand.seed}): metrics over sampled negatives can order algorithms differently from "
        f"full ranking ({CITATION}); the full-catalogue columns are the measure."
    ]
    if not len(res.results):
        return lines
    summ = fold_summary(res.results)
    means = {(str(r.algorithm), str(r.metric), r.k): float(r.mean) for r in summ.itertuples()}
    algos = list(dict.fromkeys(str(a) for a in summ["algorithm"]))
    for spec in METRIC_SPECS:
        if not isinstance(spec, SampledMetric):
            continue
        for k in res.eval_config.ks:
            have = [a for a in algos if (a, spec.name, k) in means and (a, spec.base, k) in means]
            if len(have) < 2:
                continue
            full = [means[(a, spec.base, k)] for a in have]
            samp = [means[(a, spec.name, k)] for a in have]
            up = spec.higher_is_better
            swapped = discordant_pairs(full, samp)
            if not swapped:
                continue
            tau = kendall_tau(full, samp)
            pairs = f"{swapped} pair{'s' if swapped > 1 else ''} of algorithms swapped"
            lines.append(
                f"{spec.column(k)} orders the algorithms differently from "
                f"{METRICS[spec.base].column(k)} ({pairs}): Kendall tau {tau:.2f} "
                f"(full: {' > '.join(order(have, full, up))}; "
                f"sampled: {' > '.join(order(have, samp, up))})."
            )
    return lines


def duplicates_dropped(ds: Dataset) -> int:
    """Rows of repeated (user, item) pairs that loading dropped (0 when not recorded)."""
    source = ds.source if isinstance(ds.source, dict) else {}
    try:
        return int(source.get("duplicates_dropped") or 0)
    except (TypeError, ValueError):
        return 0


def caption(res: ExperimentResult) -> list[str]:
    """The protocol, stated in a few lines (plain text: writers escape it)."""
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
    protocol = res.protocol
    if res.stats is not None and res.stats.options.ci:  # ± is the interval, said below
        protocol = protocol.replace("; mean ± std over folds", "; mean over folds")
    lines = [
        f"{ds.name}: {len(inter):,} ratings, {inter.n_users:,} users, {inter.n_items:,} items."
        f"{prep_text} Split: {protocol}.",
        _ranking_caption(res, rel),
    ]
    dropped = duplicates_dropped(ds)
    if dropped:
        lines.append(  # after the ranking line: JSON's "ranking" is caption line 1
            f"Loading dropped {dropped:,} duplicate (user, item) row{'s' if dropped > 1 else ''} "
            "(the latest of each pair kept).",
        )
    cold = {a: n for a, n in res.cold_users.items() if n}
    if cold:
        n = max(cold.values())
        lines.append(f"{n:,} test users with no training ratings are not ranked (see cold-start).")
    s = fold_summary(res.results)
    fb = s[(s["metric"] == RATING_SPECS[0].name) & (s["n_fallback"] > 0)]
    if len(fb):
        n_test = int(fb["n_test"].iloc[0])
        parts = ", ".join(f"{r.algorithm} {int(r.n_fallback):,}" for r in fb.itertuples())
        each = f" over the {res.repeats} repeats" if res.repeats > 1 else ""
        lines.append(
            f"Rating: all {n_test:,} test pairs{each} predicted; pairs whose user or item has no "
            f"training rating use the model's fallback estimate ({parts})."
        )
    by_reason: dict[str, list[str]] = {}
    for algo, reason in res.unable.items():
        by_reason.setdefault(reason, []).append(algo)
    for reason, algos in by_reason.items():
        lines.append(f"{UNABLE}: {', '.join(algos)} {reason} (not counted as zeros).")
    keys = set(res.results["metric"]) if len(res.results) else set()
    if "ild" in keys:
        feats = ds.item_features
        vec = "genre" if feats is not None and "genres" in feats.columns else "co-occurrence"
        lines.append(
            f"ILD: 1 - mean pairwise cosine of the listed items' {vec} vectors; novelty/ARP/APLT "
            "from training popularity (APLT tail: items outside the top 20%)."
        )
    lines.append(
        f"{MISSING}: the algorithm does not produce this metric (seconds: none recorded for an "
        "unable row). Seconds: mean per fold."
    )
    lines += sampled_lines(res)
    if res.stats is not None:
        lines += list(res.stats.notes)
    return lines


@dataclass
class Grid:
    """The summary table's content: rows, columns, (mean, std) cells, timings, best values."""

    algorithms: list[str]
    columns: list[Column]
    cells: dict[str, dict[Column, tuple[float, float]]]
    timing: pd.DataFrame
    best: dict[Column, float]
    stats: TableStats | None = None

    def interval(self, algo: str, col: Column) -> Interval | None:
        """The cell's interval when intervals are shown and it has one."""
        if self.stats is None:
            return None
        iv = self.stats.interval(algo, key(*col))
        return iv if iv is not None and iv.method != "none" else None

    def mark(self, algo: str, col: Column) -> str:
        return self.stats.mark(algo, key(*col)) if self.stats is not None else ""

    def spread(self, algo: str, col: Column, folds: int) -> str:
        """``±0.011`` (interval half-width), ``± 0.0040`` (std over folds without intervals)."""
        iv = self.interval(algo, col)
        if iv is not None:
            return f"±{half_width(iv.half_width)}"
        if self.stats is not None and self.stats.options.ci:
            return ""
        std = self.cells[algo][col][1]
        if folds > 1 and std == std:
            return f"± {std:.4f}"
        return ""

    def timing_cells(self, algo: str) -> list[str]:
        if algo not in self.timing.index:
            return [MISSING, MISSING]
        tm = self.timing.loc[algo]
        return [f"{tm.fit_seconds:.2f}", f"{tm.score_seconds:.2f}"]


def grid(res: ExperimentResult, metrics: tuple[str, ...]) -> Grid:
    """Means and standard deviations over folds, per algorithm and column."""
    summ = fold_summary(res.results)
    algos = res.algorithms or list(dict.fromkeys(res.results["algorithm"]))
    cols = columns_for(res.eval_config.ks, metrics)
    cells: dict[str, dict[Column, tuple[float, float]]] = {a: {} for a in algos}
    for r in summ.itertuples():
        k = None if pd.isna(r.k) else int(r.k)
        cells.setdefault(str(r.algorithm), {})[(str(r.metric), k)] = (float(r.mean), float(r.std))
    timing = summ.groupby("algorithm", sort=False)[["fit_seconds", "score_seconds"]].first()
    best: dict[Column, float] = {}
    for col in cols:
        vals = [cells[a][col][0] for a in algos if col in cells[a]]
        if vals:
            best[col] = max(vals) if METRICS[col[0]].higher_is_better else min(vals)
    return Grid(algos, cols, cells, timing, best, res.stats)


def half_width(hw: float) -> str:
    """An interval's half-width with about two significant digits (``0.011``, ``0.0042``)."""
    if hw != hw:
        return MISSING
    if hw == 0:
        return "0"
    if hw >= 1:
        return f"{hw:.2f}"
    if hw >= 0.01:
        return f"{hw:.3f}"
    if hw >= 0.0001:
        return f"{hw:.4f}"
    return f"{hw:.1e}"


SEGMENT_SUMMARY_COLUMNS = ["algorithm", "segment", "metric", "mean"]


def segment_summary(res: ExperimentResult) -> pd.DataFrame:
    """Mean over folds of every per-segment metric: algorithm, segment, metric, mean."""
    seg = res.segments
    if seg is None or not len(seg):
        return pd.DataFrame(columns=SEGMENT_SUMMARY_COLUMNS)
    out = seg.groupby(["algorithm", "segment", "metric"], sort=False)["value"].mean()
    return out.rename("mean").reset_index()


SEGMENT_CAPTION = (
    "history = the user's training (or fold-in) interactions; cold items have no "
    "training interactions. Means over folds."
)


def segment_grid(
    res: ExperimentResult, metrics: tuple[str, ...]
) -> tuple[list[Column], list[tuple[str, str, list[str], str]]]:
    """Columns and rows (algorithm, segment, formatted values, size) of the segment table."""
    summ = segment_summary(res)
    present = set(summ["metric"])
    cols = [(m, k) for m, k in columns_for(res.eval_config.ks, metrics) if key(m, k) in present]
    rows = []
    for (algo, segment), grp in summ.groupby(["algorithm", "segment"], sort=False):
        values = dict(zip(grp["metric"], grp["mean"], strict=True))
        cells = []
        for m, k in cols:
            v = values.get(key(m, k))
            cells.append(MISSING if v is None or pd.isna(v) else f"{v:.4f}")
        n = values.get("n_users", values.get("n_test", float("nan")))
        rows.append((str(algo), str(segment), cells, f"{n:,.0f}"))
    return cols, rows
