"""Given-split forms (issue 24 item 1): NCF's .train.rating/.test.rating(/.test.negative),
RecBole benchmark files, a pair of tables via ``datasets add --train/--test``, and ``datasets
add NAME DIR`` for split directories. The same split written in every form loads to the same
parts and goes through the same cold-user / cold-item / overlap rule as the LightGCN form."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recbench.data import add_dataset, load_dataset
from recbench.data.formats import FORMATS, detect_format
from recbench.data.model import PART_TEST, PART_TRAIN, PART_VALID
from recbench.data.parts import given_counts
from recbench.data.sources import resolve_source
from recbench.errors import DataError, UsageError
from recbench.split import make_split, parse_split
from tests.helpers import run_cli
from tests.test_given_splits import HAND_TEST, HAND_TRAIN, write_split

HAND_COUNTS = {"cold_users": 1, "cold_items": 1, "overlap_pairs": 1}


def pairs(text: str) -> list[tuple[int, int]]:
    """(user, item) pairs of LightGCN-style lines."""
    out = []
    for line in text.splitlines():
        ids = [int(x) for x in line.split()]
        out += [(ids[0], i) for i in ids[1:]]
    return out


def write_ncf(root: Path, negatives: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rows = lambda text: "".join(f"{u}\t{i}\t5\t{100 + n}\n" for n, (u, i) in enumerate(pairs(text)))  # noqa: E731
    (root / "toy.train.rating").write_text(rows(HAND_TRAIN))
    (root / "toy.test.rating").write_text(rows(HAND_TEST))
    if negatives:
        neg = "".join(f"({u},{i})\t7\t8\n" for u, i in pairs(HAND_TEST))
        (root / "toy.test.negative").write_text(neg)
    return root


def write_recbole_split(root: Path, valid: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    head = "user_id:token\titem_id:token\n"
    body = lambda text: "".join(f"{u}\t{i}\n" for u, i in pairs(text))  # noqa: E731
    (root / "toy.train.inter").write_text(head + body(HAND_TRAIN))
    (root / "toy.test.inter").write_text(head + body(HAND_TEST))
    if valid is not None:
        (root / "toy.valid.inter").write_text(head + body(valid))
    return root


def write_tables(root: Path, test_suffix: str = ".csv") -> tuple[Path, Path]:
    root.mkdir(parents=True, exist_ok=True)
    train = pd.DataFrame(pairs(HAND_TRAIN), columns=["user", "item"])
    test = pd.DataFrame(pairs(HAND_TEST), columns=["user", "item"])
    train.to_csv(root / "train.csv", index=False)
    if test_suffix == ".parquet":
        test.to_parquet(root / "test.parquet", index=False)
    else:
        test.to_csv(root / f"test{test_suffix}", index=False)
    return root / "train.csv", root / f"test{test_suffix}"


def check_hand_split(ds) -> None:  # type: ignore[no-untyped-def]
    inter = ds.interactions
    assert int(np.count_nonzero(inter.part == PART_TRAIN)) == 8
    assert int(np.count_nonzero(inter.part == PART_TEST)) == 7
    split = make_split(ds, parse_split("given"), seed=0)
    assert given_counts(split.train.interactions, split.test) == HAND_COUNTS
    assert "1 test users with no training rows are not ranked" in split.protocol
    assert "1 test items never trained on stay in the catalogue" in split.protocol
    assert "warning: 1 test pairs are also training pairs" in split.protocol


def test_every_split_form_is_a_record_marked_split() -> None:
    for name in ("lightgcn", "recbole-split", "ncf", "given-tables"):
        assert FORMATS[name].split, name


def test_ncf_directory_with_negatives(tmp_path: Path) -> None:
    d = write_ncf(tmp_path / "ncf")
    assert detect_format(d) == "ncf"
    ds = load_dataset(resolve_source(str(d)), tmp_path / "data")
    check_hand_split(ds)
    assert ds.interactions.rating is not None and ds.interactions.timestamp is not None
    assert (
        "toy.test.negative: 7 users' sampled negatives read and not used" in ds.source["notes"][0]
    )


@pytest.mark.parametrize(
    ("negatives", "name", "text", "match"),
    [
        (False, "toy.test.rating", "", r"toy.test.rating is empty"),
        (False, "toy.test.rating", "0\t2\n", "2 columns, the training file has 4"),
        (True, "toy.test.negative", "(9,9)\t1\n", r"line 1: \(9,9\) is not a test pair"),
        (False, "toy.train.rating", "0\tx\t5\t1\n", "line 1: item 'x' is not a number"),
    ],
)
def test_ncf_bad_input(tmp_path: Path, negatives: bool, name: str, text: str, match: str) -> None:
    d = write_ncf(tmp_path / "d", negatives=negatives)
    (d / name).write_text(text)
    with pytest.raises(DataError, match=match):
        load_dataset(resolve_source(str(d)))


def test_recbole_benchmark_files_with_validation(tmp_path: Path) -> None:
    d = write_recbole_split(tmp_path / "rb", valid="0 3\n1 3\n")
    assert detect_format(d) == "recbole-split"
    ds = load_dataset(resolve_source(str(d)), tmp_path / "data")
    assert int(np.count_nonzero(ds.interactions.part == PART_VALID)) == 2
    split = make_split(ds, parse_split("given"), seed=0)
    assert split.valid is not None and len(split.valid) == 2
    d = write_recbole_split(tmp_path / "rb2")
    check_hand_split(load_dataset(resolve_source(str(d))))


def test_recbole_split_bad_input(tmp_path: Path) -> None:
    d = write_recbole_split(tmp_path / "e")
    (d / "toy.test.inter").write_text("user_id:token\titem_id:token\n")
    with pytest.raises(DataError, match=r"toy\.test\.inter lists no interactions"):
        load_dataset(resolve_source(str(d)))
    d = write_recbole_split(tmp_path / "m")
    (d / "toy.test.inter").write_text("user_id:token\titem_id:token\trating:float\n0\t2\t4\n")
    with pytest.raises(DataError, match="differ from the training file's"):
        load_dataset(resolve_source(str(d)))


def test_tables_pair_through_datasets_add(tmp_path: Path) -> None:
    train, test = write_tables(tmp_path / "t")
    rec, ds = add_dataset("pair", None, tmp_path / "data", parts={"train": train, "test": test})
    assert rec.format == "given-tables" and rec.parts == {"test": str(test)}
    check_hand_split(ds)
    again = load_dataset("pair", tmp_path / "data")  # by name, from the record
    assert again.checksum == ds.checksum
    test.write_text("user,item\n0,2\n")  # the test file is part of the cache key
    assert load_dataset("pair", tmp_path / "data").checksum != ds.checksum


def test_tables_pair_bad_input(tmp_path: Path) -> None:
    train, test = write_tables(tmp_path / "mixed", ".parquet")
    with pytest.raises(DataError, match=r"different formats \(train train.csv is text, test"):
        add_dataset("m", None, tmp_path / "d", parts={"train": train, "test": test})
    train, test = write_tables(tmp_path / "empty")
    test.write_text("")
    with pytest.raises(DataError, match=r"test\.csv is empty"):
        add_dataset("e", None, tmp_path / "d", parts={"train": train, "test": test})
    with pytest.raises(UsageError, match="--train FILE and --test FILE go together"):
        add_dataset("e", None, tmp_path / "d", parts={"train": train})
    with pytest.raises(UsageError, match="either PATH or --train/--test"):
        add_dataset("e", train, tmp_path / "d", parts={"train": train, "test": test})


@pytest.mark.parametrize("form", ["lightgcn", "recbole-split", "ncf"])
def test_datasets_add_split_directories(capsys, tmp_path: Path, form: str) -> None:  # type: ignore[no-untyped-def]
    writers = {
        "lightgcn": lambda p: write_split(p, HAND_TRAIN, HAND_TEST),
        "recbole-split": write_recbole_split,
        "ncf": write_ncf,
    }
    d = writers[form](tmp_path / "in")
    data = tmp_path / "data"
    res = run_cli(["datasets", "add", "hand", str(d)], capsys, data)
    assert res.code == 0, res.err
    assert f"added hand: 15 ratings, 5 users, 5 items ({form}," in res.err
    args = ["compare", "--dataset", "hand", "--no-store", "--k", "5"]  # --split given: default
    res = run_cli([*args, "--algos", "popularity"], capsys, data)
    assert res.code == 0, res.err
    assert "given split (8 train, 0 valid, 7 test rows" in res.flat
    assert "1 test users with no training rows are not ranked" in res.flat


def test_default_split_is_given_only_for_data_that_comes_split(tmp_path: Path) -> None:
    from recbench.data.sources import DEFAULT_SPLIT, default_split

    assert default_split(str(write_ncf(tmp_path / "ncf"))) == "given"
    assert default_split(str(write_recbole_split(tmp_path / "rb"))) == "given"
    assert default_split("gowalla-lightgcn") == "given"  # the registry entry says so
    assert default_split("ml-latest-small") == DEFAULT_SPLIT == "holdout:0.2"
    assert default_split(str(tmp_path / "missing.csv")) == DEFAULT_SPLIT  # loading says why
    train, test = write_tables(tmp_path / "t")
    add_dataset("pair", None, tmp_path / "d", parts={"train": train, "test": test})
    assert default_split("pair", tmp_path / "d") == "given"


def test_cli_given_bad_input_exit_2_nothing_recorded(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    train, test = write_tables(tmp_path / "mixed", ".parquet")
    res = run_cli(
        ["datasets", "add", "m", "--train", str(train), "--test", str(test)], capsys, data
    )
    assert res.code == 2 and "different formats" in res.err
    assert len(res.err.strip().splitlines()) == 1 and "Traceback" not in res.err
    d = write_recbole_split(tmp_path / "e")
    (d / "toy.test.inter").write_text("user_id:token\titem_id:token\n")
    res = run_cli(["datasets", "add", "e", str(d)], capsys, data)
    assert res.code == 2 and "lists no interactions" in res.err
    assert len(res.err.strip().splitlines()) == 1
    res = run_cli(["datasets", "add", "x", str(tmp_path)], capsys, data)
    assert res.code == 2 and "in no format recbench recognises" in res.err
    assert not (data / "user-datasets.json").exists()


@pytest.mark.parametrize(("fmt", "what"), [("ncf", "NCF files"), ("recbole", "benchmark files")])
def test_a_directory_of_two_split_datasets_names_both(tmp_path: Path, fmt: str, what: str) -> None:
    d = write_ncf(tmp_path / "d") if fmt == "ncf" else write_recbole_split(tmp_path / "d")
    for f in list(d.iterdir()):
        (d / f.name.replace("toy", "other")).write_text(f.read_text())
    assert detect_format(d) == ("ncf" if fmt == "ncf" else "recbole-split")
    with pytest.raises(DataError) as exc:
        load_dataset(resolve_source(str(d)))
    msg = str(exc.value)
    assert f"holds {what} of 2 datasets (other, toy); give a directory with one" in msg
    assert "\n" not in msg


@pytest.mark.parametrize("form", ["lightgcn", "ncf", "sasrec", "s3rec-attributes"])
def test_a_file_that_is_not_utf8_is_one_line_naming_it(tmp_path: Path, form: str) -> None:
    if form == "lightgcn":
        d = write_split(tmp_path / "g", HAND_TRAIN, HAND_TEST)
        bad, source = d / "train.txt", d
    elif form == "ncf":
        d = write_ncf(tmp_path / "n")
        bad, source = d / "toy.test.negative", d
    elif form == "sasrec":
        bad = source = tmp_path / "Video.txt"
    else:
        source = tmp_path / "LastFM.txt"
        source.write_text("1 2 3 4\n2 3 4 5\n")
        bad = tmp_path / "LastFM_item2attributes.json"
    bad.write_bytes(b"1 2\n\xff\xfe 3\n")
    with pytest.raises(DataError) as exc:
        if form == "sasrec":  # two columns could be a table: the format is named
            add_dataset("v", source, tmp_path / "d", format="sasrec")
        else:
            load_dataset(resolve_source(str(source)))
    msg = str(exc.value)
    assert f"cannot read {bad}" in msg and "utf-8" in msg and "\n" not in msg
