"""Preprocessing (implicit conversion, iterated k-core) and duplicate handling in loading."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recbench.data import Preprocessing, load_dataset
from recbench.data.build import build_dataset
from recbench.data.preprocess import apply
from recbench.errors import DataError, UsageError
from tests.helpers import make_dataset


def naive_k_core(pairs: set[tuple[int, int]], mu: int, mi: int) -> set[tuple[int, int]]:
    """Reference: remove one offending user or item at a time until none is left."""
    pairs = set(pairs)
    while True:
        users = pd.Series([u for u, _ in pairs]).value_counts()
        items = pd.Series([i for _, i in pairs]).value_counts()
        bad_u = {u for u, c in users.items() if c < mu}
        bad_i = {i for i, c in items.items() if c < mi}
        if not bad_u and not bad_i:
            return pairs
        pairs = {(u, i) for u, i in pairs if u not in bad_u and i not in bad_i}
        if not pairs:
            return pairs


def test_k_core_needs_several_passes() -> None:
    # item 3 has 2 ratings; dropping user 2 (1 rating) leaves it with 1, which drops user 1's
    # rating of it, which leaves user 1 with 1 rating ... a chain the filter must follow.
    users = [0, 0, 0, 1, 1, 2, 3, 3, 3]
    items = [0, 1, 2, 0, 3, 3, 0, 1, 2]
    ds = make_dataset(users, items, ratings=[5.0] * 9)
    new, summary = apply(ds, Preprocessing(min_user_ratings=2, min_item_ratings=2))
    assert summary["iterations"] >= 3
    kept = set(
        zip(
            new.interactions.users.raw(new.interactions.user),
            new.interactions.items.raw(new.interactions.item),
            strict=True,
        )
    )
    assert kept == naive_k_core(set(zip(users, items, strict=True)), 2, 2)
    assert kept == {(0, 0), (0, 1), (0, 2), (3, 0), (3, 1), (3, 2)}
    assert summary["ratings_removed"] == 3
    assert summary["users_removed"] == 2 and summary["items_removed"] == 1
    assert new.n_users == 2 and new.n_items == 3
    assert new.interactions.user.dtype == np.int32


@settings(max_examples=60, deadline=None)
@given(
    pairs=st.sets(st.tuples(st.integers(0, 12), st.integers(0, 9)), min_size=1, max_size=80),
    mu=st.integers(0, 4),
    mi=st.integers(0, 4),
)
def test_k_core_matches_the_naive_reference(pairs: set, mu: int, mi: int) -> None:
    users, items = zip(*sorted(pairs), strict=True)
    ds = make_dataset(list(users), list(items), ratings=[3.0] * len(pairs))
    want = naive_k_core(pairs, mu, mi)
    if not want and (mu or mi):
        with pytest.raises(DataError, match="leaves no ratings"):
            apply(ds, Preprocessing(mu, mi))
        return
    new, summary = apply(ds, Preprocessing(mu, mi))
    inter = new.interactions
    got = set(
        zip(inter.users.raw(inter.user).tolist(), inter.items.raw(inter.item).tolist(), strict=True)
    )
    assert got == want
    if mu:
        assert inter.user_counts().min() >= mu
    if mi:
        assert inter.item_counts().min() >= mi
    assert summary["ratings_after"] == len(want)
    assert summary["ratings_before"] - summary["ratings_removed"] == len(want)
    # Rows stay sorted by (user, item) and the id maps stay sorted.
    order = np.lexsort((inter.item, inter.user))
    assert np.array_equal(order, np.arange(len(inter)))
    assert np.all(np.diff(inter.users.ids) > 0) if len(inter.users) > 1 else True


def test_implicit_threshold_then_k_core() -> None:
    ds = make_dataset(
        [0, 0, 0, 1, 1, 2], [0, 1, 2, 0, 1, 2], ratings=[5, 4, 1, 4, 2, 5], timestamps=[1] * 6
    )
    prep = Preprocessing(min_user_ratings=2, implicit_threshold=4)
    new, summary = apply(ds, prep)
    assert new.interactions.rating is None and new.rating_scale is None
    assert new.interactions.timestamp is not None
    assert summary["below_threshold"] == 2
    assert new.n_users == 1  # user 1 keeps one positive, user 2 one: both below 2
    assert new.source["preprocessing"] == prep.to_dict()
    assert new.checksum != ds.checksum
    assert prep.describe() == "implicit: rating >= 4; users with >= 2 ratings"
    again, _ = apply(ds, Preprocessing.from_dict(prep.to_dict()))
    assert again.checksum == new.checksum


def test_identity_and_descriptions() -> None:
    ds = make_dataset([0, 1], [0, 1], ratings=[1.0, 2.0])
    same, summary = apply(ds, Preprocessing())
    assert same is ds and summary["ratings_removed"] == 0
    assert Preprocessing().describe() == "no preprocessing"
    assert Preprocessing(5, 5).describe() == "5-core (users and items with >= 5 ratings, iterated)"
    assert Preprocessing(5, 10).describe() == (
        "users with >= 5 ratings; items with >= 10 ratings (iterated)"
    )
    assert Preprocessing(min_item_ratings=3).describe() == "items with >= 3 ratings"
    assert Preprocessing(implicit_threshold=3.5).describe() == "implicit: rating >= 3.5"


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"min_user_ratings": -1}, "--min-user-ratings must be a whole number"),
        ({"min_item_ratings": 2.5}, "--min-item-ratings must be a whole number"),
        ({"implicit_threshold": float("nan")}, "--implicit-threshold must be a finite"),
    ],
)
def test_invalid_preprocessing(kw: dict, needle: str) -> None:
    with pytest.raises(UsageError, match=needle):
        Preprocessing(**kw)


def test_implicit_threshold_needs_ratings() -> None:
    ds = make_dataset([0, 1], [0, 1])
    with pytest.raises(UsageError, match="already implicit"):
        apply(ds, Preprocessing(implicit_threshold=4))


def test_features_follow_their_rows() -> None:
    ml = load_dataset("ml-latest-small")
    new, summary = apply(ml, Preprocessing(min_user_ratings=20, min_item_ratings=20))
    assert summary["iterations"] >= 2
    assert new.item_features is not None and len(new.item_features) == new.n_items
    old_titles = pd.Series(ml.item_titles(), index=ml.interactions.items.ids)
    new_titles = pd.Series(new.item_titles(), index=new.interactions.items.ids)
    pd.testing.assert_series_equal(new_titles, old_titles.loc[new_titles.index])
    assert new.interactions.user_counts().min() >= 20
    assert new.interactions.item_counts().min() >= 20
    assert summary["items_removed"] > 0 and "iterated" in summary["description"]


# --- duplicate pairs in loading ----------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(1, 5), st.integers(0, 3)),
        min_size=1,
        max_size=40,
    ),
    with_ts=st.booleans(),
)
def test_duplicates_keep_the_latest_like_pandas(rows: list, with_ts: bool) -> None:
    frame = pd.DataFrame(rows, columns=["user", "item", "rating", "timestamp"]).astype(
        {"rating": np.float32}
    )
    if not with_ts:
        frame = frame.drop(columns="timestamp")
    ds = build_dataset("x", frame, checksum="c")
    ref = frame.sort_values("timestamp", kind="stable") if with_ts else frame
    ref = ref.drop_duplicates(["user", "item"], keep="last").sort_values(["user", "item"])
    got = ds.interactions.to_frame()
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), ref.reset_index(drop=True), check_dtype=False
    )
    assert ds.source["duplicates_dropped"] == len(frame) - len(ref)
