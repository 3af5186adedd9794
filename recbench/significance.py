"""Intervals and baseline comparisons for a results table: ExperimentResult -> TableStats.

This is what ``compare --ci --baseline ALGO --test T --correction C --alpha A [--repeats N]``
adds to the table, from the per-user values the experiment keeps:

- **intervals** for every (algorithm, metric) cell by :func:`recbench.stats.cell_intervals`:
  one split -> a seeded BCa bootstrap over users; k folds -> a t-interval over the fold values;
  N repeats (k x N runs with k-fold) -> the corrected resampled t (Nadeau & Bengio 2003) over
  every run's value, with the runs' ``n_test / n_train`` (:func:`split_size_ratio`). RMSE and
  MAE use each user's mean squared (absolute) error weighted by their number of test ratings
  (RMSE rooted), so the interval is centred on the pooled table value. Aggregate
  beyond-accuracy metrics (coverage, Gini, personalisation) have no per-user values: an
  interval over folds or repeats only.
- **paired tests** of every algorithm against the baseline on every per-user metric column of
  the table, one correction over the whole family. On one split or one k-fold the unit is the
  test user (:func:`recbench.stats.compare_to_baseline` with ``--test``), each user's value
  pooled over the folds that tested them (:func:`recbench.stats.pool_by_user`). RMSE and MAE are
  tested on each user's share of the pooled error, ``n_u x e_u / mean(n)`` (``e_u`` the user's
  mean squared or absolute error, ``n_u`` their test ratings): the mean paired difference is
  then exactly the difference in pooled MSE (MAE). With ``--repeats`` the unit is the run: the
  corrected resampled paired t on the per-run differences of the table values
  (:func:`recbench.stats.compare_runs_to_baseline`); both algorithms ran on the same seeded
  splits. Repeats exist to measure the variation between training runs, which a test over
  users pooled across repeats would treat as fixed.

No printing, no files.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recbench.data.model import Dataset
from recbench.errors import UsageError
from recbench.evaluation import relevant_pairs
from recbench.experiment import ExperimentResult
from recbench.metrics import METRICS, RatingMetric
from recbench.split import SplitSpec, make_split
from recbench.stats import (
    Comparison,
    Interval,
    cell_intervals,
    check_baseline,
    compare_runs_to_baseline,
    compare_to_baseline,
    corrected_t_interval,
    pick_best,
    pool_by_user,
    size_ratio,
    t_interval,
)
from recbench.stats.table import MARKS, StatsOptions, TableStats

__all__ = [
    "MARKS",
    "StatsOptions",
    "TableStats",
    "analyse",
    "check_pairable",
    "result_keys",
    "split_size_ratio",
    "stats_options",
]


@dataclass(frozen=True)
class _Source:
    """Where a metric key's per-user values live in the per-user frame."""

    key: str
    column: str
    weighted: bool  # rating metric: weight by the user's test ratings
    root: bool


def _source(key: str) -> _Source | None:
    name = key.partition("@")[0]
    spec = METRICS.get(name)
    if spec is None:
        return None
    if isinstance(spec, RatingMetric):
        return _Source(key, spec.paired_column, True, spec.root)
    if spec.kind == "beyond" and getattr(spec, "scope", "per_user") == "aggregate":
        return None
    return _Source(key, key, False, False)


def result_keys(res: ExperimentResult) -> list[str]:
    """Every metric key of the results, in row order (``rmse``, ``ndcg@10``...)."""
    return result_keys_of(res.results)


def result_keys_of(r: pd.DataFrame) -> list[str]:
    """Every metric key of a results frame, in row order."""
    return list(dict.fromkeys(result_keys_of_rows(r)))


def result_keys_of_rows(r: pd.DataFrame) -> list[str]:
    """The metric key of every row of a results frame (``ndcg@10``, ``rmse``)."""
    return [m if pd.isna(k) else f"{m}@{int(k)}" for m, k in zip(r["metric"], r["k"], strict=True)]


def _run_ids(frame: pd.DataFrame) -> pd.Series:
    seed = frame["seed"] if "seed" in frame else pd.Series(0, index=frame.index)
    return seed.astype(np.int64) * 1_000_003 + frame["fold"].astype(np.int64)


