"""Tests for recbench.data: id maps, the bundled dataset, file parsing, errors and the cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recbench.data import DatasetSpec, IdMap, load_dataset, loading
from recbench.data import cache as cache_mod
from recbench.data.model import Dataset
from recbench.errors import DataError, RecbenchError, UsageError

REPO = Path(__file__).resolve().parent.parent
ML100K = REPO.parent / "shared" / "datasets" / "ml-100k" / "u.data"

CSV = "userId,movieId,rating,timestamp\n1,10,4.0,100\n1,20,3.5,200\n2,10,5.0,150\n3,30,1.0,50\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def load_file(path: Path, columns: str | None = None, sep: str | None = None, **kw) -> Dataset:
    return load_dataset(DatasetSpec(str(path), columns, sep), **kw)


def triples(ds: Dataset) -> set[tuple]:
    """(raw user, raw item, rating, timestamp) rows of a dataset, for order-free comparison."""
    frame = ds.interactions.to_frame()
    return set(frame.itertuples(index=False, name=None))


def load_error(exc_type: type[RecbenchError], *args, **kw) -> str:
    """Load and return the message of the expected error, checking it is a single line."""
    with pytest.raises(exc_type) as info:
        load_file(*args, **kw)
    message = str(info.value)
    assert message.strip(), "empty message"
    assert "\n" not in message and "\r" not in message, message
    return message


def assert_same_dataset(a: Dataset, b: Dataset) -> None:
    ia, ib = a.interactions, b.interactions
    for name in ("user", "item", "rating", "timestamp"):
        x, y = getattr(ia, name), getattr(ib, name)
        if x is None or y is None:
            assert x is None and y is None, name
        else:
            np.testing.assert_array_equal(x, y, err_msg=name)
    assert ia.users == ib.users
    assert ia.items == ib.items
    assert a.checksum == b.checksum
    assert a.name == b.name
    assert a.rating_scale == b.rating_scale
    if a.item_features is None:
        assert b.item_features is None
    else:
        pd.testing.assert_frame_equal(a.item_features, b.item_features)


@pytest.fixture(scope="module")
def ml() -> Dataset:
    return load_dataset("ml-latest-small")


# --------------------------------------------------------------------------------------------
# IdMap
# --------------------------------------------------------------------------------------------


def test_idmap_from_values_sorts_and_indexes():
    ids, codes = IdMap.from_values(np.array([30, 10, 20, 10, 30]))
    np.testing.assert_array_equal(ids.ids, [10, 20, 30])
    np.testing.assert_array_equal(codes, [2, 0, 1, 0, 2])
    assert codes.dtype == np.int32
    assert len(ids) == 3
    np.testing.assert_array_equal(ids.raw(codes), [30, 10, 20, 10, 30])
    assert ids.raw(1) == 20


def test_idmap_unknown_ids_map_to_missing():
    ids, _ = IdMap.from_values(np.array([5, 7, 9]))
    np.testing.assert_array_equal(ids.index([7, 8, 5, 100]), [1, -1, 0, -1])
    np.testing.assert_array_equal(ids.index([7, 8], missing=99), [1, 99])
    assert ids.index([9]).dtype == np.int32


def test_idmap_int_ids_looked_up_by_string():
    ids, _ = IdMap.from_values(np.array([1, 22, 333], dtype=np.int64))
    np.testing.assert_array_equal(ids.index(["22", "1", "333"]), [1, 0, 2])
    np.testing.assert_array_equal(ids.index(np.array(["333", "4"])), [2, -1])
    np.testing.assert_array_equal(ids.index(["abc", "", "22"]), [-1, -1, 1])


def test_idmap_non_integer_string_is_not_found_in_int_map():
    ids, _ = IdMap.from_values(np.array([1, 22, 333], dtype=np.int64))
    np.testing.assert_array_equal(ids.index(["1.5", "22.9"]), [-1, -1])


def test_idmap_string_ids():
    ids, codes = IdMap.from_values(np.array(["bob", "alice", "bob", "carol"], dtype=object))
    assert list(ids.ids) == ["alice", "bob", "carol"]
    np.testing.assert_array_equal(codes, [1, 0, 1, 2])
    np.testing.assert_array_equal(ids.index(["carol", "dave", "alice"]), [2, -1, 0])
    assert list(ids.raw(codes)) == ["bob", "alice", "bob", "carol"]


def test_idmap_string_ids_looked_up_by_int():
    ids, _ = IdMap.from_values(np.array(["1", "20", "x"], dtype=object))
    np.testing.assert_array_equal(ids.index(np.array([20, 1, 3])), [1, 0, -1])
    np.testing.assert_array_equal(ids.index([1]), [0])


def test_idmap_equality():
    a, _ = IdMap.from_values(np.array([3, 1, 2]))
    b, _ = IdMap.from_values(np.array([1, 2, 3, 3]))
    c, _ = IdMap.from_values(np.array([1, 2]))
    assert a == b
    assert a != c
    assert a != "not a map"


@settings(deadline=None, max_examples=100)
@given(st.lists(st.integers(-(2**62), 2**62), min_size=1, max_size=50))
def test_idmap_round_trip_int(values):
    ids, codes = IdMap.from_values(np.array(values, dtype=np.int64))
    assert list(ids.raw(ids.index(values))) == values
    assert list(ids.raw(codes)) == values
    assert list(ids.ids) == sorted(set(values))
    # looked up by their decimal strings too
    np.testing.assert_array_equal(ids.index([str(v) for v in values]), codes)


@settings(deadline=None, max_examples=100)
# NUL is excluded (NumPy's fixed-width str dtype drops trailing NULs: '\x00' becomes ''), and so
# are lone surrogates, which no UTF-8 file can hold and pandas cannot hash.
@given(
    st.lists(
        st.text(
            st.characters(exclude_characters="\x00", exclude_categories=["Cs"]),
            min_size=1,
            max_size=8,
        ),
        min_size=1,
        max_size=50,
    )
)
def test_idmap_round_trip_str(values):
    ids, codes = IdMap.from_values(np.array(values, dtype=object))
    assert list(ids.raw(ids.index(values))) == values
    assert list(ids.raw(codes)) == values
    assert len(ids) == len(set(values))


# --------------------------------------------------------------------------------------------
# Bundled dataset
# --------------------------------------------------------------------------------------------


def test_bundled_counts(ml):
    assert ml.name == "ml-latest-small"
    assert len(ml.interactions) == 100_836
    assert ml.n_users == 610
    assert ml.n_items == 9_742
    assert ml.rating_scale == (0.5, 5.0)
    inter = ml.interactions
    assert inter.user.dtype == np.int32 and inter.item.dtype == np.int32
    assert inter.rating.dtype == np.float32 and inter.timestamp.dtype == np.int64
    assert inter.rating.min() == 0.5 and inter.rating.max() == 5.0
    assert len(np.unique(inter.user.astype(np.int64) * ml.n_items + inter.item)) == 100_836
    assert ml.describe() == "ml-latest-small: 100,836 interactions, 610 users, 9,742 items"
    assert len(ml.checksum) == 64
    assert ml.license and ml.citation


def test_bundled_item_features(ml):
    feats = ml.item_features
    assert set(feats.columns) == {"title", "year", "genres", "tags", "title_words"}
    assert len(feats) == ml.n_items
    np.testing.assert_array_equal(feats.index, np.arange(ml.n_items))
    toy = feats.iloc[int(ml.interactions.items.index([1])[0])]
    assert toy["title"] == "Toy Story (1995)"
    assert toy["year"] == 1995
    assert "Animation" in toy["genres"].split("|")
    assert toy["title_words"] == "toy story"
    assert ml.item_titles()[ml.interactions.items.index([1])[0]] == "Toy Story (1995)"


def test_bundled_copy_is_the_published_file(ml):
    """The bundled ratings.csv is the published one: nothing to clean, no stray user 999."""
    assert ml.source["orphan_ratings_dropped"] == 0
    assert ml.source["duplicates_dropped"] == 0
    assert ml.interactions.items.index([999999])[0] == -1
    assert ml.interactions.users.index([999])[0] == -1
    assert len(ml.interactions.user) == 100_836


def test_registry_dataset_rejects_file_options():
    with pytest.raises(UsageError, match="apply to files"):
        load_dataset(DatasetSpec("ml-latest-small", columns="user,item"))
    with pytest.raises(UsageError, match="apply to files"):
        load_dataset(DatasetSpec("ml-latest-small", sep=","))


def test_unknown_dataset_name_suggests_the_close_one():
    with pytest.raises(UsageError) as info:
        load_dataset("ml-latest-smal")
    message = str(info.value)
    assert "did you mean 'ml-latest-small'" in message
    assert "\n" not in message


@pytest.mark.ml100k
@pytest.mark.skipif(not ML100K.exists(), reason="shared ml-100k is not present")
def test_ml100k_u_data():
    ds = load_file(ML100K, "user,item,rating,timestamp", "\\t")
    assert len(ds.interactions) == 100_000
    assert ds.n_users == 943
    assert ds.n_items == 1_682
    assert ds.rating_scale == (1.0, 5.0)
    assert ds.source["duplicates_dropped"] == 0


# --------------------------------------------------------------------------------------------
# Reading files
# --------------------------------------------------------------------------------------------


def test_csv_with_header(tmp_path):
    ds = load_file(write(tmp_path / "r.csv", CSV))
    assert triples(ds) == {
        (1, 10, 4.0, 100),
        (1, 20, 3.5, 200),
        (2, 10, 5.0, 150),
        (3, 30, 1.0, 50),
    }
    assert (ds.n_users, ds.n_items) == (3, 3)
    assert ds.name == "r.csv"
    assert ds.rating_scale == (1.0, 5.0)
    assert ds.source["kind"] == "file"
    assert ds.source["duplicates_dropped"] == 0
    assert ds.source["path"] == str((tmp_path / "r.csv").resolve())
    assert ds.item_features is None


def test_headerless_tsv_with_columns_and_backslash_t(tmp_path):
    path = write(tmp_path / "u.data", "1\t10\t4\t100\n1\t20\t3\t200\n2\t10\t5\t150\n")
    sep = "\\t"
    assert len(sep) == 2  # the two characters a shell passes through
    ds = load_file(path, "user,item,rating,timestamp", sep)
    assert triples(ds) == {(1, 10, 4.0, 100), (1, 20, 3.0, 200), (2, 10, 5.0, 150)}
    # "tab" is accepted too and gives the same data
    assert triples(load_file(path, "user,item,rating,timestamp", "tab")) == triples(ds)


def test_tsv_with_header_needs_no_options(tmp_path):
    path = write(tmp_path / "r.tsv", "user_id\titem_id\tscore\n7\t8\t2.5\n7\t9\t3\n")
    ds = load_file(path)
    assert triples(ds) == {(7, 8, 2.5), (7, 9, 3.0)}
    assert ds.interactions.timestamp is None


def test_double_colon_separator_is_sniffed(tmp_path):
    path = write(tmp_path / "ratings.dat", "1::10::4::100\n2::20::3::200\n")
    ds = load_file(path, "user,item,rating,timestamp")
    assert triples(ds) == {(1, 10, 4.0, 100), (2, 20, 3.0, 200)}


def test_parquet_by_header_and_by_columns(tmp_path):
    frame = pd.DataFrame(
        {
            "userId": [1, 1, 2],
            "movieId": [10, 20, 10],
            "rating": [4.0, 3.5, 5.0],
            "timestamp": [100, 200, 150],
        }
    )
    path = tmp_path / "r.parquet"
    frame.to_parquet(path, index=False)
    want = {(1, 10, 4.0, 100), (1, 20, 3.5, 200), (2, 10, 5.0, 150)}
    assert triples(load_file(path)) == want
    # --columns maps Parquet columns by position; '-' skips one
    ds = load_file(path, "user,item,-,timestamp")
    assert triples(ds) == {(1, 10, 100), (1, 20, 200), (2, 10, 150)}
    assert ds.interactions.rating is None


def test_parquet_with_too_few_columns(tmp_path):
    path = tmp_path / "r.parquet"
    pd.DataFrame({"a": [1], "b": [2]}).to_parquet(path, index=False)
    message = load_error(DataError, path, "user,item,rating")
    assert "2 columns" in message and "names 3" in message


def test_unreadable_parquet(tmp_path):
    path = write(tmp_path / "r.parquet", "this is not parquet\n")
    message = load_error(DataError, path)
    assert "not a readable Parquet file" in message


def test_column_skipped_with_dash(tmp_path):
    path = write(tmp_path / "r.csv", "1,junk,10,4.5\n2,more junk,10,2\n")
    ds = load_file(path, "user,-,item,rating")
    assert triples(ds) == {(1, 10, 4.5), (2, 10, 2.0)}
    assert ds.interactions.timestamp is None


def test_implicit_data_without_ratings(tmp_path):
    ds = load_file(write(tmp_path / "clicks.csv", "user,item\n1,2\n1,3\n4,2\n"))
    assert ds.interactions.rating is None
    assert ds.rating_scale is None
    assert triples(ds) == {(1, 2), (1, 3), (4, 2)}


def test_string_user_ids(tmp_path):
    path = write(tmp_path / "r.csv", "user,item,rating\nalice,10,4\nbob,10,3\nalice,20,5\n")
    ds = load_file(path)
    assert list(ds.interactions.users.ids) == ["alice", "bob"]
    assert triples(ds) == {("alice", 10, 4.0), ("bob", 10, 3.0), ("alice", 20, 5.0)}
    np.testing.assert_array_equal(ds.interactions.users.index(["bob", "carol"]), [1, -1])


def test_date_string_timestamps(tmp_path):
    path = write(
        tmp_path / "r.csv",
        "user,item,rating,date\n1,10,4,2020-01-01\n1,20,3,2020-01-02\n2,10,5,1970-01-02\n",
    )
    ds = load_file(path)
    assert triples(ds) == {
        (1, 10, 4.0, 1_577_836_800),  # 2020-01-01T00:00:00Z
        (1, 20, 3.0, 1_577_923_200),
        (2, 10, 5.0, 86_400),
    }
    assert ds.interactions.timestamp.dtype == np.int64


def test_datetime_string_timestamps(tmp_path):
    path = write(
        tmp_path / "r.csv",
        "user,item,rating,timestamp\n1,10,4,2020-01-01 00:00:10\n1,20,3,2020-01-01 01:00:00\n",
    )
    ds = load_file(path)
    assert triples(ds) == {(1, 10, 4.0, 1_577_836_810), (1, 20, 3.0, 1_577_840_400)}


def test_iso_timestamps_mixing_dates_and_datetimes(tmp_path):
    path = write(
        tmp_path / "r.csv",
        "user,item,rating,timestamp\n1,10,4,2020-01-01\n1,20,3,2020-01-02 10:00:00\n",
    )
    ds = load_file(path)
    assert triples(ds) == {(1, 10, 4.0, 1_577_836_800), (1, 20, 3.0, 1_577_959_200)}


def test_duplicate_pairs_keep_the_latest(tmp_path):
    path = write(
        tmp_path / "r.csv",
        "user,item,rating,timestamp\n"
        "1,10,1,5\n"
        "1,10,4,9\n"  # latest of the (1, 10) ratings, not the last in the file
        "1,10,2,7\n"
        "2,10,3,1\n"
        "2,20,3,1\n"
        "2,20,5,2\n",
    )
    ds = load_file(path)
    assert ds.source["duplicates_dropped"] == 3
    assert triples(ds) == {(1, 10, 4.0, 9), (2, 10, 3.0, 1), (2, 20, 5.0, 2)}
    assert len(ds.interactions) == 3


def test_interactions_are_sorted_by_user_then_item(tmp_path):
    ds = load_file(write(tmp_path / "r.csv", "user,item\n3,1\n1,2\n3,0\n1,1\n"))
    inter = ds.interactions
    order = np.lexsort((inter.item, inter.user))
    np.testing.assert_array_equal(order, np.arange(len(inter)))


def test_relative_path_is_resolved(tmp_path, monkeypatch):
    write(tmp_path / "r.csv", CSV)
    monkeypatch.chdir(tmp_path)
    spec = loading.resolve(DatasetSpec("r.csv"))
    assert spec.dataset == str((tmp_path / "r.csv").resolve())
    assert len(load_dataset(spec).interactions) == 4


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


def test_empty_file(tmp_path):
    path = write(tmp_path / "r.csv", "")
    message = load_error(DataError, path)
    assert "empty" in message and str(path) in message


def test_header_only(tmp_path):
    path = write(tmp_path / "r.csv", "userId,movieId,rating,timestamp\n")
    assert "header but no ratings" in load_error(DataError, path)
    assert "header but no ratings" in load_error(DataError, path, "user,item,rating,timestamp")


def test_blank_first_line(tmp_path):
    path = write(tmp_path / "r.csv", "\n1,2,3,4\n")
    assert "line 1 is blank" in load_error(DataError, path, "user,item,rating,timestamp")


def test_row_with_too_many_fields_names_its_line(tmp_path):
    path = write(tmp_path / "r.csv", CSV.replace("2,10,5.0,150", "2,10,5.0,150,9"))
    message = load_error(DataError, path)
    assert "line 4" in message
    assert "expected 4 fields, saw 5" in message
    assert str(path) in message


def test_row_with_too_many_fields_without_header(tmp_path):
    path = write(tmp_path / "r.csv", "1,10,4,100\n1,20,3,200,7\n")
    assert "line 2" in load_error(DataError, path, "user,item,rating,timestamp")


@pytest.mark.parametrize("bad_line", [2, 3, 5])
def test_non_numeric_rating_names_its_line(tmp_path, bad_line):
    rows = ["userId,movieId,rating,timestamp", "1,10,4,1", "1,11,4,2", "1,12,4,3", "1,13,4,4"]
    rows[bad_line - 1] = f"1,99,great,{bad_line}"
    path = write(tmp_path / "r.csv", "\n".join(rows) + "\n")
    message = load_error(DataError, path)
    assert f"line {bad_line}" in message
    assert "'great'" in message and "not a number" in message


def test_non_numeric_rating_without_header_names_its_line(tmp_path):
    path = write(tmp_path / "r.csv", "1,10,4,1\n1,11,4,2\n1,12,x,3\n")
    message = load_error(DataError, path, "user,item,rating,timestamp")
    assert "line 3" in message and "'x'" in message


def test_bad_rating_after_a_blank_line_names_the_right_line(tmp_path):
    path = write(
        tmp_path / "r.csv", "userId,movieId,rating,timestamp\n1,2,3,4\n\n1,3,4,5\n1,4,x,6\n"
    )
    assert "line 5" in load_error(DataError, path)


def test_missing_rating_message_is_readable(tmp_path):
    path = write(tmp_path / "r.csv", "userId,movieId,rating,timestamp\n1,2,3,4\n1,3,,5\n")
    message = load_error(DataError, path)
    assert "line 3" in message
    assert "np.float64" not in message and "nan" not in message.lower()


def test_missing_user_id_names_its_line(tmp_path):
    path = write(tmp_path / "r.csv", "userId,movieId,rating,timestamp\n1,2,3,4\n,3,4,5\n")
    message = load_error(DataError, path)
    assert "line 3" in message and "missing user id" in message


def test_bad_date_names_its_line(tmp_path):
    path = write(tmp_path / "r.csv", "user,item,rating,timestamp\n1,2,3,2020-01-01\n1,3,4,soon\n")
    message = load_error(DataError, path)
    assert "line 3" in message and "'soon'" in message
    assert "is not a date" in message


@pytest.mark.filterwarnings("ignore:Could not infer format")
def test_bad_value_in_epoch_timestamp_column_names_its_line(tmp_path):
    path = write(
        tmp_path / "r.csv",
        "user,item,rating,timestamp\n1,2,3,964982703\n1,3,4,964982704\n1,4,4,soon\n",
    )
    message = load_error(DataError, path)
    assert "line 4" in message and "'soon'" in message


def test_fewer_fields_than_columns(tmp_path):
    path = write(tmp_path / "r.csv", "1,10,4\n2,10,3\n")
    message = load_error(DataError, path, "user,item,rating,timestamp")
    assert "line 1 has 3 fields but --columns names 4" in message
    assert "--sep" in message


def test_wrong_separator_is_explained(tmp_path):
    path = write(tmp_path / "r.csv", "1;10;4;100\n2;10;3;100\n")
    message = load_error(DataError, path, "user,item,rating,timestamp", ",")
    assert "1 fields but --columns names 4" in message and "','" in message


@pytest.mark.parametrize(
    ("columns", "fragment"),
    [
        ("user,item,score", "unknown column role 'score'"),
        ("user,rating", "at least the user and item"),
        ("user,item,user", "role 'user' given twice"),
    ],
)
def test_bad_columns_option(tmp_path, columns, fragment):
    path = write(tmp_path / "r.csv", "1,2,3\n")
    assert fragment in load_error(UsageError, path, columns)


def test_empty_separator(tmp_path):
    path = write(tmp_path / "r.csv", CSV)
    assert "--sep must not be empty" in load_error(UsageError, path, None, "")


def test_file_not_found(tmp_path):
    path = tmp_path / "missing.csv"
    message = load_error(DataError, path)
    assert "not found" in message and "missing.csv" in message


def test_directory_given(tmp_path):
    message = load_error(DataError, tmp_path)
    assert "is a directory" in message


def test_unrecognised_header_without_columns(tmp_path):
    path = write(tmp_path / "r.csv", "a,b,c\n1,2,3\n")
    message = load_error(DataError, path)
    assert "cannot tell which column is the user and item" in message
    assert "--columns" in message


def test_unrecognised_item_header_names_only_the_item(tmp_path):
    path = write(tmp_path / "r.csv", "userId,thing,rating\n1,2,3\n")
    message = load_error(DataError, path)
    assert "cannot tell which column is the item" in message


# --------------------------------------------------------------------------------------------
# Cache
# --------------------------------------------------------------------------------------------


def cache_entries(cache_dir: Path) -> list[Path]:
    return sorted(p for p in (cache_dir / "parsed").iterdir() if not p.name.startswith("."))


def test_file_cache_round_trip(tmp_path, monkeypatch):
    src = write(tmp_path / "r.csv", CSV)
    cache_dir = tmp_path / "cache"
    first = load_file(src, data_dir=cache_dir)
    [entry] = cache_entries(cache_dir)
    assert (entry / "meta.json").exists()
    assert (entry / "interactions.parquet").exists()
    assert json.loads((entry / "meta.json").read_text())["checksum"] == first.checksum

    def no_parse(*args, **kwargs):
        raise AssertionError("parsed again despite a cache entry")

    monkeypatch.setattr(loading, "read_source", no_parse)
    second = load_file(src, data_dir=cache_dir)
    assert_same_dataset(first, second)
    assert second.source == first.source


def test_cache_keeps_string_ids_and_implicit_data(tmp_path):
    src = write(tmp_path / "r.csv", "user,item\nalice,x\nbob,y\nalice,y\n")
    first = load_file(src, data_dir=tmp_path)
    second = load_file(src, data_dir=tmp_path)
    assert_same_dataset(first, second)
    assert second.interactions.rating is None
    np.testing.assert_array_equal(second.interactions.users.index(["bob", "zed"]), [1, -1])
    assert triples(second) == {("alice", "x"), ("bob", "y"), ("alice", "y")}


def test_bundled_cache_round_trip(tmp_path, monkeypatch, ml):
    first = load_dataset("ml-latest-small", data_dir=tmp_path)
    assert_same_dataset(first, ml)
    [entry] = cache_entries(tmp_path)
    assert (entry / "meta.json").exists()

    def no_parse(*args, **kwargs):
        raise AssertionError("parsed again despite a cache entry")

    monkeypatch.setattr(loading, "read_source", no_parse)
    second = load_dataset("ml-latest-small", data_dir=tmp_path)
    assert_same_dataset(first, second)
    assert second.source == first.source
    assert second.source["orphan_ratings_dropped"] == 0
    assert second.license == first.license and second.citation == first.citation


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


CORRUPTIONS = {
    "truncated interactions": lambda e: _truncate(e / "interactions.parquet"),
    "garbage items": lambda e: (e / "items.parquet").write_bytes(b"\x00garbage" * 10),
    "missing users": lambda e: (e / "users.parquet").unlink(),
    "empty meta": lambda e: (e / "meta.json").write_text(""),
    "truncated meta": lambda e: _truncate(e / "meta.json"),
    "other format": lambda e: (e / "meta.json").write_text('{"format": "0"}'),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_corrupted_cache_entry_is_ignored(tmp_path, corruption):
    src = write(tmp_path / "r.csv", CSV)
    cache_dir = tmp_path / "cache"
    first = load_file(src, data_dir=cache_dir)
    [entry] = cache_entries(cache_dir)
    CORRUPTIONS[corruption](entry)
    assert cache_mod.load(entry) is None
    again = load_file(src, data_dir=cache_dir)
    assert_same_dataset(first, again)
    assert triples(again) == triples(first)


def test_corrupted_cache_entry_is_rebuilt(tmp_path):
    # Regression: save() skipped any entry with a meta.json, so a corrupt one stayed forever.
    src = write(tmp_path / "r.csv", CSV)
    cache_dir = tmp_path / "cache"
    load_file(src, data_dir=cache_dir)
    [entry] = cache_entries(cache_dir)
    _truncate(entry / "interactions.parquet")
    load_file(src, data_dir=cache_dir)
    assert cache_mod.load(entry) is not None
    assert [p.name for p in cache_entries(cache_dir)] == [entry.name]


def test_cache_entry_with_non_object_meta_is_ignored(tmp_path):
    # Regression: meta.json 'null' crashed load_dataset with AttributeError.
    src = write(tmp_path / "r.csv", CSV)
    first = load_file(src, data_dir=tmp_path)
    [entry] = cache_entries(tmp_path)
    (entry / "meta.json").write_text("null")
    assert_same_dataset(first, load_file(src, data_dir=tmp_path))


@pytest.mark.parametrize(
    "corruption",
    [
        pytest.param(
            lambda e: (e / "meta.json").write_text('{"format": "1"}'), id="meta-without-keys"
        ),
        pytest.param(
            lambda e: pd.DataFrame({"a": [1]}).to_parquet(e / "interactions.parquet"),
            id="interactions-without-columns",
        ),
    ],
)
def test_incomplete_cache_entry_is_ignored(tmp_path, corruption):
    src = write(tmp_path / "r.csv", CSV)
    first = load_file(src, data_dir=tmp_path)
    [entry] = cache_entries(tmp_path)
    corruption(entry)
    assert_same_dataset(first, load_file(src, data_dir=tmp_path))


def test_changing_the_source_changes_the_checksum(tmp_path):
    src = write(tmp_path / "r.csv", CSV)
    cache_dir = tmp_path / "cache"
    before = load_file(src, data_dir=cache_dir)
    write(src, CSV + "4,40,2.0,300\n")
    after = load_file(src, data_dir=cache_dir)
    assert after.checksum != before.checksum
    assert len(after.interactions) == len(before.interactions) + 1
    assert (4, 40, 2.0, 300) in triples(after)
    assert len(cache_entries(cache_dir)) == 2


def test_checksum_depends_on_parse_options_not_on_cache(tmp_path):
    src = write(tmp_path / "r.csv", CSV)
    plain = load_file(src)
    assert load_file(src, data_dir=tmp_path / "c").checksum == plain.checksum
    with_cols = load_file(src, "user,item,rating,timestamp")
    assert with_cols.checksum != plain.checksum
    assert triples(with_cols) == triples(plain)
