"""Every algorithm of a table against a baseline: paired tests, one correction over the family.

This is what ``compare --baseline ALGO --test T --correction C --alpha A`` computes. The caller
passes, per algorithm, an (n_users, m) matrix of per-user values of the table's m metric
columns, with the rows aligned to the same users for every algorithm (pool folds and repeats
with :func:`recbench.stats.pooling.pool_by_user`, align with
:func:`recbench.stats.pooling.align_users`; NaN where an algorithm has no value for a user).

The family for the correction is every (algorithm, metric) comparison in the table, the baseline
excluded. All comparisons are made in one call of the test, so the randomization test draws its
sign patterns once for the whole table.

:func:`compare_runs_to_baseline` is the same for results over several training runs (k folds,
``--repeats``): the rows are runs, not users, and the test is the corrected resampled t of
Nadeau & Bengio (2003).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from recbench.errors import UsageError, suggest
from recbench.stats._checks import as_columns, check_alpha
from recbench.stats.correction import adjust_pvalues, check_correction
from recbench.stats.intervals import DEFAULT_LEVEL, DEFAULT_N_BOOT
from recbench.stats.paired import (
    DEFAULT_ROUNDS,
    PairedResult,
    check_test,
    corrected_paired_tests,
    paired_tests,
    verdict,
)

#: ``--baseline best``: the best algorithm on the first ranking metric
BEST = "best"


@dataclass(frozen=True)
class Comparison:
    """One cell's comparison with the baseline: ``result`` holds the raw p, the mean paired
    difference (algorithm - baseline) and its interval; ``p_adjusted`` is after correction;
    ``verdict`` is ``"better"``, ``"worse"`` or ``None`` (not significant at ``alpha``)."""

    algorithm: str
    baseline: str
    metric: str
    result: PairedResult
    p_adjusted: float
    correction: str
    alpha: float
    verdict: str | None


def check_baseline(name: str, algorithms: Sequence[str]) -> str:
    """Validate ``--baseline`` before any fitting: an algorithm of the table, or ``best``."""
    key = name.strip()
    if key.lower() == BEST:
        return BEST
    if key not in algorithms:
        raise UsageError(
            f"baseline '{name}' is not one of the compared algorithms "
            f"({', '.join(algorithms)}){suggest(key, algorithms)}"
        )
    return key


def pick_best(means: Mapping[str, float], higher_is_better: bool) -> str:
    """The algorithm with the best mean (first in order on ties; NaN means never win)."""
    scored = [(a, v) for a, v in means.items() if v == v]
    if not scored:
        raise UsageError("no algorithm has a value to pick the best baseline from")
    sign = 1.0 if higher_is_better else -1.0
    return max(scored, key=lambda av: sign * av[1])[0]


def compare_to_baseline(
    values: Mapping[str, ArrayLike],
    baseline: str,
    metrics: Sequence[str],
    higher_is_better: Sequence[bool],
    *,
    test: str = "randomization",
    correction: str = "holm",
    alpha: float = 0.05,
    n_rounds: int = DEFAULT_ROUNDS,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
    n_boot: int = DEFAULT_N_BOOT,
    skip_unpaired: bool = False,
    ratio: float | None = None,
) -> list[Comparison]:
    """Paired tests of every other algorithm against ``baseline`` on every metric column.

    ``values[algorithm]`` is (n_users, len(metrics)) with rows aligned across algorithms.
    Returns one :class:`Comparison` per (algorithm, metric), algorithms in mapping order.
    With ``skip_unpaired``, an (algorithm, metric) with fewer than two users valued on both
    sides (a ranking-only baseline has no RMSE) is left out of the family and of the result
    instead of raising. With ``ratio`` (the runs' ``n_test / n_train``) the rows are runs and
    every comparison is the corrected resampled t (``test`` is then not used).
    """
    name = check_test(test)
    corr = check_correction(correction)
    a = check_alpha(alpha)
    if baseline not in values:
        raise UsageError(f"baseline '{baseline}' has no values{suggest(baseline, list(values))}")
    if len(higher_is_better) != len(metrics):
        raise UsageError("give one direction per metric")
    base = as_columns(values[baseline], f"values of {baseline}")
    m = len(metrics)
    if base.shape[1] != m:
        raise UsageError(f"values of {baseline} have {base.shape[1]} columns for {m} metrics")
    others = [alg for alg in values if alg != baseline]
    if not others:
        return []
    blocks = []
    for alg in others:
        x = as_columns(values[alg], f"values of {alg}")
        if x.shape != base.shape:
            raise UsageError(
                f"values of {alg} have shape {x.shape}, the baseline's {base.shape}: "
                "align the users first"
            )
        blocks.append(x)
    pairs = [(i, j) for i in range(len(others)) for j in range(m)]
    stacked = np.hstack(blocks)
    tiled = np.tile(base, (1, len(others)))
    if skip_unpaired:
        n_pairs = (~np.isnan(stacked - tiled)).sum(axis=0)
        keep = np.flatnonzero(n_pairs >= 2)
        pairs = [pairs[c] for c in keep]
        stacked, tiled = stacked[:, keep], tiled[:, keep]
        if not pairs:
            return []
    if ratio is not None:
        results = corrected_paired_tests(stacked, tiled, ratio=ratio, level=level)
    else:
        results = paired_tests(
            stacked,
            tiled,
            test=name,
            n_rounds=n_rounds,
            seed=seed,
            level=level,
            n_boot=n_boot,
        )
    adjusted = adjust_pvalues([r.p for r in results], corr)
    out = []
    for c, (i, j) in enumerate(pairs):
        r = results[c]
        p_adj = float(adjusted[c])
        out.append(
            Comparison(
                others[i],
                baseline,
                metrics[j],
                r,
                p_adj,
                corr,
                a,
                verdict(r.mean_diff, p_adj, a, bool(higher_is_better[j])),
            )
        )
    return out


def compare_runs_to_baseline(
    values: Mapping[str, ArrayLike],
    baseline: str,
    metrics: Sequence[str],
    higher_is_better: Sequence[bool],
    *,
    ratio: float,
    correction: str = "holm",
    alpha: float = 0.05,
    level: float = DEFAULT_LEVEL,
    skip_unpaired: bool = False,
) -> list[Comparison]:
    """:func:`compare_to_baseline` over training runs: ``values[algorithm]`` is (J, m), one row
    per run (fold of a repeat) in the same order for every algorithm, holding the run's table
    values; each comparison is the corrected resampled t on the per-run differences."""
    return compare_to_baseline(
        values,
        baseline,
        metrics,
        higher_is_better,
        correction=correction,
        alpha=alpha,
        level=level,
        skip_unpaired=skip_unpaired,
        ratio=ratio,
    )
