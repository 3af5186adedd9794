"""Record a ``compare`` in the results store cell by cell, as its cells finish, and resume one.

A compare is identified by a fingerprint of what decides its cells: the data (checksum), the
split, the seeds (``--seed``, ``--repeats``), the evaluation settings (K, relevance threshold,
beyond-accuracy metrics) and each algorithm's label and parameters. Output options (``--format``,
``--output``, ``--fail-if``, ``--ci``, ...) do not change a cell and are not part of it.

- Each finished cell is written at once (atomically, see :mod:`recbench.store.runs`), so a kill
  loses only the cells in flight. The run itself is created when its first cell finishes.
- Running the same compare again after it was interrupted (kill -9, Ctrl-C, a crash) or failed
  resumes that run, as ``recbench run`` does: its recorded cells are read back instead of run
  again, the others are run and recorded, and the run is marked complete. A run still being
  written by another process is never resumed (that compare gets a run of its own), and a
  complete run is never reopened.
- A store write that fails (a full disk, a file size limit) stops the recording but not the
  compare: the run is marked ``failed`` with the reason (or removed when even that cannot be
  written) and :attr:`LiveRun.error` says so, for the caller to report.

Nothing is printed; the caller reports :attr:`LiveRun.resumed` and :attr:`LiveRun.error`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
from collections.abc import Callable
from typing import Any

import pandas as pd

from recbench.data.model import Dataset
from recbench.errors import UsageError
from recbench.evaluation import EvalConfig
from recbench.experiment import SEGMENT_COLUMNS, AlgoSpec, CellOutcome, results_frame
from recbench.split import SplitSpec
from recbench.store.record import _cell_id, dataset_identity
from recbench.store.runs import (
    CorruptRunError,
    RunInfo,
    RunWriter,
    Store,
    StoreWriteError,
    os_reason,
)

_STORE_COLUMNS = ("run_id", "cell_id")


def fingerprint(
    dataset: Dataset,
    split: SplitSpec,
    rows: dict[int, list[AlgoSpec]],
    eval_config: EvalConfig,
    kind: str = "compare",
) -> str:
    """What a resumed compare must match: same data, split, seeds, evaluation and each seed's
    rows (a tuned compare's parameters differ by repeat)."""
    doc = {
        "kind": kind,
        "checksum": dataset.checksum,
        "split": str(split),
        "seeds": list(rows),
        "eval": dataclasses.asdict(eval_config),
        "algorithms": [
            [seed, [[s.label, s.params] for s in specs]] for seed, specs in rows.items()
        ],
    }
    text = json.dumps(doc, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class LiveRun:
    """The store run of one compare: records its cells as they finish; resumes a matching
    interrupted or failed run when there is one. ``rows`` maps each repeat's seed to its
    algorithm rows: the same labels in the same order, parameters per repeat when tuned."""

    def __init__(
        self,
        store: Store,
        dataset: Dataset,
        split: SplitSpec,
        rows: dict[int, list[AlgoSpec]],
        eval_config: EvalConfig,
        kind: str = "compare",
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.store = store
        self.dataset = dataset
        self.split = split
        self.rows = rows
        self.seeds = list(rows)
        self.specs = specs = rows[self.seeds[0]]  # labels and names; parameters: the first seed's
        self.n_cells = len(specs) * split.n_folds * len(self.seeds)
        self.fingerprint = fingerprint(dataset, split, rows, eval_config, kind)
        self.manifest: dict[str, Any] = {
            "kind": kind,
            "name": None,
            "datasets": [dataset_identity(dataset)],
            "splits": [str(split)],
            "seeds": self.seeds,
            "ks": list(eval_config.ks),
            "relevance_threshold": eval_config.relevance_threshold,
            "algorithms": [{"label": s.label, "name": s.name, "params": s.params} for s in specs],
            "n_cells": self.n_cells,
            "fingerprint": self.fingerprint,
            **(extra or {}),
        }
        self.writer: RunWriter | None = None
        #: the run resumed, and how many of its cells were recorded before (None: a new run)
        self.resumed: tuple[str, int] | None = None
        #: set when a store write failed: the reason and what became of the run
        self.error: StoreWriteError | None = None
        self._recorded: dict[int, dict[tuple[int, str], CellOutcome]] = {}

    # starting ------------------------------------------------------------------------------
    def open(self, fresh: bool = False) -> None:
        """Find a matching interrupted or failed run and reopen it (unless ``fresh``)."""
        previous = None if fresh else self.store.find_resumable(self.fingerprint)
        if previous is None:
            return
        try:
            writer = self.store.resume(previous)
        except UsageError:  # another compare resumed it first: this one records a new run
            return
        try:
            recorded = self._read_back(writer.run)
        except (CorruptRunError, OSError, ValueError) as exc:  # not resumed: a new run instead
            writer.fail(f"its recorded cells cannot be read back ({exc})")
            writer.close()
            return
        self.writer = writer
        self._recorded = recorded
        self.resumed = (previous.run_id, sum(len(v) for v in recorded.values()))

    def _read_back(self, run: RunInfo) -> dict[int, dict[tuple[int, str], CellOutcome]]:
        out: dict[int, dict[tuple[int, str], CellOutcome]] = {}
        index = {s.label: i for i, s in enumerate(self.specs)}
        for meta in self.store.cells(run):
            label = str(meta.get("label"))
            if label not in index or int(meta.get("seed", -1)) not in self.seeds:
                continue
            base = run.path / "cells" / str(meta["cell_id"])
            rows = _strip(pd.read_parquet(base / "results.parquet"))
            per_user = _strip(pd.read_parquet(base / "per_user.parquet"))
            if "seed" in per_user:
                per_user = per_user.drop(columns="seed")
            segments = _strip(pd.read_parquet(base / "segments.parquet"))
            outcome = CellOutcome(
                index[label],
                label,
                int(meta["fold"]),
                str(meta.get("protocol") or ""),
                rows.to_dict("records") if len(rows) else [],
                segments[SEGMENT_COLUMNS].to_dict("records") if len(segments) else [],
                per_user,
                int(meta.get("n_cold_users") or 0),
                meta.get("unable"),
                bool(meta.get("refused")),
                meta.get("curve"),
            )
            out.setdefault(int(meta["seed"]), {})[(outcome.fold, label)] = outcome
        return out

    def recorded(self, seed: int) -> dict[tuple[int, str], CellOutcome]:
        """(fold, label) -> the outcome read back from the resumed run, for one seed."""
        return dict(self._recorded.get(seed, {}))

    # recording -----------------------------------------------------------------------------
    def record(self, seed: int, outcome: CellOutcome) -> None:
        """Write one finished cell. A failed write marks the run failed and stops recording
        (the compare goes on; :attr:`error` says what happened)."""
        if self.error is not None:
            return
        try:
            if self.writer is None:
                self.writer = self.store.create(self.manifest)
            self._write(seed, outcome)
        except OSError as exc:
            self._fail(exc)

    def _write(self, seed: int, o: CellOutcome) -> None:
        assert self.writer is not None
        spec = self.rows[seed][o.index]
        key = {"dataset": 0, "split": str(self.split), "seed": seed, "fold": o.fold}
        key.update(label=o.label, params=spec.params)
        per_user = o.per_user.copy()
        if len(per_user):
            per_user.insert(2, "seed", seed)
        order = (self.seeds.index(seed) * self.split.n_folds + o.fold) * len(self.specs) + o.index
        meta = {
            **key,
            "algorithm": spec.name,
            "index": o.index,
            "order": order,
            "dataset_name": self.dataset.name,
            "n_folds": self.split.n_folds,
            "protocol": o.protocol,
            "n_cold_users": o.n_cold,
            "unable": o.unable,
            "refused": o.refused,
            "curve": o.curve,
        }
        rows = results_frame(o.rows)
        segments = pd.DataFrame(o.segments, columns=SEGMENT_COLUMNS)
        self.writer.record_cell(_cell_id(key), meta, rows, per_user, segments)

    def _fail(self, exc: BaseException) -> None:
        reason = os_reason(exc)
        if self.writer is None:
            self.error = StoreWriteError(reason, "no run was recorded")
            return
        self.error = StoreWriteError(reason, self.writer.fail(exc))

    # ending --------------------------------------------------------------------------------
    def finish(self, **fields: Any) -> str | None:
        """Mark the run complete (with ``fields``: protocol, study text, ...) and unlock it;
        its id, or None when nothing was recorded. :class:`StoreWriteError` when a write
        failed (the run is then failed or removed, never left running)."""
        try:
            if self.writer is not None and self.error is None:
                try:
                    self.writer.finish("complete", **fields)
                except OSError as exc:
                    self._fail(exc)
            if self.error is not None:
                raise self.error
            return self.writer.run_id if self.writer is not None else None
        finally:
            self.close()

    def abort(self, exc: BaseException) -> None:
        """The compare stopped with ``exc``: a run it recorded is marked failed, with the
        reason (after Ctrl-C it is left as it is: listed as interrupted, resumable); unlocked."""
        if self.writer is None:
            return
        if self.error is None and not isinstance(exc, KeyboardInterrupt):
            lines = str(exc).strip().splitlines()
            with contextlib.suppress(OSError):
                self.writer.finish("failed", error=lines[0] if lines else type(exc).__name__)
        self.writer.close()

    def close(self) -> None:
        """Release the run's lock."""
        if self.writer is not None:
            self.writer.close()


def hooks(
    live: LiveRun | None, seed: int
) -> tuple[dict[tuple[int, str], CellOutcome] | None, Callable[[CellOutcome], None] | None]:
    """``recorded`` and ``on_outcome`` for :func:`recbench.executors.run_cells`, for one
    repeat's seed (both None without a store run)."""
    if live is None:
        return None, None
    return live.recorded(seed), lambda outcome: live.record(seed, outcome)


def _strip(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in _STORE_COLUMNS if c in frame.columns])
