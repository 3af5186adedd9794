"""Sequence formats (issue 25 item 1): SASRec pairs, S3-Rec lines (+ item2attributes), RecBole
atomic files, Amazon review JSON lines; their bad input; and the real LastFM / Games files
(skipped when ../shared/datasets lacks them)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from recbench.data import add_dataset, load_dataset
from recbench.data.formats import FORMATS, ReadOptions, detect_format
from recbench.data.preprocess import Preprocessing, apply
from recbench.data.sequence_files import FILE_ORDER
from recbench.data.sources import resolve_source
from recbench.errors import DataError
from tests.helpers import REPO, run_cli

SHARED = REPO.parent / "shared" / "datasets"
LASTFM = SHARED / "lastfm-s3rec"
GAMES = SHARED / "games-sasrec"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def raw_sequences(ds) -> dict[int, list[int]]:  # type: ignore[no-untyped-def]
    """Each raw user's raw items in event order."""
    inter = ds.interactions
    seq = inter.sequences()
    return {
        int(inter.users.ids[u]): [int(x) for x in inter.items.ids[seq.of(u)]]
        for u in range(inter.n_users)
    }


def test_sequence_formats_are_records_of_the_reader_table() -> None:
    for name in ("sasrec", "s3rec", "recbole", "amazon"):
        assert FORMATS[name].dedup == "none", name  # sequence data keeps every repeat


def test_sasrec_pairs_keep_file_order_and_repeats(tmp_path: Path) -> None:
    # user 2's lines are interleaved with user 1's; user 1 repeats item 7; user 3 has one item
    path = write(tmp_path / "Toy.txt", "1 9\n2 4\n1 7\n1 3\n2 5\n1 7\n3 8\n2 6\n")
    assert detect_format(path) is None  # two columns could be a table: name the format
    rec, ds = add_dataset("toy", path, tmp_path / "d", format="sasrec")
    assert rec.format == "sasrec"
    assert raw_sequences(ds) == {1: [9, 7, 3, 7], 2: [4, 5, 6], 3: [8]}
    inter = ds.interactions
    assert inter.dedup == "none" and inter.timestamp is None and inter.rating is None
    assert len(inter) == 8 and ds.source["duplicates_dropped"] == 0
    assert ds.source["order"] == FILE_ORDER
    assert ds.source["short_users"] == 1  # user 3: kept, counted
    assert "1 users have fewer than 3 items (kept, not dropped" in ds.source["notes"][0]


def test_s3rec_lines_with_attributes_are_detected_and_become_features(tmp_path: Path) -> None:
    path = write(tmp_path / "Toy.txt", "1 5 6 5 7\n2 6 7\n3 8\n")
    attrs = {"5": [1, 2], "6": [2], "7": [], "8": [3, 1], "9": [4]}  # item 9 has no rating
    write(tmp_path / "Toy_item2attributes.json", json.dumps(attrs))
    assert detect_format(path) == "s3rec"
    ds = load_dataset(resolve_source(str(path)), tmp_path / "d")
    assert raw_sequences(ds) == {1: [5, 6, 5, 7], 2: [6, 7], 3: [8]}
    assert ds.interactions.dedup == "none" and ds.source["order"] == FILE_ORDER
    feats = ds.item_features
    assert feats is not None and ds.n_items == 5  # the catalogue holds item 9 too
    by_item = dict(zip(ds.interactions.items.ids.tolist(), feats["attributes"], strict=True))
    assert by_item == {5: "1|2", 6: "2", 7: "", 8: "3|1", 9: "4"}
    # the attributes file is part of the cache key: changing it is a new dataset
    key = ds.checksum
    write(tmp_path / "Toy_item2attributes.json", json.dumps({**attrs, "9": [5]}))
    assert load_dataset(resolve_source(str(path)), tmp_path / "d").checksum != key


def test_s3rec_shape_is_detected_without_attributes(tmp_path: Path) -> None:
    path = write(tmp_path / "seq.txt", "1 5 6 7\n2 6 7\n")
    assert detect_format(path) == "s3rec"
    table = write(tmp_path / "pairs.txt", "1 5\n2 6\n")
    assert detect_format(table) is None  # equal widths: could be a table


