"""A stored run -> MLflow: the comparison table as MLflow runs, read back by MLflow's own tools.

Layout (one export of one recbench run): a parent MLflow run for the recbench run (its tags,
the manifest as ``run.json`` and the HTML report of ``recbench report RUN`` as ``report.html``)
and one nested child run per table row, i.e. per (dataset, split, algorithm). A row's metrics
are the table's: the mean over folds and repeats (``ndcg_at_10``), the 95% interval bounds of
the report (``ndcg_at_10_ci_low`` / ``_ci_high``), fit and score seconds, and, with several folds
or repeats, each run's value as the history of ``folds/ndcg_at_10`` (step = repeat x folds +
fold). One MLflow run per row rather than per fold: MLflow's run table then *is* the comparison
table, and an interval belongs to an algorithm's row, not to one fold.

Exporting is idempotent: runs are found again by the ``recbench.run_id`` tag. An export whose
recorded cells and status are unchanged is left as it is; one that changed (a resumed run, or an
export cut short) is replaced (the old MLflow runs are deleted, which MLflow keeps restorable).

Uses the ``mlflow`` package itself (the ``mlflow`` extra); nothing is printed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from recbench import __version__
from recbench.errors import MissingExtraError, UsageError
from recbench.store import RunInfo, Store

#: the pip extra that installs MLflow
MLFLOW_EXTRA = "mlflow"
NO_MLFLOW = (
    f"MLflow export needs the '{MLFLOW_EXTRA}' extra (pip install 'recbench[{MLFLOW_EXTRA}]')"
)
DEFAULT_EXPERIMENT = "recbench"
RUN_TAG = "recbench.run_id"
ROLE_TAG = "recbench.role"  # "run": the parent; "row": a table row
ROW_TAG = "recbench.row"
DIGEST_TAG = "recbench.export_digest"  # set last: an export without it was cut short
#: bumped when the layout changes, so an older export is replaced
LAYOUT = 1
#: the reachability probe: no retries, a short timeout (MLflow's defaults retry for minutes)
PROBE_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
_STATUS = {"complete": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}


@dataclass(frozen=True)
class MlflowExport:
    """What an export did: ``action`` is created, unchanged (already exported, nothing written)
    or replaced; ``rows`` maps each table row's name to its MLflow run id."""

    run_id: str
    tracking_uri: str
    experiment: str
    experiment_id: str
    parent: str
    rows: dict[str, str] = field(default_factory=dict)
    action: str = "created"

    def message(self) -> str:
        """One line for the user."""
        where = f"experiment '{self.experiment}' at {self.tracking_uri}"
        if self.action == "unchanged":
            return (
                f"run {self.run_id} is already exported to MLflow {where} (MLflow run "
                f"{self.parent}); nothing written"
            )
        verb = "replaced the earlier export of" if self.action == "replaced" else "exported"
        return (
            f"{verb} run {self.run_id} to MLflow {where}: parent run {self.parent}, "
            f"{len(self.rows)} row run(s)"
        )


@contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables the user has not set, for the duration of the block."""
    added = {k: v for k, v in values.items() if k not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


@contextmanager
def _mlflow_session() -> Iterator[Any]:
    """``mlflow`` imported (MissingExtraError naming the extra when it is not installed), its
    INFO logging and warnings held back, and its usage telemetry off unless the user chose."""
    with _environ({"MLFLOW_DISABLE_TELEMETRY": "true"}), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import mlflow
        except ImportError as exc:  # not installed, or one of its own imports failed
            broken = exc.name is not None and exc.name.split(".")[0] != "mlflow"
            raise MissingExtraError(NO_MLFLOW + (f"; importing it failed: {exc}" if broken
                                                 else "")) from None  # fmt: skip
        loggers = [logging.getLogger(n) for n in ("mlflow", "alembic")]
        levels = [lg.level for lg in loggers]
        for lg in loggers:
            lg.setLevel(logging.WARNING)
        try:
            yield mlflow
        finally:
            for lg, level in zip(loggers, levels, strict=True):
                lg.setLevel(level)


def _reason(exc: BaseException) -> str:
    """MLflow's (often long, multi-line) error message cut to its cause, on one line."""
    text = " ".join(str(exc).split())
    for cause in ("Connection refused", "Name or service not known", "timed out"):
        if cause.lower() in text.lower():
            return cause.lower()
    if "MLFLOW_ALLOW_FILE_STORE" in text:
        return (
            "MLflow refuses file-based stores unless MLFLOW_ALLOW_FILE_STORE=true is set; "
            "a sqlite:///PATH.db URI needs no setting"
        )
    text = text.split(". ")[0]
    return text if len(text) <= 200 else text[:197] + "..."


