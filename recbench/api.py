"""The Python API, for notebooks and scripts: ``recbench.compare``, ``recbench.run``,
``recbench.runs``.

Each call does what the command of the same name does (the same study model, runner and
results store), returns data, and prints nothing::

    import recbench
    res = recbench.compare(["popularity", "baseline"], k=[5, 10])
    res.summary()            # mean and std over folds per algorithm, metric and K
    res.to_frame()           # tidy rows; res.to_frame("per_user") for per-user values
    recbench.runs()          # the results store as a DataFrame
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from recbench.experiment import ExperimentResult

__all__ = ["Result", "compare", "run", "runs"]


@dataclass
class Result:
    """What a compare or a study produced: one ExperimentResult per dataset x split."""

    groups: list[ExperimentResult]
    run_id: str | None = None

    def to_frame(self, table: str = "results") -> pd.DataFrame:
        """Tidy rows (``results``), per-user values (``per_user``) or ``segments``."""
        if table not in ("results", "per_user", "segments"):
            from recbench.errors import UsageError

            raise UsageError(f"table must be results, per_user or segments, got '{table}'")
        frames = []
        for g in self.groups:
            frame = getattr(g, table).copy()
            if len(frame):
                if "dataset" not in frame:
                    frame.insert(0, "dataset", g.dataset.name)
                if "split" not in frame:
                    frame.insert(1, "split", str(g.split))
                frames.append(frame)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def summary(self) -> pd.DataFrame:
        """Mean and sample std over folds and repeats per dataset, split, algorithm, metric, K."""
        from recbench.store.diff import summary

        return summary(self.to_frame())

    def table(self) -> str:
        """The results as Markdown tables with their protocol captions."""
        from recbench.render import DEFAULT_METRICS, render_text

        return "\n".join(render_text(g, "markdown", DEFAULT_METRICS) for g in self.groups)

    def _repr_html_(self) -> str:
        summ = self.summary()
        if not len(summ):
            return "<p>recbench result: no rows</p>"
        summ = summ.assign(
            column=[
                m if pd.isna(k) else f"{m}@{int(k)}"
                for m, k in zip(summ.metric, summ.k, strict=True)
            ]
        )
        wide = summ.pivot_table(
            index=["dataset", "split", "algorithm"], columns="column", values="mean", sort=False
        )
        head = f"<p>recbench run {self.run_id}</p>" if self.run_id else ""
        return head + wide.to_html(float_format=lambda v: f"{v:.4f}")


_ALGO = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:\[(.*)\])?\s*$")


def _value(text: str) -> Any:
    from recbench.study.model import tomllib

    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _algorithm_entry(item: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(item, dict):
        return item
    m = _ALGO.match(item)
    if not m:
        return {"name": item}
    name, inner = m.group(1), m.group(2)
    if not inner:
        return {"name": name}
    params = {}
    for pair in filter(None, (p.strip() for p in inner.split(","))):
        key, _, value = pair.partition("=")
        params[key.strip()] = _value(value.strip())
    return {"name": name, "variant": inner.strip(), "params": params}


def compare(
    algorithms: Sequence[str | dict[str, Any]] | str,
    dataset: str = "ml-latest-small",
    *,
    split: str = "holdout:0.2",
    k: Sequence[int] | int = (10,),
    metrics: Sequence[str] | str | None = None,
    params: dict[str, Any] | None = None,
    relevance_threshold: float | None = None,
    columns: str | None = None,
    sep: str | None = None,
    min_user_ratings: int = 0,
    min_item_ratings: int = 0,
    implicit_threshold: float | None = None,
    memory_mb: int = 256,
    seed: int = 0,
    data_dir: str | Path | None = None,
    store: bool = True,
) -> Result:
    """Fit and evaluate algorithms on one dataset and split, like ``recbench compare``.

    ``algorithms``: names, ``"svd[n_factors=20]"`` labelled configurations, or study-style
    dicts ``{"name": "svd", "params": {"n_factors": [20, 50]}}`` (a list is a grid).
    ``params`` applies to every algorithm that has the parameter (``"svd.n_factors"`` to one).
    The run is recorded in the results store unless ``store=False``.
    """
    algos = [algorithms] if isinstance(algorithms, str) else list(algorithms)
    ds: dict[str, Any] = {"name": dataset}
    for key, value in (
        ("columns", columns),
        ("sep", sep),
        ("min_user_ratings", min_user_ratings or None),
        ("min_item_ratings", min_item_ratings or None),
        ("implicit_threshold", implicit_threshold),
    ):
        if value is not None:
            ds[key] = value
    study: dict[str, Any] = {
        "seed": seed,
        "splits": [split],
        "k": [k] if isinstance(k, int) else list(k),
        "memory_mb": memory_mb,
    }
    if metrics is not None:
        study["metrics"] = [metrics] if isinstance(metrics, str) else list(metrics)
    if relevance_threshold is not None:
        study["relevance_threshold"] = relevance_threshold
    if params:
        study["params"] = dict(params)
    study["datasets"] = [ds]
    study["algorithms"] = [_algorithm_entry(a) for a in algos]
    return _compare(study, data_dir, store)


def _compare(study: dict[str, Any], data_dir: str | Path | None, store: bool) -> Result:
    """A one-dataset, one-split study (its rows, grids and parameters read as a study's) run
    through the one experiment path (:func:`recbench.pipeline.run_experiment`), as the
    ``compare`` command runs it, and recorded in the store as a compare."""
    from recbench.data import default_data_dir
    from recbench.pipeline import ExperimentRequest, run_experiment
    from recbench.study import make_plan, parse_study
    from recbench.study.runner import annotate, load_datasets
    from recbench.study.save import study_toml

    text = study_toml(study)
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    plan = make_plan(parse_study(text, Path("<study>")), root)
    (ds,), _ = load_datasets(plan, root)
    (split,) = plan.splits
    request = ExperimentRequest(ds, split, list(plan.algorithms), plan.eval, plan.seeds[0],
                                len(plan.seeds))  # fmt: skip
    res = run_experiment(request)
    annotate([res], plan)
    run_id = None
    if store:
        from recbench.store import Store
        from recbench.store.record import record_experiment

        extra = {"study": text, "metrics": list(plan.metrics)}
        run_id = record_experiment(Store.in_data_dir(root), res, "compare", extra)
    return Result([res], run_id)


def run(
    study: str | Path | dict[str, Any],
    *,
    data_dir: str | Path | None = None,
    store: bool = True,
    fresh: bool = False,
    kind: str = "run",
) -> Result:
    """Run a study (a TOML file's path, or the same content as a dict), like ``recbench run``:
    an unfinished run of the same study on the same data is resumed unless ``fresh``."""
    from recbench.data import default_data_dir
    from recbench.store import Store
    from recbench.study import execute, load_study, make_plan, parse_study
    from recbench.study.save import study_toml

    if isinstance(study, dict):
        sf = parse_study(study_toml(study), Path("<study>"))
    else:
        sf = load_study(study)
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    plan = make_plan(sf, root)
    where = Store.in_data_dir(root) if store else None
    done = execute(plan, root, where, fresh=fresh, kind=kind)
    return Result(done.groups, done.run_id)


def runs(data_dir: str | Path | None = None) -> pd.DataFrame:
    """The runs in the results store: one row per run (id, kind, status, times, datasets,
    splits, algorithms, cells recorded)."""
    from recbench.data import default_data_dir
    from recbench.store import Store

    root = Path(data_dir) if data_dir is not None else default_data_dir()
    rows = []
    for r in Store.in_data_dir(root).runs():
        m = r.manifest
        rows.append(
            {
                "run_id": r.run_id,
                "kind": m.get("kind"),
                "status": r.status,
                "name": m.get("name"),
                "started": m.get("started"),
                "ended": m.get("ended"),
                "datasets": [d.get("name") for d in m.get("datasets") or []],
                "splits": m.get("splits"),
                "algorithms": [a.get("label") for a in m.get("algorithms") or []],
                "cells": len(r.cell_ids()),
                "path": str(r.path),
            }
        )
    columns = ["run_id", "kind", "status", "name", "started", "ended", "datasets", "splits"]
    return pd.DataFrame(rows, columns=[*columns, "algorithms", "cells", "path"])
