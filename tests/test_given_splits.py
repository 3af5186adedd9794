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
    with pytest.raises(UsageError, match="LightGCN split; --columns"):
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
