"""Splitters: Dataset -> train/test Splits. Every splitter is seeded and deterministic.

A split spec is a short string (``holdout:0.2``, ``user-holdout:0.2``, ``kfold:5``,
``temporal:0.2``, ``last:1``, ``user-cold:0.2``, ``item-cold:0.2``, ``none``). Internally each
splitter assigns every interaction a fold number (-1 = always training, -2 = fold-in history of a
held-out user); split ``f`` tests on the interactions of fold ``f``. All splits keep the dataset's
id maps, so train and test share one users x items shape.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from recbench.data.model import Dataset, Interactions
from recbench.errors import UsageError, suggest

KINDS = (
    "holdout",
    "user-holdout",
    "kfold",
    "temporal",
    "last",
    "user-cold",
    "item-cold",
    "none",
)
#: share of each held-out user's ratings given as fold-in history under user-cold
FOLD_IN = 0.8
TRAIN, FOLD_IN_CODE = -1, -2


@dataclass(frozen=True)
class SplitSpec:
    """A parsed ``--split`` value."""

    kind: str
    value: float = 0.0

    def __str__(self) -> str:
        if self.kind == "none":
            return "none"
        v = int(self.value) if self.kind in ("kfold", "last") else self.value
        return f"{self.kind}:{v}"

    @property
    def n_folds(self) -> int:
        return int(self.value) if self.kind == "kfold" else 1

    def describe(self, seed: int) -> str:
        """One line stating the protocol, printed under every table."""
        pct = f"{self.value * 100:g}%"
        return {
            "holdout": f"random holdout: {pct} of all ratings held out (seed {seed})",
            "user-holdout": (
                f"per-user holdout: {pct} of each user's ratings held out, rounded, "
                f"at least one kept for training (seed {seed})"
            ),
            "kfold": (
                f"{self.n_folds}-fold cross-validation over ratings (seed {seed}); "
                "mean ± std over folds"
            ),
            "temporal": f"temporal: the latest {pct} of ratings by timestamp held out",
            "last": (
                f"leave-last-{int(self.value)}: each user's {int(self.value)} latest "
                "ratings held out (users with no more than that train only)"
            ),
            "user-cold": (
                f"user cold-start: {pct} of users held out entirely (seed {seed}); "
                f"{FOLD_IN:.0%} of each one's ratings given as fold-in history at test time, "
                "the rest scored"
            ),
            "item-cold": (
                f"item cold-start: {pct} of rated items held out entirely (seed {seed}); "
                "their ratings are the test set and each user's candidates are the held-out "
                "items"
            ),
            "none": "no split: fitted on all ratings",
        }[self.kind]

    @property
    def cold(self) -> str | None:
        """ "users" or "items" for the cold-start protocols, else None."""
        return {"user-cold": "users", "item-cold": "items"}.get(self.kind)


def parse_split(text: str) -> SplitSpec:
    """Parse and validate a split spec, with one-line messages for bad values."""
    kind, _, arg = text.strip().partition(":")
    kind = kind.lower()
    if kind not in KINDS:
        raise UsageError(
            f"unknown split '{kind}'{suggest(kind, KINDS)} (use one of: "
            "holdout:0.2, user-holdout:0.2, kfold:5, temporal:0.2, last:1, user-cold:0.2, "
            "item-cold:0.2, none)"
        )
    if kind == "none":
        if arg:
            raise UsageError("split 'none' takes no value")
        return SplitSpec("none")
    if not arg:
        raise UsageError(f"split '{kind}' needs a value, e.g. {_example(kind)}")
    if kind in ("kfold", "last"):
        try:
            n = int(arg)
        except ValueError:
            raise UsageError(f"split '{kind}' needs a whole number, got '{arg}'") from None
        if kind == "kfold" and n < 2:
            raise UsageError(f"kfold needs at least 2 folds, got {n}")
        if kind == "last" and n < 1:
            raise UsageError(f"last:N needs N >= 1, got {n}")
        return SplitSpec(kind, float(n))
    try:
        frac = float(arg)
    except ValueError:
        raise UsageError(f"split '{kind}' needs a fraction, got '{arg}'") from None
    if not 0.0 < frac < 1.0:
        raise UsageError(f"split fraction must be in (0, 1), got {arg}")
    return SplitSpec(kind, frac)


def _example(kind: str) -> str:
    return {"kfold": "kfold:5", "last": "last:1"}.get(kind, f"{kind}:0.2")


@dataclass(frozen=True)
class Split:
    """One train/test split of a dataset; ``train`` keeps the dataset's features and id maps."""

    train: Dataset
    test: Interactions
    name: str
    fold: int
    protocol: str
    #: user-cold: the held-out users' given history (not in ``train``)
    fold_in: Interactions | None = None
    #: item-cold: the items each user's ranking is restricted to
    candidates: np.ndarray | None = None
    #: "users" / "items" under a cold-start protocol
    cold: str | None = None