def split_size_ratio(res: ExperimentResult) -> float:
    """Mean ``n_test / n_train`` of the runs, for the corrected resampled t: each run's held-out
    ratings against the rest of the dataset (fold-in ratings of cold users count as training)."""
    r = res.results
    if not len(r) or "n_test" not in r:
        return 0.0
    n_test = r.groupby(_run_ids(r), sort=False)["n_test"].max().to_numpy(np.float64)
    return size_ratio(n_test, len(res.dataset.interactions))


def _n_repeats(res: ExperimentResult) -> int:
    r = res.results
    return int(r["seed"].nunique()) if len(r) and "seed" in r else 1


def _fold_interval(rows: pd.DataFrame, level: float, ratio: float) -> Interval:
    """Interval of an aggregate metric from its per-run values (folds, repeats)."""
    vals = rows.groupby(["seed", "fold"], sort=True)["value"].mean()
    seeds = vals.index.get_level_values(0)
    if seeds.nunique() > 1:
        over = "repeats" if seeds.nunique() == len(vals) else "folds"
        return corrected_t_interval(vals.to_numpy(), ratio=ratio, level=level, over=over)
    if len(vals) > 1:
        return t_interval(vals.to_numpy(), level=level, over="folds")
    v = float(vals.iloc[0]) if len(vals) else float("nan")
    return Interval(v, float("nan"), float("nan"), "none", 1, "users", level)


@dataclass
class _Cell:
    """One algorithm's per-user values for intervals: one (users, values, weights) per run."""

    algo: str
    sources: list[_Source]
    runs: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
    repeats: list[int]


def _cell(res: ExperimentResult, algo: str, keys: list[str]) -> _Cell:
    pu = res.per_user
    mine = pu[pu["algorithm"] == algo] if len(pu) and "algorithm" in pu else pd.DataFrame()
    sources = [s for k in keys if (s := _source(k)) is not None and s.column in mine]
    cell = _Cell(algo, sources, [], [])
    if not sources:
        return cell
    for _, g in mine.groupby(_run_ids(mine), sort=True):
        x = g[[s.column for s in sources]].to_numpy(np.float64)
        n = g["n_ratings"].fillna(0).to_numpy(np.float64) if "n_ratings" in g else None
        w = np.ones(x.shape)
        for j, s in enumerate(sources):
            if s.weighted and n is not None:
                w[:, j] = n
        cell.runs.append((g["user"].to_numpy(np.int64), x, w))
        cell.repeats.append(int(g["seed"].iloc[0]) if "seed" in g else 0)
    return cell


def _stacked_bootstrap(cells: list[_Cell], opts: StatsOptions) -> dict[tuple[str, str], Interval]:
    """Single-split cells bootstrapped together: one set of resampled users serves every
    algorithm and metric (the users are the same test users; a column's missing users are left
    out of its mean), so the cost is one resampling, not one per algorithm."""
    union = np.unique(np.concatenate([c.runs[0][0] for c in cells]))
    width = sum(len(c.sources) for c in cells)
    x = np.full((len(union), width), np.nan)
    w = np.zeros((len(union), width))
    col = 0
    for c in cells:
        users, vals, wts = c.runs[0]
        rows = np.searchsorted(union, users)
        x[rows, col : col + len(c.sources)] = vals
        w[rows, col : col + len(c.sources)] = wts
        col += len(c.sources)
    ivs = cell_intervals(
        [x],
        weights=[w],
        root=[s.root for c in cells for s in c.sources],
        level=opts.level,
        n_boot=opts.n_boot,
        seed=opts.seed,
    )
    keys = [(c.algo, s.key) for c in cells for s in c.sources]
    return dict(zip(keys, ivs, strict=True))


def _intervals(
    res: ExperimentResult, algos: list[str], keys: list[str], opts: StatsOptions
) -> dict[tuple[str, str], Interval]:
    out: dict[tuple[str, str], Interval] = {}
    own = {
        a: [k for k in result_keys_of(res.results[res.results["algorithm"] == a]) if k in keys]
        for a in algos
    }
    ratio = split_size_ratio(res)
    cells = [c for a in algos if (c := _cell(res, a, own[a])).runs]
    single = [c for c in cells if len(c.runs) == 1]
    if single:
        out.update(_stacked_bootstrap(single, opts))
    for c in cells:
        if len(c.runs) == 1:
            continue
        ivs = cell_intervals(
            [x for _, x, _ in c.runs],
            weights=[w for _, _, w in c.runs],
            repeats=c.repeats,
            ratio=ratio,
            root=[s.root for s in c.sources],
            level=opts.level,
            n_boot=opts.n_boot,
            seed=opts.seed,
        )
        out.update({(c.algo, s.key): iv for s, iv in zip(c.sources, ivs, strict=True)})
    for a in algos:  # aggregate metrics: from the per-run table values
        rows = res.results[res.results["algorithm"] == a]
        for key in own[a]:
            if (a, key) in out:
                continue
            name, _, k = key.partition("@")
            sel = rows[
                (rows["metric"] == name) & (rows["k"].isna() if not k else rows["k"] == int(k))
            ]
            if len(sel):
                out[(a, key)] = _fold_interval(sel, opts.level, ratio)
    return out


