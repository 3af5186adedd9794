"""Installing registry datasets into the data directory: import a copy, verify it, remove it.

Safety rules (downloads share them, :mod:`recbench.data.downloading`):

- Atomic installs: a copy is extracted or copied into a staging directory, verified, given its
  manifest, and only then renamed into place (:mod:`recbench.atomic`). A copy without a manifest
  is never used, so an interrupted install can never be taken as valid.
- Verification: :mod:`recbench.data.verification`; archive members cannot escape the target
  directory (:mod:`recbench.data.archives`).
- A file lock per dataset: two processes installing the same dataset end with one verified copy.
- Disk-full and permission errors become one-line DataErrors naming the path.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from recbench.atomic import atomic_write_text, replace_dir, staging_dir
from recbench.data import archives
from recbench.data.cache import drop_entries
from recbench.data.datadir import (
    INSTALL_MANIFEST,
    LOCK_TIMEOUT,
    MANIFEST_FORMAT,
    InstallReport,
    Stage,
    clean_leftovers,
    installed_dir,
    io_errors,
    lock,
    now_iso,
    read_install_manifest,
    report_from_manifest,
)
from recbench.data.formats import find_root, get_format
from recbench.data.netflix import MV_FILE
from recbench.data.registry import BuiltinDataset, get_entry
from recbench.data.user_datasets import delete_user_dataset, user_datasets
from recbench.data.verification import (
    add_git_blob_ids,
    archive_check,
    internal_checksums,
    verify,
)
from recbench.errors import DataError, UsageError, suggest


def hash_tree(root: Path, with_md5: bool, on_stage: Stage | None) -> dict[str, dict[str, Any]]:
    """sha256 (and md5 when asked), size and mtime of every file under ``root``."""
    files: dict[str, dict[str, Any]] = {}
    paths = sorted(p for p in root.rglob("*") if p.is_file() and p.name != INSTALL_MANIFEST)
    for p in paths:
        rel = p.relative_to(root).as_posix()
        if on_stage:
            on_stage(f"checking {rel}")
        algos = ("sha256", "md5") if with_md5 else ("sha256",)
        st = p.stat()
        entry: dict[str, Any] = dict(archives.file_digests(p, algos))
        entry.update(size=st.st_size, mtime_ns=st.st_mtime_ns)
        files[rel] = entry
    return files


def _is_netflix_training_tar(path: Path) -> bool:
    """A tar whose files are the Netflix ``mv_*.txt`` (kept as-is: it is parsed streaming)."""
    try:
        names = archives.member_names(path)
    except DataError:
        return False
    return bool(names) and all(MV_FILE.search(n) for n in names)


def install_copy(
    entry: BuiltinDataset,
    data_dir: Path,
    source: Path,
    *,
    action: str,
    origin: str,
    is_archive: bool,
    on_stage: Stage | None,
) -> InstallReport:
    """Stage ``source`` (archive or directory), verify it, and rename it into place.

    Called with the dataset's lock held. The copy is built in a staging directory beside its
    final place; only a complete, verified directory with its manifest is moved in (replacing
    an older copy without a moment of neither). On any failure nothing of the attempt remains.
    """
    name, fmt = entry.name, entry.format
    target = installed_dir(data_dir, name)
    with (
        io_errors(f"installing {name} into {target.parent}"),
        staging_dir(target) as staging,
    ):
        archive_digests = None
        final = staging / "final"
        if is_archive:
            if on_stage:
                on_stage(f"checking {source.name}")
            archive_digests = archives.file_digests(source, ("md5", "sha256"))
            if fmt == "netflix" and _is_netflix_training_tar(source):
                final.mkdir()
                shutil.copyfile(source, final / "training_set.tar")
                root = final
            else:
                archive_ok, what = archive_check(entry, archive_digests)
                if archive_ok is False and not entry.members:
                    raise DataError(f"{name} failed verification: {what}")
                if on_stage:
                    on_stage(f"extracting {source.name}")
                try:
                    archives.extract(source, staging / "x", label=source.name)
                except DataError as exc:
                    if archive_ok is False:
                        raise DataError(f"{name} failed verification: {what}; {exc}") from None
                    raise
                root = find_root(fmt, staging / "x") or _no_root(entry, source)
        else:
            root = find_root(fmt, source) or _no_root(entry, source)
        required = get_format(fmt).required_files
        missing = [r for r in required if not (root / r).exists()]
        if missing:
            raise DataError(f"{source} is not a complete {name} copy: {missing[0]} is missing")
        if not is_archive:
            if on_stage:
                on_stage(f"copying {root}")
            _copy_tree(root, final)
        elif root != final:
            os.replace(root, final)
        internal = internal_checksums(final)
        files = hash_tree(final, with_md5=internal is not None, on_stage=on_stage)
        add_git_blob_ids(entry, final, files)
        verification = verify(entry, files, archive_digests, internal=internal)
        for f in files.values():
            f.pop("md5", None)
            f.pop("git_blob", None)
        manifest = {
            "format": MANIFEST_FORMAT,
            "name": name,
            "dataset_format": fmt,
            "action": action,
            "origin": origin,
            "installed": now_iso(),
            "archive": archive_digests,
            "verification": verification.to_dict(),
            "files": files,
        }
        atomic_write_text(final / INSTALL_MANIFEST, json.dumps(manifest, indent=1))
        replace_dir(final, target)
    drop_entries(data_dir, name)
    return report_from_manifest(name, action, data_dir, manifest)


def _copy_tree(src: Path, dst: Path) -> None:
    """Copy a directory's files (contents only: the copy is ours, writable, whatever the
    source's permissions), skipping hidden files and any recbench manifest."""
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    dst.mkdir(parents=True, exist_ok=True)


