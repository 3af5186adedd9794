"""Splitters: Dataset -> train/test Splits. Every splitter is seeded and deterministic.

A split spec is a short string (``holdout:0.2``, ``kfold:5``, ``none``...): a kind and its value.
The kinds are records in ``SPLIT_KINDS`` (value parsing, caption, help, fold assignment,
cold-start flags); parsing, help, captions and dispatch all read that table, so adding a kind is
one record plus its test. Each kind's ``assign`` gives every interaction a fold number (-1 =
always training, -2 = fold-in history of a held-out user); split ``f`` tests on the interactions
of fold ``f``. All splits keep the dataset's id maps, so train and test share one users x items
shape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from recbench.data.model import PART_NAMES, PART_TEST, PART_TRAIN, PART_VALID, Dataset, Interactions
from recbench.data.parts import given_notes
from recbench.errors import UsageError, suggest

#: share of each held-out user's ratings given as fold-in history under user-cold
FOLD_IN = 0.8
TRAIN, FOLD_IN_CODE = -1, -2
#: fold number of a validation row (leave-one-out): in the test history, never a training target
VALID_CODE = -3

#: (dataset, value, seeded generator) -> fold number of every interaction
Assign = Callable[[Dataset, float, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class SplitKind:
    """One kind of split: how its value is read, what it says, and how it assigns folds.

    ``arg`` is "fraction" (a float in (0, 1)), "count" (a whole number >= ``minimum``) or
    "none" (no value). ``describe(value, seed)`` is the caption line printed under tables;
    ``assign`` gives every interaction a fold number (``TRAIN`` = always training,
    ``FOLD_IN_CODE`` = fold-in history of a held-out user, ``VALID_CODE`` = validation row,
    ``f >= 0`` = tested in split ``f``).
    """

    name: str
    arg: Literal["fraction", "count", "none"]
    #: one line for --split help: what is held out
    summary: str
    describe: Callable[[float, int], str]
    assign: Assign
    #: the value shown in help and error examples (``holdout:0.2``)
    example_value: float = 0.2
    #: for "count" kinds: the smallest accepted value, and how the error message says it
    minimum: int = 1
    minimum_text: str = ""
    #: the value is the number of folds (one split per fold), e.g. kfold
    multi_fold: bool = False
    #: "users" / "items" under a cold-start protocol, else None
    cold: Literal["users", "items"] | None = None
    needs_timestamps: bool = False
    #: False for "none": nothing is held out, so an empty test set is expected
    holds_out: bool = True
    #: the split the data comes with (its ``part`` rows), not one drawn here: ``given``
    uses_parts: bool = False
    #: refuses data this kind cannot split (a UsageError naming the problem), run before any
    #: work is recorded (:func:`check_split_data`)
    check: Callable[[Dataset], None] | None = None

    @property
    def example(self) -> str:
        """A valid spec of this kind, e.g. ``kfold:5``."""
        if self.arg == "none":
            return self.name
        v = int(self.example_value) if self.arg == "count" else self.example_value
        return f"{self.name}:{v}"

    @property
    def usage(self) -> str:
        """The spec's form in help: ``holdout:F``, ``kfold:N``, ``none``."""
        return {"fraction": f"{self.name}:F", "count": f"{self.name}:N", "none": self.name}[
            self.arg
        ]

    def parse_value(self, arg: str) -> float:
        """Validate the text after the colon; one-line UsageError otherwise."""
        if self.arg == "none":
            if arg:
                raise UsageError(f"split '{self.name}' takes no value")
            return 0.0
        if not arg:
            raise UsageError(f"split '{self.name}' needs a value, e.g. {self.example}")
        if self.arg == "count":
            try:
                n = int(arg)
            except ValueError:
                raise UsageError(f"split '{self.name}' needs a whole number, got '{arg}'") from None
            if n < self.minimum:
                raise UsageError(f"split '{self.name}' needs {self.minimum_text}, got {n}")
            return float(n)
        try:
            frac = float(arg)
        except ValueError:
            raise UsageError(f"split '{self.name}' needs a fraction, got '{arg}'") from None
        if not 0.0 < frac < 1.0:
            raise UsageError(f"split fraction must be in (0, 1), got {arg}")
        return frac

    def format_value(self, value: float) -> str:
        if self.arg == "none":
            return self.name
        v = int(value) if self.arg == "count" else value
        return f"{self.name}:{v}"


