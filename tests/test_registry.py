"""The dataset registry as data (checked against the published checksums) and users' own datasets
(`recbench datasets add`): registration, loading by name in every command, removal."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from recbench.data import DatasetSpec, add_dataset, all_datasets, available, load_dataset
from recbench.data.formats import release_formats
from recbench.data.registry import BuiltinDataset, entries, get_entry, registry
from recbench.data.user_datasets import user_datasets
from recbench.errors import DataError, UsageError
from tests.helpers import run_cli
from tests.test_ds_fixtures import netflix_text, write_netflix_training_set

REPO = Path(__file__).resolve().parents[1]
SHARED_README = REPO.parent / "shared" / "datasets" / "README.md"
BASE = "https://files.grouplens.org/datasets/movielens/"
NAMES = {
    "ml-100k", "ml-1m", "ml-10m", "ml-20m", "ml-25m", "ml-32m", "ml-latest-small", "ml-latest",
    "netflix", "gowalla-lightgcn",
}  # fmt: skip
PUBLISHED_MD5 = {
    "ml-100k": "0e33842e24a9c977be4e0107933c0723",
    "ml-1m": "c4d9eecfca2ab87c1945afe126590906",
    "ml-10m": "ce571fd55effeba0271552578f2648bd",
    "ml-20m": "cd245b17a1ae2cc31bb14903e1204af3",
    "ml-25m": "6b51fb2759a8657d3bfcbfc42b592ada",
}


# --- the built-in registry ---------------------------------------------------------------------


def test_registry_has_every_dataset_with_its_metadata() -> None:
    found = entries()
    assert set(found) == NAMES
    for name, e in found.items():
        assert e.title and e.format in release_formats(), name
        if e.split == "given":  # a published split (tests/test_registry_gowalla.py)
            continue
        assert e.license and e.citation and e.features and e.size, name
        assert e.rating_scale is not None, name
        if e.bundled or e.import_only:
            continue
        assert e.urls == (BASE + f"{name}.zip",), name
        assert e.archive == f"{name}.zip", name
    assert found["ml-latest-small"].bundled
    assert found["netflix"].import_only and not found["netflix"].urls
    assert found["ml-100k"].format == "ml-100k"
    assert {found[n].format for n in ("ml-1m", "ml-10m")} == {"movielens-dat"}
    assert {found[n].format for n in ("ml-20m", "ml-25m", "ml-32m", "ml-latest")} == {
        "movielens-csv"
    }


def test_published_archive_checksums() -> None:
    for name, digest in PUBLISHED_MD5.items():
        assert get_entry(name).archive_md5 == digest
    # Archives that change upstream are not pinned by an archive checksum.
    for name in ("ml-latest", "ml-32m", "netflix"):
        assert get_entry(name).archive_md5 is None


@pytest.mark.skipif(not SHARED_README.exists(), reason="../shared/datasets/README.md is absent")
def test_registry_matches_the_shared_readme() -> None:
    text = SHARED_README.read_text()
    for name, digest in re.findall(r"(ml-[\w-]+)\.zip\s+md5 ([0-9a-f]{32})", text):
        assert get_entry(name).archive_md5 == digest, name
    block = text.split("## ml-100k/")[1].split("## Official")[0]
    members = dict((f, h) for h, f in re.findall(r"([0-9a-f]{64})\s+(\S+)", block))
    assert get_entry("ml-100k").members == members
    block = text.split("## ml-latest-small/")[1].split("## ml-100k/")[0]
    members = dict((f, h) for h, f in re.findall(r"([0-9a-f]{64})\s+(\S+)", block))
    assert get_entry("ml-latest-small").members == members


def test_registry_entries_are_validated() -> None:
    with pytest.raises(DataError, match="unknown key 'urll'"):
        BuiltinDataset.from_toml("x", {"title": "t", "format": "ml-100k", "urll": []})
    with pytest.raises(DataError, match="'format' is required"):
        BuiltinDataset.from_toml("x", {"title": "t"})
    with pytest.raises(DataError, match="unknown format"):
        BuiltinDataset.from_toml("x", {"title": "t", "format": "xml"})
    with pytest.raises(DataError, match="not a hex checksum"):
        BuiltinDataset.from_toml("x", {"title": "t", "format": "ml-100k", "archive_md5": "abc"})


def test_mirror_replaces_the_base_url() -> None:
    e = get_entry("ml-1m")
    assert e.download_urls() == [BASE + "ml-1m.zip"]
    assert e.download_urls("http://mirror.example/movielens/") == [
        "http://mirror.example/movielens/ml-1m.zip"
    ]
    assert get_entry("netflix").download_urls() == []
    assert get_entry("netflix").download_urls("/srv/m") == ["/srv/m/nf_prize_dataset.tar.gz"]
    with pytest.raises(UsageError, match="did you mean 'ml-1m'"):
        get_entry("ml-1")


def test_available_and_all_datasets(tmp_path: Path) -> None:
    rows = {r["name"]: r for r in available(tmp_path)}
    assert rows["ml-latest-small"]["status"] == "bundled" and rows["ml-latest-small"]["available"]
    assert rows["ml-1m"]["status"] == "not downloaded" and not rows["ml-1m"]["available"]
    assert rows["netflix"]["status"] == "import needed"
    every = all_datasets(tmp_path)
    assert set(every) == NAMES and all(d["kind"] == "builtin" for d in every.values())
    assert set(registry()) == NAMES


# --- users' own datasets -----------------------------------------------------------------------


def write_csv(path: Path) -> Path:
    path.write_text("uid;iid;stars\n1;10;4\n1;20;3\n2;10;5\n3;30;2\n")
    return path


def test_add_csv_and_use_it_by_name(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    src = write_csv(tmp_path / "mine.csv")
    feats = tmp_path / "items.csv"
    pd.DataFrame({"item_id": [10, 20, 30, 40], "title": ["A (1999)", "B", "C", "D"]}).to_csv(
        feats, index=False
    )
    res = run_cli(
        [
            "datasets", "add", "mine", str(src), "--format", "csv", "--columns",
            "user,item,rating", "--sep", ";", "--item-features", str(feats),
        ],
        capsys,
        data,
    )  # fmt: skip
    assert res.code == 0, res.err
    assert "added mine: 4 ratings, 3 users, 4 items" in res.err
    saved = json.loads((data / "user-datasets.json").read_text())
    assert saved["datasets"]["mine"]["path"] == str(src.resolve())
    ds = load_dataset("mine", data_dir=data)
    assert ds.n_items == 4 and ds.item_features is not None
    assert list(ds.item_features["title"]) == ["A (1999)", "B", "C", "D"]
    assert "title_words" in ds.item_features
    assert ds.source["kind"] == "user"
    assert "mine" in all_datasets(data) and all_datasets(data)["mine"]["kind"] == "user"
    rows = {r["name"]: r for r in available(data)}
    assert rows["mine"]["status"] == "user"
    listed = run_cli(["datasets", "list"], capsys, data)
    assert "mine" in listed.flat
    res = run_cli(
        ["-q", "compare", "-d", "mine", "--algos", "popularity", "--k", "1"], capsys, data
    )
    assert res.code == 0, res.err
    info = run_cli(["datasets", "info", "mine", "-f", "json"], capsys, data)
    assert json.loads(info.out)["ratings"] == 4
    # --columns/--sep belong to the registration, not to each use.
    with pytest.raises(UsageError, match="registered dataset"):
        load_dataset(DatasetSpec("mine", columns="user,item"), data_dir=data)
    res = run_cli(["datasets", "remove", "mine"], capsys, data)
    assert res.code == 0 and "your own files were left in place" in res.err
    assert src.exists() and "mine" not in user_datasets(data)
    with pytest.raises(UsageError, match="unknown dataset 'mine'"):
        load_dataset("mine", data_dir=data)


def test_add_netflix_tsv_and_parquet(tmp_path: Path) -> None:
    data = tmp_path / "data"
    root = write_netflix_training_set(tmp_path / "nf")
    _, ds = add_dataset(
        "nf",
        root / "training_set",
        data,
        format="netflix",
        item_features=root / "movie_titles.txt",
    )
    assert len(ds.interactions) == 5 and ds.item_features is not None
    assert "Dinosaur Planet" in set(ds.item_features["title"])
    single = tmp_path / "ratings.nf"
    single.write_text(netflix_text())
    _, ds = add_dataset("nf-file", single, data, format="netflix")
    assert len(ds.interactions) == 5
    tsv = tmp_path / "r.data"
    tsv.write_text("1\t10\t4\t100\n2\t20\t5\t200\n")
    _, ds = add_dataset("tab", tsv, data, format="tsv", columns="user,item,rating,timestamp")
    assert len(ds.interactions) == 2
    pq = tmp_path / "r.bin"  # a Parquet file without the suffix: --format decides
    pd.DataFrame({"user": [1, 2], "item": [5, 6], "rating": [1.0, 2.0]}).to_parquet(pq)
    _, ds = add_dataset("pq", pq, data, format="parquet")
    assert ds.interactions.rating is not None and len(ds.interactions) == 2
    assert set(user_datasets(data)) == {"nf", "nf-file", "tab", "pq"}
    assert len(load_dataset("nf", data_dir=data).interactions) == 5


@pytest.mark.parametrize(
    ("name", "kw", "needle"),
    [
        ("ml-1m", {}, "is a built-in dataset"),
        ("my.data", {}, "no dots or slashes"),
        ("a/b", {}, "no dots or slashes"),
        ("ok", {"format": "xlsx"}, "--format must be one of"),
        ("ok", {"format": "netflix", "columns": "user,item"}, "does not apply"),
        ("ok", {"format": "parquet", "sep": ","}, "does not apply"),
        ("ok", {"columns": "user,bogus"}, "unknown column role"),
    ],
)
def test_add_rejects_bad_input(tmp_path: Path, name: str, kw: dict, needle: str) -> None:
    src = write_csv(tmp_path / "r.csv")
    args = {"format": "csv", **kw}
    with pytest.raises(UsageError) as exc:
        add_dataset(name, src, tmp_path / "data", **args)
    assert needle in str(exc.value) and "\n" not in str(exc.value)


def test_add_validates_by_loading_and_needs_force_to_replace(tmp_path: Path) -> None:
    data = tmp_path / "data"
    bad = tmp_path / "bad.csv"
    bad.write_text("user,item,rating\n1,2,x\n")
    with pytest.raises(DataError, match="rating 'x' is not a number"):
        add_dataset("bad", bad, data, format="csv")
    assert "bad" not in user_datasets(data)  # nothing registered on failure
    src = write_csv(tmp_path / "r.csv")
    add_dataset("r", src, data, format="csv", columns="user,item,rating", sep=";")
    with pytest.raises(UsageError, match="--force"):
        add_dataset("r", src, data, format="csv", columns="user,item,rating", sep=";")
    add_dataset("r", src, data, format="csv", columns="user,item,-", sep=";", force=True)
    assert load_dataset("r", data_dir=data).interactions.rating is None
    with pytest.raises(DataError, match="does not exist"):
        add_dataset("gone", tmp_path / "nope.csv", data, format="csv")
    src.unlink()
    with pytest.raises(DataError, match="no longer exists"):
        load_dataset("r", data_dir=data)


def test_corrupt_user_registry_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "user-datasets.json").write_text("{not json")
    with pytest.raises(DataError, match="user-dataset list"):
        load_dataset("mine", data_dir=tmp_path)
    assert len(load_dataset("ml-latest-small").interactions) == 100_836  # built-ins unaffected
