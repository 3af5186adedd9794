"""Given splits: the LightGCN/NGCF reader and ``--split given`` (issue 24 item 1)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from recbench.data.loading import load_dataset
from recbench.data.model import PART_TEST, PART_TRAIN
from recbench.data.sources import resolve_source
from recbench.errors import DataError, UsageError
from tests.helpers import REPO

GOWALLA = REPO.parent / "shared" / "datasets" / "gowalla-lightgcn"


def write_split(root: Path, train: str, test: str, valid: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "train.txt").write_text(train)
    (root / "test.txt").write_text(test)
    if valid is not None:
        (root / "valid.txt").write_text(valid)
    return root


def load(path: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    return load_dataset(resolve_source(str(path)), tmp_path / "data")


def test_lightgcn_directory_reads_into_one_frame_with_parts(tmp_path: Path) -> None:
    # user 0 repeats item 1 in train (dropped, counted); user 3 lists no items; user 4 is
    # only in test; (0, 1) is in train and test and stays in both parts
    d = write_split(tmp_path / "g", "0 0 1 1 2\n1 1 2\n3\n", "0 1 3\n1 0\n4 2\n\n", "1 3\n")
    ds = load(d, tmp_path)
    inter = ds.interactions
    assert inter.rating is None and inter.timestamp is None
    assert int(np.count_nonzero(inter.part == PART_TRAIN)) == 5
    assert int(np.count_nonzero(inter.part == PART_TEST)) == 4
    assert len(inter) == 10
    assert ds.source["duplicates_dropped"] == 1
    assert ds.source["duplicates_by_file"] == ["train.txt: 1 repeated pairs dropped"]
    # one id map over the union of the files: users 0, 1, 4; items 0..3
    assert sorted(inter.users.raw(np.arange(inter.n_users)).tolist()) == [0, 1, 4]
    assert inter.n_items == 4


def test_lightgcn_bad_files_are_one_line_errors(tmp_path: Path) -> None:
    empty = write_split(tmp_path / "e", "0 1\n", "\n")
    with pytest.raises(DataError, match="test file lists no interactions"):
        load(empty, tmp_path)
    bad = write_split(tmp_path / "b", "0 x\n", "0 1\n")
    with pytest.raises(DataError, match="line 1: expected whole-number ids"):
        load(bad, tmp_path)
    with pytest.raises(UsageError, match="LightGCN/NGCF split; --columns"):
        from recbench.data.sources import DatasetSpec

        resolve_source(DatasetSpec(str(bad), sep=","))


@pytest.mark.skipif(not GOWALLA.is_dir(), reason="gowalla-lightgcn not in shared/datasets")
def test_gowalla_counts(tmp_path: Path) -> None:
    root = GOWALLA if (GOWALLA / "train.txt").is_file() else next(GOWALLA.rglob("train.txt")).parent
    start = time.perf_counter()
    ds = load(root, tmp_path)
    if time.perf_counter() - start > 20:
        pytest.skip("loading gowalla took over 20 s on this machine")
    inter = ds.interactions
    assert (inter.n_users, inter.n_items) == (29_858, 40_981)
    assert int(np.count_nonzero(inter.part == PART_TRAIN)) == 810_128
    assert int(np.count_nonzero(inter.part == PART_TEST)) == 217_242


# train: item 0 four times, items 1 (2), 2 and 3 (1 each); item 4 only in test (cold item);
# user 4 only in test (cold user); (3, 0) in train and test (an overlapping pair)
HAND_TRAIN = "0 0 1\n1 0 2\n2 0 1 3\n3 0\n"
HAND_TEST = "0 2 3\n1 1\n2 4\n3 1 0\n4 2\n"


def test_given_split_counts_cold_users_items_and_overlaps(tmp_path: Path) -> None:
    from recbench.data.parts import given_counts
    from recbench.split import make_split, parse_split

    ds = load(write_split(tmp_path / "h", HAND_TRAIN, HAND_TEST), tmp_path)
    split = make_split(ds, parse_split("given"), seed=0)
    assert split.name == "given" and len(split.test) == 7
    assert len(split.train.interactions) == 8
    assert given_counts(split.train.interactions, split.test) == {
        "cold_users": 1,
        "cold_items": 1,
        "overlap_pairs": 1,
    }
    assert "1 test users with no training rows are not ranked" in split.protocol
    assert "1 test items never trained on stay in the catalogue" in split.protocol
    assert "warning: 1 test pairs are also training pairs" in split.protocol
    assert split.train.interactions.n_items == 5  # the cold item stays in the catalogue


def test_split_given_needs_parts(tmp_path: Path) -> None:
    from recbench.split import make_split, parse_split
    from tests.helpers import checkerboard

    with pytest.raises(UsageError, match="split 'given' needs a dataset that comes with"):
        make_split(checkerboard(), parse_split("given"), seed=0)
    with pytest.raises(UsageError, match="takes no value"):
        parse_split("given:0.2")


def test_compare_given_end_to_end(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers import run_cli

    d = write_split(tmp_path / "h", HAND_TRAIN, HAND_TEST)
    args = ["compare", "--dataset", str(d), "--split", "given", "--no-store"]
    res = run_cli([*args, "--algos", "popularity,svd", "--k", "5"], capsys, tmp_path)
    assert res.code == 0, res.err
    # by hand: user 0 ranks [2, 3, 4] (hits 2, 3), user 1 [1, 3, 4] (hit 1), user 2 [2, 4]
    # (hit 4 at rank 2), user 3 [1, 2, 3, 4] (hit 1; its test item 0 is seen, so missed)
    # P@5 = (2 + 1 + 1 + 1) / 5 / 4; R@5 = (1 + 1 + 1 + 0.5) / 4;
    # NDCG@5 = (1 + 1 + 1/log2(3) + 1/(1 + 1/log2(3))) / 4
    ndcg = (2 + 1 / np.log2(3) + 1 / (1 + 1 / np.log2(3))) / 4
    assert f"popularity — — 0.2500 ±0.075 0.8750 ±0.188 {ndcg:.4f}" in res.flat
    assert "svd unable" in res.flat  # it needs ratings, and a LightGCN split has none
    assert "1 test users with no training rows are not ranked" in res.flat
    # a dataset without parts: one line, exit 2
    res = run_cli(
        ["compare", "--split", "given", "--algos", "popularity", "--no-store"], capsys, tmp_path
    )
    assert res.code == 2 and "split 'given' needs a dataset" in res.err
    assert len(res.err.strip().splitlines()) == 1 and "Traceback" not in res.err
    # an empty test file: one line, exit 2
    empty = write_split(tmp_path / "e", HAND_TRAIN, "4\n")
    res = run_cli(
        ["compare", "--dataset", str(empty), *args[3:], "--algos", "popularity"], capsys, tmp_path
    )
    assert res.code == 2 and "test file lists no interactions" in res.err
    assert len(res.err.strip().splitlines()) == 1


def test_tune_on_given_carves_validation_from_training_only(tmp_path: Path) -> None:
    from recbench.split import make_split, parse_split
    from recbench.tuning.problem import carve_validation, validation_spec

    rng = np.random.default_rng(0)
    train = "".join(
        f"{u} " + " ".join(map(str, rng.choice(30, 8, replace=False))) + "\n" for u in range(20)
    )
    test = "".join(f"{u} {30 + u % 5} {u % 30}\n" for u in range(20))
    ds = load(write_split(tmp_path / "t", train, test), tmp_path)
    outer = make_split(ds, parse_split("given"), seed=0)
    spec = validation_spec(parse_split("given"), None)
    assert str(spec) == "user-holdout:0.2"
    inner = carve_validation(outer, spec, seed=0)
    test_rows = set(outer.test.position.tolist())
    seen = set(inner.train.interactions.position.tolist()) | set(inner.test.position.tolist())
    assert seen and not seen & test_rows  # no validation trial sees a test row
    assert len(seen) == len(outer.train.interactions)
    with pytest.raises(UsageError, match="--val-split given"):
        validation_spec(parse_split("given"), "given")
