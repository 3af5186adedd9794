"""Parsed datasets cached as Parquet, keyed by the checksum of their source files.

An entry is a directory ``<data_dir>/parsed/<name>-<key>`` of Parquet files plus ``meta.json``;
the key is :func:`recbench.data.sources.fingerprint` of the source.
``meta.json`` records the sha256 of every Parquet file and of its own other fields, and each load
checks them: an entry altered after it was written (edited, truncated, bit-rotted) is a miss and
is rebuilt from the source, never served. Entries are built in a staging directory and renamed
into place (:mod:`recbench.atomic`), so an interrupted run leaves nothing a later run trusts.
An entry of another ``CACHE_FORMAT`` is never read: :func:`drop_stale` removes it and says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recbench.atomic import atomic_write_text, replace_dir, staging_dir
from recbench.data.idmap import IdMap
from recbench.data.model import Dataset, Interactions
from recbench.data.oserrors import io_errors

#: Layout of an entry; an entry of another format is rebuilt, never read. 3: interactions keep
#: ``position`` (event order) and ``part`` (given splits), meta.json the ``dedup`` policy.
CACHE_FORMAT = "3"
PARSED_DIR = "parsed"
HASHES_FILE = "file-hashes.json"
#: A file modified less than this before its hash was recorded may change again within the same
#: file-system timestamp tick, so its recorded hash is not trusted ("racy git" rule).
RACY_NS = 2_000_000_000
MAX_HASHES = 1000
_FILES = ("interactions", "users", "items", "user_features")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def file_sha256(path: Path, data_dir: Path | None = None) -> str:
    """sha256 of a user's file, remembered in ``<data_dir>/file-hashes.json`` by stat.

    A recorded hash is reused while the file's size, mtime, ctime and inode are unchanged and
    the file had been at rest for two seconds when it was hashed, so loading a large file from
    the Parquet cache does not re-read it. Without ``data_dir`` the file is always hashed.
    """
    path = Path(path)
    if data_dir is None:
        return sha256_file(path)
    st = path.stat()
    key = str(path.resolve())
    stamp = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
    store = Path(data_dir) / HASHES_FILE
    known = _read_hashes(store)
    rec = known.get(key)
    if (
        isinstance(rec, dict)
        and rec.get("stat") == stamp
        and isinstance(rec.get("sha256"), str)
        and max(st.st_mtime_ns, st.st_ctime_ns) + RACY_NS <= int(rec.get("at", 0))
    ):
        return str(rec["sha256"])
    at = time.time_ns()
    digest = sha256_file(path)
    if path.stat().st_mtime_ns != st.st_mtime_ns:  # changed while hashing: do not remember
        return digest
    known[key] = {"stat": stamp, "sha256": digest, "at": at}
    if len(known) > MAX_HASHES:  # keep the most recently hashed files
        newest = sorted(known, key=lambda k: -int(known[k].get("at", 0)))[:MAX_HASHES]
        known = {k: known[k] for k in newest}
    # The hash memo is an optimisation; a read-only cache dir only costs speed.
    with contextlib.suppress(OSError):
        store.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(store, json.dumps(known))
    return digest


def _read_hashes(store: Path) -> dict[str, Any]:
    try:
        doc = json.loads(store.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict):
        return {}
    return {k: v for k, v in doc.items() if isinstance(v, dict)}


def combined_key(parts: list[str]) -> str:
    """One sha256 over several key parts (file checksums, options, versions)."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:60]


def entry_dir(data_dir: Path, name: str, checksum: str) -> Path:
    """Where the entry of dataset ``name`` with source ``checksum`` lives."""
    return Path(data_dir) / PARSED_DIR / f"{_safe_name(name)}-{checksum[:20]}"


def drop_entries(data_dir: Path, name: str) -> list[str]:
    """Remove every cache entry of dataset ``name`` (whatever its checksum); return them."""
    parsed = Path(data_dir) / PARSED_DIR
    if not parsed.is_dir():
        return []
    pattern = re.compile(re.escape(_safe_name(name)) + r"-[0-9a-f]{20}")
    removed = []
    for p in parsed.iterdir():
        if pattern.fullmatch(p.name):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(str(p))
    return removed