def _no_root(entry: BuiltinDataset, source: Path) -> Path:
    keys = " or ".join(get_format(entry.format).key_files)
    raise DataError(f"{source} holds no {entry.name} data ({keys} not found)")


def import_dataset(
    name: str,
    path: Path,
    data_dir: Path,
    *,
    on_stage: Stage | None = None,
    force: bool = False,
    entry: BuiltinDataset | None = None,
    lock_timeout: float = LOCK_TIMEOUT,
) -> InstallReport:
    """Install a registry dataset from a copy the user has: the official archive or a directory.

    Verifies what it can (archive checksum, pinned members, the archive's own checksums.txt)
    and reports what it could not verify. The user's files are never modified.
    """
    entry = entry or get_entry(name)
    if entry.bundled:
        raise UsageError(f"{name} ships with recbench; there is nothing to import")
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"{path} does not exist")
    is_archive = path.is_file()
    if is_archive and archives.archive_kind(path) is None:
        raise DataError(
            f"{path} is neither a zip/tar archive nor a directory; for a ratings file of your "
            "own use `recbench datasets add NAME FILE`"
        )
    with lock(data_dir, name, lock_timeout):
        manifest = read_install_manifest(data_dir, name)
        if manifest is not None and not force:
            report = report_from_manifest(name, "already installed", data_dir, manifest)
            report.notes.append("use --force to replace it")
            return report
        clean_leftovers(data_dir, name)
        return install_copy(
            entry,
            Path(data_dir),
            path.resolve(),
            action="imported",
            origin=str(path.resolve()),
            is_archive=is_archive,
            on_stage=on_stage,
        )


def remove_dataset(name: str, data_dir: Path) -> list[str]:
    """Remove an installed copy (and its parsed cache) or forget a user dataset.

    Returns what was removed; a bundled dataset cannot be removed, and a user dataset's own
    files are left alone (only its registration and cache go).
    """
    data_dir = Path(data_dir)
    users = user_datasets(data_dir)
    try:
        entry: BuiltinDataset | None = get_entry(name)
    except UsageError:
        entry = None
    if entry is not None and entry.bundled:
        raise UsageError(f"{name} ships with recbench and cannot be removed")
    if entry is None and name not in users:
        known = sorted(set(users) | {n for n in _installed_names(data_dir)})
        raise UsageError(f"unknown dataset '{name}'{suggest(name, known)}")
    removed: list[str] = []
    with lock(data_dir, name), io_errors(f"removing {name} from {data_dir}"):
        target = installed_dir(data_dir, name)
        if entry is not None and target.exists():
            shutil.rmtree(target)
            removed.append(str(target))
        clean_leftovers(data_dir, name)
        if entry is None and delete_user_dataset(data_dir, name):
            removed.append(f"registration of user dataset {name}")
        removed.extend(drop_entries(data_dir, name))
    if not removed:
        raise DataError(f"{name} is not downloaded or imported in {data_dir}; nothing to remove")
    return removed


def _installed_names(data_dir: Path) -> list[str]:
    d = Path(data_dir) / "datasets"
    return [p.name for p in d.iterdir() if not p.name.startswith(".")] if d.is_dir() else []
