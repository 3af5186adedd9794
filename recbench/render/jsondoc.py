"""The JSON document of ``recbench compare --format json`` and its JSON Schema."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from recbench import __version__
from recbench.experiment import ExperimentResult, fold_summary
from recbench.metrics import METRICS, RATING_SPECS, RatingMetric, metric_key_pattern
from recbench.render.layout import caption, duplicates_dropped, segment_summary
from recbench.stats import CORRECTED_T, Comparison, Interval
from recbench.stats.table import TableStats

JSON_SCHEMA_ID = "https://recbench.dev/schema/compare-1.json"

_NUM_OR_NULL = {"type": ["number", "null"]}
#: a cell's confidence interval (``method`` "none": too few values; low/high are null);
#: ``kind`` says it in words, as the caption does: "95% corrected t over 5 repeats"
_CI_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["low", "high", "method", "kind", "level", "n", "over"],
    "properties": {
        "low": _NUM_OR_NULL,
        "high": _NUM_OR_NULL,
        "method": {"enum": ["bootstrap-bca", "bootstrap-percentile", "t", "corrected-t", "none"]},
        "kind": {"type": "string"},
        "level": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "n": {"type": "integer", "minimum": 0},
        "over": {"enum": ["users", "folds", "repeats"]},
    },
    "additionalProperties": False,
}
#: a cell's paired comparison with the baseline
_COMPARISON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "baseline",
        "test",
        "p",
        "p_adjusted",
        "correction",
        "alpha",
        "mean_diff",
        "diff_low",
        "diff_high",
        "n_users",
        "verdict",
    ],
    "properties": {
        "baseline": {"type": "string"},
        "test": {"enum": ["randomization", "t", "wilcoxon", "corrected-t"]},
        "p": {"type": "number", "minimum": 0, "maximum": 1},
        "p_adjusted": {"type": "number", "minimum": 0, "maximum": 1},
        "correction": {"enum": ["holm", "bonferroni", "bh", "none"]},
        "alpha": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "mean_diff": {"type": "number"},
        "diff_low": _NUM_OR_NULL,
        "diff_high": _NUM_OR_NULL,
        "diff_of": {"enum": ["value", *(m.paired_column for m in RATING_SPECS)]},
        "n_users": {"type": ["integer", "null"], "minimum": 2},
        "n_runs": {"type": "integer", "minimum": 2},
        "verdict": {"enum": ["better", "worse", None]},
    },
    "additionalProperties": False,
}

#: JSON Schema of ``recbench compare --format json`` (checked by the test suite).
JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": JSON_SCHEMA_ID,
    "type": "object",
    "required": ["schema", "recbench_version", "dataset", "protocol", "algorithms", "rows"],
    "properties": {
        "schema": {"const": "recbench.compare/1"},
        "recbench_version": {"type": "string"},
        "dataset": {
            "type": "object",
            "required": ["name", "checksum", "n_ratings", "n_users", "n_items"],
            "properties": {
                "name": {"type": "string"},
                "checksum": {"type": "string"},
                "n_ratings": {"type": "integer"},
                "n_users": {"type": "integer"},
                "n_items": {"type": "integer"},
                "duplicates_dropped": {"type": "integer", "minimum": 0},
            },
        },
        "protocol": {
            "type": "object",
            "required": ["split", "description", "seed", "n_folds", "ks", "relevance_threshold"],
            "properties": {
                "split": {"type": "string"},
                "description": {"type": "string"},
                "seed": {"type": "integer"},
                "n_folds": {"type": "integer", "minimum": 1},
                "ks": {"type": "array", "items": {"type": "integer", "minimum": 1}},
                "relevance_threshold": {"type": ["number", "null"]},
                "ranking": {"type": "string"},
            },
        },
        "algorithms": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "name",
                    "params",
                    "fit_seconds",
                    "score_seconds",
                    "n_fallback",
                    "n_cold_users",
                    "metrics",
                ],
                "properties": {
                    "name": {"type": "string"},
                    "params": {"type": "object"},
                    "fit_seconds": {"type": "number", "minimum": 0},
                    "score_seconds": {"type": "number", "minimum": 0},
                    "n_fallback": {"type": "integer", "minimum": 0},
                    "n_cold_users": {"type": "integer", "minimum": 0},
                    "unable": {"type": ["string", "null"]},
                    "metrics": {
                        "type": "object",
                        "patternProperties": {
                            metric_key_pattern(): {
                                "type": "object",
                                "required": ["mean", "std", "folds"],
                                "properties": {
                                    "mean": {"type": "number"},
                                    "std": {"type": ["number", "null"]},
                                    "folds": {"type": "array", "items": {"type": "number"}},
                                    "ci": {"oneOf": [_CI_SCHEMA, {"type": "null"}]},
                                    "comparison": _COMPARISON_SCHEMA,
                                },
                            }
                        },
                        "additionalProperties": False,
                    },
                },
            },
        },
        "rows": {"type": "array", "items": {"type": "object"}},
        "statistics": {
            "type": ["object", "null"],
            "required": ["ci", "level", "baseline", "test", "correction", "alpha", "notes"],
            "properties": {
                "ci": {"type": "boolean"},
                "level": {"type": "number"},
                "repeats": {"type": "integer", "minimum": 1},
                "baseline": {"type": ["string", "null"]},
                "test": {"type": ["string", "null"]},
                "correction": {"type": ["string", "null"]},
                "alpha": {"type": "number"},
                "n_comparisons": {"type": "integer", "minimum": 0},
                "seconds": {"type": "number", "minimum": 0},
                "notes": {"type": "array", "items": {"type": "string"}},
            },
        },
        "segments": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["algorithm", "segment", "metric", "mean"],
            },
        },
        #: with --tune: the parameters each repeat chose and their spread (tuning/repeats.py)
        "tuning": {
            "type": "object",
            "required": ["protocol", "trials", "metric", "seeds", "repeats", "spread"],
        },
    },
}


def _num(x: float) -> float | None:
    return None if x != x else float(x)


def interval_json(iv: Interval) -> dict[str, Any]:
    """A cell's interval as JSON (NaN end points -> null)."""
    return {
        "low": _num(iv.low),
        "high": _num(iv.high),
        "method": iv.method,
        "kind": iv.kind,
        "level": iv.level,
        "n": iv.n,
        "over": iv.over,
    }


