"""`runs export --to mlflow` and `compare --mlflow`, read back through MLflow's own client.

Skipped where the ``mlflow`` extra is not installed, except the test that MLflow's absence is
one line naming the extra (it hides MLflow from a subprocess).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from recbench.mlflow_export import metric_key
from recbench.report import build, read_runs
from recbench.store import Store
from recbench.store.diff import summary

from .helpers import run_cli

ALGOS = "random,popularity,baseline,svd,als"


def _client(uri: str) -> Any:
    mlflow = pytest.importorskip("mlflow")
    return mlflow.tracking.MlflowClient(tracking_uri=uri)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, str]]:
    """A 5-algorithm compare on the bundled ml-latest-small with --mlflow into a sqlite store:
    (data directory, tracking URI, the compare's stdout+stderr)."""
    pytest.importorskip("mlflow")
    tmp = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    env = {**os.environ, "RECBENCH_DATA": str(tmp / "data"), "MLFLOW_TRACKING_URI": uri}
    env.pop("MLFLOW_EXPERIMENT_NAME", None)
    res = subprocess.run(
        [sys.executable, "-m", "recbench", "compare", "--algos", ALGOS, "--mlflow"],
        cwd=tmp,  # MLflow puts a sqlite store's artifacts in ./mlruns
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr
    yield tmp / "data", uri, res.stdout + res.stderr


def _rows(client: Any, run_id: str) -> dict[str, Any]:
    exp = client.get_experiment_by_name("recbench")
    found = client.search_runs(
        [exp.experiment_id], f"tags.`recbench.run_id` = '{run_id}' and tags.`recbench.role` = 'row'"
    )
    return {r.info.run_name: r for r in found}


def test_compare_mlflow_reads_back_the_same_metrics(exported: tuple[Path, str, str]) -> None:
    data, uri, output = exported
    store = Store.in_data_dir(data)
    (run,) = store.runs()
    assert f"exported run {run.run_id} to MLflow experiment 'recbench'" in " ".join(output.split())
    client = _client(uri)
    rows = _rows(client, run.run_id)
    assert sorted(rows) == sorted(ALGOS.split(","))

    means = summary(store.results(run))
    (rd,) = read_runs(store, [run.run_id])
    ivs = build([rd], tuple(dict.fromkeys(rd.results["metric"]))).summary
    checked = 0
    for r in means.itertuples():
        logged = rows[r.algorithm].data.metrics
        key = metric_key(r.metric, r.k)
        assert logged[key] == r.mean, key  # to the last digit
        iv = ivs[(ivs["algorithm"] == r.algorithm) & (ivs["metric"] == r.metric)]
        low, high = float(iv["low"].iloc[0]), float(iv["high"].iloc[0])
        if pd.notna(low):
            assert (logged[f"{key}_ci_low"], logged[f"{key}_ci_high"]) == (low, high)
            checked += 1
        else:
            assert f"{key}_ci_low" not in logged
    assert checked >= 5 * 5  # every ranking metric of every row has its interval
    assert "ndcg_at_10" in rows["als"].data.metrics and "rmse" in rows["svd"].data.metrics
    assert "rmse" not in rows["als"].data.metrics  # als does not predict ratings

    checksum = run.manifest["datasets"][0]["checksum"]
    for name, r in rows.items():
        tags = r.data.tags
        assert tags["recbench.dataset"] == "ml-latest-small"
        assert tags["recbench.dataset_checksum"] == checksum
        assert tags["recbench.split"] == "holdout:0.2" and tags["recbench.seeds"] == "[0]"
        assert tags["recbench.version"] == run.manifest["recbench_version"]
        assert r.data.params["algorithm"] == name and r.info.status == "FINISHED"
    parent = client.get_run(rows["als"].data.tags["mlflow.parentRunId"])
    assert parent.data.tags["recbench.role"] == "run"
    arts = {a.path: a for a in client.list_artifacts(parent.info.run_id)}
    assert {"report.html", "run.json"} <= set(arts)
    html = Path(client.download_artifacts(parent.info.run_id, "report.html")).read_text()
    assert run.run_id in html and "<html" in html


def test_a_second_export_writes_nothing(
    exported: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    data, uri, _ = exported
    client = _client(uri)
    exp = client.get_experiment_by_name("recbench")
    before = {r.info.run_id for r in client.search_runs([exp.experiment_id])}
    res = run_cli(
        ["runs", "export", "latest", "--to", "mlflow", "--tracking-uri", uri], capsys, data
    )
    assert res.code == 0, res.err
    assert "is already exported to MLflow" in " ".join(res.err.split())
    after = {r.info.run_id for r in client.search_runs([exp.experiment_id])}
    assert after == before and len(after) == 6  # the parent and five rows, no duplicates


def test_folds_are_steps_and_a_changed_run_replaces_its_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A k-fold row logs each fold's value as a step; after the run changes (here a cell is
    lost), exporting again replaces the earlier MLflow runs instead of adding to them."""
    pytest.importorskip("mlflow")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 asks for this
    uri = (tmp_path / "mlruns").as_uri()
    res = run_cli(["compare", "--algos", "popularity", "--split", "kfold:3"], capsys, tmp_path)
    assert res.code == 0, res.err
    store = Store.in_data_dir(tmp_path)
    (run,) = store.runs()
    args = ["runs", "export", run.run_id, "--to", "mlflow", "--tracking-uri", uri]
    assert run_cli(args, capsys, tmp_path).code == 0
    client = _client(uri)
    (row,) = _rows(client, run.run_id).values()
    history = client.get_metric_history(row.info.run_id, "folds/ndcg_at_10")
    res_rows = store.results(run)
    folds = res_rows[(res_rows["metric"] == "ndcg") & (res_rows["k"] == 10)]
    expected = folds.sort_values(["seed", "fold"])["value"].tolist()
    assert [m.value for m in sorted(history, key=lambda m: m.step)] == expected
    assert row.data.metrics["ndcg_at_10"] == sum(expected) / 3

    shutil.rmtree(sorted((run.path / "cells").iterdir())[0])
    again = run_cli(args, capsys, tmp_path)
    assert again.code == 0, again.err
    assert "replaced the earlier export" in " ".join(again.err.split())
    (row2,) = _rows(client, run.run_id).values()
    assert row2.info.run_id != row.info.run_id
    assert client.get_run(row.info.run_id).info.lifecycle_stage == "deleted"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(args: list[str], data: Path, pre: str = "") -> subprocess.CompletedProcess[str]:
    code = f"{pre}\nfrom recbench.cli.launch import main\nmain({args!r})"
    env = {**os.environ, "RECBENCH_DATA": str(data)}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=data, env=env, capture_output=True, text=True, timeout=120
    )


#: makes `import mlflow` fail in the subprocess, as where the extra is not installed
HIDE_MLFLOW = """
import sys
class _Hide:
    def find_spec(self, name, path=None, target=None):
        if name == "mlflow" or name.startswith("mlflow."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None
sys.meta_path.insert(0, _Hide())
"""


@pytest.fixture(scope="module")
def popularity_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding one recorded compare of popularity."""
    data = tmp_path_factory.mktemp("bad-input")
    res = _cli(["-q", "compare", "--algos", "popularity"], data)
    assert res.returncode == 0, res.stderr
    return data


def _one_line(res: Any, *words: str) -> None:
    """``res`` (CliResult in process, CompletedProcess) failed with exit 2 and one line."""
    code = getattr(res, "returncode", getattr(res, "code", None))
    assert code == 2, res.stderr if hasattr(res, "stderr") else res.err
    text = res.stderr if hasattr(res, "stderr") else res.err
    lines = text.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in text, text
    for w in words:
        assert w in lines[0], lines[0]


def test_bad_input_is_one_line_and_exit_2(
    popularity_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = popularity_run

    def cli(*args: str) -> Any:
        return run_cli(list(args), capsys, data)

    _one_line(cli("runs", "export", "nosuchrun", "--to", "mlflow"), "no run 'nosuchrun'")
    _one_line(cli("compare", "--mlflow", "--no-store", "--algos", "popularity"), "--no-store")
    _one_line(cli("runs", "export", "latest", "--to", "parquet"), "--output")
    _one_line(cli("runs", "export", "latest", "--to", "xml"), "--to must be")
    # MLflow not installed: `import mlflow` fails in a subprocess
    hidden = _cli(["runs", "export", "latest", "--to", "mlflow"], data, HIDE_MLFLOW)
    _one_line(hidden, "'mlflow' extra", "pip install 'recbench[mlflow]'")
    hidden = _cli(["compare", "--mlflow", "--algos", "popularity"], data, HIDE_MLFLOW)
    _one_line(hidden, "'mlflow' extra")  # before any work


def test_an_unreachable_tracking_uri_fails_fast(
    popularity_run: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("mlflow")
    uri = f"http://127.0.0.1:{_closed_port()}"
    args = ["runs", "export", "latest", "--to", "mlflow", "--tracking-uri", uri]
    t0 = time.perf_counter()
    res = run_cli(args, capsys, popularity_run)
    took = time.perf_counter() - t0
    _one_line(res, uri, "'mlflow' extra", "connection refused")
    assert took < 20, took  # MLflow's own retries would take minutes
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    before = len(Store.in_data_dir(popularity_run).runs())
    _one_line(run_cli(["compare", "--mlflow", "--algos", "popularity"], capsys, popularity_run),
              uri, "connection refused")  # fmt: skip
    assert len(Store.in_data_dir(popularity_run).runs()) == before  # refused before any work
