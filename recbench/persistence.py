"""Model directories: config JSON + numpy arrays + manifest, no pickle.

A model directory holds ``config.json`` (algorithm name, parameters, seed), ``arrays.npz`` (the
fitted arrays, loaded with ``allow_pickle=False``) and ``manifest.json`` (dataset spec and
checksum, split spec and fold, seed, package versions). It is written to a temporary directory
and renamed into place, so an interrupted save leaves nothing a later load would trust.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
import zipfile
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from recbench import __version__
from recbench.algorithms import plugins
from recbench.algorithms.base import Recommender
from recbench.errors import ModelDirError, UsageError

FORMAT = "recbench-model/1"
FILES = ("config.json", "arrays.npz", "manifest.json")
ANN_FILE = "ann.hnsw"


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "recbench": __version__}
    for pkg in ("numpy", "scipy", "pandas", "scikit-surprise", "implicit", "torch"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return out


def save_model(
    model: Recommender,
    algorithm: str,
    params: dict[str, Any],
    path: Path,
    manifest: dict[str, Any],
    overwrite: bool = False,
    ann: Any = None,
) -> Path:
    """Write ``model`` to ``path`` atomically; refuses to replace a non-model directory.

    ``ann`` (an :class:`~recbench.algorithms.ann.AnnIndex`) is saved beside the arrays as
    ``ann.hnsw`` so ``recommend`` can retrieve from large catalogues without scoring them all.
    """
    path = Path(path)
    if path.exists():
        if not (path / "config.json").exists() and any(path.iterdir()):
            raise UsageError(f"{path} exists and is not a recbench model directory")
        if (path / "config.json").exists() and not overwrite:
            raise UsageError(f"{path} already holds a model; pass --overwrite to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        config = {"format": FORMAT, "algorithm": algorithm, "params": params, "seed": model.seed}
        (tmp / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
        with (tmp / "arrays.npz").open("wb") as fh:
            np.savez(fh, **model.get_state())
        if ann is not None:
            ann.save(tmp / ANN_FILE)
        full = {
            "format": FORMAT,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "versions": package_versions(),
            **manifest,
        }
        (tmp / "manifest.json").write_text(json.dumps(full, indent=2, sort_keys=True))
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def read_manifest(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config, manifest) of a model directory, with one-line errors for anything wrong."""
    path = Path(path)
    if not path.exists():
        raise ModelDirError(f"model directory not found: {path}")
    if not path.is_dir():
        raise ModelDirError(f"{path} is not a directory (expected a model directory)")
    missing = [f for f in FILES if not (path / f).exists()]
    if missing:
        raise ModelDirError(
            f"{path} is not a recbench model directory (missing {', '.join(missing)})"
        )
    docs = []
    for name in ("config.json", "manifest.json"):
        try:
            doc = json.loads((path / name).read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ModelDirError(f"{path / name} is corrupt (not valid JSON)") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ModelDirError(f"{path / name} was not written by this recbench ({FORMAT})")
        docs.append(doc)
    return docs[0], docs[1]


def load_model(path: Path) -> tuple[Recommender, dict[str, Any], dict[str, Any]]:
    """Rebuild a fitted model from its directory: (model, config, manifest)."""
    path = Path(path)
    config, manifest = read_manifest(path)
    name = config.get("algorithm")
    if not isinstance(name, str):
        raise ModelDirError(f"{path / 'config.json'} names no algorithm")
    model = plugins.make(name, config.get("params") or {}, seed=int(config.get("seed", 0)))
    try:
        with np.load(path / "arrays.npz", allow_pickle=False) as npz:
            state = {k: npz[k] for k in npz.files}
        model.set_state(state)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise ModelDirError(f"{path / 'arrays.npz'} is corrupt or incomplete ({exc})") from None
    return model, config, manifest
