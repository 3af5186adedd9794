"""Record a finished experiment (``compare``, ``evaluate``) in the store as a complete run."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pandas as pd

from recbench.experiment import ExperimentResult
from recbench.store.runs import Store


def experiment_manifest(res: ExperimentResult, kind: str) -> dict[str, Any]:
    """A run manifest describing an ExperimentResult (same keys as a study run's)."""
    ds = res.dataset
    return {
        "kind": kind,
        "name": None,
        "datasets": [
            {
                "name": ds.name,
                "checksum": ds.checksum,
                "n_ratings": len(ds.interactions.user),
                "n_users": int(ds.n_users),
                "n_items": int(ds.n_items),
            }
        ],
        "splits": [str(res.split)],
        "seeds": [res.seed],
        "ks": list(res.eval_config.ks),
        "relevance_threshold": res.eval_config.relevance_threshold,
        "protocol": res.protocol,
        "algorithms": [
            {"label": label, "name": label.split("[", 1)[0], "params": res.params.get(label, {})}
            for label in res.algorithms
        ],
    }


def _cell_id(key: dict[str, Any]) -> str:
    text = json.dumps(key, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def record_experiment(
    store: Store, res: ExperimentResult, kind: str, extra: dict[str, Any] | None = None
) -> str:
    """Write every (algorithm, fold) of ``res`` as a cell of a new complete run; its id."""
    manifest = {**experiment_manifest(res, kind), **(extra or {})}
    folds = sorted({int(f) for f in res.results["fold"]}) if len(res.results) else [0]
    manifest["n_cells"] = len(res.algorithms) * len(folds)
    writer = store.create(manifest)
    try:
        order = 0
        for fold in folds:
            for label in res.algorithms:
                key = {"dataset": 0, "split": str(res.split), "seed": res.seed, "fold": fold}
                key.update(label=label, params=res.params.get(label, {}))
                rows = res.results[
                    (res.results["algorithm"] == label) & (res.results["fold"] == fold)
                ]
                per_user = _select(res.per_user, label, fold)
                segments = _select(res.segments, label, fold)
                meta = {
                    **key,
                    "algorithm": label.split("[", 1)[0],
                    "order": order,
                    "dataset_name": res.dataset.name,
                    "n_folds": res.split.n_folds,
                    "protocol": res.protocol,
                    "n_cold_users": res.cold_users.get(label, 0) if fold == folds[0] else 0,
                    "unable": res.unable.get(label),
                }
                writer.record_cell(_cell_id(key), meta, rows, per_user, segments)
                order += 1
        writer.finish("complete")
    finally:
        writer.close()
    return writer.run_id


def _select(frame: pd.DataFrame, label: str, fold: int) -> pd.DataFrame:
    if not len(frame) or "algorithm" not in frame:
        return pd.DataFrame()
    return frame[(frame["algorithm"] == label) & (frame["fold"] == fold)]