@pytest.mark.parametrize(
    ("fmt", "text", "needle"),
    [
        ("sasrec", "1 2\n1 x\n", "line 2: id 'x' is not a whole number"),
        ("sasrec", "1 2\n1 2.5\n", "line 2: id '2.5' is not a whole number"),
        ("sasrec", "1 2\n\n1 3\n", "line 2 is empty"),
        ("sasrec", "1 2 3\n", "line 1: expected 2 fields 'user item', found 3"),
        ("sasrec", "1 -2\n", "line 1: ids must be 0 or more"),
        ("s3rec", "1 2 3\n2 a 4\n", "line 2: id 'a' is not a whole number"),
        ("s3rec", "1 2 3\n   \n2 4\n", "line 2 is empty"),
        ("s3rec", "1 2 3\n2\n", "line 2: user 2 lists no items"),
        ("s3rec", "1 2 3\n2 4\n1 5\n", "line 3: user 1 already has line 1"),
    ],
)
def test_bad_sequence_files_are_one_line_errors(
    tmp_path: Path, fmt: str, text: str, needle: str
) -> None:
    path = write(tmp_path / "bad.txt", text)
    with pytest.raises(DataError) as exc:
        FORMATS[fmt].read(path, ReadOptions())
    msg = str(exc.value)
    assert needle in msg and "\n" not in msg and str(path) in msg


def test_user_with_one_item_is_kept_and_counted(tmp_path: Path) -> None:
    # loading keeps and counts short users; leave-one-out (the split) refuses one-item users
    path = write(tmp_path / "s.txt", "1 2 3 4\n2 5\n3 6 7\n")
    ds = load_dataset(resolve_source(str(path)), tmp_path / "d")
    assert ds.n_users == 3 and ds.source["short_users"] == 2


@pytest.mark.parametrize("fmt", ["s3rec", "sasrec"])
def test_one_item_user_under_leave_one_out_is_exit_2_and_nothing_recorded(
    capsys, tmp_path: Path, fmt: str
) -> None:  # type: ignore[no-untyped-def]
    rows = {u: [(u * 5 + k) % 11 + 1 for k in range(4)] for u in range(1, 9)}
    rows[9] = [3]  # the one-item user
    if fmt == "s3rec":
        text = "".join(f"{u} " + " ".join(map(str, it)) + "\n" for u, it in rows.items())
    else:
        text = "".join(f"{u} {i}\n" for u, it in rows.items() for i in it)
    path = write(tmp_path / "seq.txt", text)
    data = tmp_path / "data"
    res = run_cli(["datasets", "add", "seq", str(path), "--format", fmt], capsys, data)
    assert res.code == 0, res.err  # loading keeps the user; the split refuses it
    base = ["compare", "-d", "seq", "--algos", "popularity", "--k", "5"]
    res = run_cli(base, capsys, data)  # a sequence file's default split is leave-one-out
    assert res.code == 2, res.err
    line = res.err.strip()
    assert "leave-one-out: 1 user(s) have a single item (user 9 first)" in line
    assert "--min-user-ratings 2" in line and len(line.splitlines()) == 1
    assert "Traceback" not in res.err
    runs = data / "runs"
    assert not runs.exists() or not any(runs.iterdir())  # nothing recorded
    for split in (["--split", "leave-one-out"], []):
        res = run_cli(base + split + ["--min-user-ratings", "2"], capsys, data)
        assert res.code == 0, res.err
        assert "leave-one-out" in res.out + res.err


def recbole_dir(root: Path) -> Path:
    write(
        root / "toy" / "toy.inter",
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        "u1\ti1\t4\t300.0\nu1\ti2\t5\t100.5\nu2\ti1\t3\t200\nu1\ti2\t2\t400\n",
    )
    write(
        root / "toy" / "toy.item",
        "item_id:token\ttitle:token_seq\tyear:token\ni1\tThe One\t1999\ni2\tTwo\t2001\n"
        "i3\tThree\t2003\n",
    )
    return root / "toy"


