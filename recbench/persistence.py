"""Model directories: config JSON + numpy arrays + manifest, no pickle.

A model directory holds ``config.json`` (format tag, algorithm name, parameters, seed),
``arrays.npz`` (the fitted arrays, loaded with ``allow_pickle=False``) and ``manifest.json``
(format tag, dataset spec and checksum, split spec and fold, seed, package versions). It is built
in a staging directory beside its place and swapped in with :func:`recbench.atomic.replace_dir`
(old aside, new in, old deleted), so a kill at any moment leaves the old or the new model at the
path; :func:`recbench.atomic.clean_stale` tidies what a killed writer left, and puts an old model
that was set aside back when the new one never arrived.

Only a directory whose config or manifest carries the format tag is ever replaced; the root,
the home directory, the working directory (or one above it) and symlinks never are.
"""

from __future__ import annotations

import contextlib
import json
import platform
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from recbench import __version__
from recbench.algorithms import plugins
from recbench.algorithms.base import Recommender
from recbench.atomic import clean_stale, replace_dir, staging_dir
from recbench.data import Dataset, DatasetSpec, Preprocessing
from recbench.errors import ModelDirError, UsageError
from recbench.split import SplitSpec, parse_split

MODEL_FORMAT = "recbench-model/1"
MODEL_FILES = ("config.json", "arrays.npz", "manifest.json")
ANN_FILE = "ann.hnsw"


