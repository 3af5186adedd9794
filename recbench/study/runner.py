"""Run a study plan cell by cell, recording each cell in the results store as it completes.

A run interrupted at any point and started again with the same study (same datasets, same
checksums, same cells) resumes: recorded cells are read back, the others are run. Results are
assembled from the cells in plan order, so a resumed run and an uninterrupted one give the same
tables. Nothing is printed; notes are returned for the caller.

With ``tune`` each (dataset, split, seed) is tuned first, as ``compare --tune`` does (each seed on
its own training part: :mod:`recbench.tuning.repeats`). With ``workers`` /
``scheduler`` the cells go through :mod:`recbench.executors` (Dask): the pending cells of one
(dataset, split, seed) run as one batch and are recorded when it comes back, each once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from recbench.data import Dataset, load_dataset
from recbench.data.loading import resolve
from recbench.data.preprocess import apply as apply_preprocessing
from recbench.errors import RecbenchError
from recbench.evaluation import EvalConfig
from recbench.executors import (
    CellOutcome,
    DaskExecutor,
    Executor,
    cell_here,
    make_executor,
    preflight,
)
from recbench.experiment import (
    SEGMENT_COLUMNS,
    AlgoSpec,
    Event,
    ExperimentResult,
    results_frame,
)
from recbench.pipeline import cap_ks
from recbench.split import check_split_data, make_split
from recbench.store.record import dataset_identity
from recbench.store.runs import RunInfo, RunWriter, Store
from recbench.study.plan import Cell, Plan

_STORE_COLUMNS = ("run_id", "cell_id")
#: what one cell produced: its metadata, result rows, per-user rows and segment rows
Frames = tuple[dict[str, Any], pd.DataFrame, pd.DataFrame, pd.DataFrame]


@dataclass
class StudyRun:
    """What a study run produced: one ExperimentResult per (dataset, split)."""

    plan: Plan
    groups: list[ExperimentResult]
    run_id: str | None = None
    resumed_from: int = 0
    ran: int = 0
    notes: list[str] = field(default_factory=list)

    def results(self) -> pd.DataFrame:
        frames = [g.results for g in self.groups if len(g.results)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def load_datasets(plan: Plan, data_dir: Path) -> tuple[list[Dataset], list[str]]:
    """Load (cached) and preprocess every dataset; errors name the study line."""
    out, notes = [], []
    for d in plan.datasets:
        try:
            spec = resolve(d.spec, data_dir)
            ds = load_dataset(spec, data_dir)
            if not d.prep.is_identity:
                ds, summary = apply_preprocessing(ds, d.prep)
                notes.append(
                    f"{ds.name}: preprocessing ({summary['description']}) removed "
                    f"{summary['ratings_removed']:,} ratings"
                )
        except RecbenchError as exc:
            raise plan.source.error(d.loc, str(exc)) from None
        for message in ds.source.get("warnings") or []:
            notes.append(f"warning: {ds.name}: {message}")
        out.append(ds)
    return out, notes


def dataset_record(ds: Dataset, plan: Plan, index: int) -> dict[str, Any]:
    d = plan.datasets[index]
    return {
        **dataset_identity(ds),
        "spec": d.spec.to_dict(),
        "preprocessing": {
            "min_user_ratings": d.prep.min_user_ratings,
            "min_item_ratings": d.prep.min_item_ratings,
            "implicit_threshold": d.prep.implicit_threshold,
        },
    }


def plan_manifest(plan: Plan, datasets: list[Dataset], kind: str = "run") -> dict[str, Any]:
    """The parts of a run's manifest that describe the study."""
    sf = plan.source
    return {
        "kind": kind,
        "name": sf.study.name,
        "study_path": str(sf.path),
        "study": sf.text,
        "datasets": [dataset_record(ds, plan, i) for i, ds in enumerate(datasets)],
        "splits": [str(s) for s in plan.splits],
        "seeds": plan.seeds,
        "ks": list(plan.eval.ks),
        "relevance_threshold": plan.eval.relevance_threshold,
        "metrics": list(plan.metrics),
        "algorithms": [
            {"label": a.label, "name": a.name, "params": a.params} for a in plan.algorithms
        ],
        "n_cells": len(plan.cells()),
        **{
            key: getattr(sf.study, key)
            for key in ("baseline", "test", "correction", "alpha")
            if getattr(sf.study, key) is not None
        },
    }


