"""Which cells of a stored run are missing, and the folds its tables can fairly average over.

A run that was interrupted (or failed) holds only some of its cells: with ``kfold:5`` and four
algorithms it may hold popularity's folds 0-2 but item-knn's folds 0-1. Averaging each
algorithm over its own folds would compare means over different test sets, so for every
dataset x split with missing cells the summaries keep only the (seed, fold) pairs that *every*
algorithm finished, and say so in a note. When no fold is complete for all of them, nothing is
dropped and the note says each algorithm's mean is over its own folds. Complete runs are
never changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from recbench.store.runs import RunInfo

#: a (seed, fold) pair: one repeat's fold
SeedFold = tuple[int, int]


@dataclass
class Group:
    """One dataset x split of a run: the cells it should have and those recorded."""

    dataset: str
    split: str
    labels: list[str]
    expected: list[SeedFold]
    recorded: dict[str, set[SeedFold]] = field(default_factory=dict)
    #: (seed, fold) -> ids of the cells recorded for it
    cell_ids: dict[SeedFold, list[str]] = field(default_factory=dict)

    def missing(self) -> dict[str, list[SeedFold]]:
        """label -> the (seed, fold) pairs not recorded."""
        out = {}
        for label in self.labels:
            have = self.recorded.get(label, set())
            gone = [sf for sf in self.expected if sf not in have]
            if gone:
                out[label] = gone
        return out

    def complete(self) -> list[SeedFold]:
        """The (seed, fold) pairs every algorithm of the group finished."""
        return [
            sf for sf in self.expected if all(sf in self.recorded.get(x, ()) for x in self.labels)
        ]


@dataclass
class Coverage:
    """What a run holds against what it should hold, and the folds its summaries keep."""

    run_id: str
    status: str
    n_cells: int
    n_recorded: int
    groups: list[Group]
    #: running the same command again resumes the run (``run`` and ``compare`` runs)
    resumable: bool = False

    @property
    def is_complete(self) -> bool:
        return not any(g.missing() for g in self.groups)

    def kept(self) -> dict[tuple[str, str], list[SeedFold]]:
        """(dataset, split) -> the (seed, fold) pairs summaries keep, for groups with missing
        cells and at least one fold every algorithm finished."""
        out = {}
        for g in self.groups:
            if g.missing() and g.complete():
                out[(g.dataset, g.split)] = g.complete()
        return out

    def kept_cells(self) -> set[str] | None:
        """Ids of the cells summaries use, or None when every recorded cell is used."""
        kept = self.kept()
        if not kept:
            return None
        ids = set()
        for g in self.groups:
            pairs = kept.get((g.dataset, g.split))
            for sf, found in g.cell_ids.items():
                if pairs is None or sf in pairs:
                    ids.update(found)
        return ids

    def notes(self) -> list[str]:
        """One line per problem, for the user: the run's state, then each group's gaps."""
        lines = []
        if self.status not in ("complete", "running") or not self.is_complete:
            what = {
                "interrupted": "was interrupted (its process is gone)",
                "failed": "failed",
                "running": "is still running",
            }.get(self.status, f"is {self.status}")
            hint = ""
            if self.status in ("interrupted", "failed"):
                again = "run the same command again to resume it, or " if self.resumable else ""
                hint = f"; {again}remove it: recbench runs rm {self.run_id}"
            lines.append(
                f"run {self.run_id} {what}: {self.n_recorded} of {self.n_cells} cells recorded"
                f"{hint}"
            )
        for g in self.groups:
            missing = g.missing()
            if not missing:
                continue
            single = len({s for s, _ in g.expected}) == 1
            gaps = "; ".join(f"{label} {_pairs(p, single)}" for label, p in missing.items())
            head = f"{g.dataset} · {g.split}: missing {gaps}"
            complete = g.complete()
            if complete:
                lines.append(
                    f"{head}; means are over {_pairs(complete, single)}, which every algorithm "
                    "finished (other folds left out)"
                )
            else:
                lines.append(
                    f"{head}; no fold is complete for every algorithm, so each algorithm's mean "
                    "is over its own folds and they are not comparable"
                )
        return lines

    def to_dict(self) -> dict[str, Any]:
        """The JSON form ``runs show --json`` and the report give."""
        return {
            "status": self.status,
            "n_cells": self.n_cells,
            "cells_recorded": self.n_recorded,
            "complete": self.is_complete,
            "missing": [
                {"dataset": g.dataset, "split": g.split, "algorithm": label, "seed": s, "fold": f}
                for g in self.groups
                for label, pairs in g.missing().items()
                for s, f in pairs
            ],
            "summarised_over": [
                {"dataset": ds, "split": sp, "folds": [{"seed": s, "fold": f} for s, f in pairs]}
                for (ds, sp), pairs in self.kept().items()
            ],
            "notes": self.notes(),
        }


def _pairs(pairs: list[SeedFold], single_seed: bool) -> str:
    if single_seed:
        folds = [f for _, f in pairs]
        return ("fold " if len(folds) == 1 else "folds ") + ",".join(str(f) for f in folds)
    return ", ".join(f"seed {s} fold {f}" for s, f in pairs)


def coverage(run: RunInfo, cells: list[dict[str, Any]]) -> Coverage:
    """The coverage of ``run`` from its manifest and its cells' manifests."""
    from recbench.split import parse_split

    m = run.manifest
    seeds = [int(s) for s in m.get("seeds") or [0]]
    names = [str(d.get("name")) for d in m.get("datasets") or []]
    labels = [str(a.get("label")) for a in m.get("algorithms") or []]
    groups: dict[tuple[str, str], Group] = {}
    n_folds: dict[tuple[str, str], int] = {}
    by_group: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for c in cells:
        index = c.get("dataset", 0)
        name = c.get("dataset_name") or (names[index] if isinstance(index, int) and
                                         index < len(names) else str(index))  # fmt: skip
        key = (str(name), str(c.get("split")))
        by_group.setdefault(key, []).append(c)
        n_folds[key] = max(n_folds.get(key, 1), int(c.get("n_folds") or 1))
    keys = [(n, str(s)) for n in names for s in m.get("splits") or []]
    for key in [*keys, *by_group]:
        if key in groups:
            continue
        mine = by_group.get(key, [])
        seen = list(dict.fromkeys(str(c.get("label")) for c in mine))
        group_labels = labels if set(seen) <= set(labels) else list(dict.fromkeys(labels + seen))
        if key not in n_folds:
            try:
                n_folds[key] = parse_split(key[1]).n_folds
            except Exception:  # a split this version cannot parse: one fold
                n_folds[key] = 1
        group_seeds = sorted({*seeds, *(int(c.get("seed", seeds[0])) for c in mine)})
        expected = [(s, f) for s in group_seeds for f in range(n_folds[key])]
        g = Group(key[0], key[1], group_labels, expected)
        for c in mine:
            sf = (int(c.get("seed", seeds[0])), int(c.get("fold", 0)))
            g.recorded.setdefault(str(c.get("label")), set()).add(sf)
            g.cell_ids.setdefault(sf, []).append(str(c.get("cell_id")))
        groups[key] = g
    n_cells = int(m.get("n_cells") or sum(len(g.labels) * len(g.expected) for g in groups.values()))
    resumable = run.kind in ("run", "compare")
    return Coverage(run.run_id, run.status, n_cells, len(cells), list(groups.values()), resumable)


def restrict(frame: pd.DataFrame, cov: Coverage) -> pd.DataFrame:
    """Rows of a run's table (results, per-user values, segments) limited, in each dataset x
    split with missing cells, to the folds every algorithm finished (a complete run's table is
    returned unchanged)."""
    kept = cov.kept_cells()
    if kept is None or not len(frame) or "cell_id" not in frame:
        return frame
    return frame[frame["cell_id"].isin(kept)].reset_index(drop=True)