def test_recbole_atomic_directory_with_item_features(tmp_path: Path) -> None:
    d = recbole_dir(tmp_path)
    assert detect_format(d) == "recbole" and detect_format(d / "toy.inter") == "recbole"
    ds = load_dataset(resolve_source(str(d)), tmp_path / "data")
    inter = ds.interactions
    assert len(inter) == 4 and inter.dedup == "none"  # (u1, i2) twice: both kept
    order = inter.event_order()  # by timestamp (fractions dropped), then file order
    users = inter.users.ids[inter.user[order]].tolist()
    items = inter.items.ids[inter.item[order]].tolist()
    assert list(zip(users, items, strict=True)) == [
        ("u1", "i2"),
        ("u2", "i1"),
        ("u1", "i1"),
        ("u1", "i2"),
    ]
    assert sorted(inter.timestamp.tolist()) == [100, 200, 300, 400]  # type: ignore[union-attr]
    feats = ds.item_features
    assert feats is not None and ds.n_items == 3 and list(feats.columns) == ["title", "year"]
    assert feats["title"].tolist() == ["The One", "Two", "Three"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("user_id\titem_id\nu\ti\n", "header column 'user_id' is not 'name:type'"),
        ("user_id:token\tscore:float\nu\t1\n", "the header has no 'item_id' column"),
        ("user_id:token\titem_id:token\trating:float\nu\ti\tfive\n", "line 2: rating 'five'"),
        ("user_id:token\titem_id:token\n", "lists no interactions"),
        ("", "is empty"),
    ],
)
def test_bad_recbole_files_are_one_line_errors(tmp_path: Path, text: str, needle: str) -> None:
    path = write(tmp_path / "x.inter", text)
    with pytest.raises(DataError) as exc:
        load_dataset(resolve_source(str(path)))
    assert needle in str(exc.value) and "\n" not in str(exc.value)


def amazon_2014() -> list[dict[str, object]]:
    rows = []
    for u in range(6):
        for i in range(6):
            if (u + i) % 6 != 5:  # every user and item has 5 reviews
                rows.append(
                    {
                        "reviewerID": f"A{u}",
                        "asin": f"B{i}",
                        "overall": float(1 + (u + i) % 5),
                        "unixReviewTime": 1_000_000 + 10 * i + u,
                        "reviewText": "fine, really",
                    }
                )
    rows.append({"reviewerID": "A9", "asin": "B0", "overall": 5.0, "unixReviewTime": 5})
    return rows


def test_amazon_2014_gzip_and_the_five_core(tmp_path: Path) -> None:
    path = tmp_path / "reviews_Toy_5.json.gz"
    with gzip.open(path, "wt") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in amazon_2014())
    assert detect_format(path) == "amazon"
    ds = load_dataset(resolve_source(str(path)), tmp_path / "d")
    inter = ds.interactions
    assert (len(inter), ds.n_users, ds.n_items) == (31, 7, 6)
    assert inter.dedup == "none" and ds.source["amazon_keys"] == "2014/2018"
    assert inter.timestamp is not None and int(inter.timestamp.min()) == 5
    cored, summary = apply(ds, Preprocessing(min_user_ratings=5, min_item_ratings=5))
    assert (len(cored.interactions), cored.n_users, cored.n_items) == (30, 6, 6)
    assert summary["users_removed"] == 1  # A9, with one review