def _cell_frames(
    cell: Cell, order: int, plan: Plan, ds: Dataset, on_event: Callable[[Event], None] | None
) -> Frames:
    """Run ``cell`` in this process: the frames :func:`_outcome_frames` makes of its outcome."""
    spec = next(s for s in plan.splits if str(s) == cell.split)
    reason = _refused(plan, cell).get(cell.algorithm.label)
    if reason is not None:  # refused before any work, as compare reports it: unable
        if on_event:
            on_event(Event("cell-done", cell.algorithm.label, cell.fold, cell.n_folds))
        outcome = CellOutcome(0, cell.algorithm.label, cell.fold, spec.describe(cell.seed),
                              unable=reason)  # fmt: skip
        return _outcome_frames(outcome, cell, order, ds)
    split = make_split(ds, spec, cell.seed, cell.fold)
    outcome = cell_here(ds.name, 0, cell.algorithm, split, cell.seed, _eval(plan, cell.dataset),
                        cell.n_folds, on_event, False)  # fmt: skip
    return _outcome_frames(outcome, cell, order, ds)


def _eval(plan: Plan, dataset: int) -> EvalConfig:
    """The evaluation of one dataset: the study's, K capped at its catalogue."""
    evals: dict[int, EvalConfig] = plan.extras.get("evals", {})
    return evals.get(dataset, plan.eval)


def _refused(plan: Plan, cell: Cell) -> dict[str, str]:
    """The rows of the cell's (dataset, split, seed) that refused its data: label -> why."""
    refused: dict[tuple[int, str, int], dict[str, str]] = plan.extras.get("refused", {})
    return refused.get((cell.dataset, cell.split, cell.seed), {})


def _apply_rules(plan: Plan, datasets: list[Dataset]) -> tuple[Plan, list[str]]:
    """The rules of :mod:`recbench.pipeline` for each dataset, before any cell: every K capped
    at its catalogue (a note) and every row asked whether it refuses the data."""
    evals, notes = {}, []
    refused: dict[tuple[int, str, int], dict[str, str]] = {}
    for d, ds in enumerate(datasets):
        evals[d], note = cap_ks(plan.eval, ds)
        if note:
            notes.append(f"note: {ds.name}: {note}")
        for spec in plan.splits:
            check_split_data(ds, spec)
            for seed in plan.seeds:
                rows = plan.algorithms_for(d, str(spec), seed)
                refused[(d, str(spec), seed)] = preflight(ds, rows, seed)
    return replace(plan, extras={**plan.extras, "evals": evals, "refused": refused}), notes


def _strip(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in _STORE_COLUMNS if c in frame.columns])


