"""Inputs a new user may give the data layer, and what they must get: a one-line error naming
the problem, a warning, or the right dataset; never an internal error, never stale data."""

from __future__ import annotations

import gzip
import json
import os
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recbench.data import (
    DatasetSpec,
    add_dataset,
    clean_stale_data_dir,
    load_dataset,
    resolve,
    strip_control,
)
from recbench.data.build import build_dataset
from recbench.data.cache import load as load_entry
from recbench.errors import DataError, UsageError
from tests.helpers import run_cli

CSV = "user,item,rating\n1,10,4\n1,20,3\n2,10,5\n2,30,1\n3,20,2\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    msg = str(exc.value)
    assert msg and "\n" not in msg, msg
    return msg


def entries(cache_dir: Path) -> list[Path]:
    return sorted(p for p in (cache_dir / "parsed").iterdir() if not p.name.startswith("."))


# --- paths that are not ratings files ----------------------------------------------------------


def test_symlink_loop_is_a_usage_error_naming_it(tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.symlink_to(b)
    b.symlink_to(a)
    with pytest.raises(UsageError) as exc:
        resolve(DatasetSpec(str(a)), tmp_path / "data")
    assert "a.csv" in one_line(exc) and "symbolic link loop" in one_line(exc)
    with pytest.raises(UsageError, match="symbolic link loop"):
        load_dataset(str(a), data_dir=tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match="symbolic link loop"):
        load_dataset("a.csv", data_dir=tmp_path / "data")
    with pytest.raises(UsageError, match="symbolic link loop"):
        add_dataset("loop", a, tmp_path / "data", format="csv")
    res = run_cli(["datasets", "info", "a.csv"], capsys, tmp_path / "data")
    assert res.code == 2 and "symbolic link loop" in res.err, res.err


def test_gzip_file_named_csv_says_it_is_gzip(tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_bytes(gzip.compress(CSV.encode()))
    with pytest.raises(UsageError) as exc:
        load_dataset(str(path), data_dir=tmp_path / "c")
    msg = one_line(exc)
    assert "ratings.csv is gzip-compressed" in msg and "gunzip" in msg
    with pytest.raises(UsageError, match="gzip-compressed"):
        add_dataset("gz", path, tmp_path / "data", format="csv")
    zipped = tmp_path / "r.tsv"
    zipped.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    with pytest.raises(UsageError, match="is a zip archive"):
        load_dataset(str(zipped))


def test_fifo_says_it_is_a_fifo_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "ratings.csv"
    os.mkfifo(fifo)
    caught: list[BaseException] = []

    def attempt() -> None:
        try:
            load_dataset(str(fifo), data_dir=tmp_path / "c")
        except BaseException as exc:  # recorded for the assertion below
            caught.append(exc)

    worker = threading.Thread(target=attempt, daemon=True)  # a blocked open must not hang pytest
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "loading a FIFO blocked"
    assert len(caught) == 1 and isinstance(caught[0], UsageError), caught
    assert "named pipe (FIFO)" in str(caught[0]) and "ratings.csv" in str(caught[0])


def test_parquet_content_is_recognised_whatever_the_name(tmp_path: Path) -> None:
    path = tmp_path / "ratings.data"
    pd.DataFrame({"user": [1, 2], "item": [3, 4], "rating": [5.0, 4.0]}).to_parquet(path)
    ds = load_dataset(str(path))
    assert len(ds.interactions) == 2


# --- the Parquet cache carries a content hash --------------------------------------------------


def test_altered_cache_entry_is_rebuilt_not_served(tmp_path: Path) -> None:
    src = write(tmp_path / "r.csv", CSV)
    cache_dir = tmp_path / "cache"
    first = load_dataset(str(src), data_dir=cache_dir)
    [entry] = entries(cache_dir)
    inter = entry / "interactions.parquet"
    frame = pd.read_parquet(inter)
    frame["rating"] = np.float32(1.0)  # a valid Parquet file with other data in it
    frame.to_parquet(inter, index=False)
    assert load_entry(entry) is None
    again = load_dataset(str(src), data_dir=cache_dir)
    np.testing.assert_array_equal(again.interactions.rating, first.interactions.rating)
    assert load_entry(entry) is not None  # rewritten
    np.testing.assert_array_equal(
        pd.read_parquet(inter)["rating"].to_numpy(), first.interactions.rating
    )
    meta = json.loads((entry / "meta.json").read_text())
    meta["rating_scale"] = [0, 100]  # meta.json is covered too
    (entry / "meta.json").write_text(json.dumps(meta))
    assert load_entry(entry) is None
    assert load_dataset(str(src), data_dir=cache_dir).rating_scale == first.rating_scale


# --- user dataset names win over same-named paths ----------------------------------------------


def test_registered_user_dataset_wins_over_same_named_file(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    mine = write(tmp_path / "elsewhere" / "shop.csv", CSV)
    add_dataset("shop", mine, data, format="csv")
    work = tmp_path / "work"
    write(work / "shop", "user,item,rating\n7,70,1\n")  # a file called like the dataset
    monkeypatch.chdir(work)
    assert resolve(DatasetSpec("shop"), data) == DatasetSpec("shop")
    ds = load_dataset("shop", data_dir=data)
    assert ds.source["kind"] == "user" and len(ds.interactions) == 5
    # The file stays reachable as a path.
    assert len(load_dataset("./shop", data_dir=data).interactions) == 1
    # Without the registration, a bare name that is a file is still the file.
    assert len(load_dataset("shop", data_dir=tmp_path / "other").interactions) == 1


# --- --columns must account for every column ---------------------------------------------------


def test_columns_with_fewer_roles_than_columns_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "u.data", "1\t10\t4\t881250949\n2\t20\t3\t891717742\n")
    spec = DatasetSpec(str(path), columns="user,item,rating", sep="\t")
    with pytest.raises(UsageError) as exc:
        load_dataset(spec)
    msg = one_line(exc)
    assert "4 columns but --columns names 3" in msg and "user,item,rating,-" in msg
    ds = load_dataset(DatasetSpec(str(path), columns="user,item,rating,-", sep="\t"))
    assert ds.interactions.timestamp is None and len(ds.interactions) == 2
    pq = tmp_path / "r.parquet"
    pd.DataFrame({"u": [1], "i": [2], "r": [3.0], "t": [4]}).to_parquet(pq)
    with pytest.raises(UsageError, match="4 columns but --columns names 2"):
        load_dataset(DatasetSpec(str(pq), columns="user,item"))
    assert load_dataset(DatasetSpec(str(pq), columns="user,item,-,-")).interactions.rating is None


# --- warnings: odd ratings, control characters -------------------------------------------------


def test_clean_data_has_an_empty_warning_list(tmp_path: Path) -> None:
    ds = load_dataset(str(write(tmp_path / "r.csv", CSV)), data_dir=tmp_path / "c")
    assert ds.source["warnings"] == []
    assert load_dataset("ml-latest-small").source["warnings"] == []


def test_ratings_off_the_scale_and_negative_are_warned(tmp_path: Path) -> None:
    # 300 ratings on a 1-5 scale, one of 99 (a typo for 9? a percentage?) and one of -2.
    rows = "".join(f"{u},{i},{1 + (u + i) % 5}\n" for u in range(30) for i in range(10))
    src = write(tmp_path / "r.csv", "user,item,rating\n" + rows + "40,1,99\n41,2,-2\n")
    ds = load_dataset(str(src), data_dir=tmp_path / "c")
    warnings = ds.source["warnings"]
    assert len(warnings) == 2, warnings
    assert warnings[0] == "1 negative rating (e.g. -2 by user 41 for item 2)"
    assert warnings[1] == "1 rating outside the usual scale 0-5 (e.g. 99 by user 40 for item 1)"
    assert all("\n" not in w for w in warnings)
    cached = load_dataset(str(src), data_dir=tmp_path / "c")
    assert cached.source["warnings"] == warnings  # kept in the cache entry
    frame = pd.DataFrame({"user": [1, 2, 3], "item": [1, 2, 3], "rating": [1.0, 5.0, 6.0]})
    declared = build_dataset("x", frame, checksum="c", rating_scale=(1.0, 5.0))
    assert declared.source["warnings"] == [
        "1 rating outside the declared scale 1-5 (e.g. 6 by user 3 for item 3)"
    ]
    assert build_dataset("x", frame, checksum="c").source["warnings"] == []  # 6 is within 0-10


def test_control_characters_in_ids_and_titles_are_warned(tmp_path: Path) -> None:
    src = write(tmp_path / "r.csv", "user,item,rating\nal\x1b[31mice,x,4\nbob,y,3\n")
    feats = write(
        tmp_path / "items.csv", "item,title\nx,Heat\x1b]0;pwned\x07 (1995)\ny,Alien (1979)\n"
    )
    _, ds = add_dataset("ctl", src, tmp_path / "data", format="csv", item_features=feats)
    warnings = ds.source["warnings"]
    assert any(w.startswith("1 user ids contain control characters") for w in warnings)
    assert any(w.startswith("1 titles contain control characters") for w in warnings)
    assert all("\x1b" not in w and "\x07" not in w for w in warnings)  # shown escaped
    assert ds.interactions.users.ids[0] == "al\x1b[31mice"  # the data itself is unchanged


def test_strip_control_removes_escapes_and_control_characters() -> None:
    assert strip_control("Heat (1995)") == "Heat (1995)"
    assert strip_control("\x1b[1;31mred\x1b[0m") == "red"
    assert strip_control("Heat\x1b]0;pwned\x07 (1995)") == "Heat (1995)"
    assert strip_control("a\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\b") == "alinkb"
    assert strip_control("tab\there\nnew\x7fdel\x85c1") == "tabherenewdelc1"
    assert strip_control("8-bit \x9b31mCSI") == "8-bit CSI"
    assert strip_control("abc\u202eevil") == "abcevil"
    assert strip_control("Amélie (2001) 東京") == "Amélie (2001) 東京"


# --- start-up clean-up of what killed processes left -------------------------------------------


KILLED_WRITER = """
import sys, time
from pathlib import Path
import pandas as pd
real = pd.DataFrame.to_parquet
def slow(self, *args, **kwargs):
    real(self, *args, **kwargs)
    print("writing", flush=True)
    time.sleep(120)
pd.DataFrame.to_parquet = slow
from recbench.data import load_dataset
load_dataset(sys.argv[1], data_dir=Path(sys.argv[2]))
"""
CLEANER = """
import sys
from pathlib import Path
from recbench.data import clean_stale_data_dir
clean_stale_data_dir(Path(sys.argv[1]))
"""


def test_clean_stale_data_dir_removes_a_killed_writers_cache_temporary(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    src = write(tmp_path / "r.csv", CSV)
    data = tmp_path / "data"
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(src), str(data)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "writing"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(30)
    left = [p for p in (data / "parsed").iterdir() if ".rbtmp-" in p.name]
    assert len(left) == 1 and str(writer.pid) in left[0].name, left
    # A live writer's temporary (this process's) is left alone.
    live = data / "parsed" / f".x.rbtmp-tmp-{os.getpid()}-0000abcd"
    live.mkdir()
    cleaner = subprocess.run(
        [sys.executable, "-c", CLEANER, str(data)], env=env, capture_output=True, text=True
    )
    assert cleaner.returncode == 0, cleaner.stderr
    assert not left[0].exists() and live.exists()
    ds = load_dataset(str(src), data_dir=data)  # and the cache works afterwards
    assert len(ds.interactions) == 5 and len(entries(data)) == 1


def test_clean_stale_data_dir_puts_back_a_copy_renamed_aside(tmp_path: Path) -> None:
    data = tmp_path / "data"
    aside = data / "datasets" / ".ml-1m.rbtmp-old-999999999-0000abcd"
    aside.mkdir(parents=True)
    (aside / "ratings.dat").write_text("1::2::3::4\n")
    staged = data / "downloads" / ".ml-1m.rbtmp-tmp-999999999-0000abce"
    staged.mkdir(parents=True)
    memo = data / ".file-hashes.json.rbtmp-tmp-999999999-0000abcf"
    memo.write_text("{")
    old = 1_000_000_000  # long before this process started
    for p in (aside, staged, memo):
        os.utime(p, (old, old))
    clean_stale_data_dir(data)
    assert (data / "datasets" / "ml-1m" / "ratings.dat").exists()
    assert not staged.exists() and not memo.exists()
    clean_stale_data_dir(tmp_path / "missing")  # no data directory yet: nothing to do


def test_missing_file_and_directory_stay_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="ratings file not found"):
        load_dataset(str(tmp_path / "nope.csv"))
    (tmp_path / "d.csv").mkdir()
    with pytest.raises(DataError, match="is a directory"):
        load_dataset(str(tmp_path / "d.csv"))


# --- files without a header, binary files, separators ---------------------------------------


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("1 6393\n1 13504\n2 7\n", "--columns user,item "),
        ("1,9,1.1\n2,9,3\n", "--columns user,item,rating "),
        ("1,9,1.1,1608184876\n2,9,3,1608184877\n", "--columns user,item,rating,timestamp "),
        ("1\t9\t4\t1608184876\t0\n", "--columns user,item,rating,timestamp,- "),
    ],
)
def test_headerless_file_suggests_columns_that_fit(tmp_path: Path, text: str, hint: str) -> None:
    """An all-numeric first line is data, not a header; the suggested --columns then loads it."""
    path = write(tmp_path / "r.txt", text)
    with pytest.raises(DataError) as exc:
        load_dataset(str(path), data_dir=tmp_path / "data")
    message = one_line(exc)
    assert "has no header: line 1 is all numbers" in message and hint in message, message
    columns = hint.split()[1]
    ds = load_dataset(DatasetSpec(str(path), columns=columns), data_dir=tmp_path / "data")
    assert len(ds.interactions) == len(text.strip().splitlines())


