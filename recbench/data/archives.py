"""Safe archive handling: recognise zip / tar archives, check every member, then extract.

Every member name is checked *before* anything is written: absolute paths, ``..`` components,
links and device files are refused (zip-slip / tar-slip), so an archive can never write outside
the directory it is extracted into. The uncompressed size is compared with the free disk space
first, so a full disk is reported up front instead of half-way through.
"""

from __future__ import annotations

import hashlib
import shutil
import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

from recbench.errors import DataError

CHUNK = 1 << 20


def file_digests(path: Path, algorithms: tuple[str, ...] = ("sha256",)) -> dict[str, str]:
    """Hex digests of one file for several algorithms in a single pass."""
    hashes = {a: hashlib.new(a) for a in algorithms}
    with Path(path).open("rb") as fh:
        while block := fh.read(CHUNK):
            for h in hashes.values():
                h.update(block)
    return {a: h.hexdigest() for a, h in hashes.items()}


def archive_kind(path: Path) -> str | None:
    """``"zip"``, ``"tar"`` or None, judged by content (not by the file name)."""
    path = Path(path)
    if not path.is_file():
        return None
    if zipfile.is_zipfile(path):
        return "zip"
    try:
        if tarfile.is_tarfile(path):
            return "tar"
    except (OSError, tarfile.TarError):
        return None
    return None


def _unsafe_reason(name: str) -> str | None:
    """Why a member name could escape the target directory, or None when it is safe."""
    if not name or "\x00" in name:
        return "has an empty or invalid name"
    norm = name.replace("\\", "/")
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":"):
        return "has an absolute path"
    if ".." in PurePosixPath(norm).parts:
        return "contains '..'"
    return None


def member_names(path: Path) -> list[str]:
    """Names of the regular files in an archive (directories left out)."""
    kind = archive_kind(path)
    if kind == "zip":
        with zipfile.ZipFile(path) as zf:
            return [i.filename for i in zf.infolist() if not i.is_dir()]
    if kind == "tar":
        with tarfile.open(path) as tf:
            return [m.name for m in tf.getmembers() if m.isfile()]
    raise DataError(f"{path} is not a zip or tar archive")


def _check_zip(zf: zipfile.ZipFile, label: str) -> int:
    total = 0
    for info in zf.infolist():
        reason = _unsafe_reason(info.filename)
        mode = info.external_attr >> 16
        if reason is None and mode and stat.S_ISLNK(mode):
            reason = "is a symbolic link"
        if reason:
            raise DataError(
                f"{label}: member '{info.filename}' {reason}; it could be written outside "
                "the target directory, so the archive was refused"
            )
        total += info.file_size
    return total


def _check_tar(tf: tarfile.TarFile, label: str) -> int:
    total = 0
    for m in tf.getmembers():
        reason = _unsafe_reason(m.name)
        if reason is None and (m.issym() or m.islnk()):
            reason = "is a link"
        elif reason is None and not (m.isfile() or m.isdir()):
            reason = "is a device or special file"
        if reason:
            raise DataError(
                f"{label}: member '{m.name}' {reason}; it could be written outside "
                "the target directory, so the archive was refused"
            )
        total += m.size if m.isfile() else 0
    return total


def _check_space(target: Path, needed: int, label: str) -> None:
    try:
        free = shutil.disk_usage(target).free
    except OSError:
        return
    if needed > free:
        raise DataError(
            f"not enough disk space to extract {label}: it needs {needed / 1e6:,.0f} MB, "
            f"{free / 1e6:,.0f} MB are free in {target}"
        )


def extract(
    archive: Path,
    target: Path,
    *,
    label: str | None = None,
    keep: Callable[[str], bool] | None = None,
) -> list[str]:
    """Extract a zip or tar archive into ``target`` after checking every member; return names.

    ``keep(name)`` may select members; nothing is written unless every member is safe.
    Raises DataError for unsafe members, corrupt or truncated archives and too little space.
    """
    archive, target = Path(archive), Path(target)
    label = label or archive.name
    kind = archive_kind(archive)
    target.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    try:
        if kind == "zip":
            with zipfile.ZipFile(archive) as zf:
                _check_space(target, _check_zip(zf, label), label)
                for info in zf.infolist():
                    if info.is_dir() or (keep and not keep(info.filename)):
                        continue
                    dest = _dest(target, info.filename)
                    with zf.open(info) as src, dest.open("wb") as out:
                        shutil.copyfileobj(src, out, CHUNK)
                    written.append(info.filename)
        elif kind == "tar":
            with tarfile.open(archive) as tf:
                _check_space(target, _check_tar(tf, label), label)
                for m in tf.getmembers():
                    if not m.isfile() or (keep and not keep(m.name)):
                        continue
                    dest = _dest(target, m.name)
                    member = tf.extractfile(m)
                    if member is None:  # pragma: no cover - isfile() members always have data
                        continue
                    with member, dest.open("wb") as out:
                        shutil.copyfileobj(member, out, CHUNK)
                    written.append(m.name)
        else:
            raise DataError(f"{label} is not a zip or tar archive (corrupt or truncated?)")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zipfile.LargeZipFile) as exc:
        raise DataError(f"{label} is corrupt or truncated ({_one_line(exc)})") from None
    return written


def _dest(target: Path, name: str) -> Path:
    """Destination of a (checked) member; resolved once more as a last line of defence."""
    dest = (target / name.replace("\\", "/")).resolve()
    root = target.resolve()
    if dest != root and root not in dest.parents:  # pragma: no cover - _unsafe_reason caught it
        raise DataError(f"archive member '{name}' would be written outside {target}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    return dest


def iter_tar_files(path: Path) -> Iterator[tuple[str, bytes]]:
    """Stream (name, content) of the regular files of a tar (plain or compressed), in order.

    Used to parse the Netflix ``training_set.tar`` without unpacking its 17,770 files.
    """
    try:
        with tarfile.open(path, mode="r|*") as tf:
            for m in tf:
                if not m.isfile():
                    continue
                fh = tf.extractfile(m)
                if fh is not None:
                    yield m.name, fh.read()
    except (tarfile.TarError, EOFError) as exc:
        raise DataError(f"{path} is corrupt or truncated ({_one_line(exc)})") from None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
