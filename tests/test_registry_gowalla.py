"""The registry entry of LightGCN's Gowalla split (issue 24 item 1): pinned checksums (sha256
and git blob id), ``split = "given"``, files fetched one by one, tested over a loopback HTTP
mirror serving small files written here (the pins are overridden for them, as the MovieLens
download tests do)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from recbench.data import datadir, downloading, load_dataset
from recbench.data.cache import sha256_file
from recbench.data.model import PART_TEST, PART_TRAIN
from recbench.data.registry import BuiltinDataset, get_entry
from recbench.data.verification import git_blob_id
from recbench.errors import DataError
from recbench.split import make_split, parse_split
from tests.helpers import REPO, run_cli
from tests.test_download import FAST, use_entries
from tests.test_ds_fixtures import FileServer, file_server
from tests.test_given_splits import HAND_TEST, HAND_TRAIN

__all__ = ["file_server"]  # the fixture, re-exported for pytest

NAME = "gowalla-lightgcn"
SHARED = REPO.parent / "shared" / "datasets"
GOWALLA = SHARED / NAME


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECBENCH_MIRROR", raising=False)
    monkeypatch.delenv("RECBENCH_AUTO_DOWNLOAD", raising=False)


def small_split(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "train.txt").write_text(HAND_TRAIN)
    (root / "test.txt").write_text(HAND_TEST)
    return root


def pinned_to(root: Path, **kw: object) -> BuiltinDataset:
    """The registry entry, pinned to the small files: train.txt by git blob id, test.txt by
    sha256 (the two kinds of pin the real entry uses)."""
    members = {
        "train.txt": git_blob_id(root / "train.txt"),
        "test.txt": sha256_file(root / "test.txt"),
    }
    return replace(get_entry(NAME), members=members, **kw)  # type: ignore[arg-type]


def serve_dir(server: FileServer, root: Path, prefix: str) -> str:
    for f in root.iterdir():
        server.files[f"{prefix}/{f.name}"] = f.read_bytes()
    return f"{server.url}/{prefix}"


def test_entry_is_a_given_split_with_pinned_files() -> None:
    e = get_entry(NAME)
    assert e.format == "lightgcn" and e.split == "given"
    assert e.files == ("train.txt", "test.txt") and not e.archive
    assert all(u.startswith("https://raw.githubusercontent.com/") for u in e.urls)
    assert (e.users, e.items, e.ratings) == (29_858, 40_981, 810_128 + 217_242)
    assert len(e.members["train.txt"]) == 40 and len(e.members["test.txt"]) == 64
    assert e.download_urls("http://m/") == ["http://m"]


def test_git_blob_id_is_what_git_prints(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_text(HAND_TRAIN)
    try:
        out = subprocess.run(["git", "hash-object", str(path)], capture_output=True, text=True)
    except OSError:
        pytest.skip("git is not installed")
    assert git_blob_id(path) == out.stdout.strip()


@pytest.mark.skipif(not (SHARED / "README.md").is_file(), reason="shared datasets README absent")
def test_test_txt_pin_is_the_published_sha256() -> None:
    text = (SHARED / "README.md").read_text().split("### gowalla-lightgcn/")[1].split("###")[0]
    sums = {f: h for h, f in re.findall(r"([0-9a-f]{64})\s+(\S+)", text)}
    assert get_entry(NAME).members["test.txt"] == sums["test.txt"]  # published, unchanged
    if (GOWALLA / "test.txt").is_file():
        assert sha256_file(GOWALLA / "test.txt") == sums["test.txt"]


def test_download_through_a_loopback_mirror_then_split_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, file_server: FileServer
) -> None:
    root = small_split(tmp_path / "src")
    mirror = serve_dir(file_server, root, "m")
    entry = pinned_to(root)
    use_entries(monkeypatch, entry)
    data = tmp_path / "data"
    with pytest.raises(DataError, match=f"recbench datasets download {NAME}"):
        load_dataset(NAME, data_dir=data)  # never downloads implicitly
    report = downloading.download_dataset(NAME, data, mirror=mirror, **FAST)
    assert report.action == "downloaded" and report.verified
    assert report.verification is not None
    assert "all 2 pinned member checksums (sha256 or git blob id) match" in str(
        report.verification["checked"]
    )
    assert sorted(file_server.requests) == ["m/test.txt", "m/train.txt"]
    ds = load_dataset(NAME, data_dir=data)
    inter = ds.interactions
    assert int(np.count_nonzero(inter.part == PART_TRAIN)) == 8
    assert int(np.count_nonzero(inter.part == PART_TEST)) == 7
    assert ds.source["kind"] == "downloaded" and ds.source["verification"] == "verified"
    assert ds.citation.startswith("Xiangnan He")
    split = make_split(ds, parse_split("given"), seed=0)
    assert "1 test users with no training rows are not ranked" in split.protocol


def test_registry_base_urls_are_tried_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, file_server: FileServer
) -> None:
    root = small_split(tmp_path / "src")
    good = serve_dir(file_server, root, "good")
    entry = pinned_to(root, urls=(f"{file_server.url}/gone", good))
    report = downloading.download_dataset(NAME, tmp_path / "d", entry=entry, **FAST)
    assert report.verified and report.origin == good
    assert "gone/train.txt" in file_server.requests


def test_a_file_that_fails_its_pin_is_refused_and_nothing_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, file_server: FileServer
) -> None:
    root = small_split(tmp_path / "src")
    entry = pinned_to(root)
    (root / "train.txt").write_text(HAND_TRAIN + "9 9\n")  # not the pinned bytes
    mirror = serve_dir(file_server, root, "m")
    data = tmp_path / "data"
    with pytest.raises(DataError, match=r"train\.txt does not match its pinned git blob id"):
        downloading.download_dataset(NAME, data, mirror=mirror, entry=entry, **FAST)
    assert datadir.read_install_manifest(data, NAME) is None
    assert not datadir.installed_dir(data, NAME).exists()
    (root / "test.txt").unlink()  # a missing file: 404, one line
    file_server.files.pop("m/test.txt")
    with pytest.raises(DataError, match=r"test\.txt failed: HTTP 404"):
        downloading.download_dataset(NAME, data, mirror=mirror, entry=entry, **FAST)


def test_cli_download_and_compare_given(
    capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, file_server: FileServer
) -> None:  # type: ignore[no-untyped-def]
    root = small_split(tmp_path / "src")
    mirror = serve_dir(file_server, root, "m")
    use_entries(monkeypatch, pinned_to(root))
    data = tmp_path / "data"
    res = run_cli(["datasets", "download", NAME, "--mirror", mirror], capsys, data)
    assert res.code == 0, res.err
    # no --split: the entry's split is given, so that is the default
    args = ["compare", "--dataset", NAME, "--no-store", "--k", "5"]
    res = run_cli([*args, "--algos", "popularity"], capsys, data)
    assert res.code == 0, res.err
    assert "given split (8 train, 0 valid, 7 test rows" in res.flat
    res = run_cli([*args, "--split", "holdout:0.2", "--algos", "popularity"], capsys, data)
    assert res.code == 0 and "given split" not in res.flat  # an explicit split still wins
