"""Parsers of every release format: what goes in comes out, with features; Netflix edge cases;
and the real ml-100k (skipped when ../shared/datasets/ml-100k is absent)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recbench.data import DatasetSpec, add_dataset, import_dataset, load_dataset
from recbench.data.movielens import (
    read_ml100k,
    read_movielens_csv_release,
    read_movielens_dat,
)
from recbench.data.netflix import (
    looks_like_netflix,
    read_netflix,
    read_netflix_release,
    read_netflix_titles,
)
from recbench.data.registry import get_entry
from recbench.errors import DataError
from tests.test_ds_fixtures import (
    GENRES,
    MOVIES,
    N_RATED_ITEMS,
    N_RATINGS,
    N_USERS,
    SHARED_ML100K,
    expected_frame,
    netflix_frame,
    netflix_text,
    tar_dir,
    write_ml1m,
    write_ml20m,
    write_ml100k,
    write_netflix_combined,
    write_netflix_training_set,
)


def sorted_frame(df: pd.DataFrame) -> pd.DataFrame:
    cols = ["user", "item", "rating", "timestamp"]
    out = df[cols].astype({"user": "int64", "item": "int64", "rating": "float32"})
    return out.sort_values(cols).reset_index(drop=True)


def assert_frames(got: pd.DataFrame, want: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(sorted_frame(got), sorted_frame(want), check_dtype=True)


def one_line_error(exc: pytest.ExceptionInfo[BaseException]) -> str:
    msg = str(exc.value)
    assert msg and "\n" not in msg, msg
    return msg


# --- MovieLens ---------------------------------------------------------------------------------


def test_ml100k_ratings_items_genres_and_users(tmp_path: Path) -> None:
    parsed = read_ml100k(write_ml100k(tmp_path / "ml-100k"))
    assert_frames(parsed.ratings, expected_frame())
    items = parsed.item_features
    assert items is not None
    assert list(items.index) == list(MOVIES)
    assert items.loc[20, "title"] == "Café au lait (1994)"  # latin-1 decoded
    assert items.loc[10, "genres"] == "Animation|Children's|Comedy"
    assert items.loc[10, "year"] == 1995
    assert items.loc[10, "release_date"] == "1995-01-01"
    assert items.loc[50, "release_date"] == ""
    assert items.loc[30, "title_words"] == "star wars episode iv a new hope"
    users = parsed.user_features
    assert users is not None
    assert users.loc[2].to_dict() == {
        "age": 53,
        "gender": "F",
        "occupation": "other",
        "zip": "94043",
    }


def test_ml1m_dat_with_users_and_colons_in_titles(tmp_path: Path) -> None:
    parsed = read_movielens_dat(write_ml1m(tmp_path / "ml-1m"))
    assert_frames(parsed.ratings, expected_frame())
    items = parsed.item_features
    assert items is not None
    assert items.loc[30, "title"] == "Star Wars: Episode IV - A New Hope (1977)"
    assert items.loc[30, "genres"] == "Action|Sci-Fi"
    assert items.loc[20, "title"] == "Café au lait (1994)"
    assert "tags" not in items
    users = parsed.user_features
    assert users is not None
    assert users.loc[1, "occupation"] == "technician/engineer"
    assert users.loc[1, "age_group"] == "25-34"
    assert users.loc[2, "occupation"] == "other"
    assert users.loc[3, "occupation"] == "writer"


def test_ml10m_dat_half_stars_and_tags(tmp_path: Path) -> None:
    parsed = read_movielens_dat(
        write_ml1m(tmp_path / "ml-10M100K", users=False, tags=True, half=True)
    )
    assert_frames(parsed.ratings, expected_frame(half_stars=True))
    assert parsed.user_features is None
    items = parsed.item_features
    assert items is not None
    assert items.loc[10, "tags"] == "pixar"
    assert items.loc[30, "tags"] == "space :: opera"
    assert items.loc[40, "tags"] == ""


def test_csv_release_with_tags(tmp_path: Path) -> None:
    root = write_ml20m(tmp_path / "ml-20m")
    parsed = read_movielens_csv_release(root)
    assert_frames(parsed.ratings, expected_frame(half_stars=True))
    items = parsed.item_features
    assert items is not None
    assert items.loc[40, "title"] == "American President, The (1995)"
    assert items.loc[30, "tags"] == "space opera"


def test_dat_errors_are_one_line(tmp_path: Path) -> None:
    root = write_ml1m(tmp_path / "bad")
    (root / "ratings.dat").write_text("1::10::4::5\n1::20::x::6\n")
    with pytest.raises(DataError) as exc:
        read_movielens_dat(root)
    assert "ratings.dat" in one_line_error(exc)
    (root / "movies.dat").unlink()
    (root / "ratings.dat").write_text("1::10::4::5\n")
    with pytest.raises(DataError) as exc:
        read_movielens_dat(root)
    assert "movies.dat is missing" in one_line_error(exc)


# --- Netflix Prize -----------------------------------------------------------------------------


def test_netflix_training_set_directory_and_titles(tmp_path: Path) -> None:
    root = write_netflix_training_set(tmp_path / "nf")
    parsed = read_netflix_release(root)
    assert_frames(parsed.ratings, netflix_frame())
    titles = parsed.item_features
    assert titles is not None
    assert titles.loc[17770, "title"] == "Alien Hunter, The Sequel, Part 2"
    assert pd.isna(titles.loc[2, "year"])
    assert titles.loc[1, "year"] == 2003


def test_netflix_layouts_agree(tmp_path: Path) -> None:
    want = netflix_frame()
    root = write_netflix_training_set(tmp_path / "orig")
    tar = tar_dir(root / "training_set", tmp_path / "training_set.tar", "training_set", mode="w")
    combined = write_netflix_combined(tmp_path / "kaggle")
    for source in (root, root / "training_set", tar, combined):
        assert_frames(read_netflix(source), want)
    assert_frames(read_netflix_release(combined).ratings, want)


@pytest.mark.parametrize("block_size", [7, 25, 64, 1 << 20])
def test_netflix_blocks_split_anywhere(tmp_path: Path, block_size: int) -> None:
    """A movie's lines may straddle block boundaries: the movie id carries over."""
    path = tmp_path / "combined_data_1.txt"
    path.write_text(netflix_text())
    assert_frames(read_netflix(path, block_size=block_size), netflix_frame())
    files = write_netflix_training_set(tmp_path / "nf") / "training_set"
    assert_frames(read_netflix(files, block_size=block_size), netflix_frame())