def _client(mlflow: Any, tracking_uri: str | None) -> tuple[Any, str]:
    """A client for ``tracking_uri`` (None: MLflow's own choice, MLFLOW_TRACKING_URI or its
    default), checked to answer at once; UsageError naming the URI when it cannot be used."""
    uri = tracking_uri or mlflow.get_tracking_uri()
    try:
        with _environ(PROBE_ENV):
            client = mlflow.tracking.MlflowClient(tracking_uri=uri)
            client.search_experiments(max_results=1)
    except Exception as exc:  # MlflowException, requests' errors, an unknown scheme
        raise UsageError(
            f"MLflow ('{MLFLOW_EXTRA}' extra) cannot use tracking URI {uri} ({_reason(exc)}); "
            "check --tracking-uri or MLFLOW_TRACKING_URI"
        ) from None
    return client, uri


def preflight(tracking_uri: str | None = None, recorded: bool = True) -> str:
    """Before a long compare with ``--mlflow``: the run will be recorded (the export reads it
    back), MLflow is installed and the tracking URI answers (UsageError / MissingExtraError
    otherwise). Returns the URI that will be used."""
    if not recorded:
        raise UsageError("--mlflow exports the run recorded in the store: drop --no-store")
    with _mlflow_session() as mlflow:
        return _client(mlflow, tracking_uri)[1]


def metric_key(metric: str, k: Any) -> str:
    """An MLflow metric name for a table column: ``ndcg@10`` -> ``ndcg_at_10`` (MLflow allows
    letters, digits, ``_ - . / :`` and spaces, not ``@``)."""
    name = metric if k is None or pd.isna(k) else f"{metric}_at_{int(k)}"
    return re.sub(r"[^\w\-. /:]", "_", name)


def _ms(stamp: Any) -> int | None:
    if not stamp:
        return None
    try:
        return int(datetime.fromisoformat(str(stamp)).timestamp() * 1000)
    except ValueError:
        return None


def _param(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _digest(run: RunInfo) -> str:
    """What an export shows depends on: the cells recorded, the run's status, the layout."""
    doc = {"cells": run.cell_ids(), "status": run.status, "layout": LAYOUT}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:24]


def _experiment(client: Any, name: str) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is None:
        return str(client.create_experiment(name))
    if exp.lifecycle_stage == "deleted":
        raise UsageError(
            f"MLflow experiment '{name}' is deleted; restore it in MLflow or choose --experiment"
        )
    return str(exp.experiment_id)


def _filter(run_id: str, role: str | None = None) -> str:
    text = f"tags.`{RUN_TAG}` = '{run_id}'"
    return text + (f" and tags.`{ROLE_TAG}` = '{role}'" if role else "")


def _report_html(
    store: Store, run: RunInfo, cache_dir: Path | None
) -> tuple[str, Any, pd.DataFrame]:
    """The HTML of ``recbench report RUN`` and the summary of every stored metric (means and
    the report's 95% intervals), and the run's results (complete folds only)."""
    from recbench.report import build, read_runs, render_html, vega_bundle

    (rd,) = read_runs(store, [run.run_id])
    shown = build([rd])
    html = render_html(shown, vega_bundle(cache_dir), f"recbench report · {rd.label}")
    every = tuple(dict.fromkeys(str(m) for m in rd.results["metric"])) if len(rd.results) else ()
    return html, (build([rd], every) if every else shown), rd.results