def _read_cell(run: RunInfo, cell_id: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    base = run.path / "cells" / cell_id
    rows = _strip(pd.read_parquet(base / "results.parquet"))
    if "k" in rows:
        rows["k"] = rows["k"].astype("Int64")
    return (
        rows,
        _strip(pd.read_parquet(base / "per_user.parquet")),
        _strip(pd.read_parquet(base / "segments.parquet")),
    )


def _open_run(
    plan: Plan, datasets: list[Dataset], store: Store, fresh: bool, kind: str
) -> tuple[RunWriter, int]:
    fingerprint = plan.fingerprint([ds.checksum for ds in datasets])
    previous = None if fresh else store.find_resumable(fingerprint)
    if previous is not None:
        writer = store.resume(previous)
        return writer, len(writer.done())
    manifest = {**plan_manifest(plan, datasets, kind), "fingerprint": fingerprint}
    return store.create(manifest), 0


def execute(
    plan: Plan,
    data_dir: Path,
    store: Store | None = None,
    on_event: Callable[[Event], None] | None = None,
    fresh: bool = False,
    kind: str = "run",
) -> StudyRun:
    """Run every cell of ``plan`` not yet recorded; return results grouped by dataset x split.

    With ``tune``, each (dataset, split, seed) is tuned first (as ``compare --tune``; tuning is
    seeded, so a resumed run tunes to the same rows and finds its cells). With
    ``workers``/``scheduler`` the pending cells of one (dataset, split, seed) go to Dask as one
    batch and are recorded when the batch comes back; a recorded cell is never run into the
    store twice.
    """
    datasets, notes = load_datasets(plan, data_dir)
    reuse_notes, warnings = _check_stored(plan, datasets, data_dir)
    notes += warnings
    plan = replace(plan, extras={**plan.extras, "reuse_notes": reuse_notes})
    if plan.tune:
        plan = _tune(plan, datasets)
    plan, rule_notes = _apply_rules(plan, datasets)
    notes += rule_notes
    cells = plan.cells()
    study = plan.source.study
    executor = make_executor(study.workers, study.scheduler)
    writer: RunWriter | None = None
    reused = 0
    if store is not None:
        writer, reused = _open_run(plan, datasets, store, fresh, kind)
    done = writer.done() if writer is not None else set()
    collected: dict[str, Frames] = {}
    ran = 0
    try:
        with executor:
            pending: list[tuple[int, Cell]] = []
            for order, cell in enumerate(cells):
                if cell.id in done and writer is not None:
                    meta = _cell_meta(writer.run, cell.id) or {**cell.key, "order": order}
                    collected[cell.id] = (meta, *_read_cell(writer.run, cell.id))
                    if on_event:
                        on_event(Event("cell-done", cell.algorithm.label, cell.fold, cell.n_folds))
                    continue
                pending.append((order, cell))
            for batch in _batches(pending, executor):
                for cell_id, frames in _run_batch(batch, plan, datasets, executor, on_event):
                    if writer is not None:
                        writer.record_cell(cell_id, *frames)
                    collected[cell_id] = frames
                    ran += 1
        if writer is not None:
            writer.finish("complete")
    finally:
        if writer is not None:
            writer.close()
    groups = _assemble(plan, datasets, cells, collected)
    annotate(groups, plan)
    run_id = writer.run_id if writer is not None else None
    return StudyRun(plan, groups, run_id, reused, ran, notes)


def _tune(plan: Plan, datasets: list[Dataset]) -> Plan:
    """``tune = N``: each (dataset, split) tuned as ``compare --tune N`` tunes it, once per
    seed, each seed on validation carved from its own training part."""
    from recbench.pipeline import tune_request

    assert plan.tune_objective is not None
    tuned: dict[tuple[int, str, int], list[AlgoSpec]] = {}
    notes: dict[tuple[int, str], str] = {}
    docs: dict[tuple[int, str], dict[str, Any]] = {}
    for d, ds in enumerate(datasets):
        for spec in plan.splits:
            try:
                tuning = tune_request(ds, spec, plan.algorithms, plan.tune, plan.tune_objective,
                                      plan.seeds, plan.eval)  # fmt: skip
            except RecbenchError as exc:
                raise plan.source.error(("tune",), str(exc)) from None
            for seed in plan.seeds:
                tuned[(d, str(spec), seed)] = tuning.specs_for(seed)
            notes[(d, str(spec))] = tuning.note()
            docs[(d, str(spec))] = tuning.to_json()
    extras = {**plan.extras, "tune_notes": notes, "tunings": docs}
    return replace(plan, tuned=tuned, extras=extras)


def _check_stored(
    plan: Plan, datasets: list[Dataset], data_dir: Path
) -> tuple[dict[tuple[int, str], list[str]], list[str]]:
    """Rows reusing a stored study (``study = "NAME"``), checked for every dataset, split and
    seed before any work (the rule: :mod:`recbench.tuning.reuse`): the caption lines per
    (dataset, split), and the warnings."""
    from recbench.tuning.reuse import check_reuse, stored_best

    warnings: list[str] = []
    lines: dict[tuple[int, str], list[str]] = {}
    for i, entry in enumerate(plan.source.study.algorithms):
        if entry.study is None:
            continue
        try:
            best = stored_best(data_dir, entry.study, entry.name)
            for d, ds in enumerate(datasets):
                for spec in plan.splits:
                    note, leak_free = check_reuse(
                        best, entry.name, ds.checksum, str(spec), plan.seeds
                    )
                    lines.setdefault((d, str(spec)), []).append(note)
                    if not leak_free:
                        warnings.append(f"warning: {ds.name}, {spec}: {note}")
        except RecbenchError as exc:
            raise plan.source.error(("algorithms", i, "study"), str(exc)) from None
    return lines, warnings


def _batches(pending: list[tuple[int, Cell]], executor: Executor) -> list[list[tuple[int, Cell]]]:
    """In process: one cell at a time (each recorded as it finishes). On Dask: the pending
    cells of one (dataset, split, seed) together."""
    if not isinstance(executor, DaskExecutor):
        return [[item] for item in pending]
    groups: dict[tuple[int, str, int], list[tuple[int, Cell]]] = {}
    for order, cell in pending:
        groups.setdefault((cell.dataset, cell.split, cell.seed), []).append((order, cell))
    return list(groups.values())


def _run_batch(
    batch: list[tuple[int, Cell]],
    plan: Plan,
    datasets: list[Dataset],
    executor: Executor,
    on_event: Callable[[Event], None] | None,
) -> list[tuple[str, Frames]]:
    if not isinstance(executor, DaskExecutor):
        return [(c.id, _cell_frames(c, o, plan, datasets[c.dataset], on_event)) for o, c in batch]
    first = batch[0][1]
    ds = datasets[first.dataset]
    spec = next(s for s in plan.splits if str(s) == first.split)
    rows = plan.algorithms_for(first.dataset, first.split, first.seed)
    wanted = {(c.fold, c.algorithm.label): (o, c) for o, c in batch}
    labels = {label for _, label in wanted}
    refused = _refused(plan, first)
    algos = [(i, a) for i, a in enumerate(rows) if a.label in labels and a.label not in refused]
    outcomes = executor.run(ds, spec, algos, first.seed, _eval(plan, first.dataset), on_event,
                            False)  # fmt: skip
    outcomes += [CellOutcome(0, c.algorithm.label, c.fold, spec.describe(c.seed),
                             unable=refused[c.algorithm.label])
                 for _, c in batch if c.algorithm.label in refused]  # fmt: skip
    out = []
    for o in sorted(outcomes, key=lambda o: (o.fold, o.index)):
        hit = wanted.get((o.fold, o.label))
        if hit is not None:  # a fold of a row whose other folds were recorded already
            out.append((hit[1].id, _outcome_frames(o, hit[1], hit[0], ds)))
    return out


def _outcome_frames(o: CellOutcome, cell: Cell, order: int, ds: Dataset) -> Frames:
    """A cell's outcome (run here or on Dask) as the store's frames: meta, rows, per-user values
    (with the seed), segments."""
    rows = results_frame(o.rows)
    segs = pd.DataFrame(o.segments, columns=SEGMENT_COLUMNS)
    per_user = o.per_user.copy()
    if len(per_user):
        per_user.insert(2, "seed", cell.seed)
    meta = {
        **cell.key,
        "order": order,
        "dataset_name": ds.name,
        "n_folds": cell.n_folds,
        "protocol": o.protocol,
        "n_cold_users": o.n_cold,
        "unable": o.unable,
    }
    return meta, rows, per_user, segs


def annotate(groups: list[ExperimentResult], plan: Plan) -> None:
    """Intervals (and, with a baseline, paired tests) for each table, as compare computes them."""
    study = plan.source.study
    for g in groups:
        g.repeats = len(plan.seeds)
    if not study.ci and study.baseline is None:
        return
    from recbench.significance import analyse, stats_options

    for g in groups:
        if not len(g.results):
            continue
        opts = stats_options(
            ci=study.ci,
            baseline=study.baseline if len(g.algorithms) > 1 else None,
            test=study.test or "randomization",
            correction=study.correction or "holm",
            alpha=study.alpha if study.alpha is not None else 0.05,
            repeats=len(plan.seeds),
            seed=plan.seeds[0],
            algorithms=list(g.algorithms),
        )
        g.stats = analyse(g, opts, plan.metrics)


def _cell_meta(run: RunInfo, cell_id: str) -> dict[str, Any] | None:
    import json

    try:
        data = json.loads((run.path / "cells" / cell_id / "cell.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _assemble(
    plan: Plan,
    datasets: list[Dataset],
    cells: list[Cell],
    collected: dict[str, Frames],
) -> list[ExperimentResult]:
    groups = []
    for d, ds in enumerate(datasets):
        for spec in plan.splits:
            mine = [c for c in cells if c.dataset == d and c.split == str(spec)]
            parts = [collected[c.id] for c in mine]
            rows = [p[1] for p in parts if len(p[1])]
            users = [p[2] for p in parts if len(p[2])]
            segs = [p[3] for p in parts if len(p[3])]
            cold: dict[str, int] = {}
            unable: dict[str, str] = {}
            for meta, *_ in parts:
                label = meta["label"]
                cold[label] = cold.get(label, 0) + int(meta.get("n_cold_users") or 0)
                if meta.get("unable"):
                    unable[label] = meta["unable"]
            protocol = parts[0][0].get("protocol", spec.describe(plan.seeds[0])) if parts else ""
            if len(plan.seeds) > 1:
                seeds = ", ".join(str(s) for s in plan.seeds)
                protocol = f"{protocol}; repeated with seeds {seeds}"
            note = plan.extras.get("tune_notes", {}).get((d, str(spec)))
            if note:
                protocol = f"{protocol}; {note}"
            for line in plan.extras.get("reuse_notes", {}).get((d, str(spec)), []):
                protocol = f"{protocol}; {line}"
            algorithms = plan.algorithms_for(d, str(spec))
            results = (
                results_frame(pd.concat(rows, ignore_index=True).to_dict("records"))
                if rows
                else results_frame([])
            )
            groups.append(
                ExperimentResult(
                    results,
                    pd.concat(users, ignore_index=True) if users else pd.DataFrame(),
                    ds,
                    spec,
                    protocol,
                    plan.seeds[0],
                    _eval(plan, d),
                    cold,
                    [a.label for a in algorithms],
                    unable,
                    pd.concat(segs, ignore_index=True)
                    if segs
                    else pd.DataFrame(columns=SEGMENT_COLUMNS),
                    {a.label: a.params for a in algorithms},
                    tuning=plan.extras.get("tunings", {}).get((d, str(spec))),
                )
            )
    return groups