def comparison_json(c: Comparison) -> dict[str, Any]:
    """A cell's comparison with the baseline as JSON."""
    r = c.result
    name = c.metric.partition("@")[0]
    out = {
        "baseline": c.baseline,
        "test": r.test,
        "p": float(r.p),
        "p_adjusted": float(c.p_adjusted),
        "correction": c.correction,
        "alpha": c.alpha,
        "mean_diff": float(r.mean_diff),
        "diff_low": _num(r.low),
        "diff_high": _num(r.high),
        "verdict": c.verdict,
    }
    if r.test == CORRECTED_T:  # paired over runs: the difference of the runs' table values
        return {**out, "diff_of": "value", "n_users": None, "n_runs": int(r.n)}
    spec = METRICS.get(name)
    diff_of = spec.paired_column if isinstance(spec, RatingMetric) else "value"
    return {**out, "diff_of": diff_of, "n_users": int(r.n)}


def _test_used(st: TableStats) -> str:
    """The test the comparisons used: ``--test``, or ``corrected-t`` over several runs."""
    return next((c.result.test for c in st.comparisons.values()), st.options.test)


def statistics_json(st: TableStats | None, repeats: int = 1) -> dict[str, Any] | None:
    if st is None:
        return None
    o = st.options
    tested = st.baseline is not None
    return {
        "ci": o.ci,
        "level": o.level,
        "repeats": repeats,
        "baseline": st.baseline,
        "test": _test_used(st) if tested else None,
        "correction": o.correction if tested else None,
        "alpha": o.alpha,
        "n_comparisons": len(st.comparisons),
        "seconds": st.seconds,
        "notes": list(st.notes),
    }


def to_json(res: ExperimentResult) -> dict[str, Any]:
    """The documented JSON document (see JSON_SCHEMA)."""
    ds = res.dataset
    inter = ds.interactions
    summ = fold_summary(res.results)
    algos = []
    groups = dict(tuple(res.results.groupby("algorithm", sort=False)))
    for name in res.algorithms or list(groups):
        if name not in groups:  # unable under this protocol: no metrics at all
            algos.append(
                {
                    "name": str(name),
                    "params": res.params.get(name, {}),
                    "fit_seconds": 0.0,
                    "score_seconds": 0.0,
                    "n_fallback": 0,
                    "n_cold_users": int(res.cold_users.get(str(name), 0)),
                    "unable": res.unable.get(name, "produced no metrics"),
                    "metrics": {},
                }
            )
            continue
        grp = groups[name]
        mets: dict[str, Any] = {}
        for (metric, k), g in grp.groupby(["metric", "k"], sort=False, dropna=False):
            key = metric if pd.isna(k) else f"{metric}@{int(k)}"
            vals = [float(v) for v in g.sort_values("fold")["value"]]
            std = float(np.std(vals, ddof=1)) if len(vals) > 1 else None
            mets[key] = {"mean": float(np.mean(vals)), "std": std, "folds": vals}
            if res.stats is not None:
                iv = res.stats.interval(str(name), key)
                mets[key]["ci"] = interval_json(iv) if iv is not None else None
                comp = res.stats.comparisons.get((str(name), key))
                if comp is not None:
                    mets[key]["comparison"] = comparison_json(comp)
        s = summ[summ["algorithm"] == name]
        fb = s.loc[
            s["metric"] == RATING_SPECS[0].name, "n_fallback"
        ]  # same for every rating metric
        algos.append(
            {
                "name": str(name),
                "params": json.loads(grp["params"].iloc[0]),
                "fit_seconds": float(grp.groupby("fold")["fit_seconds"].first().mean()),
                "score_seconds": float(grp.groupby("fold")["score_seconds"].first().mean()),
                "n_fallback": int(fb.iloc[0]) if len(fb) else 0,
                "n_cold_users": int(res.cold_users.get(str(name), 0)),
                "unable": res.unable.get(name),
                "metrics": mets,
            }
        )
    rows = json.loads(res.results.to_json(orient="records"))
    return {
        "schema": "recbench.compare/1",
        "recbench_version": __version__,
        "dataset": {
            "name": ds.name,
            "checksum": ds.checksum,
            "n_ratings": len(inter),
            "n_users": inter.n_users,
            "n_items": inter.n_items,
            "duplicates_dropped": duplicates_dropped(ds),
        },
        "protocol": {
            "split": str(res.split),
            "description": res.protocol,
            "seed": res.seed,
            "n_folds": res.split.n_folds,
            "ks": list(res.eval_config.ks),
            "relevance_threshold": res.eval_config.relevance_threshold,
            "ranking": caption(res)[1],
        },
        "algorithms": algos,
        "rows": rows,
        "statistics": statistics_json(res.stats, res.repeats),
        "segments": json.loads(segment_summary(res).to_json(orient="records")),
        **({"tuning": res.tuning} if res.tuning is not None else {}),
    }
