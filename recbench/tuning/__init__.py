"""Hyperparameter tuning: search spaces on a validation split cut from training data only.

``tune`` drives an Optuna study (seeded TPE, parallel worker processes, resumable journal
storage); the outer test part is used once, for the best configuration refitted on the full
training part. See :mod:`recbench.tuning.search`.
"""

from recbench.tuning.problem import (
    Objective,
    carve_validation,
    load_space_file,
    parse_objective,
    resolve_space,
    validation_spec,
)
from recbench.tuning.search import TrialRecord, TuneProgress, TuneResult, TuneSpec, tune
from recbench.tuning.study import StudyFiles, study_files

__all__ = [
    "Objective",
    "StudyFiles",
    "TrialRecord",
    "TuneProgress",
    "TuneResult",
    "TuneSpec",
    "carve_validation",
    "load_space_file",
    "parse_objective",
    "resolve_space",
    "study_files",
    "tune",
    "validation_spec",
]
