"""Netflix Prize format: ``MovieID:`` header lines followed by ``CustomerID,Rating,Date`` lines.

Sources are the ``training_set`` (``mv_*.txt`` files, a directory or its tar) or the
``combined_data_*.txt`` layout; ``movie_titles`` is ``MovieID,Year,Title`` (latin-1). Text is
parsed by pyarrow in bounded blocks (movie header lines are marked, then the movie id is
forward-filled), never line by line in Python, so memory stays proportional to the output.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from recbench.data.archives import archive_kind, iter_tar_files
from recbench.data.formats import ReadOptions
from recbench.data.tabular import Parsed, arrow_message, int_ids, split_fields, title_features
from recbench.errors import DataError

MV_FILE = re.compile(r"(?:^|/)mv_\d+\.txt$")
_COMBINED = re.compile(r"combined_data_(\d+)\.txt$")
NETFLIX_BLOCK = 1 << 24  # bytes of text parsed at a time


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
                f"({arrow_message(exc)})"
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
            mv = sorted(p for p in d.iterdir() if MV_FILE.search(p.name))
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
    if len(sources) > 1 and all(MV_FILE.search(p.name) for p in sources):
        for block in _concat_blocks((p.read_bytes() for p in sources), block_size):
            parser.feed(block, str(path))
    else:
        for src in sources:
            if src.suffix != ".txt" and archive_kind(src) == "tar":
                files = (data for name, data in iter_tar_files(src) if MV_FILE.search(name))
                for block in _concat_blocks(files, block_size):
                    parser.feed(block, str(src))
            else:
                for view in _file_blocks(src, block_size):
                    parser.feed(view, str(src))
    return parser.finish(str(path))


def read_netflix_ratings(path: Path, options: ReadOptions) -> Parsed:
    """A user's Netflix-format ratings (file, directory or archive); reader of the
    ``netflix-ratings`` format (no read options apply)."""
    return Parsed(read_netflix(path))


def read_netflix_titles(path: Path) -> pd.DataFrame:
    """``movie_titles``: MovieID,Year,Title (latin-1); titles may hold commas, year may be NULL."""
    parts = split_fields(path.read_bytes().decode("latin-1"), ",", 3, path)
    feats = title_features(parts[2])
    year = pd.to_numeric(parts[1].str.strip().replace("NULL", None), errors="coerce")
    feats["year"] = year.astype("Int64").array
    feats.index = pd.Index(int_ids(parts[0], path, "movie id"), name="item")
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
