"""A full or read-only data directory, output to a full disk, and a closed output pipe: one line
and exit 2 (or a quiet 141 for the pipe), never "internal error", never a half-written cache.

The disks are real: a tmpfs of a few KiB (full) or remounted read-only; the tests skip where
this process may not mount (not root, no mount namespace).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import REPO, run_cli
from .test_cli import assert_one_line_error

POP = ["--algos", "popularity"]


def _mount(*args: str) -> bool:
    try:
        done = subprocess.run(["mount", *args], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 4 KiB tmpfs: room for directories and a small file, not for a cache entry."""
    point = tmp_path / "disk"
    point.mkdir()
    if not _mount("-t", "tmpfs", "-o", "size=4k", "tmpfs", str(point)):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], capture_output=True, timeout=30)


@pytest.fixture
def ratings_csv(tmp_path: Path) -> Path:
    """30 users x 10 items, with ratings: a few KiB of Parquet once parsed."""
    rows = ["user,item,rating"]
    rows += [
        f"u{u},i{(u * 7 + j * 3) % 40},{1 + (u + j) % 5}" for u in range(30) for j in range(10)
    ]
    path = tmp_path / "tiny.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def _leftovers(data_dir: Path) -> list[str]:
    parsed = data_dir / "parsed"
    return sorted(p.name for p in parsed.iterdir()) if parsed.is_dir() else []


@pytest.mark.parametrize("store", [[], ["--no-store"]])
def test_full_data_directory(capsys, tmpfs: Path, ratings_csv: Path, store: list[str]) -> None:  # type: ignore[no-untyped-def]
    res = run_cli(["compare", *POP, "-d", str(ratings_csv), *store], capsys, tmpfs)
    assert_one_line_error(res, "no space left on device while writing the dataset cache")
    assert "choose another --data-dir" in res.err
    assert _leftovers(tmpfs) == []  # the staging directory went with the failure


def test_read_only_data_directory(capsys, tmpfs: Path, ratings_csv: Path) -> None:  # type: ignore[no-untyped-def]
    if not _mount("-o", "remount,ro", str(tmpfs)):
        pytest.skip("cannot remount the tmpfs read-only")
    res = run_cli(["compare", *POP, "-d", str(ratings_csv), "--no-store"], capsys, tmpfs)
    assert_one_line_error(res, "read-only file system while writing the dataset cache")
    assert "choose a writable --data-dir" in res.err
    assert ".rbtmp-" not in res.err  # a temporary's name says nothing to the user


def _recbench(args: list[str], stdout: int, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RECBENCH_DATA": str(data_dir), "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "recbench", *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        timeout=120,
    )


def test_output_to_a_full_disk(tmp_path: Path, ratings_csv: Path) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with open("/dev/full", "w") as full:
        res = _recbench(
            ["-q", "compare", *POP, "-d", str(ratings_csv), "--no-store"], full.fileno(), tmp_path
        )
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2, res.stderr
    assert len(lines) == 1 and lines[0].startswith("error: no space left on device"), res.stderr


def test_closed_output_pipe_exits_quietly(tmp_path: Path) -> None:
    """``recbench algorithms | head``: the reader went away; 141 as a shell reports it, not 1
    (--fail-if's status), and no message."""
    read, write = os.pipe()
    os.close(read)
    try:
        res = _recbench(["algorithms"], write, tmp_path)
    finally:
        os.close(write)
    assert (res.returncode, res.stderr) == (141, "")
