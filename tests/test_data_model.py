"""The data model's event order, dedup policy, sequences and given parts; the loading line's
steps; a cache written in the old format is rebuilt with a note, never misread."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recbench.data import cache, load_dataset, loading, sources
from recbench.data.build import build_dataset
from recbench.data.formats import FORMATS, ReadOptions
from recbench.data.model import PART_TEST, PART_TRAIN, PART_VALID
from recbench.data.preprocess import Preprocessing, apply
from recbench.data.ratings_file import PARSER_VERSION
from recbench.errors import DataError, UsageError
from recbench.split import given_split, make_split, parse_split

# user, item, rating, timestamp; file order is row order. u1 rates i1 twice (t=5, then t=3),
# u1's i2 and i3 tie at t=2 (file order decides), u2 has no timestamp ties.
EVENTS = pd.DataFrame(
    {
        "user": ["u1", "u1", "u2", "u1", "u1", "u2"],
        "item": ["i1", "i3", "i1", "i2", "i1", "i3"],
        "rating": [1.0, 2.0, 3.0, 4.0, 5.0, 1.0],
        "timestamp": [5, 2, 9, 2, 3, 1],
    }
)


def items_of(ds, user: str) -> list[str]:  # type: ignore[no-untyped-def]
    inter = ds.interactions
    seq = inter.sequences()
    return list(inter.items.raw(seq.of(int(inter.users.index([user])[0]))))


def test_latest_keeps_canonical_rows_and_event_order() -> None:
    ds = build_dataset("e", EVENTS, checksum="x")
    inter = ds.interactions
    assert inter.dedup == "latest" and len(inter) == 5
    key = inter.user.astype(np.int64) * inter.n_items + inter.item
    assert (np.diff(key) > 0).all()  # rows stay in (user, item) order, one per pair
    # the pair (u1, i1) keeps its latest row (t=5, file row 0), not the later one in the file
    u1i1 = (inter.users.raw(inter.user) == "u1") & (inter.items.raw(inter.item) == "i1")
    assert inter.rating[u1i1].tolist() == [1.0] and inter.position[u1i1].tolist() == [0]
    # event order: timestamp, then file order (i3 is row 1, i2 row 3, both at t=2)
    assert items_of(ds, "u1") == ["i3", "i2", "i1"]
    assert items_of(ds, "u2") == ["i3", "i1"]
    order = inter.event_order()
    assert inter.timestamp[order].tolist() == sorted(inter.timestamp.tolist())


def test_none_keeps_every_event_in_order() -> None:
    ds = build_dataset("e", EVENTS, checksum="x", dedup="none")
    inter = ds.interactions
    assert inter.dedup == "none" and len(inter) == 6
    assert ds.source["duplicates_dropped"] == 0
    assert items_of(ds, "u1") == ["i3", "i2", "i1", "i1"]  # the repeat is kept, in time order
    seq = inter.sequences()
    assert seq.indptr.tolist() == [0, 4, 6]
    assert inter.csr("binary").sum() == 6  # a repeated pair counts twice in the matrix


def test_file_order_without_timestamps() -> None:
    ds = build_dataset("e", EVENTS.drop(columns="timestamp"), checksum="x", dedup="none")
    assert items_of(ds, "u1") == ["i1", "i3", "i2", "i1"]
    latest = build_dataset("e", EVENTS.drop(columns="timestamp"), checksum="x")
    assert items_of(latest, "u1") == ["i3", "i2", "i1"]  # the later row of (u1, i1) kept


def test_part_column_marks_a_given_split() -> None:
    frame = EVENTS.assign(part=["train", "train", "train", "valid", "test", "test"])
    ds = build_dataset("e", frame, checksum="x")
    # (u1, i1) is in train and test: a duplicate only within one part, so both rows stay
    assert len(ds.interactions) == 6
    split = given_split(ds)
    assert len(split.train.interactions) == 3
    assert split.valid is not None and len(split.valid) == 1
    assert len(split.test) == 2 and set(split.test.part.tolist()) == {PART_TEST}
    assert split.history is not None and len(split.history) == 4  # train + valid
    assert "3 train, 1 valid, 2 test" in split.protocol
    with pytest.raises(DataError, match="unknown part 'tset'"):
        build_dataset("e", EVENTS.assign(part=["tset"] * 6), checksum="x")
    with pytest.raises(UsageError, match="comes with no split"):
        given_split(build_dataset("e", EVENTS, checksum="x"))


def test_existing_splits_have_no_valid_rows_and_train_history() -> None:
    ds = build_dataset("e", EVENTS, checksum="x")
    split = make_split(ds, parse_split("holdout:0.4"), 0)
    assert split.valid is None and split.history is None
    assert split.test_history is split.train.interactions


def test_kcore_never_drops_given_test_rows() -> None:
    users = [f"u{k}" for k in range(6)]
    rows = [(u, f"i{j}", "train") for u in users[:4] for j in range(3)]
    rows += [("u5", "i0", "test"), ("u4", "i9", "test"), ("u0", "i1", "valid")]
    frame = pd.DataFrame(rows, columns=["user", "item", "part"]).assign(rating=4.0)
    ds = build_dataset("g", frame, checksum="x")
    new, summary = apply(ds, Preprocessing(min_user_ratings=2, min_item_ratings=2))
    part = new.interactions.part
    assert int(np.count_nonzero(part == PART_TEST)) == 2  # u5 and u4 have one row each
    assert summary["test_rows"] == 2 and summary["test_rows_below_threshold"] == 0
    assert int(np.count_nonzero(part == PART_TRAIN)) == 12
    assert int(np.count_nonzero(part == PART_VALID)) == 1
    # the implicit threshold does apply to test rows, and says how many it took
    low = frame.assign(rating=[4.0] * 12 + [1.0, 5.0, 5.0])
    _, summary = apply(build_dataset("g", low, checksum="x"), Preprocessing(2, 2, 3.0))
    assert summary["test_rows_below_threshold"] == 1


def test_event_order_survives_the_cache_and_preprocessing(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    EVENTS.to_csv(path, index=False)
    first = load_dataset(str(path), tmp_path / "data")
    again = load_dataset(str(path), tmp_path / "data")  # from the cache
    assert np.array_equal(first.interactions.position, again.interactions.position)
    assert items_of(again, "u1") == ["i3", "i2", "i1"]
    kept, _ = apply(again, Preprocessing(min_item_ratings=2))
    assert items_of(kept, "u1") == ["i3", "i1"]  # i2 (one rating) removed, order kept


# --- the loading line ----------------------------------------------------------------------


def test_one_key_recipe_covers_the_format_version(monkeypatch: pytest.MonkeyPatch) -> None:
    bundled = sources.ensure_local(sources.resolve_source("ml-latest-small"))
    key = sources.fingerprint(bundled)
    assert key == load_dataset("ml-latest-small").checksum
    monkeypatch.setattr(sources, "FORMAT_VERSION", "next")
    assert sources.fingerprint(bundled) != key  # the bundled key now includes it too
    with pytest.raises(ValueError, match="ensure_local first"):
        sources.fingerprint(sources.resolve_source("ml-latest-small"))


def test_registry_imports_no_reader() -> None:
    code = (
        "import sys, recbench.data.registry as r; r.entries(); "
        "print(sorted(m for m in sys.modules if m.startswith('recbench.data.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['recbench.data.formats', 'recbench.data.registry']"


def test_every_format_reader_resolves() -> None:
    import importlib

    for fmt in FORMATS.values():
        module, func = fmt.reader.split(":")
        assert callable(getattr(importlib.import_module(module), func)), fmt.name
    assert ReadOptions().columns is None


def test_load_resolves_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls = []
    real = loading.resolve_source

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(loading, "resolve_source", counted)
    source = sources.resolve_source("ml-latest-small", tmp_path)
    load_dataset(source, tmp_path)
    assert calls == []  # a resolved source is not looked up again
    load_dataset("ml-latest-small", tmp_path)
    assert len(calls) == 1


# --- a cache written before the format bump ------------------------------------------------


def _write_old_entry(entry: Path, name: str, checksum: str, frame: pd.DataFrame) -> None:
    """A cache entry laid out as format 2 wrote it: no position column, no dedup in meta."""
    entry.mkdir(parents=True)
    files = {
        "interactions": frame,
        "users": pd.DataFrame({"id": np.array(["u1", "u2"], dtype=object)}),
        "items": pd.DataFrame({"id": np.array(["i1", "i2", "i3"], dtype=object)}),
    }
    hashes = {}
    for key, df in files.items():
        df.to_parquet(entry / f"{key}.parquet", index=False)
        hashes[key] = hashlib.sha256((entry / f"{key}.parquet").read_bytes()).hexdigest()
    meta = {
        "format": "2",
        "name": name,
        "checksum": checksum,
        "rating_scale": [1.0, 5.0],
        "license": "",
        "citation": "",
        "source": {"kind": "file"},
        "files": hashes,
    }
    body = json.dumps(meta, sort_keys=True, default=str).encode()
    meta["content_sha256"] = hashlib.sha256(body).hexdigest()
    (entry / "meta.json").write_text(json.dumps(meta))


def test_old_format_cache_is_rebuilt_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    EVENTS.to_csv(path, index=False)
    data = tmp_path / "data"
    source = sources.ensure_local(sources.resolve_source(str(path), data), data)
    new_key = sources.fingerprint(source)
    # what format 2 keyed a file by, and an entry at the new key's place too: both hold a
    # wrong dataset (one row, u2 rated i2) that must never be served
    old_key = cache.combined_key(
        [cache.file_sha256(path), "columns=None", "sep=None", "parser", PARSER_VERSION]
    )
    wrong = pd.DataFrame(
        {"user": [1], "item": [1], "rating": np.float32([5.0]), "timestamp": [1]}
    ).astype({"user": np.int32, "item": np.int32})
    old_entries = [cache.entry_dir(data, "e.csv", k) for k in (old_key, new_key)]
    for entry, key in zip(old_entries, (old_key, new_key), strict=True):
        _write_old_entry(entry, "e.csv", key, wrong)
    notes: list[str] = []
    ds = load_dataset(str(path), data, note=notes.append)
    assert len(ds.interactions) == 5 and items_of(ds, "u1") == ["i3", "i2", "i1"]
    [note] = notes
    assert note == (
        "e.csv: the dataset cache held 2 entries in an older format (2; now 3); "
        "rebuilt from the source"
    )
    assert not old_entries[0].exists()
    meta = json.loads((old_entries[1] / "meta.json").read_text())
    assert meta["format"] == cache.CACHE_FORMAT == "3" and meta["dedup"] == "latest"
    again: list[str] = []
    assert len(load_dataset(str(path), data, note=again.append).interactions) == 5
    assert again == []  # rebuilt once; the new entry is a plain hit


def test_registry_points_at_files_that_exist() -> None:
    import re

    root = Path(__file__).resolve().parents[1]
    text = (root / "datasets" / "registry.toml").read_text()
    named = re.findall(r"recbench/[\w/]+\.py", text)
    assert "recbench/data/formats.py" in named
    assert all((root / p).is_file() for p in named), named


def read_toy_events(path: Path, options: ReadOptions):  # type: ignore[no-untyped-def]
    """A toy reader for an event log with its own split: ``user item time part`` lines."""
    from recbench.data.tabular import Parsed

    frame = pd.read_csv(path, sep=" ", names=["user", "item", "timestamp", "part"])
    return Parsed(frame)


def test_a_new_format_is_one_record(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from recbench.data.formats import Format

    toy = Format("toy-events", "file", f"{__name__}:read_toy_events", "toy", dedup="none")
    monkeypatch.setitem(FORMATS, toy.name, toy)
    path = tmp_path / "log.txt"
    path.write_text("a x 1 train\na y 2 train\na x 3 train\na z 4 test\nb y 1 train\nb x 2 test\n")
    source = sources.Source("log", "file", path, "toy-events", sources.DatasetSpec(str(path)))
    for _ in range(2):  # built, then from the cache
        ds = load_dataset(source, tmp_path / "data")
        inter = ds.interactions
        assert inter.dedup == "none" and len(inter) == 6
        assert items_of(ds, "a") == ["x", "y", "x", "z"]  # the repeat of x, in time order
        split = given_split(ds)
        assert sorted(split.test.items.raw(split.test.item)) == ["x", "z"]


def test_cli_says_an_old_cache_was_rebuilt(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers import run_cli

    data = tmp_path / "data"
    wrong = pd.DataFrame({"user": np.int32([0]), "item": np.int32([0]), "rating": [5.0]})
    _write_old_entry(
        cache.entry_dir(data, "ml-latest-small", "0" * 64), "ml-latest-small", "0", wrong
    )
    res = run_cli(["compare", "--algos", "popularity", "--k", "10", "--no-store"], capsys, data)
    assert res.code == 0, res.err
    assert "ml-latest-small: the dataset cache held 1 entry in an older format" in res.err
    assert "100,836 ratings" in res.flat  # the real data, not the old entry's one row
