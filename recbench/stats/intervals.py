"""Confidence intervals for the mean of a metric.

Two estimators, and :func:`cell_intervals` which picks between them the way ``compare`` needs:

- **one split** (holdout, user-holdout, temporal, ...): a seeded bootstrap over users of the
  per-user values (Efron & Tibshirani 1993, *An Introduction to the Bootstrap*). The default is
  **BCa** (bias-corrected and accelerated, Efron 1987, JASA 82:171). Per-user recommender metrics
  are bounded and skewed (a spike at 0 for users with no hit, a long right tail), and BCa corrects
  the interval for that skew and for median bias to second order, where the percentile interval
  is only first-order accurate. For a mean, the jackknife that BCa needs is a closed form
  (leave-one-out sums), so it costs O(n) on top of the resampling. ``method="percentile"`` is
  available for comparison with other tools.
- **k folds**: a Student t-interval over the fold values (disjoint test sets; see
  :func:`cell_intervals` for why no correction).
- **repeats** (``--repeats N``, with or without folds): the corrected resampled t-interval of
  Nadeau & Bengio (2003) over every run's value (each fold of each repeat),
  :mod:`recbench.stats.resampled`. The runs share training data and test users, so their values
  are positively correlated and the plain t-interval over them is too narrow (Bengio &
  Grandvalet 2004, JMLR 5:1089); the correction inflates the variance by
  ``1/J + n_test/n_train``.

Weighted means cover RMSE and MAE, whose table values pool every test rating rather than
averaging users: pass per-user mean squared errors (or absolute errors) with each user's rating
count as ``weights``, and ``root=True`` for RMSE (the square root is monotone, so the interval's
end points are transformed directly; BCa intervals respect monotone transformations).

All functions are pure: arrays in, frozen :class:`Interval` values out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from recbench.errors import UsageError
from recbench.stats._checks import as_columns, check_choice, check_level, check_positive_int
from recbench.stats.estimate import DEFAULT_LEVEL, Interval
from recbench.stats.resampled import corrected_t_interval, student_t_interval

BOOTSTRAP_METHODS = ("bca", "percentile")
DEFAULT_N_BOOT = 2000
#: resamples are drawn in chunks of at most this many (resample x user) counts (8 MB of float64)
_CHUNK = 1 << 20

Matrix = NDArray[np.float64]


# --------------------------------------------------------------------------- bootstrap


def bootstrap_ci(
    values: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    level: float = DEFAULT_LEVEL,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
    method: str = "bca",
    root: bool = False,
) -> Interval:
    """Bootstrap interval of the (weighted) mean of one per-user array; NaN entries are dropped.

    ``n_boot`` resamples of the users, drawn with replacement from ``numpy.random.default_rng
    (seed)``; ``method`` is ``"bca"`` (default) or ``"percentile"``. With ``root=True`` the
    statistic is ``sqrt`` of the weighted mean (RMSE from per-user mean squared errors).
    """
    x = as_columns(values, "values")
    if x.shape[1] != 1:
        raise UsageError("bootstrap_ci takes a 1-D array; use bootstrap_ci_columns for a matrix")
    return bootstrap_ci_columns(
        x, weights=weights, level=level, n_boot=n_boot, seed=seed, method=method, root=root
    )[0]


def bootstrap_ci_columns(
    values: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    level: float = DEFAULT_LEVEL,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
    method: str = "bca",
    root: bool | Sequence[bool] = False,
) -> list[Interval]:
    """:func:`bootstrap_ci` for every column of an (n_users, m) matrix, with shared resamples.

    One set of resampled users serves every column (every metric of a cell), so the cost is one
    draw of ``n_boot x n_users`` indices plus a matrix product. A column's NaN entries are left
    out of that column's mean (a ratio estimator over the resampled users). ``weights`` is
    ``None``, an (n_users,) array or an (n_users, m) matrix of non-negative weights; ``root``
    is one flag or one per column.
    """
    x = as_columns(values, "values")
    lev = check_level(level)
    n_boot = check_positive_int(n_boot, "number of bootstrap resamples")
    meth = check_choice(method, BOOTSTRAP_METHODS, "bootstrap method")
    w = _weights(weights, x.shape)
    roots = _flags(root, x.shape[1])
    keep = (~np.isnan(x) & (w > 0)).any(axis=1)
    x, w = x[keep], w[keep]
    valid = ~np.isnan(x) & (w > 0)
    wx = np.where(valid, w * np.nan_to_num(x), 0.0)
    ww = np.where(valid, w, 0.0)
    n_valid = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        theta = wx.sum(axis=0) / ww.sum(axis=0)
    boots = _resample_means(wx, ww, n_boot, seed) if len(x) else np.empty((0, x.shape[1]))
    out = []
    for j in range(x.shape[1]):
        n = int(n_valid[j])
        if n < 2:
            lo = hi = float("nan")
            name = "none"
        else:
            b = boots[:, j]
            b = b[~np.isnan(b)]
            if meth == "bca":
                sel = valid[:, j]
                lo, hi = _bca(b, float(theta[j]), wx[sel, j], ww[sel, j], lev)
            else:
                lo, hi = _percentile(b, lev)
            name = f"bootstrap-{meth}"
        mean = float(theta[j]) if n else float("nan")
        if roots[j]:
            mean, lo, hi = (float(np.sqrt(max(v, 0.0))) if v == v else v for v in (mean, lo, hi))
        out.append(Interval(mean, lo, hi, name, n, "users", lev))
    return out


def _resample_means(wx: Matrix, ww: Matrix, n_boot: int, seed: int) -> Matrix:
    """(n_boot, m) weighted means of bootstrap resamples of the rows, drawn in chunks."""
    n = wx.shape[0]
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_boot, _CHUNK // max(n, 1)))
    out = np.empty((n_boot, wx.shape[1]))
    for start in range(0, n_boot, chunk):
        c = min(chunk, n_boot - start)
        idx = rng.integers(0, n, size=(c, n))
        idx += (np.arange(c) * n)[:, None]
        counts = np.bincount(idx.ravel(), minlength=c * n).reshape(c, n).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start : start + c] = (counts @ wx) / (counts @ ww)
    return out


def _quantiles(b: NDArray[np.float64], q: Sequence[float]) -> tuple[float, float]:
    if len(b) == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(b, np.clip(q, 0.0, 1.0))
    return float(lo), float(hi)


def _percentile(b: NDArray[np.float64], level: float) -> tuple[float, float]:
    tail = (1.0 - level) / 2.0
    return _quantiles(b, (tail, 1.0 - tail))


def _bca(
    b: NDArray[np.float64],
    theta: float,
    wx: NDArray[np.float64],
    ww: NDArray[np.float64],
    level: float,
) -> tuple[float, float]:
    """BCa end points (Efron & Tibshirani 1993, ch. 14) with a closed-form jackknife."""
    if len(b) == 0:
        return float("nan"), float("nan")
    if np.ptp(b) == 0.0:  # every resample has the same mean: the data are constant
        return float(b[0]), float(b[0])
    nb = len(b)
    prop = (np.count_nonzero(b < theta) + 0.5 * np.count_nonzero(b == theta)) / nb
    z0 = float(special.ndtri(np.clip(prop, 0.5 / nb, 1.0 - 0.5 / nb)))
    sx, sw = wx.sum(), ww.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        jack = (sx - wx) / (sw - ww)  # leave-one-user-out means
    jack = jack[np.isfinite(jack)]
    dev = jack.mean() - jack if len(jack) else np.zeros(1)
    denom = 6.0 * float((dev * dev).sum()) ** 1.5
    accel = float((dev**3).sum()) / denom if denom > 0 else 0.0
    tail = (1.0 - level) / 2.0
    qs = []
    for z in (special.ndtri(tail), special.ndtri(1.0 - tail)):
        shifted = z0 + z
        qs.append(float(special.ndtr(z0 + shifted / (1.0 - accel * shifted))))
    return _quantiles(b, qs)


# --------------------------------------------------------------------------- t-interval


def t_interval(values: ArrayLike, *, level: float = DEFAULT_LEVEL, over: str = "folds") -> Interval:
    """Student t-interval of the mean of a few independent values (folds or repeats).

    ``mean ± t_{n-1, (1+level)/2} · s / sqrt(n)`` with the sample standard deviation ``s``.
    Needs at least two values; NaN values are an error (a fold without a value is a bug).
    """
    return student_t_interval(values, None, level=level, over=over, method="t", name="t-interval")


# --------------------------------------------------------------------------- dispatcher


def cell_intervals(
    runs: Sequence[ArrayLike],
    *,
    weights: Sequence[ArrayLike] | None = None,
    repeats: Sequence[int] | None = None,
    ratio: float | None = None,
    root: bool | Sequence[bool] = False,
    level: float = DEFAULT_LEVEL,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
    method: str = "bca",
) -> list[Interval]:
    """Intervals for every metric column of one table cell (one algorithm), from its runs.

    ``runs`` holds one (n_users, m) per-user matrix (or 1-D array) per evaluated split, in any
    order: one for a single split, k for k-fold, k x N with ``--repeats N``. ``repeats`` gives
    each run's repeat number (``None``: all runs belong to one repeat); ``ratio`` is the runs'
    ``n_test / n_train`` (needed with several repeats). The rule:

    - one run: a bootstrap over users (:func:`bootstrap_ci_columns`), ``over="users"``;
    - one repeat of k folds: a t-interval over the k fold values, ``over="folds"``. The folds'
      test sets are disjoint, which offsets the overlap of their training sets: in recbench's
      A/A simulation (``tests/test_stats_repeats.py``) this t is calibrated, and the corrected
      one rejects at a quarter of the nominal rate;
    - several repeats: the corrected resampled t-interval (Nadeau & Bengio 2003) over every run's
      value, ``over="repeats"`` when each repeat is one run, else ``"folds"`` (k x N folds:
      Bouckaert & Frank 2004), ``n`` the number of runs. Repeats re-draw overlapping test sets
      as well as training sets, and a plain t over them is far too narrow.

    A run's value of a column is its (weighted, optionally rooted) mean over users, i.e. the
    number the table shows for that fold, so the interval is centred on the table's value.
    """
    if len(runs) == 0:
        raise UsageError("an interval needs at least one evaluated split")
    mats = [as_columns(r, "per-user values") for r in runs]
    m = mats[0].shape[1]
    if any(x.shape[1] != m for x in mats):
        raise UsageError("every run must have the same metric columns")
    wts: list[ArrayLike | None] = list(weights) if weights is not None else [None] * len(mats)
    if len(wts) != len(mats):
        raise UsageError("give one weights array per run")
    rep = list(repeats) if repeats is not None else [0] * len(mats)
    if len(rep) != len(mats):
        raise UsageError("give one repeat number per run")
    if len(mats) == 1:
        return bootstrap_ci_columns(
            mats[0],
            weights=wts[0],
            level=level,
            n_boot=n_boot,
            seed=seed,
            method=method,
            root=root,
        )
    roots = _flags(root, m)
    values = np.vstack([_run_value(x, w, roots) for x, w in zip(mats, wts, strict=True)])
    n_repeats = len(np.unique(rep))
    if n_repeats == 1:
        return [t_interval(values[:, j], level=level, over="folds") for j in range(m)]
    if ratio is None:
        raise UsageError(
            "an interval over several repeats needs the runs' test/train size ratio (the "
            "corrected resampled t)"
        )
    over = "repeats" if n_repeats == len(mats) else "folds"
    return [
        corrected_t_interval(values[:, j], ratio=ratio, level=level, over=over) for j in range(m)
    ]


def cell_interval(
    runs: Sequence[ArrayLike],
    *,
    weights: Sequence[ArrayLike] | None = None,
    repeats: Sequence[int] | None = None,
    ratio: float | None = None,
    root: bool = False,
    level: float = DEFAULT_LEVEL,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
    method: str = "bca",
) -> Interval:
    """:func:`cell_intervals` for one metric: ``runs`` holds one 1-D per-user array per split."""
    for r in runs:
        if np.ndim(r) != 1:
            raise UsageError("cell_interval takes 1-D per-user arrays; use cell_intervals")
    return cell_intervals(
        runs,
        weights=weights,
        repeats=repeats,
        ratio=ratio,
        root=root,
        level=level,
        n_boot=n_boot,
        seed=seed,
        method=method,
    )[0]


def _run_value(x: Matrix, weights: ArrayLike | None, roots: list[bool]) -> NDArray[np.float64]:
    w = _weights(weights, x.shape)
    valid = ~np.isnan(x) & (w > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        v = np.where(valid, w * np.nan_to_num(x), 0.0).sum(0) / np.where(valid, w, 0.0).sum(0)
    return np.where(roots, np.sqrt(np.maximum(v, 0.0)), v)


def _weights(weights: ArrayLike | None, shape: tuple[int, ...]) -> Matrix:
    if weights is None:
        return np.ones(shape)
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim == 1:
        w = w[:, None]
    try:
        w = np.broadcast_to(w, shape)
    except ValueError:
        raise UsageError(
            f"weights of shape {w.shape} do not match values of shape {shape}"
        ) from None
    if not np.isfinite(w).all() or (w < 0).any():
        raise UsageError("weights must be finite and non-negative")
    return w


def _flags(flag: bool | Sequence[bool], m: int) -> list[bool]:
    if isinstance(flag, bool | np.bool_):
        return [bool(flag)] * m
    flags = [bool(f) for f in flag]
    if len(flags) != m:
        raise UsageError(f"give one root flag per column ({m}), got {len(flags)}")
    return flags
