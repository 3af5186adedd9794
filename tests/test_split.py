"""Tests for recbench.split: spec parsing and the invariants of every splitter."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from recbench.data import load_dataset
from recbench.data.idmap import IdMap
from recbench.data.model import Dataset, Interactions
from recbench.errors import UsageError
from recbench.split import (
    KINDS,
    Split,
    SplitSpec,
    fold_assignment,
    make_split,
    make_splits,
    parse_split,
)

SEEDED = ("holdout:0.2", "user-holdout:0.2", "kfold:5")
SEED_FREE = ("temporal:0.2", "last:1")
ALL_SPECS = (*SEEDED, *SEED_FREE)


def make_dataset(
    users,
    items,
    ratings=None,
    timestamps=None,
    *,
    name: str = "synthetic",
    item_features: pd.DataFrame | None = None,
) -> Dataset:
    """A Dataset straight from parallel arrays of raw user and item ids."""
    user_map, uidx = IdMap.from_values(np.asarray(users))
    item_map, iidx = IdMap.from_values(np.asarray(items))
    inter = Interactions(
        user=uidx,
        item=iidx,
        rating=None if ratings is None else np.asarray(ratings, dtype=np.float32),
        timestamp=None if timestamps is None else np.asarray(timestamps, dtype=np.int64),
        users=user_map,
        items=item_map,
    )
    return Dataset(name=name, interactions=inter, item_features=item_features)


def keys(inter: Interactions) -> np.ndarray:
    """One int64 key per (user, item) pair."""
    return inter.user.astype(np.int64) * inter.n_items + inter.item.astype(np.int64)


def all_splits(ds: Dataset, text: str, seed: int = 0) -> list[Split]:
    return list(make_splits(ds, parse_split(text), seed))


@pytest.fixture(scope="module")
def ml() -> Dataset:
    return load_dataset("ml-latest-small")


@pytest.fixture(scope="module")
def ml_frame(ml: Dataset) -> pd.DataFrame:
    inter = ml.interactions
    return pd.DataFrame({"user": inter.user, "ts": inter.timestamp, "key": keys(inter)})


# --------------------------------------------------------------------------------------------
# parse_split
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("holdout:0.2", SplitSpec("holdout", 0.2)),
        ("user-holdout:0.25", SplitSpec("user-holdout", 0.25)),
        ("kfold:5", SplitSpec("kfold", 5.0)),
        ("temporal:0.2", SplitSpec("temporal", 0.2)),
        ("last:1", SplitSpec("last", 1.0)),
        ("last:3", SplitSpec("last", 3.0)),
        ("none", SplitSpec("none")),
    ],
)
def test_parse_split_valid_round_trips(text, spec):
    parsed = parse_split(text)
    assert parsed == spec
    assert str(parsed) == text
    assert parse_split(str(parsed)) == parsed
    assert parsed.kind in KINDS
    assert "\n" not in parsed.describe(seed=7)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [(" KFOLD:5 ", "kfold:5"), ("Holdout:0.5", "holdout:0.5"), ("NONE", "none")],
)
def test_parse_split_ignores_case_and_surrounding_space(text, canonical):
    assert str(parse_split(text)) == canonical


def test_split_spec_fold_counts():
    assert parse_split("kfold:5").n_folds == 5
    for text in ("holdout:0.2", "user-holdout:0.2", "temporal:0.2", "last:2", "none"):
        assert parse_split(text).n_folds == 1


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("holdout:1.5", ["fraction must be in (0, 1)", "1.5"]),
        ("holdout:0", ["fraction must be in (0, 1)"]),
        ("holdout:1", ["fraction must be in (0, 1)"]),
        ("holdout:-0.2", ["fraction must be in (0, 1)"]),
        ("user-holdout:2", ["fraction must be in (0, 1)"]),
        ("temporal:1.0", ["fraction must be in (0, 1)"]),
        ("holdout:nan", ["fraction must be in (0, 1)"]),
        ("holdout:abc", ["'holdout' needs a fraction", "'abc'"]),
        ("kfold:1", ["at least 2 folds", "1"]),
        ("kfold:0", ["at least 2 folds"]),
        ("kfold:x", ["'kfold' needs a whole number", "'x'"]),
        ("kfold:2.5", ["'kfold' needs a whole number", "'2.5'"]),
        ("last:0", ["N >= 1", "got 0"]),
        ("last:y", ["'last' needs a whole number"]),
        ("bogus:0.2", ["unknown split 'bogus'", "holdout:0.2", "kfold:5"]),
        ("holdout", ["split 'holdout' needs a value", "holdout:0.2"]),
        ("kfold", ["split 'kfold' needs a value", "kfold:5"]),
        ("last:", ["split 'last' needs a value", "last:1"]),
        ("none:1", ["'none' takes no value"]),
        ("", ["unknown split ''"]),
    ],
)
def test_parse_split_invalid_raises_usage_error(text, fragments):
    with pytest.raises(UsageError) as info:
        parse_split(text)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_unknown_split_suggests_nothing_far_and_something_close():
    with pytest.raises(UsageError) as info:
        parse_split("bogus:0.2")
    assert "did you mean" not in str(info.value)
    with pytest.raises(UsageError, match="did you mean 'holdout'"):
        parse_split("holdut:0.2")
    with pytest.raises(UsageError, match="did you mean 'kfold'"):
        parse_split("kfolds:5")
    with pytest.raises(UsageError, match="did you mean 'temporal'"):
        parse_split("temporl:0.1")


# --------------------------------------------------------------------------------------------
# Invariants on ml-latest-small
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ALL_SPECS)
def test_train_and_test_partition_the_ratings(ml, text):
    all_keys = keys(ml.interactions)
    assert len(np.unique(all_keys)) == len(all_keys)
    lookup = pd.Series(ml.interactions.rating, index=all_keys)
    for split in all_splits(ml, text, seed=3):
        train, test = keys(split.train.interactions), keys(split.test)
        assert len(test) > 0
        assert len(np.intersect1d(train, test)) == 0
        assert len(train) + len(test) == len(all_keys)
        np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.sort(all_keys))
        # ratings and timestamps travel with their pairs
        np.testing.assert_array_equal(split.test.rating, lookup.loc[test].to_numpy())
        np.testing.assert_array_equal(split.train.interactions.rating, lookup.loc[train].to_numpy())
        assert split.test.timestamp is not None and len(split.test.timestamp) == len(test)


@pytest.mark.parametrize("text", ALL_SPECS)
def test_train_keeps_features_id_maps_and_shape(ml, text):
    split = make_split(ml, parse_split(text), seed=0)
    train = split.train
    assert train.item_features is ml.item_features
    assert train.interactions.users == ml.interactions.users
    assert train.interactions.items == ml.interactions.items
    assert split.test.users == ml.interactions.users
    assert split.test.items == ml.interactions.items
    assert (train.n_users, train.n_items) == (ml.n_users, ml.n_items) == (610, 9742)
    assert split.test.shape == train.interactions.shape == (610, 9742)
    assert train.name == ml.name
    assert train.checksum == ml.checksum
    assert train.rating_scale == ml.rating_scale
    assert train.interactions.csr().shape == split.test.csr().shape == (610, 9742)
    assert split.protocol == parse_split(text).describe(0)


@pytest.mark.parametrize("text", SEEDED)
def test_same_seed_same_split_other_seed_other_split(ml, text):
    spec = parse_split(text)
    a = fold_assignment(ml, spec, seed=11)
    b = fold_assignment(ml, spec, seed=11)
    c = fold_assignment(ml, spec, seed=12)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    s1, s2 = make_split(ml, spec, 11), make_split(ml, spec, 11)
    np.testing.assert_array_equal(keys(s1.test), keys(s2.test))
    np.testing.assert_array_equal(keys(s1.train.interactions), keys(s2.train.interactions))
    s3 = make_split(ml, spec, 12)
    assert not np.array_equal(keys(s1.test), keys(s3.test))


@pytest.mark.parametrize("text", SEED_FREE)
def test_temporal_and_last_ignore_the_seed(ml, text):
    spec = parse_split(text)
    base = fold_assignment(ml, spec, seed=0)
    for seed in (1, 42, 2**31):
        np.testing.assert_array_equal(fold_assignment(ml, spec, seed), base)


def test_kfold_test_folds_partition_the_ratings(ml):
    splits = all_splits(ml, "kfold:5", seed=5)
    assert [s.name for s in splits] == [f"fold-{i}" for i in range(1, 6)]
    assert [s.fold for s in splits] == list(range(5))
    sizes = [len(s.test) for s in splits]
    assert sum(sizes) == len(ml.interactions)
    assert max(sizes) - min(sizes) <= 1
    folds = np.concatenate([keys(s.test) for s in splits])
    assert len(np.unique(folds)) == len(folds)
    np.testing.assert_array_equal(np.sort(folds), np.sort(keys(ml.interactions)))
    for s in splits:
        assert len(s.train.interactions) == len(ml.interactions) - len(s.test)
    assignment = fold_assignment(ml, parse_split("kfold:5"), seed=5)
    assert set(np.unique(assignment)) == set(range(5))


def test_make_split_fold_matches_make_splits(ml):
    spec = parse_split("kfold:5")
    for split in make_splits(ml, spec, seed=2):
        single = make_split(ml, spec, seed=2, fold=split.fold)
        np.testing.assert_array_equal(keys(single.test), keys(split.test))


def test_holdout_test_size(ml):
    n = len(ml.interactions)
    for frac in (0.2, 0.1, 0.5):
        split = make_split(ml, parse_split(f"holdout:{frac}"), seed=0)
        assert len(split.test) == round(frac * n)
    assert len(make_split(ml, parse_split("holdout:0.2"), seed=0).test) == 20167


@pytest.mark.parametrize(
    ("frac", "expected_test"),
    [
        # floor(f * n_u + 0.5) in exact integer arithmetic
        ("0.2", lambda n: (2 * n + 5) // 10),
        ("0.25", lambda n: (n + 2) // 4),
        ("0.5", lambda n: (n + 1) // 2),
    ],
)
def test_user_holdout_per_user_counts(ml, frac, expected_test):
    split = make_split(ml, parse_split(f"user-holdout:{frac}"), seed=9)
    n_u = ml.interactions.user_counts()
    test_u = split.test.user_counts()
    train_u = split.train.interactions.user_counts()
    want = np.minimum(expected_test(n_u), n_u - 1)
    np.testing.assert_array_equal(test_u, want)
    assert np.all(train_u[n_u > 0] >= 1)
    np.testing.assert_array_equal(train_u + test_u, n_u)


def test_temporal_tests_on_the_latest_ratings(ml):
    split = make_split(ml, parse_split("temporal:0.2"), seed=0)
    n = len(ml.interactions)
    assert len(split.test) == round(0.2 * n)
    assert split.test.timestamp.min() >= split.train.interactions.timestamp.max()


def test_last_one_holds_out_each_users_latest_rating(ml, ml_frame):
    split = make_split(ml, parse_split("last:1"), seed=0)
    n_u = ml.interactions.user_counts()
    test_u = split.test.user_counts()
    np.testing.assert_array_equal(test_u, np.where(n_u >= 2, 1, 0))
    latest = ml_frame.groupby("user")["ts"].max()
    assert np.all(split.test.timestamp == latest.loc[split.test.user].to_numpy())
    # nothing in a user's training data is later than their test rating
    train = split.train.interactions
    train_latest = pd.Series(train.timestamp).groupby(train.user).max()
    test_ts = pd.Series(split.test.timestamp, index=split.test.user)
    assert np.all(train_latest.loc[test_ts.index].to_numpy() <= test_ts.to_numpy())


def test_last_n_holds_out_n_latest_of_users_with_more_than_n(ml):
    split = make_split(ml, parse_split("last:3"), seed=0)
    n_u = ml.interactions.user_counts()
    np.testing.assert_array_equal(split.test.user_counts(), np.where(n_u > 3, 3, 0))
    train = split.train.interactions
    train_latest = pd.Series(train.timestamp).groupby(train.user).max()
    test_earliest = pd.Series(split.test.timestamp).groupby(split.test.user).min()
    assert np.all(train_latest.loc[test_earliest.index] <= test_earliest)


def test_none_trains_on_everything(ml):
    split = make_split(ml, parse_split("none"), seed=0)
    assert len(split.test) == 0
    np.testing.assert_array_equal(keys(split.train.interactions), keys(ml.interactions))
    assert np.all(fold_assignment(ml, parse_split("none"), 0) == -1)


def test_make_split_rejects_missing_fold(ml):
    with pytest.raises(UsageError, match="fold 5 does not exist"):
        make_split(ml, parse_split("kfold:5"), seed=0, fold=5)
    with pytest.raises(UsageError, match="does not exist"):
        make_split(ml, parse_split("holdout:0.2"), seed=0, fold=1)
    with pytest.raises(UsageError, match="does not exist"):
        make_split(ml, parse_split("kfold:5"), seed=0, fold=-1)


# --------------------------------------------------------------------------------------------
# Small synthetic datasets
# --------------------------------------------------------------------------------------------


def test_make_dataset_helper():
    ds = make_dataset(["b", "a", "b"], [30, 10, 10], [1, 2, 3], [5, 6, 7])
    assert ds.n_users == 2 and ds.n_items == 2
    assert list(ds.interactions.users.raw(ds.interactions.user)) == ["b", "a", "b"]
    assert list(ds.interactions.items.raw(ds.interactions.item)) == [30, 10, 10]


@pytest.mark.parametrize("text", SEED_FREE)
def test_temporal_and_last_need_timestamps(text):
    ds = make_dataset([1, 1, 2, 2], [1, 2, 1, 2], [3, 4, 5, 1], name="no-times")
    with pytest.raises(UsageError) as info:
        make_split(ds, parse_split(text), seed=0)
    message = str(info.value)
    assert "needs timestamps" in message
    assert "no-times" in message
    assert "\n" not in message


@pytest.mark.parametrize("text", SEEDED)
def test_seeded_splits_work_without_ratings_or_timestamps(text):
    users = np.repeat(np.arange(10), 6)
    items = np.tile(np.arange(6), 10)
    ds = make_dataset(users, items)
    for split in all_splits(ds, text, seed=1):
        assert split.test.rating is None and split.test.timestamp is None
        assert len(split.test) + len(split.train.interactions) == 60


def test_last_with_tied_timestamps_holds_out_exactly_one():
    ds = make_dataset([1, 1, 1, 2, 3, 3], [1, 2, 3, 1, 1, 2], None, [5, 9, 9, 4, 7, 7])
    split = make_split(ds, parse_split("last:1"), seed=0)
    np.testing.assert_array_equal(split.test.user_counts(), [1, 0, 1])
    assert sorted(split.test.timestamp.tolist()) == [7, 9]


def test_kfold_needs_enough_ratings():
    ds = make_dataset([1, 2, 3], [1, 1, 1])
    with pytest.raises(UsageError, match="at least 5 ratings"):
        make_split(ds, parse_split("kfold:5"), seed=0)


def test_split_leaving_nothing_to_test_raises():
    ds = make_dataset([1, 2], [1, 1], [3, 4], [1, 2], name="tiny")
    with pytest.raises(UsageError, match="leaves no ratings to test on in tiny"):
        make_split(ds, parse_split("holdout:0.1"), seed=0)
    with pytest.raises(UsageError, match="leaves no ratings"):
        make_split(ds, parse_split("last:1"), seed=0)  # every user has a single rating


def test_kfold_with_more_than_32768_folds_numbers_every_fold():
    # Regression: fold numbers were int16, so kfold:70000 (leave-one-out) wrapped to negative
    # folds and fold 65535 became -1, "always training".
    n = 70_000
    ds = make_dataset(np.arange(n) % 100, np.arange(n))
    folds = fold_assignment(ds, parse_split(f"kfold:{n}"), seed=0)
    assert folds.min() == 0 and folds.max() == n - 1
    np.testing.assert_array_equal(np.bincount(folds.astype(np.int64)), np.ones(n))


@st.composite
def synthetic(draw):
    """A random dataset without duplicate pairs, with ties in timestamps allowed."""
    n_users = draw(st.integers(1, 8))
    n_items = draw(st.integers(1, 10))
    mask = draw(arrays(np.bool_, (n_users, n_items)))
    u, i = np.nonzero(mask)
    if len(u) == 0:
        u, i = np.array([0]), np.array([0])
    ts = draw(arrays(np.int64, len(u), elements=st.integers(0, 5)))
    perm = draw(st.permutations(range(len(u))))
    u, i, ts = u[list(perm)], i[list(perm)], ts[list(perm)]
    return make_dataset(u + 100, i * 7, np.ones(len(u)), ts)


@settings(deadline=None, max_examples=60)
@given(synthetic(), st.sampled_from(["0.2", "0.25", "0.5", "0.75"]), st.integers(0, 2**32))
def test_user_holdout_counts_on_random_datasets(ds, frac, seed):
    spec = parse_split(f"user-holdout:{frac}")
    folds = fold_assignment(ds, spec, seed)
    assert set(np.unique(folds)) <= {-1, 0}
    user = ds.interactions.user
    n_u = np.bincount(user, minlength=ds.n_users)
    test_u = np.bincount(user[folds == 0], minlength=ds.n_users)
    pct = int(frac.split(".")[1].ljust(2, "0"))  # the fraction in hundredths, exactly
    want = np.minimum((pct * n_u + 50) // 100, n_u - 1)  # floor(f * n_u + 0.5), at most n_u - 1
    np.testing.assert_array_equal(test_u, want)


@settings(deadline=None, max_examples=60)
@given(synthetic(), st.integers(1, 3))
def test_last_n_on_random_datasets(ds, n):
    folds = fold_assignment(ds, parse_split(f"last:{n}"), seed=0)
    inter = ds.interactions
    for u in range(ds.n_users):
        rows = np.flatnonzero(inter.user == u)
        test = rows[folds[rows] == 0]
        train = rows[folds[rows] != 0]
        if len(rows) <= n:
            assert len(test) == 0
            continue
        assert len(test) == n
        assert inter.timestamp[test].min() >= inter.timestamp[train].max()


@settings(deadline=None, max_examples=60)
@given(synthetic(), st.sampled_from(["holdout:0.3", "temporal:0.3", "kfold:2"]))
def test_fold_assignment_invariants_on_random_datasets(ds, text):
    spec = parse_split(text)
    n = len(ds.interactions)
    if spec.kind == "kfold" and n < 2:
        with pytest.raises(UsageError):
            fold_assignment(ds, spec, 0)
        return
    folds = fold_assignment(ds, spec, seed=4)
    assert len(folds) == n
    if spec.kind == "kfold":
        counts = np.bincount(folds, minlength=2)
        assert counts.sum() == n and counts.max() - counts.min() <= 1
    else:
        assert np.sum(folds == 0) == round(0.3 * n)
        assert np.all(folds[folds != 0] == -1)
    if spec.kind == "temporal" and np.any(folds == 0) and np.any(folds == -1):
        ts = ds.interactions.timestamp
        assert ts[folds == 0].min() >= ts[folds == -1].max()


def test_rank_within_user_is_public_and_breaks_ties_by_position():
    from recbench.split import rank_within_user

    user = np.array([1, 0, 1, 1, 0])
    key = np.array([0.5, 0.2, 0.1, 0.5, 0.2])
    pos, size = rank_within_user(user, key)
    assert pos.tolist() == [1, 0, 0, 2, 1]
    assert size.tolist() == [3, 2, 3, 3, 2]
