"""Pooling per-user values over folds and repeats, and pairing two algorithms' users.

Paired tests need one value per independent unit on each side. recbench takes the **user** as
that unit and pools each user's values over every fold and repeat in which the user is a test
user: the pooled value is the (weighted) mean of those values.

- Under ``user-holdout`` / ``user-cold`` k-fold splits a user is a test user in exactly one fold,
  so pooling is concatenation.
- Under ``kfold`` over ratings a user has test ratings in several folds, and under ``--repeats``
  with random holdout a user is tested in several repeats. Treating each (user, fold) value as
  its own unit would count the same user several times: values of one user are correlated
  (a user's taste and history length drive every fold's value), so a t-test or a bootstrap over
  (user, fold) units understates the variance. Averaging per user keeps one unit per user.
- The alternative of testing on the N repeat means was rejected: with N = 3..10 it has almost
  no power, and repeat means of random holdout are themselves correlated (overlapping training
  sets; Nadeau & Bengio 2003). Per-user pooling answers "is A better than B for this population
  of users, given these training runs", which is the question a benchmark table asks.

Both algorithms of a comparison are run on the same seeded splits, so each user is pooled over
the same folds and repeats on both sides. :func:`align_users` then keeps the users present on
both sides (a rating model has no values for users without test ratings, say).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from recbench.errors import UsageError
from recbench.stats._checks import as_columns


@dataclass(frozen=True)
class Pooled:
    """One row per distinct user: ``users`` sorted ascending, ``values`` (n, m) pooled means
    (NaN where the user has no value in that column), ``weights`` (n, m) summed weights."""

    users: NDArray[np.int64]
    values: NDArray[np.float64]
    weights: NDArray[np.float64]


def pool_by_user(users: ArrayLike, values: ArrayLike, weights: ArrayLike | None = None) -> Pooled:
    """Average each user's values over the runs (folds, repeats) that tested them.

    ``users`` and ``values`` are the per-user rows of every run stacked together (e.g.
    ``np.concatenate`` over folds and repeats); ``values`` is 1-D or (rows, m). ``weights``
    (per row, e.g. each user's number of test ratings in that fold) makes the mean weighted, so
    pooled per-user MSE stays the user's MSE over all their test ratings. NaN values are skipped.
    """
    u = np.asarray(users)
    x = as_columns(values, "per-user values")
    if u.ndim != 1 or len(u) != len(x):
        raise UsageError("give one user id per row of values")
    if weights is None:
        w = np.ones(len(x))
    else:
        w = np.asarray(weights, dtype=np.float64).ravel()
        if len(w) != len(x) or not np.isfinite(w).all() or (w < 0).any():
            raise UsageError("weights must be one finite non-negative number per row")
    uniq, inv = np.unique(u, return_inverse=True)
    valid = ~np.isnan(x)
    wv = np.where(valid, w[:, None], 0.0)
    group = sp.csr_array(
        (np.ones(len(u)), (inv.ravel(), np.arange(len(u)))), shape=(len(uniq), len(u))
    )
    num = group @ (wv * np.nan_to_num(x))
    den = group @ wv
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = np.where(den > 0, num / den, np.nan)
    return Pooled(uniq.astype(np.int64, copy=False), pooled, np.asarray(den, dtype=np.float64))


def align_users(
    users_a: ArrayLike, values_a: ArrayLike, users_b: ArrayLike, values_b: ArrayLike
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """Rows of both sides for the users present on both, in ascending user order.

    Each side's users must be distinct (pool them first). Returns ``(users, a, b)`` with ``a``
    and ``b`` shaped like the inputs' rows (1-D stays 1-D).
    """
    ua, ub = np.asarray(users_a), np.asarray(users_b)
    xa, xb = np.asarray(values_a, dtype=np.float64), np.asarray(values_b, dtype=np.float64)
    for u, x in ((ua, xa), (ub, xb)):
        if u.ndim != 1 or len(u) != len(x):
            raise UsageError("give one user id per row of values")
        if len(np.unique(u)) != len(u):
            raise UsageError("a user appears twice on one side; pool the runs per user first")
    common, ia, ib = np.intersect1d(ua, ub, assume_unique=True, return_indices=True)
    return common.astype(np.int64, copy=False), xa[ia], xb[ib]
