"""The data directory: its layout, locks, install manifests, and clean-up after killed processes.

Layout of ``<data_dir>`` (``--data-dir`` / ``$RECBENCH_DATA`` / the user cache directory)::

    datasets/<name>/             an installed copy (the release's files, unchanged)
    datasets/<name>/.recbench-install.json   its manifest: origin, verification, file sha256s
    downloads/                   archives while they download (deleted afterwards)
    locks/<name>.lock            one process at a time installs <name>
    parsed/                      Parquet cache of parsed datasets (recbench.data.cache)
    user-datasets.json           users' own datasets (recbench.data.user_datasets)

A copy without a manifest is never used, so an interrupted install can never be taken as valid.
Everything is written under temporary names (:mod:`recbench.atomic`) and renamed into place;
:func:`clean_stale_data_dir` removes what killed processes left behind. OS errors become
one-line DataErrors (:func:`io_errors`).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from recbench.atomic import MARK, clean_stale, file_lock
from recbench.data import archives
from recbench.data.cache import PARSED_DIR
from recbench.data.oserrors import io_errors
from recbench.errors import DataError, MissingExtraError

INSTALL_MANIFEST = ".recbench-install.json"
MANIFEST_FORMAT = 1
LOCK_TIMEOUT = 3 * 3600.0
DATA_ENV = "RECBENCH_DATA"


class ProgressBar(Protocol):
    """What a download reports to: the tqdm subset pooch's HTTPDownloader uses."""

    total: int | float | None

    def update(self, n: int) -> Any: ...
    def reset(self) -> Any: ...
    def close(self) -> Any: ...


#: Stage messages ("downloading URL", "extracting X") for the caller to show.
Stage = Callable[[str], None]


def default_data_dir() -> Path:
    """``$RECBENCH_DATA`` or the platform's user cache directory."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("recbench"))


def now_iso() -> str:
    """The current UTC time, to the second, as ISO 8601."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def require(module: str) -> Any:
    """Import a download/locking dependency, or say how to install it (one line)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(
            f"dataset downloads and installs need the '{module}' package: "
            "pip install pooch filelock"
        ) from None


@contextmanager
def lock(data_dir: Path, name: str, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold ``<data_dir>/locks/<name>.lock`` (waiting up to ``timeout`` seconds)."""
    filelock = require("filelock")
    path = Path(data_dir) / "locks" / f"{name}.lock"
    with ExitStack() as stack:
        with io_errors(f"locking {path}"):
            try:
                stack.enter_context(file_lock(path, timeout))
            except filelock.Timeout:
                raise DataError(
                    f"another recbench process is still installing {name} (waited "
                    f"{timeout:.0f} s for {path})"
                ) from None
        yield


def clean_stale_data_dir(data_dir: Path) -> None:
    """Remove temporaries that killed processes left in the data directory.

    Runs :func:`recbench.atomic.clean_stale` over the data directory itself (user-dataset list,
    file-hash memo), ``datasets/``, ``downloads/`` and the Parquet cache: only leftovers of
    processes that no longer exist and that are older than this one go; a replaced copy renamed
    aside whose successor never arrived is put back. Meant for start-up; never raises for an
    unreadable or missing directory.
    """
    root = Path(data_dir)
    for d in (root, root / "datasets", root / "downloads", root / PARSED_DIR):
        try:
            clean_stale(d)
        except OSError:
            continue


def clean_leftovers(data_dir: Path, name: str) -> None:
    """Remove every temporary of ``name``'s installs and downloads, whatever its writer.

    Only called with ``name``'s lock held, so no live process is writing them. A previous copy
    renamed aside whose successor never arrived is put back instead.
    """
    prefix = f".{name}{MARK}"
    target = installed_dir(data_dir, name)
    for parent in (Path(data_dir) / "datasets", Path(data_dir) / "downloads"):
        if not parent.is_dir():
            continue
        for p in parent.iterdir():
            if not p.name.startswith(prefix):
                continue
            aside = p.name[len(prefix) :].startswith("old-") and parent.name == "datasets"
            if aside and not target.exists():
                os.replace(p, target)
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


def installed_dir(data_dir: Path, name: str) -> Path:
    """Where the installed copy of ``name`` lives."""
    return Path(data_dir) / "datasets" / name


def read_install_manifest(data_dir: Path, name: str) -> dict[str, Any] | None:
    """The manifest of an installed copy, or None when there is none (or it is unreadable)."""
    path = installed_dir(data_dir, name) / INSTALL_MANIFEST
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("format") != MANIFEST_FORMAT:
        return None
    return doc


def check_installed(data_dir: Path, name: str, verb: str = "download") -> dict[str, Any]:
    """The manifest of an installed copy whose files are unchanged since installation.

    Files are compared by size and modification time; a file that differs is hashed again and
    must still match its recorded sha256. Raises a DataError naming ``recbench datasets VERB``
    (``download`` or ``import``: the caller knows how ``name`` is got; this module does not
    look in the registry).
    """
    fix = f"run `recbench datasets {verb} {name} --force`"
    manifest = read_install_manifest(data_dir, name)
    if manifest is None:
        raise DataError(f"dataset '{name}' is not installed: run `recbench datasets {verb} {name}`")
    root = installed_dir(data_dir, name)
    for rel, info in manifest["files"].items():
        path = root / rel
        try:
            st = path.stat()
        except OSError:
            raise DataError(
                f"the installed copy of {name} is incomplete ({rel} is missing); {fix}"
            ) from None
        if st.st_size == info["size"] and st.st_mtime_ns == info["mtime_ns"]:
            continue
        if archives.file_digests(path)["sha256"] != info["sha256"]:
            raise DataError(
                f"{rel} of the installed copy of {name} changed after installation; {fix}"
            )
    return manifest


@dataclass
class InstallReport:
    """What download/import did: for the CLI to print and for tests to check."""

    name: str
    action: str  # downloaded | imported | already installed | bundled
    path: Path | None = None
    origin: str = ""
    verification: dict[str, Any] | None = None
    files: int = 0
    size: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return self.verification is not None and self.verification.get("status") == "verified"

    def lines(self) -> list[str]:
        """Human-readable summary lines (no markup)."""
        out = [f"{self.name}: {self.action}" + (f" from {self.origin}" if self.origin else "")]
        if self.path is not None:
            out.append(f"  location: {self.path} ({self.files} files, {self.size / 1e6:,.1f} MB)")
        if self.verification:
            v = self.verification
            out.append(f"  verification: {v['status']} ({v['method']})")
            out.extend(f"    checked: {c}" for c in v["checked"])
            out.extend(f"    not verified: {u}" for u in v["unverified"])
        out.extend(f"  note: {n}" for n in self.notes)
        return out


def report_from_manifest(
    name: str, action: str, data_dir: Path, m: dict[str, Any]
) -> InstallReport:
    """The report of an installed copy, from its manifest."""
    files = m.get("files", {})
    return InstallReport(
        name=name,
        action=action,
        path=installed_dir(data_dir, name),
        origin=m.get("origin", ""),
        verification=m.get("verification"),
        files=len(files),
        size=sum(f["size"] for f in files.values()),
    )
