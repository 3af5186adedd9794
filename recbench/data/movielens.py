"""MovieLens releases: ml-100k, the ``::`` releases (ml-1m, ml-10m) and the CSV releases.

Each reader takes the dataset's root directory (what its archive unpacks to) and returns a
:class:`~recbench.data.tabular.Parsed`: the canonical ratings frame (``user``, ``item`` int64
raw ids, ``rating`` float32, ``timestamp`` int64 epoch seconds), item features indexed by raw
item id and, where the release has them, user features indexed by raw user id.

- ``ml-100k``: ``u.data`` (tab), ``u.item`` (latin-1, ``|``, 19 genre flags), ``u.user``.
- ``movielens-dat`` (ml-1m, ml-10m): ``::``-separated ``ratings.dat``, ``movies.dat``,
  ``users.dat`` (ml-1m), ``tags.dat`` (ml-10m).
- ``movielens-csv`` (ml-20m, ml-25m, ml-32m, ml-latest, ml-latest-small): ``ratings.csv``,
  ``movies.csv``, ``tags.csv``.

Ratings of movies the release's movie list does not hold are dropped and counted
(``orphan_ratings_dropped``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from recbench.data.ratings_file import read_ratings_file
from recbench.data.tabular import (
    Parsed,
    decode_text,
    drop_orphans,
    int_ids,
    read_delimited,
    split_fields,
    title_features,
)
from recbench.errors import DataError

ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
ML1M_AGES = {
    1: "Under 18", 18: "18-24", 25: "25-34", 35: "35-44", 45: "45-49", 50: "50-55", 56: "56+",
}  # fmt: skip
ML1M_OCCUPATIONS = (
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer", "homemaker",
    "K-12 student", "lawyer", "programmer", "retired", "sales/marketing", "scientist",
    "self-employed", "technician/engineer", "tradesman/craftsman", "unemployed", "writer",
)  # fmt: skip

# --- ml-100k ----------------------------------------------------------------------------------


def read_ml100k(root: Path) -> Parsed:
    """MovieLens 100K: ``u.data`` ratings, ``u.item`` movies, ``u.user`` demographics."""
    ratings = read_delimited(
        root / "u.data",
        "\t",
        {
            0: ("user", pa.int64()),
            1: ("item", pa.int64()),
            2: ("rating", pa.float32()),
            3: ("timestamp", pa.int64()),
        },
        4,
    )
    items = read_ml100k_items(root / "u.item", root / "u.genre")
    ratings, orphans = drop_orphans(ratings, items.index)
    users = None
    if (root / "u.user").exists():
        users = read_ml100k_users(root / "u.user")
    return Parsed(ratings, items, users, {"orphan_ratings_dropped": orphans})


def read_ml100k_items(path: Path, genre_path: Path | None = None) -> pd.DataFrame:
    """``u.item``: id|title|release date|video release date|IMDb URL|19 genre flags."""
    if not path.exists():
        raise DataError(f"{path} is missing")
    genres = list(ML100K_GENRES)
    if genre_path is not None and genre_path.exists():
        g = split_fields(decode_text(genre_path), "|", 2, genre_path)
        order = int_ids(g[1], genre_path, "genre index")
        genres = list(pd.Series(g[0].str.strip().to_numpy(), index=order).sort_index())
    n = 5 + len(genres)
    parts = split_fields(path.read_bytes().decode("latin-1"), "|", n, path)
    flags = parts.iloc[:, 5:n].apply(lambda c: c.str.strip() == "1").to_numpy()
    if flags.shape[1] != len(genres):  # pragma: no cover - _split_lines guarantees the width
        raise DataError(f"{path}: expected {len(genres)} genre flags")
    joined = pd.Series("", index=parts.index, dtype=object)
    for j, name in enumerate(genres):  # 19 columns, vectorised over rows
        joined = joined + np.where(flags[:, j], name + "|", "")
    feats = title_features(parts[1])
    released = pd.to_datetime(parts[2].str.strip(), format="%d-%b-%Y", errors="coerce")
    feats["year"] = feats["year"].fillna(released.dt.year.astype("Int64"))
    feats["release_date"] = released.dt.strftime("%Y-%m-%d").fillna("").to_numpy()
    feats["genres"] = joined.str.rstrip("|").to_numpy()
    feats["imdb_url"] = parts[4].str.strip().to_numpy()
    feats.index = pd.Index(int_ids(parts[0], path, "movie id"), name="item")
    return feats[["title", "year", "release_date", "genres", "imdb_url", "title_words"]]


def read_ml100k_users(path: Path) -> pd.DataFrame:
    """``u.user``: id|age|gender|occupation|zip."""
    parts = split_fields(decode_text(path), "|", 5, path)
    return pd.DataFrame(
        {
            "age": int_ids(parts[1], path, "age"),
            "gender": parts[2].str.strip().to_numpy(),
            "occupation": parts[3].str.strip().to_numpy(),
            "zip": parts[4].str.strip().to_numpy(),
        },
        index=pd.Index(int_ids(parts[0], path, "user id"), name="user"),
    )


# --- ml-1m / ml-10m ---------------------------------------------------------------------------


def read_movielens_dat(root: Path) -> Parsed:
    """MovieLens 1M / 10M: ``::``-separated ratings, movies, users (1M) and tags (10M)."""
    # Reading with ':' keeps pyarrow's fast single-character path; '::' leaves empty fields.
    ratings = read_delimited(
        root / "ratings.dat",
        ":",
        {
            0: ("user", pa.int64()),
            2: ("item", pa.int64()),
            4: ("rating", pa.float32()),
            6: ("timestamp", pa.int64()),
        },
        7,
    )
    movies_path = root / "movies.dat"
    if not movies_path.exists():
        raise DataError(f"{movies_path} is missing")
    parts = split_fields(decode_text(movies_path), "::", 3, movies_path)
    items = title_features(parts[1])
    items["genres"] = parts[2].str.strip().replace("(no genres listed)", "").fillna("").to_numpy()
    items.index = pd.Index(int_ids(parts[0], movies_path, "movie id"), name="item")
    n_tags = 0
    if (root / "tags.dat").exists():
        tags = split_fields(decode_text(root / "tags.dat"), "::", 3, root / "tags.dat")
        movie = int_ids(tags[1], root / "tags.dat", "movie id")
        text = tags[2].str.rsplit("::", n=1).str[0]  # drop the trailing ::timestamp
        items["tags"] = _join_tags(pd.DataFrame({"movieId": movie, "tag": text}), items.index)
        n_tags = len(tags)
    ratings, orphans = drop_orphans(ratings, items.index)
    cols = ["title", "year", "genres", "title_words"] + (["tags"] if n_tags else [])
    users = read_ml1m_users(root / "users.dat") if (root / "users.dat").exists() else None
    return Parsed(ratings, items[cols], users, {"orphan_ratings_dropped": orphans})


def _join_tags(tags: pd.DataFrame, index: pd.Index) -> np.ndarray:
    """``a|b|c``: each movie's distinct lower-case tags, sorted (same as the CSV releases)."""
    t = tags.dropna(subset=["tag"]).copy()
    t["tag"] = t["tag"].astype(str).str.strip().str.lower()
    t = t[t["tag"] != ""].drop_duplicates(["movieId", "tag"]).sort_values(["movieId", "tag"])
    joined = t.groupby("movieId")["tag"].agg("|".join)
    return joined.reindex(index).fillna("").to_numpy()


