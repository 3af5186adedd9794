"""What a tune searches and how it scores: the objective metric, the validation split carved
from the outer training part, and the search space (the algorithm's, optionally overridden).

Everything here validates input before any fit starts and raises one-line
:class:`~recbench.errors.UsageError` messages.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from recbench.algorithms import plugins
from recbench.algorithms.base import Recommender
from recbench.algorithms.space import Categorical, Space, check_dim, space_from_mapping
from recbench.data.model import Dataset
from recbench.errors import UsageError
from recbench.metrics import METRIC_ALIASES, METRICS
from recbench.split import Split, SplitSpec, make_split, parse_split

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class Objective:
    """The metric a tune optimises, e.g. ``ndcg@10``, and its direction."""

    name: str
    k: int | None
    higher_is_better: bool

    @property
    def key(self) -> str:
        return self.name if self.k is None else f"{self.name}@{self.k}"

    @property
    def direction(self) -> Literal["maximize", "minimize"]:
        return "maximize" if self.higher_is_better else "minimize"

    def better(self, a: float, b: float) -> bool:
        """Whether value ``a`` is strictly better than ``b``."""
        return a > b if self.higher_is_better else a < b


def parse_objective(text: str) -> Objective:
    """``ndcg@10``, ``rmse``, ``p@5`` -> :class:`Objective` (direction from the metric table)."""
    name, at, k_text = text.strip().lower().partition("@")
    name = METRIC_ALIASES.get(name.strip(), name.strip())
    if name not in METRICS:
        raise UsageError(f"unknown --metric '{text}' (use one of: {', '.join(METRICS)})")
    info = METRICS[name]
    k: int | None = None
    if info.kind == "ranking":
        if not at:
            raise UsageError(f"--metric {name} needs a cut-off, e.g. {name}@10")
        try:
            k = int(k_text)
        except ValueError:
            raise UsageError(f"--metric '{text}': K must be a whole number") from None
        if k <= 0:
            raise UsageError(f"--metric '{text}': K must be positive")
    elif at:
        raise UsageError(f"--metric {name} takes no @K")
    return Objective(name, k, info.higher_is_better)


def check_produces(objective: Objective, name: str, cls: type[Recommender], ds: Dataset) -> None:
    """Refuse a metric the algorithm cannot produce on this dataset."""
    if METRICS[objective.name].kind == "ranking":
        if not cls.ranks:
            raise UsageError(f"{name} does not rank items, so it has no {objective.key}")
        return
    if not cls.predicts_ratings:
        raise UsageError(
            f"{name} does not predict ratings, so it has no {objective.key} "
            "(tune it on a ranking metric such as ndcg@10)"
        )
    if ds.interactions.rating is None:
        raise UsageError(f"{objective.key} needs ratings, and {ds.name} has none")


def validation_spec(outer: SplitSpec, text: str | None) -> SplitSpec:
    """The split that carves validation data out of the outer training part.

    By default the same kind as the outer split (kfold:N becomes holdout:1/N), so validation
    mimics the test protocol. A given split's validation is carved from its given training
    part alone (user-holdout:0.2 by default), so the given test (and valid) rows are never seen.
    """
    if text is not None:
        spec = parse_split(text)
        if spec.record.uses_parts:
            raise UsageError(
                "--val-split given: validation is carved from the training part; "
                "give a split such as user-holdout:0.2"
            )
    elif outer.record.uses_parts:
        spec = SplitSpec("user-holdout", 0.2)
    elif outer.multi_fold:
        spec = SplitSpec("holdout", 1.0 / outer.n_folds)
    else:
        spec = outer
    if not spec.holds_out:
        raise UsageError(f"--val-split needs held-out data (not '{spec}')")
    if spec.multi_fold:
        raise UsageError(f"--val-split takes one split, not {spec.kind} (e.g. holdout:0.2)")
    return spec


def carve_validation(outer: Split, spec: SplitSpec, seed: int) -> Split:
    """The validation split: train and validation both come from ``outer.train`` only.

    The outer test pairs (and a user-cold split's fold-in history) are not in ``outer.train``,
    so no trial can see them.
    """
    return make_split(outer.train, spec, seed)


def load_space_file(path: Path) -> dict[str, Any]:
    """Read a TOML or JSON search-space override (``{param: {low, high, log} | value}``)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"--space: file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"--space: cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"--space: {path} must hold a table of parameters")
    return data


def resolve_space(
    name: str,
    cls: type[Recommender],
    override: Mapping[str, Any] | None,
    fixed: Mapping[str, Any],
) -> tuple[Space, dict[str, Any]]:
    """The space to search and the fixed parameters, validated against the algorithm's config.

    ``fixed`` (from ``--param``) removes those parameters from the search. Every bound and
    choice is checked by building the config with it, so an out-of-range bound fails now.
    """
    fields = cls.Config.model_fields
    space: Space = dict(cls.search_space)
    fixed_all: dict[str, Any] = {}
    if override is not None:
        space, fixed_all = space_from_mapping(override, fields, space)
    fixed_all.update(fixed)
    for key in fixed_all:
        space.pop(key, None)
    if not space:
        raise UsageError(
            f"{name} has nothing to search: its search space is empty"
            + (" once --param fixes parameters" if fixed_all and cls.search_space else "")
            + " (give dimensions with --space FILE)"
        )
    plugins.make_config(name, cls, fixed_all)
    for pname, dim in space.items():
        check_dim(pname, dim)
        values = dim.choices if isinstance(dim, Categorical) else (dim.low, dim.high)
        for v in values:
            try:
                plugins.make_config(name, cls, {**fixed_all, pname: v})
            except UsageError as exc:
                raise UsageError(
                    f"search space: bound {v!r} of '{pname}' is invalid: {exc}"
                ) from None
    return space, fixed_all
