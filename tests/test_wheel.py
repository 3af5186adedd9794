"""The built wheel ships the registry and bundled dataset and runs outside the source tree."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .helpers import REPO

pytestmark = pytest.mark.slow


def test_wheel_installs_and_runs_from_anywhere(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(REPO)],
        check=True,
        timeout=600,
    )
    (wheel,) = dist.glob("recbench-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for member in ("ratings.csv", "movies.csv", "tags.csv", "links.csv", "README.txt"):
        assert f"recbench/_datasets/ml-latest-small/{member}" in names
    assert "recbench/_datasets/registry.toml" in names
    assert not any("ml-100k" in n or n.startswith("tests/") for n in names)
    readme = zipfile.ZipFile(wheel).read("recbench/_datasets/ml-latest-small/README.txt")
    assert readme == (REPO / "datasets" / "ml-latest-small" / "README.txt").read_bytes()

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    constraints = REPO / "constraints.txt"
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "-c", str(constraints), str(wheel)],
        check=True,
        timeout=900,
    )
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["RECBENCH_DATA"] = str(tmp_path / "cache")
    # offline: any download would go to a proxy that is not there (the data ships in the wheel)
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        env[var] = "http://127.0.0.1:9"
    version = subprocess.run(
        [str(venv / "bin" / "recbench"), "--version"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert version.returncode == 0, version.stderr
    lines = {ln.split()[0]: ln for ln in version.stdout.splitlines()[2:]}
    assert version.stdout.startswith("recbench 0.") and {"deep", "scale", "mlflow"} <= set(lines)
    assert "missing: dask" in lines["scale"] and "Dask" in lines["scale"]  # no extras installed
    res = subprocess.run(
        [str(venv / "bin" / "recbench"), "-q", "compare", "--algos", "popularity"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    flat = " ".join(res.stdout.split())
    assert "popularity" in flat and "ml-latest-small: 100,836 ratings" in flat
    where = subprocess.run(
        [str(py), "-c", "import recbench; print(recbench.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert str(venv) in where.stdout  # the installed wheel ran, not the source tree