def _pct(value: float) -> str:
    return f"{value * 100:g}%"


def _train_only(dataset: Dataset) -> np.ndarray:
    return np.full(len(dataset.interactions), TRAIN, dtype=np.int32)


def _assign_given(dataset: Dataset, value: float, rng: np.random.Generator) -> np.ndarray:
    part = dataset.interactions.part
    if part is None:
        raise UsageError(
            f"split 'given' needs a dataset that comes with its own train/test files, "
            f"and {dataset.name} has none (e.g. a LightGCN directory of train.txt, test.txt)"
        )
    folds = _train_only(dataset)
    folds[part == PART_TEST] = 0
    return folds


def _assign_none(dataset: Dataset, value: float, rng: np.random.Generator) -> np.ndarray:
    return _train_only(dataset)


def _assign_holdout(dataset: Dataset, value: float, rng: np.random.Generator) -> np.ndarray:
    folds = _train_only(dataset)
    n = len(folds)
    folds[rng.permutation(n)[: round(value * n)]] = 0
    return folds


def _assign_kfold(dataset: Dataset, value: float, rng: np.random.Generator) -> np.ndarray:
    folds = _train_only(dataset)
    n, k = len(folds), int(value)
    if n < k:
        raise UsageError(f"kfold:{k} needs at least {k} ratings, the dataset has {n}")
    perm = rng.permutation(n)
    folds[perm] = (np.arange(n, dtype=np.int64) * k // n).astype(np.int32)
    return folds


def _assign_user_holdout(dataset: Dataset, value: float, rng: np.random.Generator) -> np.ndarray:
    folds = _train_only(dataset)
    pos, size = rank_within_user(dataset.interactions.user, rng.random(len(folds)))
    n_test = np.minimum(np.floor(value * size + 0.5), size - 1)
    folds[pos < n_test] = 0
    return folds


def _assign_temporal(dataset: Dataset, value: float, rng: np.random.Generator) -> np.ndarray:
    folds = _train_only(dataset)
    n = len(folds)
    order = np.argsort(_timestamps(dataset), kind="stable")
    folds[order[n - round(value * n) :]] = 0
    return folds


def _assign_last(dataset: Dataset, value: float, rng: np.random.Generator) -> np.ndarray:
    folds = _train_only(dataset)
    # rank 0 = latest; ties broken by position for determinism
    pos, size = rank_within_user(
        dataset.interactions.user, -_timestamps(dataset).astype(np.float64)
    )
    folds[(pos < value) & (size > value)] = 0
    return folds


def _assign_leave_one_out(dataset: Dataset, value: float, rng: np.random.Generator) -> np.ndarray:
    """Each user's last event (timestamp, then file order) tested, the one before it validation;
    users with fewer than 3 events only train (SASRec's and S3-Rec's code do the same)."""
    folds = _train_only(dataset)
    seqs = dataset.interactions.sequences()
    ends = seqs.indptr[1:][np.diff(seqs.indptr) >= 3]
    folds[seqs.rows[ends - 1]] = 0
    folds[seqs.rows[ends - 2]] = VALID_CODE
    return folds


def _check_leave_one_out(dataset: Dataset) -> None:
    """A one-item user has no history to predict from and nothing to hold out: bad input for a
    next-item protocol (users with 2 items only train, as SASRec's code does)."""
    counts = dataset.interactions.user_counts()
    single = np.flatnonzero(counts == 1)
    if len(single):
        first = dataset.interactions.users.raw(int(single[0]))
        raise UsageError(
            f"leave-one-out: {len(single):,} user(s) have a single item (user {first} first); "
            "a next-item user needs a history and a target: drop them with --min-user-ratings 2"
        )


def _assign_user_cold(dataset: Dataset, value: float, rng: np.random.Generator) -> np.ndarray:
    inter = dataset.interactions
    folds = _train_only(dataset)
    active = np.flatnonzero(inter.user_counts() > 0)
    cold_users = np.zeros(inter.n_users, dtype=bool)
    cold_users[rng.permutation(active)[: max(1, round(value * len(active)))]] = True
    rows = cold_users[inter.user]
    pos, size = rank_within_user(inter.user, rng.random(len(folds)))
    n_given = np.minimum(np.floor(FOLD_IN * size + 0.5), size - 1)
    folds[rows & (pos < n_given)] = FOLD_IN_CODE
    folds[rows & (pos >= n_given)] = 0
    return folds


def _assign_item_cold(dataset: Dataset, value: float, rng: np.random.Generator) -> np.ndarray:
    inter = dataset.interactions
    folds = _train_only(dataset)
    active = np.flatnonzero(inter.item_counts() > 0)
    cold_items = np.zeros(inter.n_items, dtype=bool)
    cold_items[rng.permutation(active)[: max(1, round(value * len(active)))]] = True
    folds[cold_items[inter.item]] = 0
    return folds


#: Every split kind, in help order. Adding a kind = one record here plus its test.
SPLIT_KINDS: tuple[SplitKind, ...] = (
    SplitKind(
        "holdout",
        "fraction",
        "a random share F of all ratings held out",
        lambda v, seed: f"random holdout: {_pct(v)} of all ratings held out (seed {seed})",
        _assign_holdout,
    ),
    SplitKind(
        "user-holdout",
        "fraction",
        "a random share F of each user's ratings held out",
        lambda v, seed: (
            f"per-user holdout: {_pct(v)} of each user's ratings held out, rounded, "
            f"at least one kept for training (seed {seed})"
        ),
        _assign_user_holdout,
    ),
    SplitKind(
        "kfold",
        "count",
        "N-fold cross-validation over ratings, mean ± std over folds",
        lambda v, seed: (
            f"{int(v)}-fold cross-validation over ratings (seed {seed}); mean ± std over folds"
        ),
        _assign_kfold,
        example_value=5,
        minimum=2,
        minimum_text="at least 2 folds",
        multi_fold=True,
    ),
    SplitKind(
        "temporal",
        "fraction",
        "the latest share F of ratings by timestamp held out",
        lambda v, seed: f"temporal: the latest {_pct(v)} of ratings by timestamp held out",
        _assign_temporal,
        needs_timestamps=True,
    ),
    SplitKind(
        "last",
        "count",
        "each user's N latest ratings held out",
        lambda v, seed: (
            f"leave-last-{int(v)}: each user's {int(v)} latest "
            "ratings held out (users with no more than that train only)"
        ),
        _assign_last,
        example_value=1,
        minimum=1,
        minimum_text="N >= 1 (latest ratings per user)",
        needs_timestamps=True,
    ),
    SplitKind(
        "leave-one-out",
        "none",
        "each user's last event tested, the one before it the validation item",
        lambda v, seed: (
            "leave-one-out: each user's last event (timestamp, then file order) is the test "
            "item, the one before it the validation item (early stopping, tune); the test "
            "history is every earlier event, validation item included; models that stop early "
            "train on the events before the validation item, the others on the whole history"
        ),
        _assign_leave_one_out,
        check=_check_leave_one_out,
    ),
    SplitKind(
        "user-cold",
        "fraction",
        f"a share F of users held out entirely, {FOLD_IN:.0%} of each one's ratings given "
        "as history at test time",
        lambda v, seed: (
            f"user cold-start: {_pct(v)} of users held out entirely (seed {seed}); "
            f"{FOLD_IN:.0%} of each one's ratings given as fold-in history at test time, "
            "the rest scored"
        ),
        _assign_user_cold,
        cold="users",
    ),
    SplitKind(
        "item-cold",
        "fraction",
        "a share F of items held out entirely; their ratings are the test set",
        lambda v, seed: (
            f"item cold-start: {_pct(v)} of rated items held out entirely (seed {seed}); "
            "their ratings are the test set and each user's candidates are the held-out "
            "items"
        ),
        _assign_item_cold,
        cold="items",
    ),
    SplitKind(
        "given",
        "none",
        "the dataset's own train / (valid) / test files, as published",
        lambda v, seed: "given split: the dataset's own train and test files",
        _assign_given,
        uses_parts=True,
    ),
    SplitKind(
        "none",
        "none",
        "no split: fit on all ratings, nothing held out",
        lambda v, seed: "no split: fitted on all ratings",
        _assign_none,
        holds_out=False,
    ),
)
#: The kinds by name: what parsing, help and dispatch read (a plugin or test registers a kind
#: by adding it here).
SPLIT_KIND_BY_NAME: dict[str, SplitKind] = {k.name: k for k in SPLIT_KINDS}
#: split kind names, in help order
KINDS: tuple[str, ...] = tuple(SPLIT_KIND_BY_NAME)


def split_help(exclude: tuple[str, ...] = (), holding_out: bool = False) -> str:
    """``--split`` help: every kind (except ``exclude``, and with ``holding_out`` those that
    hold nothing out) with what it holds out."""
    kinds = [
        k
        for k in SPLIT_KIND_BY_NAME.values()
        if k.name not in exclude and (k.holds_out or not holding_out)
    ]
    parts = "; ".join(f"{k.usage} ({k.summary})" for k in kinds)
    return f"{parts}. F is a fraction in (0, 1), N a whole number."


@dataclass(frozen=True)
class SplitSpec:
    """A parsed ``--split`` value."""

    kind: str
    value: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in SPLIT_KIND_BY_NAME:
            known = ", ".join(SPLIT_KIND_BY_NAME)
            raise UsageError(f"unknown split kind '{self.kind}' (use one of: {known})")

    @property
    def record(self) -> SplitKind:
        """This spec's :class:`SplitKind`."""
        return SPLIT_KIND_BY_NAME[self.kind]

    def __str__(self) -> str:
        return self.record.format_value(self.value)

    @property
    def n_folds(self) -> int:
        return int(self.value) if self.record.multi_fold else 1

    @property
    def holds_out(self) -> bool:
        """Whether this split holds out test data (False for ``none``)."""
        return self.record.holds_out

    @property
    def multi_fold(self) -> bool:
        """Whether this split is several folds (kfold) rather than one split."""
        return self.record.multi_fold

    def describe(self, seed: int) -> str:
        """One line stating the protocol, printed under every table."""
        return self.record.describe(self.value, seed)

    @property
    def cold(self) -> str | None:
        """ "users" or "items" for the cold-start protocols, else None."""
        return self.record.cold


def parse_split(text: str) -> SplitSpec:
    """Parse and validate a split spec, with one-line messages for bad values."""
    name, _, arg = text.strip().partition(":")
    name = name.lower()
    kind = SPLIT_KIND_BY_NAME.get(name)
    if kind is None:
        examples = ", ".join(k.example for k in SPLIT_KIND_BY_NAME.values())
        close = suggest(name, tuple(SPLIT_KIND_BY_NAME))
        raise UsageError(f"unknown split '{name}'{close} (use one of: {examples})")
    return SplitSpec(kind.name, kind.parse_value(arg))


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
    #: the full split spec this split came from, e.g. ``kfold:5`` (``name`` is ``fold-3``)
    spec: str = ""
    #: validation rows (choosing epochs or parameters), never tested; under leave-one-out they
    #: are also rows of ``train`` marked ``PART_VALID`` (the test history), which models that
    #: stop early on them leave out of their training
    valid: Interactions | None = None
    #: what a test user's ranking is given as history when that differs from ``train`` (e.g.
    #: leave-one-out: train plus the validation item, which is never a training target);
    #: None means ``train``
    history: Interactions | None = None

    @property
    def test_history(self) -> Interactions:
        """The interactions that are a test user's history: ``history``, else ``train``'s."""
        return self.history if self.history is not None else self.train.interactions


def check_split_data(dataset: Dataset, spec: SplitSpec) -> None:
    """Refuse ``dataset`` if ``spec``'s kind cannot split it (one-line UsageError); callers run
    this before recording anything."""
    if spec.record.check is not None:
        spec.record.check(dataset)


def fold_assignment(dataset: Dataset, spec: SplitSpec, seed: int) -> np.ndarray:
    """Fold number of every interaction (-1: always in training)."""
    kind = spec.record
    check_split_data(dataset, spec)
    if kind.needs_timestamps:
        _require_timestamps(dataset, spec)
    return kind.assign(dataset, spec.value, np.random.default_rng(seed))


def _timestamps(dataset: Dataset) -> np.ndarray:
    ts = dataset.interactions.timestamp
    assert ts is not None  # checked by fold_assignment (needs_timestamps)
    return ts


def _require_timestamps(dataset: Dataset, spec: SplitSpec) -> np.ndarray:
    ts = dataset.interactions.timestamp
    if ts is None:
        raise UsageError(f"split '{spec}' needs timestamps, and {dataset.name} has none")
    return ts


def rank_within_user(user: np.ndarray, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's 0-based rank by ``key`` among its user's rows, and that user's row count.

    Ties in ``key`` are broken by row position. Vectorised (one lexsort); shared by the
    per-user splitters and by models that carve per-user validation slices."""
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
    if spec.record.uses_parts:
        return given_split(dataset)
    inter = dataset.interactions
    test_mask = folds == fold
    if spec.record.holds_out and not test_mask.any():
        raise UsageError(f"split '{spec}' leaves no ratings to test on in {dataset.name}")
    given = folds == FOLD_IN_CODE
    in_train = ~test_mask & ~given
    valid_mask = folds == VALID_CODE
    train_rows = inter.subset(in_train)
    valid = None
    if valid_mask.any():  # train is the test history; part marks the validation rows in it
        part = np.where(valid_mask[in_train], PART_VALID, PART_TRAIN).astype(np.int8)
        train_rows = replace(train_rows, part=part)
        valid = inter.subset(valid_mask)
    train = dataset.with_interactions(train_rows)
    test = inter.subset(test_mask)
    kind = spec.record
    name = f"fold-{fold + 1}" if kind.multi_fold else kind.name
    fold_in = inter.subset(given) if kind.cold == "users" else None
    candidates = np.unique(test.item) if kind.cold == "items" else None
    protocol = spec.describe(seed)
    if valid is not None:
        short = int(np.count_nonzero((inter.user_counts() > 0) & (inter.user_counts() < 3)))
        if short:
            protocol += f"; {short:,} users with fewer than 3 events only train"
        if inter.timestamp is None:
            protocol += "; the data has no timestamps, so event order is file order"
    return Split(
        train, test, name, fold, protocol, fold_in, candidates, kind.cold, str(spec), valid
    )


def given_split(dataset: Dataset) -> Split:
    """The split a dataset comes with (``interactions.part``): train on the train rows, keep
    the valid rows for validation, test on the test rows; a test user's history is train plus
    valid (the validation items are history, never training targets).

    The rules, stated in the protocol line with their counts: test users with no training
    rows are not ranked (cold users, as under every split); test items never trained on stay in
    the catalogue (a model can rank them only by its fallback); a test pair also in training is
    kept, but its item is masked as seen, so it cannot be hit.
    """
    inter = dataset.interactions
    if inter.part is None:
        raise UsageError(f"{dataset.name} comes with no split (no train/valid/test part)")
    part = inter.part
    test = inter.subset(part == PART_TEST)
    if not len(test):
        raise UsageError(f"the given split of {dataset.name} has no test rows")
    valid = part == PART_VALID
    counts = ", ".join(
        f"{int(np.count_nonzero(part == code)):,} {name}" for code, name in enumerate(PART_NAMES)
    )
    train = inter.subset(part == PART_TRAIN)
    protocol = f"given split ({counts} rows, as the data marks them)"
    notes = given_notes(train, test)
    if notes:
        protocol += "; " + "; ".join(notes)
    return Split(
        train=dataset.with_interactions(train),
        test=test,
        name="given",
        fold=0,
        protocol=protocol,
        spec="given",
        valid=inter.subset(valid) if valid.any() else None,
        history=inter.subset(part != PART_TEST) if valid.any() else None,
    )
