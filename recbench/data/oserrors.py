"""OS errors met writing the data directory, turned into one-line errors with advice.

Kept apart from :mod:`recbench.data.datadir` so that the Parquet cache
(:mod:`recbench.data.cache`), which ``datadir`` itself imports, can use it too.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager

from recbench.atomic import MARK
from recbench.errors import DataError, RecbenchError

#: errno values that mean "the disk is full" (EDQUOT: over the user's quota)
NO_SPACE = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})


def is_requests_error(exc: BaseException) -> bool:
    """Whether ``exc`` comes from requests/urllib3 (their errors subclass OSError)."""
    return type(exc).__module__.startswith(("requests", "urllib3"))


def data_dir_error(exc: OSError, action: str) -> DataError:
    """One line for ``exc`` met while ``action``; a full disk and permissions get advice."""
    name = str(getattr(exc, "filename", None) or "")
    where = f" ({name})" if name and MARK not in name else ""  # not a temporary's name
    if exc.errno in NO_SPACE:
        return DataError(
            f"no space left on device while {action}{where}; free some space or choose "
            "another --data-dir (or RECBENCH_DATA)"
        )
    if exc.errno == errno.EROFS:
        return DataError(
            f"read-only file system while {action}{where}; choose a writable --data-dir "
            "(or RECBENCH_DATA)"
        )
    if exc.errno in (errno.EACCES, errno.EPERM) or isinstance(exc, PermissionError):
        return DataError(
            f"permission denied while {action}{where}; choose a writable --data-dir "
            "(or RECBENCH_DATA)"
        )
    return DataError(f"{action} failed: {exc.strerror or exc}{where}")


@contextmanager
def io_errors(action: str) -> Iterator[None]:
    """Turn OS errors into one-line DataErrors (see :func:`data_dir_error`)."""
    try:
        yield
    except RecbenchError:
        raise
    except OSError as exc:
        if is_requests_error(exc):
            raise
        raise data_dir_error(exc, action) from None


def disk_error_message(exc: OSError) -> str | None:
    """One line for a full or read-only disk met outside :func:`io_errors` (standard output
    redirected to a full disk, say), or None for any other OS error (a bug to report)."""
    name = str(getattr(exc, "filename", None) or "")
    where = f" writing {name}" if name and MARK not in name else ""
    if exc.errno in NO_SPACE:
        return (
            f"no space left on device{where}; free some space, or write the output and the "
            "data directory elsewhere (--output, --data-dir or RECBENCH_DATA)"
        )
    if exc.errno == errno.EROFS:
        return (
            f"read-only file system{where}; write the output and the data directory "
            "elsewhere (--output, --data-dir or RECBENCH_DATA)"
        )
    return None