def fold_assignment(dataset: Dataset, spec: SplitSpec, seed: int) -> np.ndarray:
    """Fold number of every interaction (-1: always in training)."""
    inter = dataset.interactions
    n = len(inter)
    rng = np.random.default_rng(seed)
    folds = np.full(n, -1, dtype=np.int32)
    if spec.kind == "none":
        return folds
    if spec.kind == "holdout":
        n_test = round(spec.value * n)
        folds[rng.permutation(n)[:n_test]] = 0
    elif spec.kind == "kfold":
        k = spec.n_folds
        if n < k:
            raise UsageError(f"kfold:{k} needs at least {k} ratings, the dataset has {n}")
        perm = rng.permutation(n)
        folds[perm] = (np.arange(n, dtype=np.int64) * k // n).astype(np.int32)
    elif spec.kind == "user-holdout":
        pos, size = _rank_within_user(inter.user, rng.random(n))
        n_test = np.minimum(np.floor(spec.value * size + 0.5), size - 1)
        folds[pos < n_test] = 0
    elif spec.kind == "temporal":
        ts = _require_timestamps(dataset, spec)
        order = np.argsort(ts, kind="stable")
        n_test = round(spec.value * n)
        folds[order[n - n_test :]] = 0
    elif spec.kind == "user-cold":
        active = np.flatnonzero(inter.user_counts() > 0)
        n_cold = max(1, round(spec.value * len(active)))
        cold_users = np.zeros(inter.n_users, dtype=bool)
        cold_users[rng.permutation(active)[:n_cold]] = True
        rows = cold_users[inter.user]
        pos, size = _rank_within_user(inter.user, rng.random(n))
        n_given = np.minimum(np.floor(FOLD_IN * size + 0.5), size - 1)
        folds[rows & (pos < n_given)] = FOLD_IN_CODE
        folds[rows & (pos >= n_given)] = 0
    elif spec.kind == "item-cold":
        active = np.flatnonzero(inter.item_counts() > 0)
        n_cold = max(1, round(spec.value * len(active)))
        cold_items = np.zeros(inter.n_items, dtype=bool)
        cold_items[rng.permutation(active)[:n_cold]] = True
        folds[cold_items[inter.item]] = 0
    elif spec.kind == "last":
        ts = _require_timestamps(dataset, spec)
        # rank 0 = latest; ties broken by position for determinism
        pos, size = _rank_within_user(inter.user, -ts.astype(np.float64))
        folds[(pos < spec.value) & (size > spec.value)] = 0
    return folds


def _require_timestamps(dataset: Dataset, spec: SplitSpec) -> np.ndarray:
    ts = dataset.interactions.timestamp
    if ts is None:
        raise UsageError(f"split '{spec}' needs timestamps, and {dataset.name} has none")
    return ts


def _rank_within_user(user: np.ndarray, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's 0-based rank by ``key`` among its user's rows, and that user's row count."""
    n = len(user)
    order = np.lexsort((np.arange(n), key, user))
    sorted_user = user[order]
    starts = np.flatnonzero(np.r_[True, sorted_user[1:] != sorted_user[:-1]])
    counts = np.diff(np.r_[starts, n])
    rank_sorted = np.arange(n) - np.repeat(starts, counts)
    pos = np.empty(n, dtype=np.int64)
    pos[order] = rank_sorted
    size = np.repeat(counts, counts)
    size_rows = np.empty(n, dtype=np.int64)
    size_rows[order] = size
    return pos, size_rows


def make_split(dataset: Dataset, spec: SplitSpec, seed: int, fold: int = 0) -> Split:
    """The ``fold``-th split of ``dataset`` under ``spec``."""
    if not 0 <= fold < spec.n_folds:
        raise UsageError(f"fold {fold} does not exist for split '{spec}' ({spec.n_folds} folds)")
    folds = fold_assignment(dataset, spec, seed)
    return _split_from(dataset, spec, seed, folds, fold)


def make_splits(dataset: Dataset, spec: SplitSpec, seed: int) -> Iterator[Split]:
    """Every split of ``dataset`` under ``spec`` (k for kfold, one otherwise)."""
    folds = fold_assignment(dataset, spec, seed)
    for f in range(spec.n_folds):
        yield _split_from(dataset, spec, seed, folds, f)


def _split_from(
    dataset: Dataset, spec: SplitSpec, seed: int, folds: np.ndarray, fold: int
) -> Split:
    inter = dataset.interactions
    test_mask = folds == fold
    if spec.kind != "none" and not test_mask.any():
        raise UsageError(f"split '{spec}' leaves no ratings to test on in {dataset.name}")
    given = folds == FOLD_IN_CODE
    train = dataset.with_interactions(inter.subset(~test_mask & ~given))
    test = inter.subset(test_mask)
    name = f"fold-{fold + 1}" if spec.kind == "kfold" else spec.kind
    fold_in = inter.subset(given) if spec.kind == "user-cold" else None
    candidates = np.unique(test.item) if spec.kind == "item-cold" else None
    return Split(train, test, name, fold, spec.describe(seed), fold_in, candidates, spec.cold)
