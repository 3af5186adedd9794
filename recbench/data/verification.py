"""Verification of an installed copy against the registry's published checksums.

A copy is accepted when its archive's published checksum or all of its pinned member checksums
match; otherwise it is refused with a one-line DataError saying why. Datasets that pin nothing
(archives that change upstream) are accepted and reported as unverified. A member is pinned by
its sha256 (64 hex digits) or, for files published in a git repository whose tree is the only
published checksum, by its git blob id (40 hex digits: sha1 of ``blob <size>\0`` + the bytes,
what ``git hash-object`` prints and GitHub's tree lists).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recbench.data.registry import BuiltinDataset
from recbench.errors import DataError


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


GIT_BLOB_LEN = 40


def git_blob_id(path: Path) -> str:
    """The git blob id of a file (``git hash-object``)."""
    h = hashlib.sha1(usedforsecurity=False)
    h.update(b"blob %d\0" % Path(path).stat().st_size)
    with Path(path).open("rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def add_git_blob_ids(entry: BuiltinDataset, root: Path, files: dict[str, dict[str, Any]]) -> None:
    """Record ``git_blob`` for the files the entry pins by git blob id (only those: it is a
    second read of the file)."""
    for member, pin in entry.members.items():
        if len(pin) == GIT_BLOB_LEN and member in files:
            files[member]["git_blob"] = git_blob_id(root / member)


def _digest(info: dict[str, Any], pin: str) -> str | None:
    """The digest of a file comparable with ``pin`` (a git blob id or a sha256)."""
    return info.get("git_blob") if len(pin) == GIT_BLOB_LEN else info.get("sha256")


def _short(h: str) -> str:
    return h[:12] + "…"


def verify(
    entry: BuiltinDataset,
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
        bad = [m for m, s in entry.members.items() if m in files and _digest(files[m], s) != s]
        members_ok = not missing and not bad
        if members_ok:
            git = any(len(pin) == GIT_BLOB_LEN for pin in entry.members.values())
            kinds = "checksums (sha256 or git blob id)" if git else "sha256s"
            checked.append(f"all {len(entry.members)} pinned member {kinds} match")
        elif missing:
            failures.append(f"pinned member {missing[0]} is missing")
        else:
            pin = entry.members[bad[0]]
            kind = "git blob id" if len(pin) == GIT_BLOB_LEN else "sha256"
            failures.append(f"{bad[0]} does not match its pinned {kind}")
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
    entry: BuiltinDataset, archive_digests: dict[str, str] | None
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


def internal_checksums(root: Path) -> dict[str, str] | None:
    """The md5 list an archive ships itself (ml-32m's ``checksums.txt``), if any."""
    path = root / "checksums.txt"
    if not path.is_file():
        return None
    sums = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        m = _MD5SUM.match(line)
        if m:
            sums[m.group(2).lstrip("./")] = m.group(1).lower()
    return sums or None
