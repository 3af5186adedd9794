"""Parsed datasets cached as Parquet, keyed by the checksum of their source files.

Writes are atomic: a cache entry is built in a temporary directory and renamed into place, so an
interrupted run never leaves a half-written entry that a later run would trust.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from recbench.data.idmap import IdMap
from recbench.data.model import Dataset, Interactions

CACHE_FORMAT = "1"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


HASHES_FILE = "file-hashes.json"
#: A file modified less than this before its hash was recorded may change again within the same
#: file-system timestamp tick, so its recorded hash is not trusted ("racy git" rule).
RACY_NS = 2_000_000_000
MAX_HASHES = 1000


def file_sha256(path: Path, cache_dir: Path | None = None) -> str:
    """sha256 of a user's file, remembered in ``<cache_dir>/file-hashes.json`` by stat.

    A recorded hash is reused while the file's size, mtime, ctime and inode are unchanged and
    the file had been at rest for two seconds when it was hashed, so loading a large file from
    the Parquet cache does not re-read it. Without ``cache_dir`` the file is always hashed.
    """
    path = Path(path)
    if cache_dir is None:
        return sha256_file(path)
    st = path.stat()
    key = str(path.resolve())
    stamp = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
    store = Path(cache_dir) / HASHES_FILE
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
        _write_json_atomic(store, known)
    return digest


def _read_hashes(store: Path) -> dict:
    try:
        doc = json.loads(store.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict):
        return {}
    return {k: v for k, v in doc.items() if isinstance(v, dict)}


def _write_json_atomic(path: Path, doc: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def combined_key(parts: list[str]) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def entry_dir(cache_dir: Path, name: str, checksum: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:60]
    return cache_dir / "parsed" / f"{safe}-{checksum[:20]}"


def load(path: Path) -> Dataset | None:
    """Load a cache entry, or None when absent or unreadable (it is then rebuilt)."""
    meta_path = path / "meta.json"
    if not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        if not isinstance(meta, dict) or meta.get("format") != CACHE_FORMAT:
            return None
        inter = pd.read_parquet(path / "interactions.parquet")
        users = IdMap(pd.read_parquet(path / "users.parquet")["id"].to_numpy())
        items_frame = pd.read_parquet(path / "items.parquet")
        items = IdMap(items_frame.pop("id").to_numpy())
        user_feats = None
        if (path / "user_features.parquet").exists():
            user_feats = pd.read_parquet(path / "user_features.parquet")
        interactions = Interactions(
            user=inter["user"].to_numpy(np.int32),
            item=inter["item"].to_numpy(np.int32),
            rating=inter["rating"].to_numpy(np.float32) if "rating" in inter else None,
            timestamp=inter["timestamp"].to_numpy(np.int64) if "timestamp" in inter else None,
            users=users,
            items=items,
        )
        scale = meta.get("rating_scale")
        name, checksum = str(meta["name"]), str(meta["checksum"])
    except Exception:  # any unreadable entry (truncated file, foreign JSON) is a cache miss
        return None
    return Dataset(
        name=name,
        interactions=interactions,
        rating_scale=tuple(scale) if scale else None,
        item_features=items_frame if items_frame.shape[1] else None,
        user_features=user_feats,
        checksum=checksum,
        license=meta.get("license", ""),
        citation=meta.get("citation", ""),
        source=meta.get("source", {}),
    )


def save(dataset: Dataset, path: Path) -> None:
    """Write a cache entry atomically; a valid existing entry is kept, an invalid one replaced."""
    if path.exists():
        if load(path) is not None:
            return
        shutil.rmtree(path, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        inter = dataset.interactions
        cols: dict[str, np.ndarray] = {"user": inter.user, "item": inter.item}
        if inter.rating is not None:
            cols["rating"] = inter.rating
        if inter.timestamp is not None:
            cols["timestamp"] = inter.timestamp
        pd.DataFrame(cols).to_parquet(tmp / "interactions.parquet", index=False)
        pd.DataFrame({"id": inter.users.ids}).to_parquet(tmp / "users.parquet", index=False)
        items = pd.DataFrame({"id": inter.items.ids})
        if dataset.item_features is not None:
            feats = dataset.item_features.reset_index(drop=True)
            items = pd.concat([items, feats], axis=1)
        items.to_parquet(tmp / "items.parquet", index=False)
        if dataset.user_features is not None:
            dataset.user_features.to_parquet(tmp / "user_features.parquet")
        meta = {
            "format": CACHE_FORMAT,
            "name": dataset.name,
            "checksum": dataset.checksum,
            "rating_scale": list(dataset.rating_scale) if dataset.rating_scale else None,
            "license": dataset.license,
            "citation": dataset.citation,
            "source": dataset.source,
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        try:
            os.replace(tmp, path)
        except OSError:
            # Another process finished the same entry first (rename onto a non-empty dir).
            if not (path / "meta.json").exists():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
