"""Builders of small MovieLens- and Netflix-shaped releases (and their archives) for the dataset
tests, plus a real HTTP server on 127.0.0.1 that serves them. Nothing here touches the internet.

Every builder writes the files of one release format from a known list of ratings, so a test can
compare what the parser returns with what went in.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

SHARED_ML100K = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "ml-100k"

# (user, item, rating, timestamp): user 3 rates item 20 twice (the later one must win).
RATINGS = [
    (1, 10, 4.0, 881250949),
    (1, 20, 3.0, 881250950),
    (2, 10, 5.0, 881250960),
    (2, 30, 1.0, 881250970),
    (3, 20, 2.0, 881250980),
    (3, 20, 4.0, 881250990),
    (3, 40, 5.0, 881251000),
]
N_RATINGS, N_USERS, N_RATED_ITEMS = 6, 3, 4  # after the duplicate is dropped
GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip
# item -> (title, genres); item 50 is in the catalogue but unrated.
MOVIES = {
    10: ("Toy Story (1995)", ["Animation", "Children's", "Comedy"]),
    20: ("Café au lait (1994)", ["Drama"]),
    30: ("Star Wars: Episode IV - A New Hope (1977)", ["Action", "Sci-Fi"]),
    40: ("American President, The (1995)", ["Comedy", "Romance"]),
    50: ("unknown", ["unknown"]),
}


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def expected_frame(half_stars: bool = False) -> pd.DataFrame:
    """The canonical frame a parser must return for RATINGS (duplicates still in)."""
    rows = [(u, i, r - (0.5 if half_stars and r > 1 else 0.0), t) for u, i, r, t in RATINGS]
    return pd.DataFrame(rows, columns=["user", "item", "rating", "timestamp"])


# --- release directories -----------------------------------------------------------------------


def write_ml100k(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "u.data").write_text("".join(f"{u}\t{i}\t{int(r)}\t{t}\n" for u, i, r, t in RATINGS))
    lines = []
    for item, (title, genres) in MOVIES.items():
        flags = "|".join("1" if g in genres else "0" for g in GENRES)
        date = "" if item == 50 else "01-Jan-1995"
        lines.append(f"{item}|{title}|{date}||http://imdb/{item}|{flags}\n")
    (root / "u.item").write_bytes("".join(lines).encode("latin-1"))
    (root / "u.genre").write_text("".join(f"{g}|{k}\n" for k, g in enumerate(GENRES)) + "\n")
    (root / "u.user").write_text(
        "1|24|M|technician|85711\n2|53|F|other|94043\n3|23|M|writer|32067\n"
    )
    (root / "u.occupation").write_text("technician\nother\nwriter\n")
    (root / "README").write_text("MovieLens-100k-like fixture\n")
    return root


def write_ml1m(root: Path, *, users: bool = True, tags: bool = False, half: bool = False) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    frame = expected_frame(half)
    (root / "ratings.dat").write_text(
        "".join(f"{u}::{i}::{r:g}::{t}\n" for u, i, r, t in frame.itertuples(index=False))
    )
    movies = "".join(f"{i}::{t}::{'|'.join(g)}\n" for i, (t, g) in MOVIES.items())
    (root / "movies.dat").write_bytes(movies.encode("latin-1"))
    if users:
        (root / "users.dat").write_text(
            "1::M::25::17::85711\n2::F::56::0::94043\n3::M::18::20::32067\n"
        )
    if tags:
        (root / "tags.dat").write_text(
            "1::10::Pixar::881250949\n2::10::pixar::881250950\n3::30::space :: opera::881250951\n"
        )
    return root


def write_ml20m(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    frame = expected_frame(half_stars=True)
    frame = frame.rename(columns={"user": "userId", "item": "movieId"})
    frame.to_csv(root / "ratings.csv", index=False)
    movies = pd.DataFrame(
        {
            "movieId": list(MOVIES),
            "title": [t for t, _ in MOVIES.values()],
            "genres": ["|".join(g) for _, g in MOVIES.values()],
        }
    )
    movies.to_csv(root / "movies.csv", index=False)
    (root / "tags.csv").write_text(
        "userId,movieId,tag,timestamp\n1,10,Pixar,1\n2,30,space opera,2\n"
    )
    (root / "links.csv").write_text("movieId,imdbId,tmdbId\n10,114709,862\n")
    (root / "genome-tags.csv").write_text("tagId,tag\n1,funny\n2,dark\n")
    (root / "genome-scores.csv").write_text(
        "movieId,tagId,relevance\n10,1,0.9\n10,2,0.1\n30,1,0.2\n30,2,0.7\n"
    )
    (root / "README.txt").write_text("MovieLens-20m-like fixture\n")
    return root


def netflix_blocks() -> dict[int, list[tuple[int, int, str]]]:
    """movie -> [(customer, rating, date)] for the Netflix fixtures (no duplicates)."""
    return {
        1: [(1488844, 3, "2005-09-06"), (822109, 5, "2005-05-13")],
        2: [(1488844, 4, "2004-01-01")],
        17770: [(2649429, 1, "1999-12-31"), (822109, 2, "2005-12-31")],
    }


def netflix_frame() -> pd.DataFrame:
    rows = [
        (c, m, float(r), int(pd.Timestamp(d, tz="UTC").timestamp()))
        for m, lines in netflix_blocks().items()
        for c, r, d in lines
    ]
    return pd.DataFrame(rows, columns=["user", "item", "rating", "timestamp"])


def netflix_text(movies: list[int] | None = None) -> str:
    blocks = netflix_blocks()
    return "".join(
        f"{m}:\n" + "".join(f"{c},{r},{d}\n" for c, r, d in blocks[m])
        for m in (movies or list(blocks))
    )


TITLES = (
    "1,2003,Dinosaur Planet\n2,NULL,Isle of Man TT 2004 Review\n"
    "17770,2003,Alien Hunter, The Sequel, Part 2\n"
)


def write_netflix_training_set(root: Path) -> Path:
    """The original layout: training_set/mv_*.txt plus movie_titles.txt (latin-1)."""
    ts = root / "training_set"
    ts.mkdir(parents=True, exist_ok=True)
    for m in netflix_blocks():
        (ts / f"mv_{m:07d}.txt").write_text(netflix_text([m]))
    (root / "movie_titles.txt").write_bytes(TITLES.encode("latin-1"))
    return root


def write_netflix_combined(root: Path) -> Path:
    """The Kaggle layout: combined_data_1..2.txt plus movie_titles.csv."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "combined_data_1.txt").write_text(netflix_text([1, 2]))
    (root / "combined_data_2.txt").write_text(netflix_text([17770]))
    (root / "movie_titles.csv").write_bytes(TITLES.encode("latin-1"))
    return root