def test_netflix_crlf_no_final_newline_and_blank_lines(tmp_path: Path) -> None:
    text = netflix_text().replace("\n", "\r\n").rstrip("\r\n") + "\r\n\r\n"
    path = tmp_path / "crlf.txt"
    path.write_bytes(("\r\n" + text).encode())
    assert_frames(read_netflix(path), netflix_frame())
    path.write_text(netflix_text().rstrip("\n"))
    assert_frames(read_netflix(path), netflix_frame())


def test_netflix_without_dates(tmp_path: Path) -> None:
    path = tmp_path / "nodates.txt"
    path.write_text("5:\n1,3\n2,4\n6:\n1,5\n")
    got = read_netflix(path)
    assert list(got.columns) == ["user", "item", "rating"]
    assert got.to_numpy().tolist() == [[1, 5, 3], [2, 5, 4], [1, 6, 5]]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("1,3,2005-01-01\n1:\n", "before the first 'MovieID:' line"),
        ("1:\n1,3,2005-01-01,extra\n", "4 fields"),
        ("1:\n1,3,2005-01-01\n2,x,2005-01-01\n", "Netflix-Prize format"),
        ("1:\n1,3,not-a-date\n", "Netflix-Prize format"),
        ("1:\n,3,2005-01-01\n", "customer id is missing"),
        ("1:\n", "holds no ratings"),
    ],
)
def test_netflix_errors_are_one_line(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(DataError) as exc:
        read_netflix(path)
    assert needle in one_line_error(exc)


def test_netflix_titles_latin1_commas_and_null_years(tmp_path: Path) -> None:
    path = tmp_path / "movie_titles.csv"
    path.write_bytes("7,NULL,Amélie, Part 1, Director's Cut\n8,1999,Plain\n".encode("latin-1"))
    t = read_netflix_titles(path)
    assert t.loc[7, "title"] == "Amélie, Part 1, Director's Cut"
    assert pd.isna(t.loc[7, "year"]) and t.loc[8, "year"] == 1999


def test_netflix_file_works_as_dataset_path(tmp_path: Path) -> None:
    path = tmp_path / "combined_data_1.txt"
    path.write_text(netflix_text())
    assert looks_like_netflix(path)
    assert not looks_like_netflix(write_ml20m(tmp_path / "csv") / "ratings.csv")
    ds = load_dataset(str(path), data_dir=tmp_path / "cache")
    assert len(ds.interactions) == len(netflix_frame())
    again = load_dataset(str(path), data_dir=tmp_path / "cache")
    assert again.checksum == ds.checksum
    with pytest.raises(Exception, match="Netflix-Prize format"):
        load_dataset(DatasetSpec(str(path), columns="user,item"), data_dir=tmp_path / "cache")


# --- installed releases load as Datasets -------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "writer", "items"),
    [
        ("ml-100k", write_ml100k, 5),
        ("ml-1m", write_ml1m, 5),
        ("ml-20m", write_ml20m, 5),
    ],
)
def test_imported_directories_load(
    tmp_path: Path, monkeypatch, name: str, writer, items: int
) -> None:  # type: ignore[no-untyped-def]
    import recbench.data.registry as reg

    entry = replace(get_entry(name), archive_md5=None, archive_sha256=None, members={})
    real = reg._entries()
    monkeypatch.setattr(reg, "_entries", lambda: {**real, name: entry})
    src = writer(tmp_path / "src")
    data = tmp_path / "data"
    report = import_dataset(name, src, data)
    assert report.action == "imported"
    assert report.verification is not None and report.verification["status"] == "unverified"
    ds = load_dataset(name, data_dir=data)
    assert len(ds.interactions) == N_RATINGS
    assert ds.n_users == N_USERS
    assert ds.n_items == items and int((ds.interactions.item_counts() > 0).sum()) == N_RATED_ITEMS
    assert ds.source["duplicates_dropped"] == 1
    assert ds.source["kind"] == "imported"
    frame = ds.interactions.to_frame()
    assert frame[(frame.user == 3) & (frame.item == 20)]["rating"].tolist() == [
        4.0 if name != "ml-20m" else 3.5
    ]


