"""Model directories: what `fit --out --overwrite` may replace, atomic replacement under a real
`kill -9`, and one-line errors for model directories with invalid contents."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from recbench.errors import UsageError
from recbench.persistence import MODEL_FORMAT, check_model_target, is_model_dir

from .helpers import REPO, run_cli
from .test_cli import assert_one_line_error


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("recbench-data")


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """A baseline model fitted once (seed 0) by the CLI; tests copy it."""
    path = tmp_path_factory.mktemp("models") / "baseline"
    env = {**os.environ, "RECBENCH_DATA": str(data_dir)}
    done = subprocess.run(
        [sys.executable, "-m", "recbench", "-q", "fit", "baseline", "--out", str(path)],
        env=env, capture_output=True, text=True, timeout=300, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return path


def copy_model(saved: Path, dest: Path) -> Path:
    shutil.copytree(saved, dest)
    return dest


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".rbtmp-" in p.name)


# --- what --overwrite may replace --------------------------------------------------------------


def test_overwrite_never_deletes_a_directory_that_is_not_a_model(
    capsys, data_dir: Path, tmp_path: Path
) -> None:
    """A directory holding a file named config.json is not a model: nothing is removed."""
    mine = tmp_path / "project"
    mine.mkdir()
    (mine / "config.json").write_text('{"learning_rate": 0.1}')
    (mine / "thesis.tex").write_text("years of work")
    res = run_cli(["fit", "baseline", "--out", str(mine), "--overwrite"], capsys, data_dir)
    assert_one_line_error(res, "is not a recbench model directory")
    assert sorted(p.name for p in mine.iterdir()) == ["config.json", "thesis.tex"]


def test_overwrite_refuses_dot_home_root_symlinks_and_files(
    capsys, data_dir: Path, tmp_path: Path, saved: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the working directory, even when it is a model directory
    here = copy_model(saved, tmp_path / "here")
    (here / "notes.txt").write_text("keep me")
    monkeypatch.chdir(here)
    res = run_cli(["fit", "baseline", "--out", ".", "--overwrite"], capsys, data_dir)
    assert_one_line_error(res, "is the working directory")
    assert (here / "notes.txt").read_text() == "keep me" and is_model_dir(here)
    res = run_cli(["fit", "baseline", "--out", "..", "--overwrite"], capsys, data_dir)
    assert_one_line_error(res, "is a directory above the working directory")
    monkeypatch.chdir(tmp_path)
    # the home directory, even when it is a model directory
    home = copy_model(saved, tmp_path / "home")
    monkeypatch.setenv("HOME", str(home))
    res = run_cli(["fit", "baseline", "--out", str(home), "--overwrite"], capsys, data_dir)
    assert_one_line_error(res, "is your home directory")
    assert is_model_dir(home)
    # a symlink to a model directory: neither the link nor its target is replaced
    link = tmp_path / "link"
    link.symlink_to(here)
    res = run_cli(["fit", "baseline", "--out", str(link), "--overwrite"], capsys, data_dir)
    assert_one_line_error(res, "is a symlink")
    assert link.is_symlink() and (here / "notes.txt").exists()
    # an existing file
    note = tmp_path / "model.txt"
    note.write_text("not a directory")
    res = run_cli(["fit", "baseline", "--out", str(note)], capsys, data_dir)
    assert_one_line_error(res, "exists and is a file")
    assert note.read_text() == "not a directory"
    with pytest.raises(UsageError, match="the root directory"):
        check_model_target(Path("/"), overwrite=True)


def test_overwrite_replaces_a_model_directory(
    capsys, data_dir: Path, tmp_path: Path, saved: Path
) -> None:
    target = copy_model(saved, tmp_path / "m")
    res = run_cli(["-q", "--seed", "3", "fit", "popularity", "--out", str(target), "--overwrite"],
                  capsys, data_dir)  # fmt: skip
    assert res.code == 0, res.err
    config = json.loads((target / "config.json").read_text())
    assert config["format"] == MODEL_FORMAT
    assert (config["algorithm"], config["seed"]) == ("popularity", 3)
    assert leftovers(tmp_path) == []


# --- a real kill -9 while a model directory is replaced -----------------------------------------

_DRIVER = textwrap.dedent(
    """
    import os, sys, time
    point, target, marker = sys.argv[1], sys.argv[2], sys.argv[3]
    name = os.path.basename(target)
    real = os.replace

    def pause():
        open(marker, "w").close()
        time.sleep(600)  # the test kills us here with SIGKILL

    def replace(src, dst):
        s, d = os.path.basename(os.fspath(src)), os.path.basename(os.fspath(dst))
        aside = d.startswith("." + name + ".rbtmp-old")
        if point == "staged" and aside:
            pause()  # the new model is fully written, the old one not touched yet
        real(src, dst)
        if point == "aside" and aside:
            pause()  # the old model is set aside, the new one not yet in place
        if point == "swapped" and d == name and s.startswith("." + name + ".rbtmp-"):
            pause()  # the new model is in place, the old one not yet deleted

    os.replace = replace
    from recbench.cli.app import main
    main(["-q", "--seed", "5", "fit", "popularity", "--out", target, "--overwrite"])
    """
)


@pytest.mark.parametrize(("point", "expect_seed"), [("staged", 0), ("aside", 0), ("swapped", 5)])
def test_kill_9_during_replace_leaves_a_valid_model(
    data_dir: Path, tmp_path: Path, saved: Path, point: str, expect_seed: int
) -> None:
    """SIGKILL at each step of a replace: a valid model is at the path afterwards (the old or the
    new one), and the next run removes the leftovers (or puts an old model set aside back)."""
    models = tmp_path / "models"
    models.mkdir()
    target = copy_model(saved, models / "m")  # the old model: baseline, seed 0
    marker = tmp_path / "paused"
    env = {**os.environ, "RECBENCH_DATA": str(data_dir), "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", _DRIVER, point, str(target), str(marker)],
        env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the writer never reached the kill point"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert leftovers(models), "the kill should have left a temporary behind"
    assert target.exists() == (point != "aside")  # set aside: nothing at the path until cleaned

    # the next run (a new process) cleans up and serves a valid model from the path
    done = subprocess.run(
        [sys.executable, "-m", "recbench", "-q", "recommend", "--model", str(target),
         "--user", "1", "-n", "3", "-f", "json"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["items"]) == 3
    assert leftovers(models) == []
    config = json.loads((target / "config.json").read_text())
    assert config["seed"] == expect_seed
    assert config["algorithm"] == ("baseline" if expect_seed == 0 else "popularity")


# --- model directories with invalid contents ---------------------------------------------------


def _rewrite_arrays(model: Path, change) -> None:  # type: ignore[no-untyped-def]
    with np.load(model / "arrays.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    change(arrays)
    with (model / "arrays.npz").open("wb") as fh:
        np.savez(fh, **arrays)


def _nan(arrays: dict) -> None:  # type: ignore[type-arg]
    arrays["bi_"] = np.full_like(arrays["bi_"], np.nan)


def _short_items(arrays: dict) -> None:  # type: ignore[type-arg]
    arrays["bi_"] = arrays["bi_"][:-7]


def _short_users(arrays: dict) -> None:  # type: ignore[type-arg]
    arrays["bu_"] = arrays["bu_"][:5]


@pytest.mark.parametrize(
    ("change", "needle"),
    [(_nan, "contains NaN"), (_short_items, "inconsistent shapes"),
     (_short_users, "inconsistent shapes")],
)  # fmt: skip
def test_invalid_arrays_are_one_line_errors(
    capsys, data_dir: Path, tmp_path: Path, saved: Path, change, needle: str
) -> None:  # type: ignore[no-untyped-def]
    model = copy_model(saved, tmp_path / "m")
    _rewrite_arrays(model, change)
    for args in (["evaluate", "--model", str(model)],
                 ["recommend", "--model", str(model), "--user", "1"]):  # fmt: skip
        assert_one_line_error(run_cli(args, capsys, data_dir), needle)


@pytest.mark.parametrize("seed", ['"abc"', "1.5", "-4", "true", "null"])
def test_non_integer_seed_is_a_one_line_error(
    capsys, data_dir: Path, tmp_path: Path, saved: Path, seed: str
) -> None:
    model = copy_model(saved, tmp_path / "m")
    config = json.loads((model / "config.json").read_text())
    config["seed"] = json.loads(seed)
    (model / "config.json").write_text(json.dumps(config))
    for args in (["evaluate", "--model", str(model)],
                 ["recommend", "--model", str(model), "--user", "1"]):  # fmt: skip
        assert_one_line_error(run_cli(args, capsys, data_dir), "is not a whole number")


def test_manifest_seed_and_fold_are_checked(
    capsys, data_dir: Path, tmp_path: Path, saved: Path
) -> None:
    model = copy_model(saved, tmp_path / "m")
    manifest = json.loads((model / "manifest.json").read_text())
    manifest["seed"] = "zero"
    (model / "manifest.json").write_text(json.dumps(manifest))
    assert_one_line_error(
        run_cli(["evaluate", "--model", str(model)], capsys, data_dir), "is not a whole number"
    )


def test_a_failed_save_keeps_the_old_model_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recbench.algorithms import plugins
    from recbench.errors import ModelDirError
    from recbench.persistence import load_model, save_model

    from .helpers import checkerboard

    model = plugins.make("popularity").fit(checkerboard())
    target = save_model(model, "popularity", {}, tmp_path / "m", {})

    def full(new: Path, target: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("recbench.persistence.replace_dir", full)
    with pytest.raises(ModelDirError, match="No space left on device"):
        save_model(model, "popularity", {}, target, {}, overwrite=True)
    assert leftovers(tmp_path) == [] and load_model(target)[1]["algorithm"] == "popularity"
