"""The data directory: download, import, verify, install and remove datasets.

Layout of ``<data_dir>`` (``--data-dir`` / ``$RECBENCH_DATA`` / the user cache directory)::

    datasets/<name>/             an installed copy (the release's files, unchanged)
    datasets/<name>/.recbench-install.json   its manifest: origin, verification, file sha256s
    downloads/                   archives while they download (deleted afterwards)
    locks/<name>.lock            one process at a time installs <name>
    parsed/                      Parquet cache of parsed datasets (recbench.data.cache)
    user-datasets.json           users' own datasets (recbench.data.registry)

Safety rules:

- Atomic installs: an archive downloads to a temporary file, is verified, extracted into a
  staging directory, and only a complete, verified directory *with its manifest* is renamed
  into place. A copy without a manifest is never used, so an interrupted download or extraction
  can never be taken as valid.
- A dataset is accepted when its archive's published checksum or all of its pinned member
  checksums match; otherwise the copy is removed and a one-line DataError says why. Datasets
  that pin nothing (archives that change upstream) are accepted and reported as unverified.
- Archive members cannot escape the target directory (:mod:`recbench.data.archives`).
- A file lock per dataset: two processes downloading the same dataset end with one verified
  copy; the second waits, finds it installed, and succeeds without downloading again.
- Disk-full and permission errors become one-line DataErrors naming the path.

Library code never prints: progress goes to a tqdm-like ``progress`` object (``total``,
``update``, ``reset``, ``close``) and stage messages to an ``on_stage`` callback, both optional.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from recbench.data import archives
from recbench.data.formats import KEY_FILES, REQUIRED, find_root
from recbench.data.registry import (
    MIRROR_ENV,
    DatasetEntry,
    UserDataset,
    check_user_name,
    delete_user_dataset,
    get_entry,
    now_iso,
    save_user_dataset,
    user_datasets,
)
from recbench.errors import DataError, MissingExtraError, RecbenchError, UsageError

MANIFEST = ".recbench-install.json"
MANIFEST_FORMAT = 1
DEFAULT_TIMEOUT = 60.0
DEFAULT_RETRIES = 3
LOCK_TIMEOUT = 3 * 3600.0


class ProgressBar(Protocol):
    """What a download reports to: the tqdm subset pooch's HTTPDownloader uses."""

    total: int | float | None

    def update(self, n: int) -> Any: ...
    def reset(self) -> Any: ...
    def close(self) -> Any: ...


Stage = Callable[[str], None]


# --- errors, locks, layout ---------------------------------------------------------------------


@contextmanager
def io_errors(action: str) -> Iterator[None]:
    """Turn OS errors into one-line DataErrors (disk full and permissions get advice)."""
    try:
        yield
    except RecbenchError:
        raise
    except OSError as exc:
        if _is_requests_error(exc):
            raise
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
            raise DataError(
                f"no space left on device while {action}{where}; free some space or choose "
                "another --data-dir (or RECBENCH_DATA)"
            ) from None
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS) or isinstance(
            exc, PermissionError
        ):
            raise DataError(
                f"permission denied while {action}{where}; choose a writable --data-dir "
                "(or RECBENCH_DATA)"
            ) from None
        raise DataError(f"{action} failed: {exc.strerror or exc}{where}") from None


def _require(module: str) -> Any:
    """Import a download/locking dependency, or say how to install it (one line)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(
            f"dataset downloads and installs need the '{module}' package: "
            "pip install pooch filelock"
        ) from None


def _is_requests_error(exc: BaseException) -> bool:
    return type(exc).__module__.startswith(("requests", "urllib3"))


@contextmanager
def lock(data_dir: Path, name: str, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold ``<data_dir>/locks/<name>.lock`` (waiting up to ``timeout`` seconds)."""
    filelock = _require("filelock")

    locks = Path(data_dir) / "locks"
    with io_errors(f"creating {locks}"):
        locks.mkdir(parents=True, exist_ok=True)
    fl = filelock.FileLock(str(locks / f"{name}.lock"), timeout=timeout)
    try:
        with io_errors(f"locking {locks / name}.lock"):
            fl.acquire()
    except filelock.Timeout:
        raise DataError(
            f"another recbench process is still installing {name} (waited {timeout:.0f} s "
            f"for {locks / name}.lock)"
        ) from None
    try:
        yield
    finally:
        fl.release()


