"""The study file: a pydantic model of ``STUDY.toml`` and its loading with file+line errors.

A study names datasets x splits x algorithms (fixed parameters or grids) x repeats, the K values,
metrics and outputs. Every ``recbench compare`` option has a key here (see ``COMPARE_KEYS``).
Loading never touches the results store: a study that fails to validate records nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from recbench.errors import UsageError
from recbench.study.locate import dotted, key_lines, line_of

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: the largest seed (numeric libraries take 32-bit seeds)
MAX_SEED = 2**32 - 1

_STRICT = ConfigDict(extra="forbid", strict=True)


class DatasetEntry(BaseModel):
    """One dataset: a registry or user dataset name, or a ratings file (relative to the study)."""

    model_config = _STRICT

    name: Annotated[str, Field(min_length=1)]
    columns: str | None = None
    sep: str | None = None
    min_user_ratings: Annotated[int, Field(ge=0)] = 0
    min_item_ratings: Annotated[int, Field(ge=0)] = 0
    implicit_threshold: float | None = None


class AlgorithmEntry(BaseModel):
    """One algorithm; a list value in ``params`` is a grid (one row per combination)."""

    model_config = _STRICT

    name: Annotated[str, Field(min_length=1)]
    #: row label NAME[VARIANT] (grids label each row with their grid values by default)
    variant: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    #: a stored ``recbench tune --study NAME``: its best parameters, under ``params``
    study: str | None = None


class OutputSection(BaseModel):
    """What to write besides the results store."""

    model_config = _STRICT

    #: printed format: table, json, csv, markdown, latex
    format: str | None = None
    #: results files; the format follows the suffix (.json .csv .md .tex .txt)
    files: list[str] = Field(default_factory=list)
    #: an HTML report of the run
    report: str | None = None
    fail_if: list[str] = Field(default_factory=list)
    by_segment: bool = False


class Study(BaseModel):
    """A whole study. Defaults equal ``recbench compare``'s."""

    model_config = _STRICT

    name: str | None = None
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)] = 0
    #: run everything with seeds seed, seed+1, ..., seed+repeats-1
    repeats: Annotated[int, Field(ge=1, le=1000)] = 1
    datasets: Annotated[list[str | DatasetEntry], Field(min_length=1)] = Field(
        default_factory=lambda: list[str | DatasetEntry](["ml-latest-small"])
    )
    splits: Annotated[list[str], Field(min_length=1)] = Field(
        default_factory=lambda: ["holdout:0.2"]
    )
    k: Annotated[list[Annotated[int, Field(ge=1, le=2**31 - 1)]], Field(min_length=1)] = Field(
        default_factory=lambda: [10]
    )
    metrics: list[str] | None = None
    relevance_threshold: float | None = None
    memory_mb: Annotated[int, Field(ge=1)] = 256
    #: intervals in every cell (--ci/--no-ci); significance (tables and reports): the row every
    #: other is tested against ("best": the best on the first ranking metric), the paired test,
    #: the multiple-comparison correction, alpha
    ci: bool = True
    baseline: str | None = None
    test: str | None = None
    correction: str | None = None
    alpha: Annotated[float, Field(gt=0, lt=1)] | None = None
    #: shared parameters, like ``--param``: applied to every algorithm that has the parameter
    params: dict[str, Any] = Field(default_factory=dict)
    #: like ``--tune N`` / ``--tune-metric M``: tune each algorithm with N Optuna trials on a
    #: validation split cut from the training part, once per (dataset, split), before running
    tune: Annotated[int, Field(ge=1)] | None = None
    tune_metric: str | None = None
    #: like ``--workers N`` / ``--scheduler ADDRESS``: run the cells on Dask
    workers: Annotated[int, Field(ge=1)] | None = None
    scheduler: str | None = None
    algorithms: Annotated[list[AlgorithmEntry], Field(min_length=1)]
    output: OutputSection = Field(default_factory=OutputSection)

    @field_validator("splits", "k", "metrics", "datasets", mode="before")
    @classmethod
    def _one_or_list(cls, value: Any) -> Any:
        return (
            [value]
            if isinstance(value, (str, int, dict)) and not isinstance(value, bool)
            else value
        )

    def dataset_entries(self) -> list[DatasetEntry]:
        return [DatasetEntry(name=d) if isinstance(d, str) else d for d in self.datasets]


