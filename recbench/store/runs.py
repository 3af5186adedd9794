"""The results store: one directory per run, one atomically renamed directory per cell.

Layout under the data directory (every table is Parquet, every manifest JSON)::

    runs/<RUN_ID>/run.json                      the run's manifest (rewritten at the end)
    runs/<RUN_ID>/cells/<CELL_ID>/cell.json     the cell: dataset, split, seed, fold, algorithm
    runs/<RUN_ID>/cells/<CELL_ID>/results.parquet    tidy metric rows
    runs/<RUN_ID>/cells/<CELL_ID>/per_user.parquet   per-user metric values
    runs/<RUN_ID>/cells/<CELL_ID>/segments.parquet   per-segment metric values

A cell directory is built under a temporary name and renamed into place, so a cell is either
entirely recorded or absent: a run killed at any point never leaves a half-recorded cell, and a
resumed run skips exactly the cells present. A run holds a lock while it writes, so two processes
never record the same run; a run whose manifest says ``running`` but whose lock is free lost its
process (kill -9, a crash, Ctrl-C) and is listed as ``interrupted``. A run whose ``run.json`` is
missing or unreadable is listed as ``corrupt`` (it can be removed); reading a corrupt cell file
raises :class:`CorruptRunError` naming the file. Any tool that reads Parquet can query the store,
e.g. DuckDB:
``SELECT * FROM read_parquet('runs/*/cells/*/results.parquet', union_by_name=true)``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from recbench.atomic import atomic_write_text, clean_stale, file_lock, staging_dir
from recbench.errors import DataError, UsageError
from recbench.store.manifest import environment, now

SCHEMA = "recbench.run/1"
CELL_FILES = ("results.parquet", "per_user.parquet", "segments.parquet")
#: statuses a run can be listed with: the first three are written in its manifest, the last two
#: are seen when it is read (``running`` with a free lock; an unreadable ``run.json``)
STATUSES = ("running", "complete", "failed", "interrupted", "corrupt")


class CorruptRunError(DataError):
    """A store file (run.json, cell.json, a cell's Parquet table) that cannot be read."""


class StoreWriteError(Exception):
    """Recording a run failed part-way (a full disk, a file size limit); ``reason`` is the
    system's reason and ``outcome`` what became of the run (kept as failed, or removed)."""

    def __init__(self, reason: str, outcome: str) -> None:
        super().__init__(f"{reason}; {outcome}")
        self.reason = reason
        self.outcome = outcome


@dataclass(frozen=True)
class RunInfo:
    """A run as listed: its id, directory and manifest.

    ``problem`` says why a corrupt run's manifest could not be read (its manifest is then
    empty); ``live`` is whether a process holds the run's lock (None: not checked).
    """

    run_id: str
    path: Path
    manifest: dict[str, Any]
    problem: str | None = None
    live: bool | None = None

    @property
    def status(self) -> str:
        """``complete``, ``failed``, ``running`` (its process is writing it), ``interrupted``
        (its process is gone: the lock is free) or ``corrupt``."""
        if self.problem is not None:
            return "corrupt"
        status = str(self.manifest.get("status", "running"))
        if status == "running" and self.live is False:
            return "interrupted"
        return status

    def check(self) -> None:
        """Raise :class:`CorruptRunError` naming the file when the run's manifest is corrupt."""
        if self.problem is not None:
            raise CorruptRunError(f"run {self.run_id} is corrupt: {self.problem}")

    @property
    def kind(self) -> str:
        return str(self.manifest.get("kind", "?"))

    def cell_ids(self) -> list[str]:
        cells = self.path / "cells"
        if not cells.is_dir():
            return []
        return sorted(p.name for p in cells.iterdir() if p.is_dir() and not p.name.startswith("."))


def new_run_id() -> str:
    """``YYYYMMDD-HHMMSS-xxxx`` (UTC; sorts by start time)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(2)}"


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _manifest(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """A run directory's manifest, or why it cannot be read (one line naming the file)."""
    file = path / "run.json"
    if not file.exists():
        return None, f"{file} is missing"
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        return None, f"{file} is not UTF-8 text"
    except ValueError as exc:
        return None, f"{file} is not valid JSON ({str(exc).splitlines()[0]})"
    except OSError as exc:
        return None, f"{file} cannot be read ({exc.strerror or exc})"
    if not isinstance(data, dict) or not isinstance(data.get("run_id", ""), str):
        return None, f"{file} is not a run manifest (a JSON object)"
    return data, None


def is_locked(path: Path) -> bool | None:
    """Whether a process holds the lock of the run at ``path`` (None when it cannot be told:
    a read-only store). Probing takes the lock for an instant when it is free."""
    import filelock

    try:
        with file_lock(path / ".lock", timeout=0):
            return False
    except filelock.Timeout:
        return True
    except OSError:
        return None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _write_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


class Store:
    """The runs recorded under ``root`` (``DATA_DIR/runs``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> Store:
        return cls(Path(data_dir) / "runs")

    # reading ------------------------------------------------------------------------------
    def runs(self) -> list[RunInfo]:
        """Every recorded run, oldest first, corrupt ones included (``status`` says so); a run
        being created (locked, no manifest yet) is skipped."""
        if not self.root.is_dir():
            return []
        found = []
        for p in sorted(self.root.iterdir()):
            if not p.is_dir() or p.name.startswith("."):
                continue
            manifest, problem = _manifest(p)
            if manifest is None:
                if not (p / "run.json").exists() and is_locked(p):
                    continue
                found.append(RunInfo(p.name, p, {}, problem))
                continue
            live = is_locked(p) if manifest.get("status", "running") == "running" else None
            found.append(RunInfo(p.name, p, manifest, live=live))
        # ids sort by the second a run started; two runs in one second by their start in ns
        found.sort(key=lambda r: (r.run_id[:15], int(r.manifest.get("started_ns") or 0), r.run_id))
        return found

    def get(self, ref: str) -> RunInfo:
        """A run by id, unique id prefix, ``latest``, or ``latest~N`` (N runs before it)."""
        runs = self.runs()
        ref = ref.strip()
        if ref == "latest" or ref.startswith("latest~"):
            back = ref.partition("~")[2]
            n = int(back) if back.isdigit() else 0 if not back else -1
            if n < 0:
                raise UsageError(f"run '{ref}': use latest or latest~N")
            if len(runs) <= n:
                raise UsageError(f"run '{ref}': the store has {len(runs)} run(s)")
            return runs[-1 - n]
        exact = [r for r in runs if r.run_id == ref]
        if exact:
            return exact[0]
        matches = [r for r in runs if r.run_id.startswith(ref)] if ref else []
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise UsageError(f"run '{ref}' is ambiguous: {', '.join(r.run_id for r in matches)}")
        raise UsageError(f"no run '{ref}' in the store {self.root} (see: recbench runs list)")

    def cells(self, run: RunInfo) -> list[dict[str, Any]]:
        """The cell manifests of a run, in run order (CorruptRunError names an unreadable one)."""
        run.check()
        out = []
        for cid in run.cell_ids():
            path = run.path / "cells" / cid / "cell.json"
            meta = _read_json(path)
            if meta is None or "cell_id" not in meta:
                raise CorruptRunError(f"run {run.run_id} is corrupt: {path} cannot be read")
            out.append(meta)
        return sorted(out, key=lambda m: int(m.get("order", 0)))

    def table(self, run: RunInfo, name: str) -> pd.DataFrame:
        """``results``, ``per_user`` or ``segments`` of every cell of a run, in run order."""
        frames = []
        for meta in self.cells(run):
            path = run.path / "cells" / meta["cell_id"] / f"{name}.parquet"
            if path.exists():
                try:
                    frames.append(pd.read_parquet(path))
                except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
                    raise CorruptRunError(
                        f"run {run.run_id} is corrupt: {path} is not a readable Parquet file "
                        f"({_one_line(exc)})"
                    ) from None
        frames = [f for f in frames if len(f)]
        if not frames:
            return pd.DataFrame()
        frame = pd.concat(frames, ignore_index=True)
        if "k" in frame:
            frame["k"] = frame["k"].astype("Int64")
        return frame

    def results(self, run: RunInfo) -> pd.DataFrame:
        return self.table(run, "results")

    # writing ------------------------------------------------------------------------------
    def create(self, manifest: dict[str, Any]) -> RunWriter:
        """Start a run: its manifest is written at once with status ``running``."""
        self.root.mkdir(parents=True, exist_ok=True)
        clean_stale(self.root)
        run_id = new_run_id()
        while (self.root / run_id).exists():
            run_id = new_run_id()
        path = self.root / run_id
        (path / "cells").mkdir(parents=True)
        full = {
            "schema": SCHEMA,
            "run_id": run_id,
            "status": "running",
            "started": now(),
            "started_ns": time.time_ns(),
            "ended": None,
            **environment(),
            **manifest,
        }
        writer = RunWriter(RunInfo(run_id, path, full))
        writer.lock()
        try:
            _write_json(path / "run.json", full)
        except BaseException:  # nothing recorded yet: leave no half-made run behind
            writer.close()
            shutil.rmtree(path, ignore_errors=True)
            raise
        return writer

    def resume(self, run: RunInfo) -> RunWriter:
        """Reopen a run to record its missing cells."""
        writer = RunWriter(run)
        writer.lock()
        clean_stale(run.path / "cells")
        manifest = dict(run.manifest)
        manifest["status"] = "running"
        manifest["ended"] = None
        manifest.pop("error", None)  # a failed run's reason no longer holds
        manifest.setdefault("resumed", []).append(now())
        writer.run = RunInfo(run.run_id, run.path, manifest)
        _write_json(run.path / "run.json", manifest)
        return writer

    def find_resumable(self, fingerprint: str) -> RunInfo | None:
        """The latest interrupted or failed run of the same study on the same data, if any (a
        run another process is still writing is left to it)."""
        for run in reversed(self.runs()):
            if run.manifest.get("fingerprint") == fingerprint and run.status in (
                "interrupted",
                "failed",
            ):
                return run
        return None

    def remove(self, run: RunInfo) -> None:
        """Delete a run (refused while another process is writing it)."""
        with _run_lock(run.path):
            aside = run.path.with_name(f".{run.run_id}.rbtmp-old-{os.getpid()}-rm")
            os.replace(run.path, aside)
        shutil.rmtree(aside, ignore_errors=True)


@contextmanager
def _run_lock(path: Path) -> Iterator[None]:
    import filelock

    try:
        with file_lock(path / ".lock", timeout=0):
            yield
    except filelock.Timeout:
        raise UsageError(f"run {path.name} is being written by another recbench process") from None


class RunWriter:
    """Records the cells of one run; holds the run's lock until :meth:`close`."""

    def __init__(self, run: RunInfo) -> None:
        self.run = run
        self._stack = ExitStack()

    @property
    def run_id(self) -> str:
        return self.run.run_id

    def lock(self) -> None:
        self._stack.enter_context(_run_lock(self.run.path))

    def done(self) -> set[str]:
        """Ids of the cells already recorded."""
        return set(self.run.cell_ids())

    def record_cell(
        self,
        cell_id: str,
        meta: dict[str, Any],
        results: pd.DataFrame,
        per_user: pd.DataFrame,
        segments: pd.DataFrame,
    ) -> None:
        """Write one cell atomically (all of its files appear at once, or none)."""
        final = self.run.path / "cells" / cell_id
        if final.exists():
            raise UsageError(f"cell {cell_id} is already recorded in run {self.run_id}")
        tables = {"results": results, "per_user": per_user, "segments": segments}
        with staging_dir(final) as tmp:
            for name, frame in tables.items():
                frame = frame.copy()
                frame.insert(0, "cell_id", cell_id)
                frame.insert(0, "run_id", self.run_id)
                frame.to_parquet(tmp / f"{name}.parquet", index=False)
            _write_json(tmp / "cell.json", {"cell_id": cell_id, "recorded": now(), **meta})
            _fsync_dir(tmp)
            os.replace(tmp, final)
        _fsync_dir(final.parent)

    def update(self, **fields: Any) -> None:
        manifest = {**self.run.manifest, **fields}
        self.run = RunInfo(self.run_id, self.run.path, manifest)
        _write_json(self.run.path / "run.json", manifest)

    def finish(self, status: str = "complete", **fields: Any) -> None:
        self.update(status=status, ended=now(), n_cells_recorded=len(self.done()), **fields)

    def fail(self, error: BaseException | str) -> str:
        """After a write failed: mark the run ``failed`` with the error (so no run stays
        ``running``), or remove it when even that cannot be written. Says which, for the user."""
        reason = error if isinstance(error, str) else os_reason(error)
        try:
            self.finish("failed", error=reason)
            n = len(self.done())
            total = self.run.manifest.get("n_cells") or "?"
            return f"run {self.run_id} kept as failed with {n}/{total} cells"
        except OSError:
            pass
        try:
            self.close()
            aside = self.run.path.with_name(f".{self.run_id}.rbtmp-old-{os.getpid()}-rm")
            os.replace(self.run.path, aside)
            shutil.rmtree(aside, ignore_errors=True)
            return f"run {self.run_id} removed"
        except OSError:
            return f"run {self.run_id} left as it is (it will be listed as interrupted)"

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def os_reason(exc: BaseException) -> str:
    """The system's reason for a failed write (``File too large``), also from pyarrow's
    OSErrors, which carry only ``... Detail: [errno 27] File too large``."""
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    found = re.search(r"\[errno (\d+)\]", str(exc))
    if found:
        return os.strerror(int(found.group(1)))
    return _one_line(exc)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