# --- the real ml-100k --------------------------------------------------------------------------

needs_ml100k = pytest.mark.skipif(
    not (SHARED_ML100K / "u.data").exists(), reason="../shared/datasets/ml-100k is absent"
)


def write_netflix_format(frame: pd.DataFrame, path: Path) -> None:
    """Test helper: ratings in Netflix-Prize layout (movie blocks, ``user,rating,YYYY-MM-DD``).

    Written with plain Python, independently of recbench's vectorised writer-free parser.
    """
    dates = pd.to_datetime(frame["timestamp"], unit="s", utc=True).dt.strftime("%Y-%m-%d")
    frame = frame.assign(date=dates.to_numpy()).sort_values(["item", "user"], kind="stable")
    with path.open("w", encoding="ascii") as fh:
        for item, block in frame.groupby("item", sort=True):
            fh.write(f"{item}:\n")
            fh.writelines(
                f"{u},{int(r)},{d}\n"
                for u, r, d in zip(block.user, block.rating, block.date, strict=True)
            )


@pytest.mark.ml100k
@needs_ml100k
def test_real_ml100k_import_and_netflix_round_trip(tmp_path: Path) -> None:
    data = tmp_path / "data"
    report = import_dataset("ml-100k", SHARED_ML100K, data)
    v = report.verification
    assert v is not None and v["status"] == "verified"
    assert v["method"] == "pinned member checksums"
    assert "all 5 pinned member sha256s match" in v["checked"]
    ds = load_dataset("ml-100k", data_dir=data)
    assert (len(ds.interactions), ds.n_users, ds.n_items) == (100_000, 943, 1_682)
    assert ds.rating_scale == (1.0, 5.0)
    assert ds.item_features is not None and ds.user_features is not None
    genres = set(ds.item_features["genres"].str.split("|").explode()) - {""}
    assert genres == set(GENRES) and len(genres) == 19
    assert list(ds.user_features.columns) == ["age", "gender", "occupation", "zip"]
    assert len(ds.user_features) == 943
    assert set(ds.user_features["gender"]) == {"M", "F"}
    assert ds.user_features["occupation"].nunique() == 21
    assert ds.source["verification"] == "verified"
    # The same ratings written out in Netflix-Prize format load back identical (dates only:
    # the format has no time of day).
    nf = tmp_path / "ml100k_netflix.txt"
    write_netflix_format(ds.interactions.to_frame(), nf)
    back = load_dataset(str(nf), data_dir=data)
    a = ds.interactions.to_frame()
    b = back.interactions.to_frame()
    a["timestamp"] = a["timestamp"] // 86400 * 86400
    assert_frames(b, a)
    assert back.n_users == 943 and len(back.interactions) == 100_000
    np.testing.assert_array_equal(back.interactions.users.ids, ds.interactions.users.ids)
    # Registered as a user dataset, it loads by name too.
    record, again = add_dataset("ml100k-nf", nf, data, format="netflix")
    assert record.format == "netflix"
    assert_frames(again.interactions.to_frame(), b)