#: compare option -> study key (the docs' table, docs/guides/studies.md, lists the same pairs)
COMPARE_KEYS = {
    "--algos": "[[algorithms]] name / variant / params",
    "--dataset": "datasets (name or [[datasets]] name)",
    "--columns": "[[datasets]] columns",
    "--sep": "[[datasets]] sep",
    "--min-user-ratings": "[[datasets]] min_user_ratings",
    "--min-item-ratings": "[[datasets]] min_item_ratings",
    "--implicit-threshold": "[[datasets]] implicit_threshold",
    "--split": "splits",
    "--k": "k",
    "--param": "params (shared) or [[algorithms]] params",
    "--relevance-threshold": "relevance_threshold",
    "--metrics": "metrics",
    "--memory-mb": "memory_mb",
    "--format": "[output] format",
    "--output": "[output] files",
    "--fail-if": "[output] fail_if",
    "--by-segment": "[output] by_segment",
    "--seed": "seed",
    "--repeats": "repeats",
    "--ci/--no-ci": "ci",
    "--baseline": "baseline",
    "--test": "test",
    "--correction": "correction",
    "--alpha": "alpha",
    "--tune": "tune",
    "--tune-metric": "tune_metric",
    "--workers": "workers",
    "--scheduler": "scheduler",
}


class StudyFile:
    """A loaded study with where it came from, to point errors at file and line."""

    def __init__(self, path: Path, text: str, study: Study) -> None:
        self.path = path
        self.text = text
        self.study = study
        self.lines = key_lines(text)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def error(self, loc: tuple[str | int, ...], message: str) -> UsageError:
        """``FILE:LINE: key: message`` as a UsageError (exit 2)."""
        return study_error(self.path, line_of(self.lines, loc), dotted(loc), message)

    def resolve_path(self, name: str) -> Path:
        """A path written in the study, relative to the study file's directory."""
        p = Path(name).expanduser()
        return p if p.is_absolute() else self.base_dir / p


def study_error(path: Path, line: int, key: str, message: str) -> UsageError:
    where = f"{path}:{line}"
    return UsageError(f"{where}: {key}: {message}" if key else f"{where}: {message}")


def _pydantic_message(err: Any) -> str:
    kind = err.get("type", "")
    loc = err.get("loc", ())
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind == "too_short" and loc and loc[-1] == "algorithms":
        return "the algorithm list is empty (give at least one [[algorithms]])"
    if kind == "too_short":
        return "the list is empty (give at least one value)"
    msg = str(err.get("msg", "invalid value"))
    got = err.get("input")
    if not isinstance(got, (dict, list)):
        msg += f" (got {got!r})"
    return msg


def _clean_loc(loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    """Drop pydantic's union-branch names (``str``, ``DatasetEntry``) from an error location."""
    return tuple(p for p in loc if isinstance(p, int) or p not in {"str", "DatasetEntry"})


def parse_study(text: str, path: Path) -> StudyFile:
    """Parse and validate a study's text (no dataset loading, no algorithm checks)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        line = getattr(exc, "lineno", None)
        if line is None:
            import re

            m = re.search(r"line (\d+)", msg)
            line = int(m.group(1)) if m else 1
        raise study_error(path, line, "", f"not valid TOML: {msg.split(' (at')[0]}") from None
    lines = key_lines(text)
    if "algorithms" not in raw:
        raise study_error(path, 1, "algorithms", "required key is missing (add [[algorithms]])")
    try:
        study = Study.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        # a str|DatasetEntry union reports once per branch: the table branch says more
        err = next((e for e in errors if "DatasetEntry" in e["loc"]), errors[0])
        loc = _clean_loc(tuple(err["loc"]))
        raise study_error(path, line_of(lines, loc), dotted(loc), _pydantic_message(err)) from None
    return StudyFile(path, text, study)


def load_study(path: str | Path) -> StudyFile:
    """Read and validate ``path``; a UsageError names file, line and key."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"study file {p} does not exist") from None
    except IsADirectoryError:
        raise UsageError(f"study file {p} is a directory") from None
    except UnicodeDecodeError:
        raise UsageError(f"study file {p} is not UTF-8 text") from None
    except OSError as exc:
        raise UsageError(f"study file {p} cannot be read ({exc.strerror})") from None
    return parse_study(text, p)