def read_ml1m_users(path: Path) -> pd.DataFrame:
    """``users.dat``: UserID::Gender::Age::Occupation::Zip-code (age and occupation are codes)."""
    parts = split_fields(decode_text(path), "::", 5, path)
    age = int_ids(parts[2], path, "age")
    occ = int_ids(parts[3], path, "occupation")
    names = np.array(ML1M_OCCUPATIONS, dtype=object)
    occupation = np.where(
        (occ >= 0) & (occ < len(names)), names[np.clip(occ, 0, len(names) - 1)], ""
    )
    return pd.DataFrame(
        {
            "age": age,
            "age_group": pd.Series(age).map(ML1M_AGES).fillna("").to_numpy(),
            "gender": parts[1].str.strip().to_numpy(),
            "occupation": occupation,
            "zip": parts[4].str.strip().to_numpy(),
        },
        index=pd.Index(int_ids(parts[0], path, "user id"), name="user"),
    )


# --- CSV releases ------------------------------------------------------------------------------


def read_movielens_csv_release(root: Path) -> Parsed:
    """ml-20m / 25m / 32m / latest(-small): ``ratings.csv``, ``movies.csv``, ``tags.csv``."""
    ratings = read_ratings_file(root / "ratings.csv")
    movies_path = root / "movies.csv"
    if not movies_path.exists():
        raise DataError(f"{movies_path} is missing")
    movies = pd.read_csv(movies_path, dtype={"movieId": np.int64, "title": str, "genres": str})
    feats = title_features(movies["title"])
    feats["genres"] = movies["genres"].fillna("").replace("(no genres listed)", "").to_numpy()
    feats.index = pd.Index(movies["movieId"].to_numpy(), name="item")
    feats = feats[["title", "year", "genres", "title_words"]].copy()
    feats["tags"] = ""
    tags_path = root / "tags.csv"
    if tags_path.exists():
        t = pd.read_csv(tags_path, dtype={"movieId": np.int64, "tag": str})
        t = t.dropna(subset=["tag"])
        t["tag"] = t["tag"].str.strip().str.lower()
        joined = (
            t.drop_duplicates(["movieId", "tag"])
            .groupby("movieId")["tag"]
            .agg(lambda s: "|".join(sorted(s)))
        )
        feats["tags"] = joined.reindex(feats.index).fillna("").to_numpy()
    # Referential integrity: a rating of a movie that movies.csv does not list is not part of
    # the release's catalogue. Drop and count.
    ratings, orphans = drop_orphans(ratings, feats.index)
    return Parsed(ratings, feats, None, {"orphan_ratings_dropped": orphans})