def installed_dir(data_dir: Path, name: str) -> Path:
    return Path(data_dir) / "datasets" / name


def read_manifest(data_dir: Path, name: str) -> dict[str, Any] | None:
    """The manifest of an installed copy, or None when there is none (or it is unreadable)."""
    path = installed_dir(data_dir, name) / MANIFEST
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("format") != MANIFEST_FORMAT:
        return None
    return doc


def check_installed(data_dir: Path, name: str) -> dict[str, Any]:
    """The manifest of an installed copy whose files are unchanged since installation.

    Files are compared by size and modification time; a file that differs is hashed again and
    must still match its recorded sha256. Raises a DataError saying how to get the data.
    """
    manifest = read_manifest(data_dir, name)
    if manifest is None:
        raise DataError(not_installed_message(name))
    root = installed_dir(data_dir, name)
    for rel, info in manifest["files"].items():
        path = root / rel
        try:
            st = path.stat()
        except OSError:
            raise DataError(
                f"the installed copy of {name} is incomplete ({rel} is missing); "
                f"run `recbench datasets {_get_verb(name)} {name} --force`"
            ) from None
        if st.st_size == info["size"] and st.st_mtime_ns == info["mtime_ns"]:
            continue
        if archives.file_digests(path)["sha256"] != info["sha256"]:
            raise DataError(
                f"{rel} of the installed copy of {name} changed after installation; "
                f"run `recbench datasets {_get_verb(name)} {name} --force`"
            )
    return manifest


def _get_verb(name: str) -> str:
    try:
        entry = get_entry(name)
    except UsageError:
        return "download"
    return "import" if entry.import_only else "download"


def not_installed_message(name: str) -> str:
    """How to get a registry dataset that is not in the data directory yet."""
    try:
        entry = get_entry(name)
    except UsageError:
        return f"dataset '{name}' is not installed"
    if entry.import_only:
        return (
            f"dataset '{name}' is not installed and has no public download: get the data "
            f"({entry.homepage or 'see its license'}) and run "
            f"`recbench datasets import {name} PATH`"
        )
    return (
        f"dataset '{name}' is not downloaded yet: run `recbench datasets download {name}` "
        f"(or `recbench datasets import {name} PATH` for a copy you already have)"
    )


# --- verification ------------------------------------------------------------------------------


@dataclass
class Verification:
    """What a copy was checked against; ``status`` is ``verified`` or ``unverified``."""

    status: str
    method: str
    checked: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "method": self.method,
            "checked": self.checked,
            "unverified": self.unverified,
        }


def _short(h: str) -> str:
    return h[:12] + "…"