def _row_name(key: tuple[Any, ...], single: bool) -> str:
    ds, sp, algo = key
    return str(algo) if single else f"{algo} · {ds} · {sp}"


def _row_metrics(rows: pd.DataFrame, runs: pd.DataFrame, stamp: int) -> list[Any]:
    """One row's metrics: mean, interval bounds, seconds, and each run's value as steps."""
    from mlflow.entities import Metric

    out = []
    for r in rows.itertuples():
        key = metric_key(str(r.metric), r.k)
        out.append(Metric(key, float(r.mean), stamp, 0))
        for bound, value in (("ci_low", r.low), ("ci_high", r.high)):
            if value is not None and math.isfinite(float(value)):
                out.append(Metric(f"{key}_{bound}", float(value), stamp, 0))
        sel = runs[runs["metric"] == r.metric]
        sel = sel[sel["k"].isna()] if r.k is None or pd.isna(r.k) else sel[sel["k"] == r.k]
        if len(sel) > 1:
            sel = sel.sort_values(["seed", "fold"])
            for step, value in enumerate(sel["value"]):
                out.append(Metric(f"folds/{key}", float(value), stamp, step))
    if len(runs):
        for col in ("fit_seconds", "score_seconds"):
            value = float(runs.drop_duplicates(["seed", "fold"])[col].mean())
            if math.isfinite(value):
                out.append(Metric(col, value, stamp, 0))
    return out


def _log(client: Any, run_id: str, metrics: list[Any], params: list[Any]) -> None:
    """log_batch within MLflow's limits (1,000 metrics and 100 parameters a call)."""
    for i in range(0, len(params), 100):
        client.log_batch(run_id, params=params[i : i + 100])
    for i in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[i : i + 1000])


def export_run(
    store: Store,
    ref: str,
    *,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    cache_dir: Path | None = None,
) -> MlflowExport:
    """Export the stored run ``ref`` to MLflow (see the module docstring for the layout).

    ``experiment`` defaults to MLFLOW_EXPERIMENT_NAME, else ``recbench``; ``cache_dir`` keeps
    the report's JavaScript bundle between exports. Raises UsageError for an unknown or running
    run and a tracking URI that cannot be used, MissingExtraError without MLflow.
    """
    run = store.get(ref)
    run.check()
    if run.status == "running":
        raise UsageError(f"run {run.run_id} is still running; export it when it has finished")
    name = experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT
    with _mlflow_session() as mlflow:
        from mlflow.exceptions import MlflowException

        client, uri = _client(mlflow, tracking_uri)
        try:
            return _export(client, uri, name, store, run, cache_dir)
        except (MlflowException, OSError) as exc:
            raise UsageError(f"MLflow export of run {run.run_id} failed: {_reason(exc)}") from None