# --- archives ----------------------------------------------------------------------------------


def zip_dir(src: Path, dest: Path, prefix: str) -> Path:
    """Zip ``src``'s files under ``prefix/`` (like the GroupLens archives)."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(prefix + "/", "")
        for p in sorted(src.rglob("*")):
            if p.is_file():
                zf.write(p, f"{prefix}/{p.relative_to(src).as_posix()}")
    return dest


def tar_dir(src: Path, dest: Path, prefix: str, mode: str = "w:gz") -> Path:
    with tarfile.open(dest, mode) as tf:
        tf.add(src, arcname=prefix)
    return dest


def netflix_prize_archive(tmp: Path) -> Path:
    """Like nf_prize_dataset.tar.gz: download/training_set.tar + download/movie_titles.txt."""
    src = write_netflix_training_set(tmp / "nf-src")
    stage = tmp / "nf-stage"
    stage.mkdir()
    tar_dir(src / "training_set", stage / "training_set.tar", "training_set", mode="w")
    (stage / "movie_titles.txt").write_bytes((src / "movie_titles.txt").read_bytes())
    (stage / "README").write_text("Netflix-like fixture\n")
    return tar_dir(stage, tmp / "nf_prize_dataset.tar.gz", "download")


def evil_zip(dest: Path, good: Path) -> Path:
    """An ml-100k-like zip with a member that climbs out of the target directory."""
    zip_dir(good, dest, "ml-100k")
    with zipfile.ZipFile(dest, "a") as zf:
        zf.writestr("../../evil.txt", "gotcha")
    return dest


def symlink_tar(dest: Path, good: Path) -> Path:
    with tarfile.open(dest, "w:gz") as tf:
        tf.add(good, arcname="ml-100k")
        info = tarfile.TarInfo("ml-100k/link")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tf.addfile(info)
    return dest


# --- a real HTTP server ------------------------------------------------------------------------


@dataclass
class FileServer:
    """Serves ``files`` (name -> bytes) on 127.0.0.1; ``modes`` picks a misbehaviour per name.

    Modes: ``ok``; ``stall`` (sleep 3 s before answering); ``truncate`` (announce the full
    length, send half, hang up); ``fail-once`` (503 on the first request); ``slow`` (send in
    10 pieces, 0.1 s apart).
    """

    files: dict[str, bytes] = field(default_factory=dict)
    modes: dict[str, str] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    url: str = ""

    def count(self, name: str) -> int:
        return self.requests.count(name)


def _handler(state: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            name = self.path.lstrip("/")
            state.requests.append(name)
            mode = state.modes.get(name, "ok")
            try:
                if mode == "stall":
                    time.sleep(3)
                if name not in state.files:
                    self.send_error(404, "Not Found")
                    return
                if mode == "fail-once" and state.count(name) == 1:
                    self.send_error(503, "Service Unavailable")
                    return
                body = state.files[name]
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if mode == "truncate":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if mode == "slow":
                    step = max(1, len(body) // 10)
                    for k in range(0, len(body), step):
                        self.wfile.write(body[k : k + step])
                        self.wfile.flush()
                        time.sleep(0.1)
                    return
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler


@pytest.fixture
def file_server() -> Iterator[FileServer]:
    state = FileServer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    server.block_on_close = False  # do not wait for a stalled handler at teardown
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def serve(server: FileServer, path: Path, mode: str = "ok") -> str:
    server.files[path.name] = path.read_bytes()
    server.modes[path.name] = mode
    return server.url


# --- tests of the builders themselves ----------------------------------------------------------


def test_fixture_archives_are_well_formed(tmp_path: Path) -> None:
    z = zip_dir(write_ml100k(tmp_path / "a"), tmp_path / "ml-100k.zip", "ml-100k")
    assert "ml-100k/u.data" in zipfile.ZipFile(z).namelist()
    nf = netflix_prize_archive(tmp_path)
    with tarfile.open(nf) as tf:
        names = tf.getnames()
        assert "download/training_set.tar" in names
        inner = tf.extractfile("download/training_set.tar")
        assert inner is not None
        with tarfile.open(fileobj=io.BytesIO(inner.read())) as t2:
            assert "training_set/mv_0017770.txt" in t2.getnames()