def verify(
    entry: DatasetEntry,
    files: dict[str, dict[str, Any]],
    archive_digests: dict[str, str] | None,
    *,
    internal: dict[str, str] | None = None,
) -> Verification:
    """Accept a copy when its archive's checksum or all pinned member checksums match.

    ``files`` maps relative paths to {"sha256", ...}; ``archive_digests`` holds md5/sha256 of the
    archive the files came from (None for a directory import). ``internal`` is an md5 list the
    archive itself ships (ml-32m's checksums.txt): checked for consistency, not authenticity.
    Raises DataError on a mismatch.
    """
    checked: list[str] = []
    unverified: list[str] = []
    failures: list[str] = []
    archive_ok, what = archive_check(entry, archive_digests)
    if archive_ok:
        checked.append(what)
    elif archive_ok is False:
        failures.append(what)
    members_ok: bool | None = None
    if entry.members:
        missing = [m for m in entry.members if m not in files]
        bad = [m for m, s in entry.members.items() if m in files and files[m]["sha256"] != s]
        members_ok = not missing and not bad
        if members_ok:
            checked.append(f"all {len(entry.members)} pinned member sha256s match")
        elif missing:
            failures.append(f"pinned member {missing[0]} is missing")
        else:
            failures.append(f"{bad[0]} does not match its pinned sha256")
    if internal:
        wrong = [
            rel for rel, md5 in internal.items() if rel in files and files[rel].get("md5") != md5
        ]
        if wrong:
            raise DataError(
                f"{entry.name}: {wrong[0]} does not match the archive's own checksums.txt "
                "(corrupt copy)"
            )
        checked.append(f"{len(internal)} files match the archive's own checksums.txt")
    if archive_ok or members_ok:
        if archive_ok is False or members_ok is False:
            checked.append("note: " + "; ".join(failures))
        if not archive_ok:
            uncovered = sorted(set(files) - set(entry.members))
            if uncovered:
                unverified.append("not covered by a pinned checksum: " + ", ".join(uncovered))
        method = "archive checksum" if archive_ok else "pinned member checksums"
        return Verification("verified", method, checked, unverified)
    if failures:
        raise DataError(f"{entry.name} failed verification: " + "; ".join(failures))
    if archive_digests is None and (entry.archive_md5 or entry.archive_sha256):
        reason = (
            f"only the archive's checksum is published for {entry.name}; import the official "
            f"{entry.archive or 'archive'} to verify it"
        )
    else:
        reason = f"the registry pins no checksum for {entry.name}"
    unverified.append(reason)
    if archive_digests is not None:
        unverified.append(f"archive sha256 {archive_digests['sha256']} (recorded)")
    return Verification("unverified", "none", checked, unverified)


def archive_check(
    entry: DatasetEntry, archive_digests: dict[str, str] | None
) -> tuple[bool | None, str]:
    """Whether an archive matches its published checksum (None when none applies), and how."""
    if archive_digests is None:
        return None, ""
    for algo, expected in (("sha256", entry.archive_sha256), ("md5", entry.archive_md5)):
        if expected:
            got = archive_digests[algo]
            if got == expected:
                return True, f"archive {algo} matches the published {_short(expected)}"
            return (
                False,
                f"the archive's {algo} {_short(got)} is not the published {_short(expected)}",
            )
    return None, ""


_MD5SUM = re.compile(r"^([0-9a-fA-F]{32})\s+\*?(.+?)\s*$")


def _internal_checksums(root: Path) -> dict[str, str] | None:
    path = root / "checksums.txt"
    if not path.is_file():
        return None
    sums = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        m = _MD5SUM.match(line)
        if m:
            sums[m.group(2).lstrip("./")] = m.group(1).lower()
    return sums or None


# --- reports -----------------------------------------------------------------------------------


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
        return bool(self.verification) and self.verification["status"] == "verified"

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


def _report_from_manifest(name: str, action: str, data_dir: Path, m: dict[str, Any]) -> Any:
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


# --- installing --------------------------------------------------------------------------------


def _clean_stale(data_dir: Path, name: str) -> None:
    """Remove leftovers of interrupted installs of ``name`` (we hold its lock).

    Names are matched exactly (``tempfile.mkdtemp`` adds 8 characters), so cleaning
    ``ml-latest`` never touches another dataset's work.
    """
    for parent, prefix in (
        (Path(data_dir) / "datasets", f".staging-{name}-"),
        (Path(data_dir) / "datasets", f".old-{name}-"),
        (Path(data_dir) / "downloads", f".{name}-"),
    ):
        if not parent.is_dir():
            continue
        pattern = re.compile(re.escape(prefix) + r"[a-z0-9_]{8}")
        for p in parent.iterdir():
            if not pattern.fullmatch(p.name):
                continue
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


def _hash_tree(root: Path, with_md5: bool, on_stage: Stage | None) -> dict[str, dict[str, Any]]:
    files: dict[str, dict[str, Any]] = {}
    paths = sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST)
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
    return bool(names) and all(re.search(r"(^|/)mv_\d+\.txt$", n) for n in names)