def test_unrecognised_header_suggests_columns_that_fit(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "a,b\nx,y\n")
    with pytest.raises(DataError) as exc:
        load_dataset(str(path), data_dir=tmp_path / "data")
    assert one_line(exc).endswith("e.g. --columns user,item")


def test_sasrec_two_column_file_loads_with_the_suggested_columns(tmp_path: Path) -> None:
    video = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "games-sasrec"
    path = video / "Video.txt"
    if not path.exists():
        pytest.skip("games-sasrec/Video.txt is not here (it is never committed)")
    with pytest.raises(DataError, match="--columns user,item "):
        load_dataset(str(path), data_dir=tmp_path / "data")
    ds = load_dataset(DatasetSpec(str(path), columns="user,item"), data_dir=tmp_path / "data")
    pairs = {tuple(line.split()) for line in path.open() if line.strip()}
    assert len(ds.interactions) == len(pairs)
    assert ds.interactions.rating is None


@pytest.mark.parametrize("sep", [" ", "space"])
def test_space_separator(tmp_path: Path, sep: str) -> None:
    path = write(tmp_path / "r.txt", "user item rating\n1 10 4\n2 20 3\n")
    ds = load_dataset(DatasetSpec(str(path), sep=sep), data_dir=tmp_path / "data")
    assert len(ds.interactions) == 2


@pytest.mark.parametrize(
    "head",
    [
        b"\x7fELF\x02\x01\x01\x00" + bytes(200),  # an executable
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(100),  # an image
        bytes(range(1, 32)) * 10 + b"1,2,3\n",  # control bytes, no NUL
    ],
)
def test_binary_file_says_it_is_not_a_text_ratings_file(tmp_path: Path, head: bytes) -> None:
    path = tmp_path / "ratings.csv"
    path.write_bytes(head + b"\n1,2,3\n4,5\n")
    with pytest.raises(UsageError) as exc:
        load_dataset(str(path), data_dir=tmp_path / "data")
    assert "is binary data, not a text ratings file" in one_line(exc)


def test_latin1_and_utf8_text_is_not_taken_for_binary(tmp_path: Path) -> None:
    text = "user,item,rating\nJosé,Café,4\nMüller,Crème brûlée,5\n"
    for encoding in ("utf-8", "latin-1"):
        path = tmp_path / f"{encoding}.csv"
        path.write_bytes(text.encode(encoding))
        ds = load_dataset(str(path), data_dir=tmp_path / "data")
        assert len(ds.interactions) == 2
