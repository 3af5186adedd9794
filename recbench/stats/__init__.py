"""Statistics for trustworthy comparisons: pure functions on per-user arrays.

- :mod:`~recbench.stats.estimate`: the :class:`Interval` record and how it names its kind;
- :mod:`~recbench.stats.intervals`: bootstrap (BCa) and t confidence intervals, and the rule that
  picks one for a table cell (:func:`cell_intervals`);
- :mod:`~recbench.stats.resampled`: the corrected resampled t (Nadeau & Bengio 2003) over
  training runs (folds, repeats);
- :mod:`~recbench.stats.paired`: paired randomization, t and Wilcoxon (Pratt) tests over users,
  and the corrected resampled paired t over runs;
- :mod:`~recbench.stats.correction`: Holm, Bonferroni and Benjamini-Hochberg adjusted p-values;
- :mod:`~recbench.stats.pooling`: one value per user across folds and repeats, user alignment;
- :mod:`~recbench.stats.comparison`: every algorithm against a baseline, corrected over the table.

No models, no I/O: arrays in, numbers and frozen dataclasses out; bad input raises
:class:`recbench.errors.UsageError`.
"""

from __future__ import annotations

from recbench.stats._checks import check_alpha, check_level
from recbench.stats.comparison import (
    BEST,
    Comparison,
    check_baseline,
    compare_runs_to_baseline,
    compare_to_baseline,
    pick_best,
)
from recbench.stats.correction import CORRECTIONS, adjust_pvalues, check_correction, significant
from recbench.stats.intervals import (
    BOOTSTRAP_METHODS,
    DEFAULT_LEVEL,
    DEFAULT_N_BOOT,
    Interval,
    bootstrap_ci,
    bootstrap_ci_columns,
    cell_interval,
    cell_intervals,
    t_interval,
)
from recbench.stats.paired import (
    DEFAULT_ROUNDS,
    TESTS,
    PairedResult,
    check_test,
    corrected_paired_tests,
    paired_pvalues,
    paired_test,
    paired_tests,
    randomization_pvalues,
    verdict,
)
from recbench.stats.pooling import Pooled, align_users, pool_by_user
from recbench.stats.resampled import (
    CORRECTED_T,
    corrected_t_interval,
    corrected_t_pvalues,
    size_ratio,
    variance_factor,
)

__all__ = [
    "BEST",
    "BOOTSTRAP_METHODS",
    "CORRECTED_T",
    "CORRECTIONS",
    "DEFAULT_LEVEL",
    "DEFAULT_N_BOOT",
    "DEFAULT_ROUNDS",
    "TESTS",
    "Comparison",
    "Interval",
    "PairedResult",
    "Pooled",
    "adjust_pvalues",
    "align_users",
    "bootstrap_ci",
    "bootstrap_ci_columns",
    "cell_interval",
    "cell_intervals",
    "check_alpha",
    "check_baseline",
    "check_correction",
    "check_level",
    "check_test",
    "compare_runs_to_baseline",
    "compare_to_baseline",
    "corrected_paired_tests",
    "corrected_t_interval",
    "corrected_t_pvalues",
    "paired_pvalues",
    "paired_test",
    "paired_tests",
    "pick_best",
    "pool_by_user",
    "randomization_pvalues",
    "significant",
    "size_ratio",
    "t_interval",
    "variance_factor",
    "verdict",
]
