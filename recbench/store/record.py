"""Record a finished experiment (``compare``, ``evaluate``) in the store as a complete run."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pandas as pd

from recbench.data.model import Dataset
from recbench.experiment import ExperimentResult, results_frame
from recbench.store.runs import RunWriter, Store, StoreWriteError, os_reason


def experiment_manifest(res: ExperimentResult, kind: str) -> dict[str, Any]:
    """A run manifest describing an ExperimentResult (same keys as a study run's)."""
    ds = res.dataset
    return {
        "kind": kind,
        "name": None,
        "datasets": [dataset_identity(ds)],
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
    cells = _seed_folds(res)
    manifest["seeds"] = sorted({seed for seed, _ in cells})
    manifest["n_cells"] = len(res.algorithms) * len(cells)
    writer = store.create(manifest)
    try:
        order = 0
        first = cells[0]
        for seed, fold in cells:
            for label in res.algorithms:
                key = {"dataset": 0, "split": str(res.split), "seed": seed, "fold": fold}
                key.update(label=label, params=res.params.get(label, {}))
                rows = _select(res.results, label, seed, fold)
                per_user = _select(res.per_user, label, seed, fold)
                segments = _select(res.segments, label, seed, fold)
                meta = {
                    **key,
                    "algorithm": label.split("[", 1)[0],
                    "order": order,
                    "dataset_name": res.dataset.name,
                    "n_folds": res.split.n_folds,
                    "protocol": res.protocol,
                    "n_cold_users": res.cold_users.get(label, 0) if (seed, fold) == first else 0,
                    "unable": res.unable.get(label),
                    "curve": res.curves.get((label, seed, fold)),
                }
                writer.record_cell(_cell_id(key), meta, rows, per_user, segments)
                order += 1
        writer.finish("complete")
    except OSError as exc:
        raise _failed(writer, exc) from None
    finally:
        writer.close()
    return writer.run_id


def _failed(writer: RunWriter, exc: OSError) -> StoreWriteError:
    """Mark a run whose write failed as failed (or remove it): never left ``running``."""
    return StoreWriteError(os_reason(exc), writer.fail(exc))


def _seed_folds(res: ExperimentResult) -> list[tuple[int, int]]:
    """Every (seed, fold) the results hold: with ``--repeats`` each repeat's folds are cells."""
    frame = res.results
    if not len(frame):
        return [(res.seed, 0)]
    seeds = frame["seed"] if "seed" in frame else pd.Series(res.seed, index=frame.index)
    pairs = {(int(s), int(f)) for s, f in zip(seeds, frame["fold"], strict=True)}
    return sorted(pairs)


def _select(frame: pd.DataFrame, label: str, seed: int, fold: int) -> pd.DataFrame:
    """The rows of one cell; frames without a ``seed`` column hold a single seed."""
    if not len(frame) or "algorithm" not in frame:
        return pd.DataFrame()
    mask = (frame["algorithm"] == label) & (frame["fold"] == fold)
    if "seed" in frame:
        mask &= frame["seed"] == seed
    return frame[mask]


def record_tune(store: Store, result: Any, dataset: Dataset, split: str) -> str:
    """Record a ``recbench tune`` (a :class:`recbench.tuning.TuneResult`) as a complete run:
    one cell for the tuned configuration's test metrics, one for the defaults' when tested."""
    spec = result.spec
    tuned_label = f"{spec.algorithm}[tuned]"
    algorithms = [{"label": tuned_label, "name": spec.algorithm, "params": result.params}]
    tested: list[tuple[str, dict[str, Any], dict[str, float]]] = [
        (tuned_label, result.params, result.test)
    ]
    if result.default_test:
        tested.append((f"{spec.algorithm}[defaults]", dict(spec.fixed), result.default_test))
        algorithms.append(
            {"label": tested[1][0], "name": spec.algorithm, "params": dict(spec.fixed)}
        )
    manifest = {
        "kind": "tune",
        "name": result.study,
        "datasets": [dataset_identity(dataset)],
        "splits": [split],
        "seeds": [spec.seed],
        "ks": [spec.objective.k] if spec.objective.k is not None else [],
        "relevance_threshold": spec.relevance_threshold,
        "protocol": result.protocol,
        "algorithms": algorithms,
        "tuning": {
            "objective": spec.objective.key,
            "validation": result.val_protocol,
            "n_trials": len(result.trials),
            "best_trial": result.best.number,
            "best_value": result.best.value,
            "trials": [
                {"number": t.number, "state": t.state, "value": t.value, "params": t.params}
                for t in result.trials
            ],
        },
        "n_cells": len(tested),
    }
    writer = store.create(manifest)
    try:
        for order, (label, params, metrics) in enumerate(tested):
            rows = []
            for key, value in metrics.items():
                name, _, k = key.partition("@")
                rows.append(
                    {
                        "dataset": dataset.name,
                        "split": split,
                        "fold": 0,
                        "algorithm": label,
                        "params": json.dumps(params, sort_keys=True, default=str),
                        "metric": name,
                        "k": int(k) if k else None,
                        "value": float(value),
                        "fit_seconds": float(result.fit_seconds),
                        "score_seconds": float("nan"),
                        "n_users": None,
                        "n_test": None,
                        "n_fallback": None,
                        "seed": spec.seed,
                    }
                )
            key_ = {"dataset": 0, "split": split, "seed": spec.seed, "fold": 0, "label": label}
            meta = {
                **key_,
                "algorithm": spec.algorithm,
                "params": params,
                "order": order,
                "dataset_name": dataset.name,
                "n_folds": 1,
                "protocol": result.protocol,
            }
            frame = results_frame(rows)
            writer.record_cell(_cell_id(key_), meta, frame, pd.DataFrame(), pd.DataFrame())
        writer.finish("complete")
    except OSError as exc:
        raise _failed(writer, exc) from None
    finally:
        writer.close()
    return writer.run_id


def dataset_identity(ds: Dataset) -> dict[str, Any]:
    """How a run manifest names a dataset: name, checksum and sizes."""
    return {
        "name": ds.name,
        "checksum": ds.checksum,
        "n_ratings": len(ds.interactions.user),
        "n_users": int(ds.n_users),
        "n_items": int(ds.n_items),
    }