def _content_hash(meta: dict[str, Any]) -> str:
    """sha256 over meta.json's fields (the file hashes among them), without the hash itself."""
    body = {k: v for k, v in meta.items() if k != "content_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def _read_checked(path: Path, expected: str) -> pd.DataFrame:
    """A Parquet file whose bytes must hash to ``expected`` (read once: hashed, then parsed)."""
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != expected:
        raise ValueError(f"{path.name} does not match its recorded sha256")
    return pd.read_parquet(io.BytesIO(data))


def load(path: Path) -> Dataset | None:
    """Load a cache entry, or None when absent, unreadable or altered (it is then rebuilt)."""
    meta_path = path / "meta.json"
    if not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        if not isinstance(meta, dict) or meta.get("format") != CACHE_FORMAT:
            return None
        if meta.get("content_sha256") != _content_hash(meta):
            return None
        hashes = meta["files"]
        frames = {f: _read_checked(path / f"{f}.parquet", hashes[f]) for f in hashes}
        inter, items_frame = frames["interactions"], frames["items"]
        items = IdMap(items_frame.pop("id").to_numpy())
        interactions = Interactions(
            user=inter["user"].to_numpy(np.int32),
            item=inter["item"].to_numpy(np.int32),
            rating=inter["rating"].to_numpy(np.float32) if "rating" in inter else None,
            timestamp=inter["timestamp"].to_numpy(np.int64) if "timestamp" in inter else None,
            users=IdMap(frames["users"]["id"].to_numpy()),
            items=items,
            position=inter["position"].to_numpy() if "position" in inter else None,
            part=inter["part"].to_numpy(np.int8) if "part" in inter else None,
            dedup=meta["dedup"],
        )
        scale = meta.get("rating_scale")
        name, checksum = str(meta["name"]), str(meta["checksum"])
    except Exception:  # any unreadable entry (truncated file, foreign JSON) is a cache miss
        return None
    return Dataset(
        name=name,
        interactions=interactions,
        rating_scale=(float(scale[0]), float(scale[1])) if scale else None,
        item_features=items_frame if items_frame.shape[1] else None,
        user_features=frames.get("user_features"),
        checksum=checksum,
        license=meta.get("license", ""),
        citation=meta.get("citation", ""),
        source=meta.get("source", {}),
    )


def _write_entry(dataset: Dataset, tmp: Path) -> None:
    inter = dataset.interactions
    cols: dict[str, np.ndarray] = {"user": inter.user, "item": inter.item}
    if inter.rating is not None:
        cols["rating"] = inter.rating
    if inter.timestamp is not None:
        cols["timestamp"] = inter.timestamp
    if inter.position is not None:
        cols["position"] = inter.position
    if inter.part is not None:
        cols["part"] = inter.part
    frames: dict[str, pd.DataFrame] = {
        "interactions": pd.DataFrame(cols),
        "users": pd.DataFrame({"id": inter.users.ids}),
    }
    items = pd.DataFrame({"id": inter.items.ids})
    if dataset.item_features is not None:
        items = pd.concat([items, dataset.item_features.reset_index(drop=True)], axis=1)
    frames["items"] = items
    hashes = {}
    for key, frame in frames.items():
        frame.to_parquet(tmp / f"{key}.parquet", index=False)
        hashes[key] = sha256_file(tmp / f"{key}.parquet")
    if dataset.user_features is not None:
        dataset.user_features.to_parquet(tmp / "user_features.parquet")
        hashes["user_features"] = sha256_file(tmp / "user_features.parquet")
    meta: dict[str, Any] = {
        "format": CACHE_FORMAT,
        "name": dataset.name,
        "checksum": dataset.checksum,
        "rating_scale": list(dataset.rating_scale) if dataset.rating_scale else None,
        "dedup": inter.dedup,
        "license": dataset.license,
        "citation": dataset.citation,
        "source": dataset.source,
        "files": hashes,
    }
    meta = json.loads(json.dumps(meta, default=str))  # hashed exactly as it will be read
    meta["content_sha256"] = _content_hash(meta)
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1, default=str))


def save(dataset: Dataset, path: Path) -> None:
    """Write a cache entry atomically; a valid existing entry is kept, an invalid one replaced.

    A full or read-only disk is a one-line DataError with advice (another --data-dir); the
    staging directory is removed, so nothing half-written is left.
    """
    if path.exists() and load(path) is not None:
        return
    with io_errors(f"writing the dataset cache in {path.parent}"), staging_dir(path) as tmp:
        _write_entry(dataset, tmp)
        if path.exists() and load(path) is not None:
            return  # another process finished the same entry meanwhile
        replace_dir(tmp, path)


def get(data_dir: Path, name: str, key: str) -> Dataset | None:
    """The cached dataset ``name`` whose source has fingerprint ``key``, or None (a miss)."""
    return load(entry_dir(data_dir, name, key))


def put(data_dir: Path, name: str, key: str, dataset: Dataset) -> None:
    """Keep ``dataset`` (built from the source of ``name`` with fingerprint ``key``)."""
    save(dataset, entry_dir(data_dir, name, key))


def drop_stale(data_dir: Path, name: str) -> str | None:
    """Remove the entries of ``name`` written in another cache format (by an older recbench);
    a one-line note saying so, or None when there were none. Entries of this format stay."""
    parsed = Path(data_dir) / PARSED_DIR
    if not parsed.is_dir():
        return None
    pattern = re.compile(re.escape(_safe_name(name)) + r"-[0-9a-f]{20}")
    stale: list[str] = []
    for p in sorted(parsed.iterdir()):
        if not pattern.fullmatch(p.name):
            continue
        try:
            fmt = json.loads((p / "meta.json").read_text()).get("format")
        except (OSError, ValueError, AttributeError):
            continue  # unreadable or half-written: not ours to judge here
        if fmt != CACHE_FORMAT:
            stale.append(str(fmt))
            shutil.rmtree(p, ignore_errors=True)
    if not stale:
        return None
    return (
        f"{name}: the dataset cache held {len(stale)} entr{'y' if len(stale) == 1 else 'ies'} "
        f"in an older format ({', '.join(sorted(set(stale)))}; now {CACHE_FORMAT}); "
        "rebuilt from the source"
    )


__all__ = [
    "CACHE_FORMAT",
    "combined_key",
    "drop_entries",
    "drop_stale",
    "entry_dir",
    "file_sha256",
    "get",
    "load",
    "put",
    "save",
    "sha256_file",
]
