"""Reuse a stored study's best configuration: ``--algos "als[@study=NAME]"``.

A named tune (``recbench tune ALGO --study NAME``) keeps its trials in
``DATA/studies/NAME.journal``. :func:`stored_best` reads that study without changing it and
returns the best completed trial's parameters together with the parameters the tune held fixed,
so a later ``compare`` runs exactly the chosen configuration without searching again.

Leakage: a study chose its parameters on a validation split cut from the *training part* of its
own outer split. Reused on the same data, split and seed, the comparison's test part was never
seen by any trial. The rule, checked for every repeat's seed by :func:`check_reuse` before any
work: on the same dataset and split, a seed other than the study's is refused (that seed's test
pairs were, most of them, the study's training or validation pairs: a certain leak, and with
``--repeats`` > 1 every repeat but one is such a seed); on another dataset or split the reuse is
allowed (carrying parameters over is a legitimate use) and :func:`reuse_note` says the test part
may have informed the choice, so the caption and a warning tell the reader.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recbench.errors import UsageError
from recbench.tuning.problem import parse_objective
from recbench.tuning.search import STUDY
from recbench.tuning.study import check_study_name, open_storage, study_files


@dataclass(frozen=True)
class StoredBest:
    """The best trial of a stored study and what it was tuned on."""

    name: str
    algorithm: str
    params: dict[str, Any]  # the tune's fixed parameters plus the best trial's
    value: float
    metric: str
    n_complete: int
    identity: dict[str, Any]


def stored_best(data_dir: Path, name: str, algorithm: str) -> StoredBest:
    """The best configuration of study ``name`` under ``data_dir``, which must have tuned
    ``algorithm``; one-line errors for a missing, foreign or empty study."""
    import optuna

    files = study_files(data_dir, check_study_name(name))
    if not files.journal.is_file():
        raise UsageError(
            f"@study={name}: no stored study '{name}' in {files.journal.parent} "
            f"(create it with `recbench tune {algorithm} --study {name}`)"
        )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(study_name=STUDY, storage=open_storage(files))
    except KeyError:
        raise UsageError(f"@study={name}: {files.journal} holds no recbench study") from None
    identity = dict(study.user_attrs.get("recbench") or {})
    tuned = identity.get("algorithm")
    if tuned != algorithm:
        raise UsageError(
            f"@study={name} tuned {tuned or 'an unknown algorithm'}, not {algorithm}; "
            f"write {tuned}[@study={name}]"
            if tuned
            else f"@study={name} has no recbench settings"
        )
    objective = parse_objective(str(identity.get("metric", "ndcg@10")))
    best: tuple[float, dict[str, Any]] | None = None
    n_complete = 0
    for t in study.get_trials(deepcopy=False):
        value = t.value
        if t.state != optuna.trial.TrialState.COMPLETE or value is None:
            continue
        if not math.isfinite(value):
            continue
        n_complete += 1
        if best is None or objective.better(value, best[0]):  # earliest wins ties
            best = (float(value), dict(t.params))
    if best is None:
        raise UsageError(f"@study={name}: no trial completed yet (rerun its tune to add trials)")
    params = {**dict(identity.get("fixed") or {}), **best[1]}
    return StoredBest(name, algorithm, params, best[0], objective.key, n_complete, identity)


def reuse_note(
    best: StoredBest, label: str, checksum: str, split: str, seed: int
) -> tuple[str, bool]:
    """The caption line for ``label`` and whether the reuse is leak-free: True when the study
    was tuned on this dataset (checksum), this split and this seed, so its trials only ever
    saw this comparison's training part."""
    ident = best.identity
    where = (
        f"{label}: parameters of study {best.name} (best of {best.n_complete} completed trials, "
        f"validation {best.metric} {best.value:.4f})"
    )
    differs = [
        what
        for what, mine, theirs in (
            ("dataset", checksum, ident.get("checksum")),
            ("split", split, ident.get("split")),
            ("seed", seed, ident.get("seed")),
        )
        if mine != theirs
    ]
    if not differs:
        return f"{where}, tuned on this split's training part only", True
    return (
        f"{where}, tuned with another {', '.join(differs)} ({ident.get('dataset')}, "
        f"{ident.get('split')}, seed {ident.get('seed')}): this test part may have informed "
        "the choice",
        False,
    )


def check_reuse(
    best: StoredBest, label: str, checksum: str, split: str, seeds: list[int]
) -> tuple[str, bool]:
    """:func:`reuse_note` for a comparison repeated with ``seeds``, each seed checked. Refused
    (one-line UsageError) when the study was tuned on this dataset and split but any seed
    differs from the study's: that repeat's test pairs were in the study's trials."""
    ident = best.identity
    same_data = checksum == ident.get("checksum") and split == ident.get("split")
    other = [s for s in seeds if s != ident.get("seed")]
    if same_data and other:
        which = ("seeds " if len(other) > 1 else "seed ") + ", ".join(str(s) for s in other)
        tuned = ident.get("seed")
        raise UsageError(
            f"{label}: study {best.name} was tuned on seed {tuned}'s {split} split of this "
            f"dataset, so the test pairs of {which} were among its trials' training or "
            f"validation data; tune each repeat with --tune N instead, or run seed {tuned} alone"
        )
    return reuse_note(best, label, checksum, split, seeds[0])