def _export(
    client: Any,
    uri: str,
    name: str,
    store: Store,
    run: RunInfo,
    cache_dir: Path | None,
) -> MlflowExport:
    from mlflow.entities import Param

    exp_id = _experiment(client, name)
    digest = _digest(run)
    found = client.search_runs([exp_id], _filter(run.run_id, "run"))
    for parent in found:
        if parent.data.tags.get(DIGEST_TAG) == digest:
            kept = client.search_runs([exp_id], _filter(run.run_id, "row"))
            names = {r.data.tags.get(ROW_TAG, r.info.run_id): r.info.run_id for r in kept}
            return MlflowExport(
                run.run_id, uri, name, exp_id, parent.info.run_id, names, "unchanged"
            )
    for old in client.search_runs([exp_id], _filter(run.run_id)):
        client.delete_run(old.info.run_id)

    m = run.manifest
    html, data, results = _report_html(store, run, cache_dir)
    start, end = _ms(m.get("started")), _ms(m.get("ended")) or _ms(m.get("started"))
    stamp = end or 0
    datasets = {d.get("name"): d for d in m.get("datasets") or []}
    common = {
        RUN_TAG: run.run_id,
        "recbench.version": str(m.get("recbench_version") or __version__),
        "recbench.exported_by": __version__,
        "recbench.kind": run.kind,
        "recbench.status": run.status,
        "recbench.seeds": _param(m.get("seeds")),
    }
    parent_tags = {
        **common,
        ROLE_TAG: "run",
        "recbench.datasets": _param(sorted(str(d) for d in datasets)),
        "recbench.splits": _param(m.get("splits") or []),
        "mlflow.note.content": str(m.get("protocol") or ""),
    }
    title = m.get("name") or f"{run.kind} {run.run_id}"
    parent = client.create_run(exp_id, start_time=start, tags=parent_tags, run_name=title)
    pid = parent.info.run_id
    labels = [a.get("label") for a in m.get("algorithms") or []]
    params = {"k": m.get("ks"), "metrics": m.get("metrics"), "algorithms": labels}
    _log(client, pid, [], [Param(k, _param(v)) for k, v in params.items() if v is not None])
    with tempfile.TemporaryDirectory(prefix="recbench-mlflow-") as tmp:
        (Path(tmp) / "report.html").write_text(html, encoding="utf-8")
        doc = {k: v for k, v in m.items() if k != "study"}
        (Path(tmp) / "run.json").write_text(json.dumps(doc, indent=2, default=str) + "\n")
        client.log_artifact(pid, str(Path(tmp) / "report.html"))
        client.log_artifact(pid, str(Path(tmp) / "run.json"))
        if m.get("study"):
            (Path(tmp) / "study.toml").write_text(str(m["study"]), encoding="utf-8")
            client.log_artifact(pid, str(Path(tmp) / "study.toml"))

    summ = data.summary
    algos = {a.get("label"): a for a in m.get("algorithms") or []}
    groups = list(summ.groupby(["dataset", "split", "algorithm"], sort=False))
    single = len({(k[0], k[1]) for k, _ in groups}) == 1
    rows: dict[str, str] = {}
    for key, g in groups:
        ds, sp, algo = (str(x) for x in key)
        label = _row_name(key, single)
        mine = results[
            (results["dataset"] == ds) & (results["split"] == sp) & (results["algorithm"] == algo)
        ]
        spec = algos.get(algo, {})
        checksum = str((datasets.get(ds) or {}).get("checksum") or "")
        tags = {
            **common,
            ROLE_TAG: "row",
            ROW_TAG: label,
            "mlflow.parentRunId": pid,
            "recbench.dataset": ds,
            "recbench.dataset_checksum": checksum,
            "recbench.split": sp,
        }
        child = client.create_run(exp_id, start_time=start, tags=tags, run_name=label)
        cid = child.info.run_id
        given = spec.get("params") or {}
        ps = {"algorithm": spec.get("name") or algo, **given}
        _log(
            client,
            cid,
            _row_metrics(g, mine, stamp),
            [Param(str(k), _param(v)) for k, v in ps.items()],
        )
        client.set_terminated(cid, _STATUS.get(run.status, "FINISHED"), end_time=end)
        rows[label] = cid
    client.set_tag(pid, DIGEST_TAG, digest)
    client.set_terminated(pid, _STATUS.get(run.status, "FINISHED"), end_time=end)
    return MlflowExport(
        run.run_id, uri, name, exp_id, pid, rows, "replaced" if found else "created"
    )


def export_recorded(data_dir: Path, run_id: str | None) -> str:
    """``compare --mlflow``: export the run just recorded in ``data_dir``'s store to MLflow's
    default place (MLFLOW_TRACKING_URI, MLFLOW_EXPERIMENT_NAME); the message to show. A run
    that could not be recorded is a UsageError (the comparison was printed all the same)."""
    if run_id is None:
        raise UsageError("not exported to MLflow: the run could not be recorded in the store")
    store = Store.in_data_dir(data_dir)
    return export_run(store, run_id, cache_dir=data_dir / "cache").message()
