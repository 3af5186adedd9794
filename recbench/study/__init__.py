"""Studies: a TOML file naming datasets x splits x algorithms (with grids) x repeats, validated
with file+line errors, expanded into cells and run with resume through the results store."""

from __future__ import annotations

from recbench.study.model import COMPARE_KEYS, Study, StudyFile, load_study, parse_study
from recbench.study.plan import Cell, Plan, make_plan
from recbench.study.runner import StudyRun, execute

__all__ = [
    "COMPARE_KEYS",
    "Cell",
    "Plan",
    "Study",
    "StudyFile",
    "StudyRun",
    "execute",
    "load_study",
    "make_plan",
    "parse_study",
]