def test_amazon_2023_keys_and_millisecond_times(tmp_path: Path) -> None:
    rows = [
        {
            "user_id": "U1",
            "parent_asin": "P1",
            "asin": "A1",
            "rating": 4,
            "timestamp": 1_600_000_000_123,
        },
        {"user_id": "U1", "asin": "A2", "rating": 5.0, "timestamp": 1_600_000_001_999},
        {"user_id": "U2", "parent_asin": "P1", "rating": 3, "timestamp": 1_500_000_000_000},
    ]
    path = write(tmp_path / "Toys.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    ds = load_dataset(resolve_source(str(path)))
    frame = ds.interactions.to_frame().sort_values("timestamp")
    assert frame["item"].tolist() == ["P1", "P1", "A2"]  # parent_asin, else asin
    assert frame["timestamp"].tolist() == [1_500_000_000, 1_600_000_000, 1_600_000_001]
    assert ds.source["amazon_keys"] == "2023"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (
            '{"reviewerID": "A", "asin": "B", "overall": 5, "unixReviewTime": 1}\n{"reviewerID": ',
            "line 2: malformed JSON",
        ),
        (
            '{"reviewerID": "A", "asin": "B", "overall": 5, "unixReviewTime": 1}\n\n',
            "line 2 is empty",
        ),
        ('{"reviewerID": "A", "asin": "B", "unixReviewTime": 1}\n', "line 1: 'overall' is missing"),
        (
            '{"reviewerID": "A", "asin": "B", "overall": "x", "unixReviewTime": 1}\n',
            "must be numbers",
        ),
        ('{"name": "A"}\n', "line 1: no reviewer key"),
    ],
)
def test_bad_amazon_lines_are_one_line_errors(tmp_path: Path, text: str, needle: str) -> None:
    from recbench.data.amazon import read_amazon

    path = write(tmp_path / "r.json", text)
    with pytest.raises(DataError) as exc:
        read_amazon(path)
    assert needle in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize(
    ("fmt", "name", "text", "needle"),
    [
        ("sasrec", "s.txt", "1 2\n1 x\n", "line 2: id 'x' is not a whole number"),
        ("sasrec", "s.txt", "1 2\n\n1 3\n", "line 2 is empty"),
        ("s3rec", "s.txt", "1 2 3\n2\n", "user 2 lists no items"),
        ("amazon", "r.json", '{"reviewerID": "A", "asin": "B"', "line 1: malformed JSON"),
    ],
)
def test_cli_bad_sequence_input_exit_2_and_nothing_kept(
    capsys, tmp_path: Path, fmt: str, name: str, text: str, needle: str
) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path / "in" / name, text)
    data = tmp_path / "data"
    res = run_cli(["datasets", "add", "bad", str(path), "--format", fmt], capsys, data)
    assert res.code == 2, res.err
    assert needle in res.err and len(res.err.strip().splitlines()) == 1
    assert "Traceback" not in res.err
    assert not (data / "user-datasets.json").exists()  # nothing recorded
    assert not list((data / "parsed").glob("*")) if (data / "parsed").exists() else True
    if fmt == "amazon":  # a shape recbench recognises loads by path too: the same error
        res = run_cli(["datasets", "info", str(path)], capsys, data)
        assert res.code == 2 and needle in res.err, res.err


def test_cli_add_sasrec_file_then_use_it(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lines = "".join(f"{u} {(u * 7 + k) % 9 + 1}\n" for u in range(1, 13) for k in range(5))
    path = write(tmp_path / "Toy.txt", lines)
    data = tmp_path / "data"
    res = run_cli(["datasets", "add", "toyseq", str(path), "--format", "sasrec"], capsys, data)
    assert res.code == 0, res.err
    assert "added toyseq: 60 ratings, 12 users, 9 items (sasrec" in res.err
    res = run_cli(
        ["compare", "--dataset", "toyseq", "--algos", "popularity", "--no-store", "--k", "5"],
        capsys,
        data,
    )
    assert res.code == 0, res.err


@pytest.mark.skipif(not (LASTFM / "LastFM.txt").is_file(), reason="lastfm-s3rec not in shared")
def test_real_lastfm_s3rec(tmp_path: Path) -> None:
    ds = load_dataset(resolve_source(str(LASTFM / "LastFM.txt")), tmp_path)
    inter = ds.interactions
    assert (len(inter), inter.n_users, inter.n_items) == (52_551, 1_090, 3_646)
    assert ds.source["format"] == "s3rec" and ds.source["order"] == FILE_ORDER
    assert ds.item_features is not None and "attributes" in ds.item_features
    first = (LASTFM / "LastFM.txt").read_text().splitlines()[0].split()
    seq = raw_sequences(ds)
    assert seq[int(first[0])] == [int(x) for x in first[1:]]  # file order, repeats kept
    assert int(np.count_nonzero(ds.item_features["attributes"] == "")) < inter.n_items


@pytest.mark.skipif(not (GAMES / "Video.txt").is_file(), reason="games-sasrec not in shared")
def test_real_games_sasrec(tmp_path: Path) -> None:
    _, ds = add_dataset("games", GAMES / "Video.txt", tmp_path, format="sasrec")
    inter = ds.interactions
    assert (len(inter), inter.n_users, inter.n_items) == (287_107, 31_013, 23_715)
    assert ds.source["short_users"] == 112  # 30 users with one item, 82 with two: kept
    with (GAMES / "Video.txt").open() as fh:
        head = [tuple(map(int, next(fh).split())) for _ in range(3)]
    user = head[0][0]
    assert raw_sequences(ds)[user][:3] == [i for u, i in head if u == user][:3]