def _install(
    entry: DatasetEntry,
    data_dir: Path,
    source: Path,
    *,
    action: str,
    origin: str,
    is_archive: bool,
    on_stage: Stage | None,
) -> InstallReport:
    """Stage ``source`` (archive or directory), verify it, and rename it into place.

    Called with the dataset's lock held. On any failure the staging directory is removed and
    nothing of the attempt remains.
    """
    name, fmt = entry.name, entry.format
    datasets = Path(data_dir) / "datasets"
    with io_errors(f"creating {datasets}"):
        datasets.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".staging-{name}-", dir=datasets))
    try:
        with io_errors(f"installing {name} into {datasets}"):
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
            missing = [r for r in REQUIRED[fmt] if not (root / r).exists()]
            if missing:
                raise DataError(f"{source} is not a complete {name} copy: {missing[0]} is missing")
            if not is_archive:
                if on_stage:
                    on_stage(f"copying {root}")
                _copy_tree(root, final)
            elif root != final:
                os.replace(root, final)
            internal = _internal_checksums(final)
            files = _hash_tree(final, with_md5=internal is not None, on_stage=on_stage)
            verification = verify(entry, files, archive_digests, internal=internal)
            for f in files.values():
                f.pop("md5", None)
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
            tmp = final / (MANIFEST + ".tmp")
            tmp.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
            os.replace(tmp, final / MANIFEST)
            target = installed_dir(data_dir, name)
            if target.exists():
                old = Path(tempfile.mkdtemp(prefix=f".old-{name}-", dir=datasets))
                os.replace(target, old / "previous")
                os.replace(final, target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(final, target)
        _drop_parsed(data_dir, name)
        return _report_from_manifest(name, action, data_dir, manifest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


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


def _no_root(entry: DatasetEntry, source: Path) -> Path:
    keys = " or ".join(KEY_FILES[entry.format])
    raise DataError(f"{source} holds no {entry.name} data ({keys} not found)")


def _drop_parsed(data_dir: Path, name: str) -> list[str]:
    """Remove Parquet cache entries of ``name`` (they are keyed by name and checksum)."""
    from recbench.data.cache import entry_dir

    parsed = Path(data_dir) / "parsed"
    if not parsed.is_dir():
        return []
    prefix = entry_dir(Path(data_dir), name, "0" * 20).name[:-20]
    pattern = re.compile(re.escape(prefix) + r"[0-9a-f]{20}")
    removed = []
    for p in parsed.iterdir():
        if pattern.fullmatch(p.name):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(str(p))
    return removed


# --- download ----------------------------------------------------------------------------------


def _fetch(
    url: str,
    dest: Path,
    *,
    timeout: float,
    retries: int,
    backoff: float,
    progress: ProgressBar | None,
) -> None:
    """Download ``url`` into ``dest`` with pooch, retrying transient failures.

    404-like answers fail at once; timeouts, dropped connections and 5xx answers are retried
    ``retries`` times with exponential backoff. ``dest`` may hold a partial file afterwards:
    the caller deletes it.
    """
    local = _local_path(url)
    if local is not None:
        _copy_with_progress(local, dest, progress)
        return
    pooch = _require("pooch")
    requests = _require("requests")

    downloader = pooch.HTTPDownloader(
        progressbar=progress if progress is not None else False,
        timeout=timeout,
        chunk_size=1 << 16,
    )
    last = ""
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
            if progress is not None:
                progress.reset()
        try:
            downloader(url, str(dest), None)
            return
        except requests.HTTPError as exc:
            code = exc.response.status_code if exc.response is not None else 0
            reason = exc.response.reason if exc.response is not None else ""
            last = f"HTTP {code} {reason}".strip()
            if code < 500 and code != 429:
                raise DataError(f"download of {url} failed: {last}") from None
        except requests.Timeout:
            last = f"timed out (no data for {timeout:g} s)"
        except requests.ConnectionError as exc:
            last = f"connection failed ({_reason(exc)})"
        except requests.exceptions.ChunkedEncodingError as exc:
            last = f"the connection closed before the download finished ({_reason(exc)})"
        except requests.RequestException as exc:
            last = _reason(exc)
    tries = f"{retries + 1} attempts" if retries else "1 attempt"
    raise DataError(f"download of {url} failed: {last} ({tries}); try again or use --mirror")


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    m = re.search(r"IncompleteRead\(([^)]*)\)", text)
    if m:
        return f"incomplete read: {m.group(1)}"
    return text[:160] or type(exc).__name__


def _local_path(url: str) -> Path | None:
    if url.startswith("file://"):
        return Path(url[len("file://") :])
    if "://" not in url:
        return Path(url).expanduser()
    return None


def _copy_with_progress(src: Path, dest: Path, progress: ProgressBar | None) -> None:
    if not src.is_file():
        raise DataError(f"mirror file not found: {src}")
    if progress is not None:
        progress.total = src.stat().st_size
    with src.open("rb") as fin, dest.open("wb") as fout:
        while block := fin.read(1 << 20):
            fout.write(block)
            if progress is not None:
                progress.update(len(block))
    if progress is not None:
        progress.close()


def resolve_mirror(mirror: str | None) -> str | None:
    """``--mirror`` wins over ``$RECBENCH_MIRROR``; empty means none."""
    return mirror or os.environ.get(MIRROR_ENV) or None


def download_dataset(
    name: str,
    data_dir: Path,
    *,
    mirror: str | None = None,
    progress: ProgressBar | None = None,
    on_stage: Stage | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    backoff: float = 1.0,
    force: bool = False,
    entry: DatasetEntry | None = None,
    lock_timeout: float = LOCK_TIMEOUT,
) -> InstallReport:
    """Download, verify and install a registry dataset into ``data_dir``.

    ``mirror`` (or ``$RECBENCH_MIRROR``) replaces the registry's base URL: the archive is
    fetched from ``MIRROR/<archive>``; a local directory works too. An installed copy is kept
    unless ``force``. ``entry`` overrides the registry entry (tests, private registries).
    """
    entry = entry or get_entry(name)
    data_dir = Path(data_dir)
    if entry.bundled:
        return InstallReport(name, "bundled", notes=["ships with recbench; nothing to download"])
    mirror = resolve_mirror(mirror)
    urls = entry.download_urls(mirror)
    if not urls:
        raise DataError(not_installed_message(name))
    with lock(data_dir, name, lock_timeout):
        manifest = read_manifest(data_dir, name)
        if manifest is not None and not force:
            report = _report_from_manifest(name, "already installed", data_dir, manifest)
            report.notes.append("use --force to download it again")
            return report
        _clean_stale(data_dir, name)
        downloads = data_dir / "downloads"
        with io_errors(f"creating {downloads}"):
            downloads.mkdir(parents=True, exist_ok=True)
        archive_name = entry.archive or urls[0].rstrip("/").rsplit("/", 1)[-1]
        errors: list[str] = []
        for url in urls:
            with io_errors(f"creating a download directory in {downloads}"):
                work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=downloads))
            try:
                part = work / (archive_name + ".part")
                if on_stage:
                    on_stage(f"downloading {url}")
                with io_errors(f"downloading {name} into {downloads}"):
                    _fetch(
                        url,
                        part,
                        timeout=timeout,
                        retries=retries,
                        backoff=backoff,
                        progress=progress,
                    )
                    archive = work / archive_name
                    os.replace(part, archive)
                try:
                    return _install(
                        entry,
                        data_dir,
                        archive,
                        action="downloaded",
                        origin=url,
                        is_archive=True,
                        on_stage=on_stage,
                    )
                except DataError as exc:
                    raise DataError(f"{exc}; the download from {url} was deleted") from None
            except DataError as exc:
                errors.append(str(exc))
                if len(urls) == 1:
                    raise
            finally:
                shutil.rmtree(work, ignore_errors=True)
        raise DataError(f"{name}: every download location failed; last: {errors[-1]}")