def _pooled(
    res: ExperimentResult, algo: str, sources: list[_Source]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Users, their pooled values (NaN: none) and pooled test-rating counts (rating columns)."""
    pu = res.per_user
    mine = pu[pu["algorithm"] == algo]
    users = mine["user"].to_numpy(np.int64)
    cols = [s.column for s in sources]
    plain = [j for j, s in enumerate(sources) if not s.weighted]
    rated = [j for j, s in enumerate(sources) if s.weighted]
    uniq = np.unique(users)
    values = np.full((len(uniq), len(sources)), np.nan)
    counts = np.zeros(len(uniq))
    if plain:
        p = pool_by_user(users, mine[[cols[j] for j in plain]].to_numpy(np.float64))
        values[:, plain] = p.values
    if rated and "n_ratings" in mine:
        w = mine["n_ratings"].fillna(0).to_numpy(np.float64)
        p = pool_by_user(users, mine[[cols[j] for j in rated]].to_numpy(np.float64), w)
        values[:, rated] = p.values
        counts = p.weights[:, 0]
    return uniq, values, counts


def _run_values(res: ExperimentResult, algo: str, sources: list[_Source]) -> np.ndarray:
    """(runs, metrics) table values of one algorithm, rows in (seed, fold) order of the whole
    experiment (NaN where it has no value in a run)."""
    r = res.results
    runs = np.unique(_run_ids(r).to_numpy())
    mine = r[r["algorithm"] == algo]
    ids = _run_ids(mine).to_numpy()
    keys = np.array(
        [
            m if pd.isna(k) else f"{m}@{int(k)}"
            for m, k in zip(mine["metric"], mine["k"], strict=True)
        ]
    )
    out = np.full((len(runs), len(sources)), np.nan)
    vals = mine["value"].to_numpy(np.float64)
    for j, s in enumerate(sources):
        sel = keys == s.key
        out[np.searchsorted(runs, ids[sel]), j] = vals[sel]
    return out


def _comparisons(
    res: ExperimentResult, algos: list[str], family: list[str], opts: StatsOptions
) -> tuple[str, list[Comparison], str]:
    """The baseline, every comparison against it, and how it was chosen."""
    sources = [s for k in family if (s := _source(k)) is not None]
    if not sources:
        raise UsageError("no metric of the table has per-user values to test")
    assert opts.baseline is not None
    chosen = ""
    if opts.wants_best:
        first = next(
            (s for s in sources if METRICS[s.key.partition("@")[0]].kind == "ranking"), None
        )
        if first is None:
            raise UsageError(
                "--baseline best picks by the first ranking metric; the table has none"
            )
        summ = res.results
        name, _, k = first.key.partition("@")
        sel = summ[(summ["metric"] == name) & (summ["k"] == int(k))]
        means = sel.groupby("algorithm", sort=False)["value"].mean()
        baseline = pick_best({a: float(means.get(a, np.nan)) for a in algos}, True)
        chosen = f" (best on {METRICS[name].column(int(k))})"
    else:
        baseline = check_baseline(opts.baseline, algos)
    others = [x for x in algos if x != baseline]
    if _n_repeats(res) > 1:
        comps = compare_runs_to_baseline(
            {a: _run_values(res, a, sources) for a in [baseline, *others]},
            baseline,
            [s.key for s in sources],
            [METRICS[s.key.partition("@")[0]].higher_is_better for s in sources],
            ratio=split_size_ratio(res),
            correction=opts.correction,
            alpha=opts.alpha,
            level=opts.level,
            skip_unpaired=True,
        )
        return baseline, comps, chosen
    pooled = {a: _pooled(res, a, sources) for a in algos}
    union = np.unique(np.concatenate([u for u, _, _ in pooled.values()]))
    base_counts = pooled[baseline][2]
    rated_scale = float(base_counts[base_counts > 0].mean()) if (base_counts > 0).any() else 1.0
    values: dict[str, np.ndarray] = {}
    for a in [baseline, *others]:
        users, vals, counts = pooled[a]
        vals = vals.copy()
        for j, s in enumerate(sources):
            if s.weighted:  # each user's share of the pooled error (module notes)
                vals[:, j] = vals[:, j] * counts / rated_scale
        full = np.full((len(union), len(sources)), np.nan)
        full[np.searchsorted(union, users)] = vals
        values[a] = full
    comps = compare_to_baseline(
        values,
        baseline,
        [s.key for s in sources],
        [METRICS[s.key.partition("@")[0]].higher_is_better for s in sources],
        test=opts.test,
        correction=opts.correction,
        alpha=opts.alpha,
        n_rounds=opts.n_rounds,
        seed=opts.seed,
        level=opts.level,
        n_boot=opts.n_boot,
        skip_unpaired=True,
    )
    return baseline, comps, chosen


_TESTS = {
    "randomization": "paired randomization test ({rounds:,} sign flips)",
    "t": "paired t-test",
    "wilcoxon": "Wilcoxon signed-rank test",
}
_CORRECTIONS = {
    "holm": "Holm-adjusted",
    "bonferroni": "Bonferroni-adjusted",
    "bh": "Benjamini-Hochberg-adjusted",
    "none": "unadjusted",
}


def _kinds(ivs: list[Interval]) -> str:
    """The intervals' kinds in words, cells of one kind merged: ``95% BCa over 609-610 users``."""
    groups: dict[tuple[str, str, float], list[int]] = {}
    for iv in ivs:
        if iv.method != "none":
            groups.setdefault((iv.method, iv.over, iv.level), []).append(iv.n)
    out = []
    for (method, over, level), ns in groups.items():
        lo, hi = min(ns), max(ns)
        kind = Interval(0.0, 0.0, 0.0, method, hi, over, level).kind
        if lo != hi:
            kind = kind.replace(f" over {hi:,} ", f" over {lo:,}-{hi:,} ")
        out.append(kind)
    return "; ".join(out)


def _interval_note(
    res: ExperimentResult, opts: StatsOptions, ivs: list[Interval], ratio: float
) -> str:
    kinds = _kinds(ivs)
    runs = [iv for iv in ivs if iv.method == "corrected-t"]
    if runs:
        j = runs[0].n
        shape = (
            f"{res.repeats} repeats x {res.split.n_folds} folds, "
            if res.repeats > 1 and res.split.n_folds > 1
            else ""
        )
        seeds = f"seeds {res.seed}..{res.seed + res.repeats - 1}"
        how = (
            f" ({shape}Nadeau & Bengio's corrected resampled t: the variance of the {j} run "
            f"values x (1/{j} + n_test/n_train {ratio:.3g}), {j - 1} df"
            f"; {seeds})"
        )
        extra = ""
    elif any(iv.method == "t" for iv in ivs):
        how = f" (Student t over the {res.split.n_folds} fold values)"
        extra = ""
    else:
        how = (
            f" (bootstrap over test users, {opts.n_boot:,} resamples, seed {opts.seed}; RMSE/MAE "
            "weight users by their test ratings)"
        )
        shown = set(res.results["metric"])
        agg = [
            m.name
            for m in METRICS.values()
            if getattr(m, "scope", "") == "aggregate" and m.name in shown
        ]
        extra = f"; {', '.join(agg)}: one value per split, no interval" if agg else ""
    return f"±: half-width of the interval, {kinds}{how}{extra}."


def _test_note(
    opts: StatsOptions, baseline: str, chosen: str, comps: list[Comparison], ratio: float
) -> list[str]:
    corr = _CORRECTIONS[opts.correction]
    n = len(comps)
    over_runs = any(c.result.test == "corrected-t" for c in comps)
    if over_runs:
        j = max(c.result.n for c in comps)
        test = f"corrected resampled paired t over {j} runs (n_test/n_train {ratio:.3g})"
        pairing = (
            "Pairing: the unit is the run (each fold of each repeat): all algorithms ran on the "
            "same seeded splits, and each run's table values are paired (Nadeau & Bengio 2003); "
            "--test applies to single splits."
        )
    else:
        test = _TESTS[opts.test].format(rounds=opts.n_rounds)
        pairing = (
            "Pairing: the unit is the test user (under k-fold each user's value is averaged "
            "over the folds that tested them, so a user counts once); all algorithms ran on the "
            "same seeded splits. RMSE/MAE: each user's share of the pooled error (difference in "
            "MSE/MAE)."
        )
    return [
        f"{MARKS['better']} / {MARKS['worse']}: significantly better / worse than {baseline}"
        f"{chosen} at alpha {opts.alpha:g}, {test}, p {corr} over the table's {n} comparisons.",
        pairing,
    ]


def analyse(
    res: ExperimentResult, opts: StatsOptions, metrics: tuple[str, ...] | None = None
) -> TableStats:
    """Intervals of every cell and, with a baseline, the comparisons of the table's columns.

    ``metrics`` names the table's metrics (the family for the correction); None: all computed.
    """
    t0 = time.perf_counter()
    keys = result_keys(res)
    algos = [
        a for a in res.algorithms if a not in res.unable and (res.results["algorithm"] == a).any()
    ]
    intervals: dict[tuple[str, str], Interval] = {}
    notes: list[str] = []
    if opts.ci:
        intervals = _intervals(res, algos, keys, opts)
        if intervals:
            ratio = split_size_ratio(res)
            notes.append(_interval_note(res, opts, list(intervals.values()), ratio))
    comparisons: dict[tuple[str, str], Comparison] = {}
    baseline = None
    if opts.baseline is not None and algos:
        family = [k for k in keys if metrics is None or k.partition("@")[0] in metrics]
        baseline, comps, chosen = _comparisons(res, algos, family, opts)
        comparisons = {(c.algorithm, c.metric): c for c in comps}
        notes += _test_note(opts, baseline, chosen, comps, split_size_ratio(res))
    return TableStats(
        opts, intervals, comparisons, baseline, tuple(notes), time.perf_counter() - t0
    )


def check_pairable(
    dataset: Dataset, split_spec: SplitSpec, seed: int, threshold: float | None
) -> None:
    """Before any fitting: a paired test needs at least two test users with training history
    and a relevant held-out item (checked on the first split; the others are alike)."""
    split = make_split(dataset, split_spec, seed, 0)
    users, _ = relevant_pairs(split, threshold)
    history = np.diff(split.train.interactions.csr("binary").indptr)
    if split.fold_in is not None:
        history = history + np.bincount(split.fold_in.user, minlength=len(history))
    candidates = np.unique(users)
    n = int((history[candidates] > 0).sum()) if len(candidates) else 0
    if n < 2:
        raise UsageError(
            f"a paired test needs at least two paired users; split {split_spec} of "
            f"{dataset.name} has {n} test user{'s' if n != 1 else ''} to rank"
        )


def stats_options(
    *,
    ci: bool = True,
    baseline: str | None = None,
    test: str = "randomization",
    correction: str = "holm",
    alpha: float = 0.05,
    repeats: int = 1,
    seed: int = 0,
    algorithms: list[str] | None = None,
    significance_conditions: list[tuple[str | None, str]] | None = None,
) -> StatsOptions:
    """Validated options for compare/evaluate, before any fitting: the baseline names a row of
    the table (or is ``best``); every ``--fail-if ... worse|better`` condition, given as
    (algorithm or None, text), has a baseline to be worse or better than."""
    opts = StatsOptions(
        ci=ci,
        baseline=baseline,
        test=test,
        correction=correction,
        alpha=alpha,
        repeats=repeats,
        seed=seed,
    )
    if baseline is not None and algorithms is not None:
        if len(algorithms) < 2:
            raise UsageError("--baseline needs at least two algorithms to compare")
        object.__setattr__(opts, "baseline", check_baseline(baseline, algorithms))
    for algo, text in significance_conditions or []:
        if opts.baseline is None:
            raise UsageError(f"--fail-if '{text}' tests significance: give --baseline ALGO|best")
        if algo is not None and algorithms is not None and algo not in algorithms:
            raise UsageError(f"--fail-if '{text}': '{algo}' is not among the compared algorithms")
        if algo is not None and algo == opts.baseline:
            raise UsageError(f"--fail-if '{text}': {algo} is the baseline itself")
    return opts
