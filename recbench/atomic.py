"""Atomic files and directories, locks, and clean-up of what an interrupted writer left behind.

Every file or directory recbench writes (results files, model directories, the dataset cache,
the user-dataset registry, downloaded datasets) is built under a temporary name beside its final
place and renamed into it, so a reader sees either the old complete version or the new complete
one, never a half-written one. Temporary names carry the writer's process id,
``.NAME.rbtmp-PID-RANDOM``, so that a later process can tell a dead writer's leftovers (removed by
:func:`clean_stale`) from a live writer's work in progress (left alone).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

MARK = ".rbtmp-"
_START = time.time()


def _umask() -> int:
    """The process umask, read without changing it where the platform allows."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def temp_name(target: Path, kind: str = "tmp") -> Path:
    """A fresh temporary path beside ``target`` that :func:`clean_stale` recognises."""
    token = secrets.token_hex(4)
    return target.parent / f".{target.name}{MARK}{kind}-{os.getpid()}-{token}"


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success flush, fsync and rename it into place.

    The result honours the umask (``mkstemp`` would make it 0600). On any exception the temporary
    file is removed and ``path`` is untouched.
    """
    target = Path(path)
    tmp = temp_name(target)
    fh = open(tmp, mode, **kwargs)  # noqa: SIM115
    try:
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_file(path, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_file(path, "w", encoding=encoding) as fh:
        fh.write(text)


@contextlib.contextmanager
def staging_dir(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary directory beside ``target`` to build it in; removed if the block fails.

    The caller moves it into place (``os.replace`` or :func:`replace_dir`) inside the block.
    """
    final = Path(target)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(final)
    tmp.mkdir(mode=0o777)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if tmp.exists():  # the caller did not move it: nothing to keep
        shutil.rmtree(tmp, ignore_errors=True)


def replace_dir(new: Path, target: Path) -> None:
    """Move directory ``new`` to ``target``, replacing what is there without a moment of neither.

    The old directory is renamed aside first, the new one renamed in, and only then is the old one
    deleted; a kill at any point leaves either the old or the new directory at ``target`` (plus a
    leftover that :func:`clean_stale` removes later).
    """
    if not target.exists() and not target.is_symlink():
        os.replace(new, target)
        return
    aside = temp_name(target, "old")
    os.replace(target, aside)
    try:
        os.replace(new, target)
    except BaseException:
        os.replace(aside, target)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(directory: str | os.PathLike[str]) -> list[Path]:
    """Remove temporaries in ``directory`` left by writers that are gone; return what was removed.

    A temporary is stale when its writer's process no longer exists and it is older than the
    running process. A temporary whose old copy (``old``) was renamed aside while the new one never
    arrived is put back in place instead of deleted.
    """
    root = Path(directory)
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    for entry in root.iterdir():
        name = entry.name
        if MARK not in name or not name.startswith("."):
            continue
        base, _, tail = name[1:].rpartition(MARK)
        parts = tail.split("-")
        if len(parts) != 3 or not parts[1].isdigit():
            continue
        kind, pid = parts[0], int(parts[1])
        try:
            mtime = entry.lstat().st_mtime
        except OSError:
            continue
        if _pid_alive(pid) or mtime >= _START:
            continue
        original = root / base
        if kind == "old" and not original.exists() and not original.is_symlink():
            with contextlib.suppress(OSError):
                os.replace(entry, original)
                continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                entry.unlink()
        removed.append(entry)
    return removed


@contextlib.contextmanager
def file_lock(path: str | os.PathLike[str], timeout: float = -1) -> Iterator[None]:
    """An inter-process lock on ``path`` (filelock); ``timeout`` seconds, -1 waits forever.

    Raises ``filelock.Timeout`` when the lock is not obtained in time.
    """
    import filelock

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(path), timeout=timeout):
        yield


__all__ = [
    "MARK",
    "atomic_file",
    "atomic_write_bytes",
    "atomic_write_text",
    "clean_stale",
    "file_lock",
    "replace_dir",
    "staging_dir",
    "temp_name",
]