# --- import ------------------------------------------------------------------------------------


def import_dataset(
    name: str,
    path: Path,
    data_dir: Path,
    *,
    on_stage: Stage | None = None,
    force: bool = False,
    entry: DatasetEntry | None = None,
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
        manifest = read_manifest(data_dir, name)
        if manifest is not None and not force:
            report = _report_from_manifest(name, "already installed", data_dir, manifest)
            report.notes.append("use --force to replace it")
            return report
        _clean_stale(data_dir, name)
        return _install(
            entry,
            Path(data_dir),
            path.resolve(),
            action="imported",
            origin=str(path.resolve()),
            is_archive=is_archive,
            on_stage=on_stage,
        )


# --- remove ------------------------------------------------------------------------------------


def remove_dataset(name: str, data_dir: Path) -> list[str]:
    """Remove an installed copy (and its parsed cache) or forget a user dataset.

    Returns what was removed; a bundled dataset cannot be removed, and a user dataset's own
    files are left alone (only its registration and cache go).
    """
    data_dir = Path(data_dir)
    users = user_datasets(data_dir)
    try:
        entry: DatasetEntry | None = get_entry(name)
    except UsageError:
        entry = None
    if entry is not None and entry.bundled:
        raise UsageError(f"{name} ships with recbench and cannot be removed")
    if entry is None and name not in users:
        from recbench.errors import suggest

        known = sorted(set(users) | {n for n in _installed_names(data_dir)})
        raise UsageError(f"unknown dataset '{name}'{suggest(name, known)}")
    removed: list[str] = []
    with lock(data_dir, name), io_errors(f"removing {name} from {data_dir}"):
        target = installed_dir(data_dir, name)
        if entry is not None and target.exists():
            shutil.rmtree(target)
            removed.append(str(target))
        _clean_stale(data_dir, name)
        if entry is None and delete_user_dataset(data_dir, name):
            removed.append(f"registration of user dataset {name}")
        removed.extend(_drop_parsed(data_dir, name))
    if not removed:
        raise DataError(f"{name} is not downloaded or imported in {data_dir}; nothing to remove")
    return removed


def _installed_names(data_dir: Path) -> list[str]:
    d = Path(data_dir) / "datasets"
    return [p.name for p in d.iterdir() if not p.name.startswith(".")] if d.is_dir() else []


# --- users' own datasets -----------------------------------------------------------------------


def add_dataset(
    name: str,
    path: Path,
    data_dir: Path,
    *,
    format: str,
    columns: str | None = None,
    sep: str | None = None,
    item_features: Path | None = None,
    force: bool = False,
) -> tuple[UserDataset, Any]:
    """Register the user's own ratings so ``--dataset NAME`` works everywhere; load it once.

    The files stay where they are (recorded by absolute path); loading them once validates the
    options and warms the Parquet cache. Returns the record and the loaded Dataset.
    """
    from recbench.data.loading import load_user_dataset
    from recbench.data.parsers import decode_sep, parse_columns
    from recbench.data.registry import USER_FORMATS

    check_user_name(name)
    if format not in USER_FORMATS:
        raise UsageError(f"--format must be one of {', '.join(USER_FORMATS)}, not '{format}'")
    parse_columns(columns)
    decode_sep(sep)
    if format in ("parquet", "netflix") and sep:
        raise UsageError(f"--sep does not apply to --format {format}")
    if format == "netflix" and columns:
        raise UsageError("--columns does not apply to --format netflix")
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise DataError(f"{path} does not exist")
    if path.is_dir() and format != "netflix":
        raise DataError(f"{path} is a directory; give the ratings file itself")
    feats = Path(item_features).expanduser().resolve() if item_features else None
    if feats is not None and not feats.is_file():
        raise DataError(f"item features file not found: {feats}")
    existing = user_datasets(data_dir).get(name)
    if existing is not None and not force:
        raise UsageError(f"dataset '{name}' is already registered; pass --force to replace it")
    record = UserDataset(
        name=name,
        path=str(path),
        format=format,
        columns=columns,
        sep=sep,
        item_features=str(feats) if feats else None,
        added=now_iso(),
    )
    ds = load_user_dataset(record, data_dir)
    save_user_dataset(data_dir, record)
    return record, ds
