"""Parsers of the published dataset formats -> canonical frame plus side information.

Each reader takes the dataset's root directory (the directory an archive unpacks to) and returns
a :class:`Parsed`: the canonical ratings frame (``user``, ``item`` int64 raw ids, ``rating``
float32, ``timestamp`` int64 epoch seconds), item features indexed by raw item id and, where the
release has them, user features indexed by raw user id.

Formats:

- ``ml-100k``: ``u.data`` (tab), ``u.item`` (latin-1, ``|``, 19 genre flags), ``u.user``.
- ``movielens-dat`` (ml-1m, ml-10m): ``::``-separated ``ratings.dat``, ``movies.dat``,
  ``users.dat`` (ml-1m), ``tags.dat`` (ml-10m).
- ``movielens-csv`` (ml-20m, ml-25m, ml-32m, ml-latest, ml-latest-small): see
  :func:`recbench.data.parsers.read_movielens_csv`.
- ``netflix``: the Netflix Prize ``training_set`` (``mv_*.txt`` files, a directory or its tar)
  or the ``combined_data_*.txt`` layout: blocks that start with ``MovieID:`` followed by
  ``CustomerID,Rating,Date`` lines; ``movie_titles`` as ``MovieID,Year,Title`` (latin-1).

Large files are parsed with pyarrow's multi-threaded CSV reader, never line by line in Python;
Netflix files are read in bounded blocks so memory stays proportional to the output.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from recbench.data.archives import archive_kind, iter_tar_files
from recbench.data.parsers import read_movielens_csv
from recbench.errors import DataError

FORMAT_VERSION = "1"
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
_YEAR = re.compile(r"\((\d{4})\)\s*$")
_WORD = re.compile(r"[a-z0-9]+")
_MV_FILE = re.compile(r"(?:^|/)mv_\d+\.txt$")
_COMBINED = re.compile(r"combined_data_(\d+)\.txt$")
NETFLIX_BLOCK = 1 << 24  # bytes of text parsed at a time


@dataclass
class Parsed:
    """What a format reader returns; loading turns it into a Dataset."""

    ratings: pd.DataFrame
    item_features: pd.DataFrame | None = None
    user_features: pd.DataFrame | None = None
    info: dict[str, Any] = field(default_factory=dict)


# --- helpers ----------------------------------------------------------------------------------


def _decode(path: Path) -> str:
    """Text of a small metadata file: UTF-8 when valid, else latin-1 (MovieLens' old files)."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _split_lines(text: str, sep: str, n: int, path: Path) -> pd.DataFrame:
    """Split every non-blank line into exactly ``n`` fields on ``sep`` (vectorised).

    The last field keeps any further separators (titles and tags may contain them).
    """
    lines = pd.Series(text.splitlines(), dtype=object)
    lines = lines[lines.str.strip() != ""].reset_index(drop=True)
    if lines.empty:
        raise DataError(f"{path} is empty")
    parts = lines.str.split(sep, n=n - 1, regex=False, expand=True)
    if parts.shape[1] < n or parts[n - 1].isna().any():
        bad = 0 if parts.shape[1] < n else int(np.flatnonzero(parts[n - 1].isna())[0])
        raise DataError(f"{path}: line {bad + 1}: expected {n} fields separated by {sep!r}")
    return parts


def _int_ids(values: pd.Series, path: Path, what: str) -> np.ndarray:
    num = pd.to_numeric(values.str.strip(), errors="coerce")
    if num.isna().any():
        row = int(np.flatnonzero(num.isna().to_numpy())[0])
        raise DataError(f"{path}: line {row + 1}: {what} {values.iloc[row]!r} is not a number")
    return num.to_numpy(np.int64)


def read_delimited(
    path: Path,
    delimiter: str,
    columns: dict[int, tuple[str, pa.DataType]],
    n_fields: int,
) -> pd.DataFrame:
    """Read a header-less single-character-delimited file with pyarrow (multi-threaded).

    ``columns`` maps field positions to (name, type); other fields are skipped. Used for the
    large rating files (``u.data``; ``ratings.dat`` read with ``:`` so ``::`` leaves empty
    fields between the values).
    """
    if not path.exists():
        raise DataError(f"{path} is missing")
    if path.stat().st_size == 0:
        raise DataError(f"ratings file {path} is empty")
    names = [f"f{i}" for i in range(n_fields)]
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, quote_char=False, double_quote=False
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={f"f{i}": t for i, (_, t) in columns.items()},
                include_columns=[f"f{i}" for i in columns],
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataError(f"{path}: malformed ({_arrow_message(exc)})") from None
    out = {}
    for i, (name, _) in columns.items():
        col = table.column(f"f{i}")
        if col.null_count:
            row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            raise DataError(f"{path}: line {row + 1}: {name} is missing")
        out[name] = col.to_numpy()
    frame = pd.DataFrame(out)
    if len(frame) == 0:
        raise DataError(f"ratings file {path} is empty")
    return frame


def _arrow_message(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text[:200]


def title_features(titles: pd.Series) -> pd.DataFrame:
    """title, year (from a trailing "(1995)") and lower-case title words."""
    titles = titles.fillna("").astype(str).str.strip()
    year = pd.to_numeric(titles.str.extract(_YEAR, expand=False), errors="coerce")
    clean = titles.str.replace(_YEAR, "", regex=True).str.strip()
    return pd.DataFrame(
        {
            "title": titles.to_numpy(),
            "year": year.astype("Int64").array,
            "title_words": clean.str.lower().str.findall(_WORD).str.join(" ").to_numpy(),
        }
    )


def _drop_orphans(ratings: pd.DataFrame, items: pd.Index) -> tuple[pd.DataFrame, int]:
    orphan = ~np.isin(ratings["item"].to_numpy(), items.to_numpy())
    if orphan.any():
        ratings = ratings[~orphan].reset_index(drop=True)
    return ratings, int(orphan.sum())


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
    ratings, orphans = _drop_orphans(ratings, items.index)
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
        g = _split_lines(_decode(genre_path), "|", 2, genre_path)
        order = _int_ids(g[1], genre_path, "genre index")
        genres = list(pd.Series(g[0].str.strip().to_numpy(), index=order).sort_index())
    n = 5 + len(genres)
    parts = _split_lines(path.read_bytes().decode("latin-1"), "|", n, path)
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
    feats.index = pd.Index(_int_ids(parts[0], path, "movie id"), name="item")
    return feats[["title", "year", "release_date", "genres", "imdb_url", "title_words"]]


def read_ml100k_users(path: Path) -> pd.DataFrame:
    """``u.user``: id|age|gender|occupation|zip."""
    parts = _split_lines(_decode(path), "|", 5, path)
    return pd.DataFrame(
        {
            "age": _int_ids(parts[1], path, "age"),
            "gender": parts[2].str.strip().to_numpy(),
            "occupation": parts[3].str.strip().to_numpy(),
            "zip": parts[4].str.strip().to_numpy(),
        },
        index=pd.Index(_int_ids(parts[0], path, "user id"), name="user"),
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
    parts = _split_lines(_decode(movies_path), "::", 3, movies_path)
    items = title_features(parts[1])
    items["genres"] = parts[2].str.strip().replace("(no genres listed)", "").fillna("").to_numpy()
    items.index = pd.Index(_int_ids(parts[0], movies_path, "movie id"), name="item")
    n_tags = 0
    if (root / "tags.dat").exists():
        tags = _split_lines(_decode(root / "tags.dat"), "::", 3, root / "tags.dat")
        movie = _int_ids(tags[1], root / "tags.dat", "movie id")
        text = tags[2].str.rsplit("::", n=1).str[0]  # drop the trailing ::timestamp
        items["tags"] = _join_tags(pd.DataFrame({"movieId": movie, "tag": text}), items.index)
        n_tags = len(tags)
    ratings, orphans = _drop_orphans(ratings, items.index)
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
    parts = _split_lines(_decode(path), "::", 5, path)
    age = _int_ids(parts[2], path, "age")
    occ = _int_ids(parts[3], path, "occupation")
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
        index=pd.Index(_int_ids(parts[0], path, "user id"), name="user"),
    )


# --- CSV releases ------------------------------------------------------------------------------


def read_movielens_csv_release(root: Path) -> Parsed:
    """ml-20m / 25m / 32m / latest(-small): ratings.csv, movies.csv, tags.csv."""
    ratings, feats = read_movielens_csv(root)
    return Parsed(
        ratings, feats, None, {"orphan_ratings_dropped": int(ratings.attrs.get("orphans", 0))}
    )


def read_movielens_genome(root: Path) -> pd.DataFrame:
    """Tag-genome relevance (movies x tags) of a CSV release, if it ships one.

    Not part of the loaded Dataset (ml-25m's is 15M scores); call it when you need it.
    """
    scores, tags = root / "genome-scores.csv", root / "genome-tags.csv"
    if not scores.exists() or not tags.exists():
        raise DataError(f"{root} has no tag genome (genome-scores.csv, genome-tags.csv)")
    s = pd.read_csv(scores, dtype={"movieId": np.int64, "tagId": np.int64, "relevance": "f4"})
    names = pd.read_csv(tags, dtype={"tagId": np.int64, "tag": str}).set_index("tagId")["tag"]
    wide = s.pivot(index="movieId", columns="tagId", values="relevance")
    wide.columns = names.reindex(wide.columns).fillna("").to_numpy()
    wide.index.name = "item"
    return wide


# --- Netflix Prize -----------------------------------------------------------------------------


class _NetflixParser:
    """Accumulates compact column chunks from blocks of Netflix-format text."""

    def __init__(self) -> None:
        self.parts: list[list[np.ndarray]] = []
        self.movie = -1
        self.n_fields: int | None = None
        self.rows = 0
        self.label = ""

    def feed(self, block: bytes | memoryview, label: str) -> None:
        if label != self.label:  # line numbers count from the start of each file
            self.label, self.rows = label, 0
        if self.n_fields is None:
            self.n_fields = _sniff_netflix_fields(bytes(block[: 1 << 16]), label)
        data = _mark_movie_lines(block, b"nan," if self.n_fields == 3 else b"nan")
        names = ["user", "rating", "date"][: self.n_fields]
        types = {"user": pa.int64(), "rating": pa.float32(), "date": pa.date32()}
        try:
            table = pacsv.read_csv(
                pa.BufferReader(data),
                read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 22),
                parse_options=pacsv.ParseOptions(
                    delimiter=",", quote_char=False, double_quote=False
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types={n: types[n] for n in names}, null_values=[""]
                ),
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise DataError(
                f"{label}: not in Netflix-Prize format: 'MovieID:' lines followed by "
                f"'CustomerID,Rating{',Date' if self.n_fields == 3 else ''}' lines "
                f"({_arrow_message(exc)})"
            ) from None
        if table.num_rows == 0:
            return
        ucol, rcol = table.column("user"), table.column("rating")
        for name in names:
            col = table.column(name)
            if col.null_count and not (name == "date" and _null_only_at_movies(table)):
                row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
                raise DataError(
                    f"{label}: line {self.rows + row + 1}: "
                    f"{'customer id' if name == 'user' else name} is missing"
                )
        user = ucol.to_numpy()
        rating = rcol.to_numpy()
        is_movie = np.isnan(rating)
        pos = np.where(is_movie, np.arange(len(user)), -1)
        np.maximum.accumulate(pos, out=pos)
        if (pos < 0).any() and self.movie < 0:
            raise DataError(f"{label}: a rating comes before the first 'MovieID:' line")
        movie = np.where(pos >= 0, user[np.maximum(pos, 0)], self.movie)
        if len(pos) and pos[-1] >= 0:
            self.movie = int(user[pos[-1]])
        keep = ~is_movie
        cols = [_compact(user[keep]), _compact(movie[keep]), rating[keep]]
        if self.n_fields == 3:
            days = table.column("date").cast(pa.int32()).fill_null(0).to_numpy()
            cols.append(days[keep])
        self.parts.append(cols)
        self.rows += len(user)

    def finish(self, label: str) -> pd.DataFrame:
        if not self.parts or sum(len(p[0]) for p in self.parts) == 0:
            raise DataError(f"{label} holds no ratings")
        out: dict[str, np.ndarray] = {}
        # One column at a time, freeing its chunks, keeps the peak near the output size.
        for j, name in enumerate(["user", "item", "rating", "timestamp"][: len(self.parts[0])]):
            col = np.concatenate([p[j] for p in self.parts])
            for p in self.parts:
                p[j] = _EMPTY
            if name == "timestamp":
                col = col.astype(np.int64) * 86400
            elif name in ("user", "item"):
                col = col.astype(np.int64, copy=False)
            out[name] = col
        self.parts.clear()
        return pd.DataFrame(out, copy=False)  # no consolidation copy of the int64 columns


_EMPTY = np.empty(0, dtype=np.int8)
_COLON, _COMMA = ord(":"), ord(",")


def _mark_movie_lines(block: bytes | memoryview, tail: bytes) -> pa.Buffer:
    """``123:`` -> ``123,nan,`` (vectorised) so one typed CSV pass reads every line.

    The colons are found with one numpy comparison and the marker inserted with ``np.insert``;
    the movie rows are then the rows whose rating is NaN. A colon anywhere else yields a line
    with too many fields, which the CSV reader reports.
    """
    buf = np.frombuffer(block, dtype=np.uint8)
    pos = np.flatnonzero(buf == _COLON)
    if pos.size == 0:
        return pa.py_buffer(block)
    k = len(tail)
    out = np.insert(buf, np.repeat(pos + 1, k), np.tile(np.frombuffer(tail, np.uint8), pos.size))
    out[pos + k * np.arange(pos.size)] = _COMMA
    return pa.py_buffer(out)


def _null_only_at_movies(table: pa.Table) -> bool:
    date_null = table.column("date").is_null().to_numpy(zero_copy_only=False)
    movie = np.isnan(table.column("rating").to_numpy())
    return bool(np.array_equal(date_null, movie))


def _compact(a: np.ndarray) -> np.ndarray:
    """int32 when the values fit (Netflix ids do): halves the memory held between blocks."""
    if a.size and a.min() >= np.iinfo(np.int32).min and a.max() <= np.iinfo(np.int32).max:
        return a.astype(np.int32)
    return a


def _sniff_netflix_fields(head: bytes, label: str) -> int:
    for raw in head.splitlines():
        line = raw.strip()
        if not line or line.endswith(b":"):
            continue
        n = line.count(b",") + 1
        if n not in (2, 3):
            raise DataError(
                f"{label}: not in Netflix-Prize format (a rating line has {n} fields; "
                "expected CustomerID,Rating,Date)"
            )
        return n
    return 3


def looks_like_netflix(path: Path) -> bool:
    """True when a text file's first non-blank line is ``<digits>:`` (a Netflix movie header)."""
    try:
        with Path(path).open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    for line in head.splitlines():
        if line.strip():
            return re.fullmatch(rb"\s*\d+:\s*", line) is not None
    return False


def _file_blocks(path: Path, block_size: int) -> Iterator[memoryview]:
    """Blocks of whole lines from one file, without copying: each read ends at its last
    newline and the next read starts right after it (the partial line is read again)."""
    with path.open("rb") as fh:
        while chunk := fh.read(block_size):
            cut = chunk.rfind(b"\n") + 1
            if len(chunk) < block_size:  # the last block: take everything
                yield memoryview(chunk if chunk.endswith(b"\n") else chunk + b"\n")
                return
            if cut == 0:  # a line longer than a block: grow the block
                block_size *= 2
                fh.seek(-len(chunk), 1)
                continue
            fh.seek(cut - len(chunk), 1)
            yield memoryview(chunk)[:cut]


def _concat_blocks(contents: Iterable[bytes], block_size: int) -> Iterator[bytes]:
    """Join many small files (``mv_*.txt``; each starts with its header) into large blocks."""
    buf: list[bytes] = []
    size = 0
    for data in contents:
        if not data:
            continue
        buf.append(data if data.endswith(b"\n") else data + b"\n")
        size += len(buf[-1])
        if size >= block_size:
            yield b"".join(buf)
            buf, size = [], 0
    if buf:
        yield b"".join(buf)


def netflix_sources(path: Path) -> list[Path]:
    """The rating files of a Netflix-format source, in order.

    ``path`` may be a text file, a tar of ``mv_*.txt`` files, or a directory holding
    ``combined_data_*.txt``, ``training_set.tar``, a ``training_set/`` directory or ``mv_*.txt``.
    """
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DataError(f"Netflix data not found: {path}")
    combined = sorted(
        (p for p in path.iterdir() if _COMBINED.fullmatch(p.name)),
        key=lambda p: int(_COMBINED.fullmatch(p.name).group(1)),  # type: ignore[union-attr]
    )
    if combined:
        return combined
    if (path / "training_set.tar").is_file():
        return [path / "training_set.tar"]
    for d in (path / "training_set", path):
        if d.is_dir():
            mv = sorted(p for p in d.iterdir() if _MV_FILE.search(p.name))
            if mv:
                return mv
    raise DataError(
        f"{path} holds no Netflix ratings (combined_data_*.txt, training_set.tar, "
        "training_set/mv_*.txt)"
    )


def read_netflix(path: Path, *, block_size: int = NETFLIX_BLOCK) -> pd.DataFrame:
    """Canonical frame of Netflix-Prize-format ratings (see :func:`netflix_sources`).

    Vectorised: each block of text is parsed by pyarrow in one pass (movie header lines are
    marked, then the movie id is forward-filled with ``np.maximum.accumulate``); blocks are
    bounded, so memory is about the size of the output frame plus one block.
    """
    sources = netflix_sources(path)
    parser = _NetflixParser()
    if len(sources) > 1 and all(_MV_FILE.search(p.name) for p in sources):
        for block in _concat_blocks((p.read_bytes() for p in sources), block_size):
            parser.feed(block, str(path))
    else:
        for src in sources:
            if src.suffix != ".txt" and archive_kind(src) == "tar":
                files = (data for name, data in iter_tar_files(src) if _MV_FILE.search(name))
                for block in _concat_blocks(files, block_size):
                    parser.feed(block, str(src))
            else:
                for block in _file_blocks(src, block_size):
                    parser.feed(block, str(src))
    return parser.finish(str(path))


def read_netflix_titles(path: Path) -> pd.DataFrame:
    """``movie_titles``: MovieID,Year,Title (latin-1); titles may hold commas, year may be NULL."""
    parts = _split_lines(path.read_bytes().decode("latin-1"), ",", 3, path)
    feats = title_features(parts[2])
    year = pd.to_numeric(parts[1].str.strip().replace("NULL", None), errors="coerce")
    feats["year"] = year.astype("Int64").array
    feats.index = pd.Index(_int_ids(parts[0], path, "movie id"), name="item")
    return feats[["title", "year", "title_words"]]


def _netflix_titles_file(root: Path) -> Path | None:
    for name in ("movie_titles.txt", "movie_titles.csv"):
        if (root / name).exists():
            return root / name
    return None


def read_netflix_release(root: Path) -> Parsed:
    """An installed Netflix Prize copy: ratings plus movie titles when present."""
    ratings = read_netflix(root)
    titles = _netflix_titles_file(root)
    feats = read_netflix_titles(titles) if titles else None
    return Parsed(ratings, feats, None, {})


# --- dispatch ---------------------------------------------------------------------------------

READERS: dict[str, Callable[[Path], Parsed]] = {
    "ml-100k": read_ml100k,
    "movielens-dat": read_movielens_dat,
    "movielens-csv": read_movielens_csv_release,
    "netflix": read_netflix_release,
}
#: Files whose presence identifies a format's root directory (any one of them).
KEY_FILES: dict[str, tuple[str, ...]] = {
    "ml-100k": ("u.data",),
    "movielens-dat": ("ratings.dat",),
    "movielens-csv": ("ratings.csv",),
    "netflix": ("training_set.tar", "combined_data_1.txt", "training_set"),
}
#: Files a root must hold for the reader to work.
REQUIRED: dict[str, tuple[str, ...]] = {
    "ml-100k": ("u.data", "u.item"),
    "movielens-dat": ("ratings.dat", "movies.dat"),
    "movielens-csv": ("ratings.csv", "movies.csv"),
    "netflix": (),
}


def read_release(fmt: str, root: Path) -> Parsed:
    """Parse an installed dataset directory with the reader of ``fmt``."""
    try:
        reader = READERS[fmt]
    except KeyError:
        raise DataError(f"unknown dataset format '{fmt}'") from None
    return reader(root)


def find_root(fmt: str, path: Path, max_depth: int = 3) -> Path | None:
    """The directory under ``path`` (itself or a descendant, breadth first) holding the
    format's key file; unreadable directories are skipped."""
    keys = KEY_FILES[fmt]
    frontier = [Path(path)]
    for _ in range(max_depth + 1):
        nxt: list[Path] = []
        for d in sorted(frontier):
            try:
                children = sorted(d.iterdir())
            except OSError:
                continue
            names = {c.name for c in children}
            if any(k in names for k in keys):
                return d
            if fmt == "netflix" and any(_MV_FILE.search(n) for n in names):
                return d
            nxt.extend(c for c in children if c.is_dir() and not c.name.startswith("."))
        frontier = nxt
    return None


def read_item_features(path: Path, fmt: str) -> pd.DataFrame:
    """Item features of a user dataset: a CSV/TSV/Parquet table with an item id column.

    For Netflix-format datasets a header-less ``MovieID,Year,Title`` file (movie_titles) is read
    as such. The id column is the one named like an item id (item, movieId, ...) or the first.
    """
    from recbench.data.parsers import ALIASES

    path = Path(path)
    if not path.is_file():
        raise DataError(f"item features file not found: {path}")
    if path.suffix.lower() in {".parquet", ".pq"}:
        raw = pd.read_parquet(path)
    else:
        with path.open("rb") as fh:
            first = fh.readline().decode("latin-1").strip()
        if fmt == "netflix" and re.match(r"\d+\s*,", first):
            return read_netflix_titles(path)
        sep = "\t" if "\t" in first or path.suffix.lower() in {".tsv", ".tab"} else ","
        try:
            raw = pd.read_csv(
                path, sep=sep, dtype=str, keep_default_na=False, quoting=csv.QUOTE_MINIMAL
            )
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: {_arrow_message(exc)}") from None
    if raw.shape[1] < 2:
        raise DataError(f"{path}: expected an item id column and at least one feature column")
    id_col = next((c for c in raw.columns if str(c).strip().lower() in ALIASES["item"]), None)
    id_col = id_col if id_col is not None else raw.columns[0]
    ids = raw[id_col]
    num = pd.to_numeric(ids, errors="coerce")
    index = (
        pd.Index(num.to_numpy(np.int64), name="item")
        if num.notna().all() and (num % 1 == 0).all()
        else pd.Index(ids.astype(str).str.strip().to_numpy(), name="item")
    )
    feats = raw.drop(columns=[id_col])
    feats.index = index
    feats.columns = [str(c) for c in feats.columns]
    if index.has_duplicates:
        feats = feats[~index.duplicated(keep="last")]
    if "title" in feats and "title_words" not in feats:
        feats["title_words"] = title_features(feats["title"])["title_words"].to_numpy()
    return feats
