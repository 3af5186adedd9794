"""The ``recbench`` launcher starts the workers' fork server early for ``--workers N``: the
server imports what cells need once, gives workers one thread each, and the command's results
equal the serial run's. Fork-server checks run in fresh interpreters (one server per process).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from recbench import forkserver
from recbench.cli.launch import local_workers

dask_needed = pytest.mark.skipif(
    importlib.util.find_spec("distributed") is None or not forkserver.available(),
    reason="needs the scale extra (dask[distributed]) and a platform with a fork server",
)


@pytest.mark.parametrize(
    ("args", "n"),
    [
        (["compare", "--workers", "2"], 2),
        (["-q", "compare", "--algos", "svd", "--workers=3"], 3),
        (["compare", "--workers", "1"], 1),
        (["compare", "--workers", "two"], 0),  # the CLI reports it; nothing starts
        (["compare", "--workers"], 0),
        (["compare", "--scheduler", "tcp://127.0.0.1:8786"], 0),
        (["compare", "--", "--workers", "2"], 0),
        ([], 0),
    ],
)
def test_local_workers_reads_the_command_line(args: list[str], n: int) -> None:
    assert local_workers(args) == n


def _python(code: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in forkserver.THREAD_VARIABLES}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@dask_needed
def test_early_fork_server_preloads_the_workers_modules_with_one_thread(tmp_path: Path) -> None:
    out = _python(
        """
        import json, os, sys
        import dask
        from recbench import forkserver
        forkserver.start()
        # this process's environment is left as it was
        assert "OMP_NUM_THREADS" not in os.environ, os.environ.get("OMP_NUM_THREADS")
        assert forkserver.started_early()
        from recbench.executors import make_executor

        def probe():
            return ["surprise" in sys.modules, "recbench.algorithms.knn" in sys.modules,
                    os.environ.get("OMP_NUM_THREADS"), os.environ.get("OPENBLAS_NUM_THREADS"),
                    dask.config.get("distributed.worker.profile.enabled")]

        if __name__ == "__main__":
            with make_executor(workers=2) as ex:
                assert ex.local_cells is False  # the wait is short: cells go to the workers
                print(json.dumps(list(ex.client.run(probe).values())))
        """,
        tmp_path,
    )
    got = json.loads(out.strip().splitlines()[-1])
    # imported by the fork server before any task: no worker imports them on its own
    # (and without Dask's profiler, which takes the GIL every 10 ms)
    assert got == [[True, True, "1", "1", False], [True, True, "1", "1", False]]


@dask_needed
def test_cli_workers_through_the_launcher_match_serial(tmp_path: Path) -> None:
    def compare(*extra: str) -> list[tuple[object, ...]]:
        cmd = [sys.executable, "-m", "recbench", "-q", "--data-dir", str(tmp_path), "compare",
               "--algos", "popularity,baseline", "--split", "kfold:2", "--no-store",
               "--format", "json", *extra]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        rows = json.loads(done.stdout)["rows"]
        return [(r["algorithm"], r["fold"], r["metric"], r["k"], r["value"]) for r in rows]

    serial = compare()
    assert len(serial) > 10
    assert compare("--workers", "2") == serial