def package_versions() -> dict[str, str]:
    """Versions of Python, recbench and the numeric libraries, for manifests."""
    found = {"python": platform.python_version(), "recbench": __version__}
    for pkg in ("numpy", "scipy", "pandas", "scikit-surprise", "implicit", "torch"):
        try:
            found[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return found


def model_manifest(
    algorithm: str,
    dataset: Dataset,
    dataset_spec: DatasetSpec,
    preprocessing: Preprocessing,
    split: SplitSpec,
    fold: int,
    seed: int,
    fit_seconds: float,
    n_train: int,
) -> dict[str, Any]:
    """What a model directory records about how it was fitted (``fold`` is 0-based)."""
    return {
        "algorithm": algorithm,
        "dataset": dataset_spec.to_dict(),
        "dataset_name": dataset.name,
        "dataset_checksum": dataset.checksum,
        "preprocessing": preprocessing.to_dict(),
        "split": str(split),
        "fold": fold,
        "seed": seed,
        "fit_seconds": fit_seconds,
        "n_users": dataset.n_users,
        "n_items": dataset.n_items,
        "n_train": n_train,
    }


@dataclass(frozen=True)
class ModelOrigin:
    """The dataset, preprocessing, split, fold and seed a saved model was fitted on."""

    dataset: DatasetSpec
    preprocessing: Preprocessing
    split: SplitSpec
    fold: int
    seed: int
    checksum: str


def model_origin(path: Path, manifest: dict[str, Any]) -> ModelOrigin:
    """Read a manifest's record of how the model was fitted; one-line errors if it is invalid."""
    where = Path(path) / "manifest.json"
    try:
        spec = DatasetSpec.from_dict(manifest["dataset"])
        split = parse_split(manifest["split"])
        fold = _whole(manifest.get("fold", 0), "fold")
        seed = _whole(manifest["seed"], "seed")
        checksum = str(manifest["dataset_checksum"])
        prep = Preprocessing.from_dict(manifest.get("preprocessing"))
    except (KeyError, TypeError, ValueError, UsageError) as exc:
        raise ModelDirError(f"{where} is incomplete or invalid ({exc})") from None
    if fold >= split.n_folds:
        raise ModelDirError(f"{where}: fold {fold} does not exist in split '{split}'")
    return ModelOrigin(spec, prep, split, fold, seed, checksum)


def _whole(value: Any, what: str) -> int:
    """``value`` if it is a whole number >= 0 (JSON ints only: not 1.5, "3" or true)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} {value!r} is not a whole number >= 0")
    return value


def _tagged(path: Path) -> bool:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("format") == MODEL_FORMAT


def is_model_dir(path: Path) -> bool:
    """Whether ``path`` is a directory whose config or manifest carries the model format tag."""
    path = Path(path)
    if path.is_symlink() or not path.is_dir():
        return False
    return any(_tagged(path / name) for name in ("config.json", "manifest.json"))


def _protected(path: Path) -> str | None:
    """Why ``path`` must never be replaced (root, home, working directory or above), if so."""
    real = path.resolve()
    cwd = Path.cwd().resolve()
    if real == Path(real.anchor):
        return "the root directory"
    if real == Path.home().resolve():
        return "your home directory"
    if real == cwd:
        return "the working directory"
    if real in cwd.parents:
        return "a directory above the working directory"
    return None


def check_model_target(path: Path, overwrite: bool) -> None:
    """Refuse to write a model to ``path`` unless it is new, an empty directory, or (with
    ``overwrite``) a recbench model directory that is not a protected place or a symlink."""
    path = Path(path)
    try:
        _check_target(path, overwrite)
    except OSError as exc:  # no permission to look, a path through a file, a symlink loop
        raise UsageError(f"{path} cannot be used for a model ({exc.strerror or exc})") from None


def _check_target(path: Path, overwrite: bool) -> None:
    if path.is_symlink():
        raise UsageError(f"{path} is a symlink; give the model directory itself")
    if not path.exists():
        parent = next((p for p in path.parents if p.exists() or p.is_symlink()), None)
        if parent is not None and not parent.is_dir():
            raise UsageError(f"{parent} is a file, so {path} cannot be created")
        return
    if not path.is_dir():
        raise UsageError(f"{path} exists and is a file, not a model directory")
    why = _protected(path)
    if why is not None:
        raise UsageError(f"{path} is {why}; a model needs a directory of its own")
    if is_model_dir(path):
        if not overwrite:
            raise UsageError(f"{path} already holds a model; pass --overwrite to replace it")
        return
    if any(path.iterdir()):
        raise UsageError(
            f"{path} exists and is not a recbench model directory (no {MODEL_FORMAT} manifest); "
            "nothing was replaced"
        )


def _clean_beside(path: Path) -> None:
    """Remove what killed saves left beside ``path`` (an unlistable directory is left alone)."""
    with contextlib.suppress(OSError):
        if path.parent.is_dir():
            clean_stale(path.parent)


def save_model(
    model: Recommender,
    algorithm: str,
    params: dict[str, Any],
    path: Path,
    manifest: dict[str, Any],
    overwrite: bool = False,
    ann: Any = None,
) -> Path:
    """Write ``model`` to ``path`` atomically (see the module docstring for what is refused).

    ``ann`` (an :class:`~recbench.algorithms.ann.AnnIndex`) is saved beside the arrays as
    ``ann.hnsw`` so ``recommend`` can retrieve from large catalogues without scoring them all.
    """
    path = Path(path)
    check_model_target(path, overwrite)
    _clean_beside(path)
    try:
        with staging_dir(path) as tmp:
            config = {
                "format": MODEL_FORMAT,
                "algorithm": algorithm,
                "params": params,
                "seed": model.seed,
            }
            (tmp / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
            with (tmp / "arrays.npz").open("wb") as fh:
                np.savez(fh, **model.get_state())  # type: ignore[arg-type]
            if ann is not None:
                ann.save(tmp / ANN_FILE)
            full = {
                "format": MODEL_FORMAT,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "versions": package_versions(),
                **manifest,
            }
            (tmp / "manifest.json").write_text(json.dumps(full, indent=2, sort_keys=True))
            check_model_target(path, overwrite)  # nothing changed under us while we were writing
            replace_dir(tmp, path)
    except OSError as exc:  # no permission, disk full: the old model (if any) is untouched
        raise ModelDirError(f"could not save the model to {path} ({exc.strerror or exc})") from None
    return path


def read_model_meta(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config, manifest) of a model directory, with one-line errors for anything wrong."""
    path = Path(path)
    try:
        if not path.exists():
            raise ModelDirError(f"model directory not found: {path}")
        if not path.is_dir():
            raise ModelDirError(f"{path} is not a directory (expected a model directory)")
        missing = [f for f in MODEL_FILES if not (path / f).exists()]
    except OSError as exc:  # a symlink loop, a path through a file, no permission
        raise ModelDirError(f"cannot read model directory {path} ({exc.strerror})") from None
    if missing:
        raise ModelDirError(
            f"{path} is not a recbench model directory (missing {', '.join(missing)})"
        )
    docs = []
    for name in ("config.json", "manifest.json"):
        try:
            doc = json.loads((path / name).read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ModelDirError(f"{path / name} is corrupt (not valid JSON)") from None
        except OSError as exc:
            raise ModelDirError(f"cannot read {path / name} ({exc.strerror})") from None
        if not isinstance(doc, dict) or doc.get("format") != MODEL_FORMAT:
            raise ModelDirError(f"{path / name} was not written by this recbench ({MODEL_FORMAT})")
        docs.append(doc)
    return docs[0], docs[1]


def load_model(path: Path) -> tuple[Recommender, dict[str, Any], dict[str, Any]]:
    """Rebuild a fitted model from its directory: (model, config, manifest).

    Leftovers of a killed save beside it are cleaned first (an old model set aside is put back).
    The arrays are checked: no NaN, and shapes that score the first and last user over the whole
    catalogue; anything else is a :class:`ModelDirError`, not a crash later.
    """
    path = Path(path)
    _clean_beside(path)
    config, manifest = read_model_meta(path)
    name = config.get("algorithm")
    if not isinstance(name, str):
        raise ModelDirError(f"{path / 'config.json'} names no algorithm")
    params = config.get("params") or {}
    try:
        seed = _whole(config.get("seed", 0), "seed")
        if not isinstance(params, dict):
            raise ValueError(f"params {params!r} is not an object")
    except ValueError as exc:
        raise ModelDirError(f"{path / 'config.json'} is invalid ({exc})") from None
    model = plugins.make(name, params, seed=seed)
    arrays = path / "arrays.npz"
    try:
        with np.load(arrays, allow_pickle=False) as npz:
            state = {k: npz[k] for k in npz.files}
        model.set_state(state)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, EOFError) as exc:
        raise ModelDirError(f"{arrays} is corrupt or incomplete ({exc})") from None
    for key, value in state.items():
        if value.dtype.kind in "fc" and np.isnan(value).any():
            raise ModelDirError(f"{arrays} is corrupt: array '{key}' contains NaN")
    _check_loaded(model, arrays, manifest)
    return model, config, manifest


def _check_loaded(model: Recommender, arrays: Path, manifest: dict[str, Any]) -> None:
    """Score the first and last user: inconsistent array shapes fail here, with one line."""
    n_users, n_items = model.n_users_, model.n_items_
    for key, have in (("n_users", n_users), ("n_items", n_items)):
        want = manifest.get(key)
        if isinstance(want, int) and want != have:
            raise ModelDirError(f"{arrays} is for {have:,} {key[2:]}, its manifest says {want:,}")
    if n_users < 1 or n_items < 1:
        raise ModelDirError(f"{arrays} describes an empty model ({n_users} users, {n_items} items)")
    users = np.array([0, n_users - 1], dtype=np.int64)
    try:
        scores = np.asarray(model.score(users))
        if model.rates():
            est = np.asarray(model.predict(users, np.array([0, n_items - 1], dtype=np.int64)))
            if est.shape != (2,) or not np.isfinite(est).all():
                raise ValueError(f"rating estimates of shape {est.shape}, finite: no")
    except (ValueError, IndexError, TypeError, KeyError) as exc:
        raise ModelDirError(f"{arrays} holds arrays of inconsistent shapes ({exc})") from None
    if scores.shape != (2, n_items):
        raise ModelDirError(
            f"{arrays} holds arrays of inconsistent shapes (scores of shape {scores.shape} for "
            f"2 users, expected (2, {n_items:,}))"
        )
    if np.isnan(scores).any():
        raise ModelDirError(f"{arrays} is corrupt: its scores are NaN")
