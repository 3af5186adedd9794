"""A third-party algorithm plugs in through the entry-point table, like the built-ins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PLUGIN = '''
"""A throw-away third-party recbench plugin: item mean rating."""
from typing import ClassVar

import numpy as np
from pydantic import Field

from recbench.algorithms.base import AlgoConfig, Recommender


class ItemMeanConfig(AlgoConfig):
    shrink: float = Field(5.0, ge=0)


class ItemMean(Recommender):
    family = "third-party"
    description = "Shrunk item mean rating"
    source = "rb-thirdparty"
    predicts_ratings = True
    Config = ItemMeanConfig
    state_attrs: ClassVar[tuple[str, ...]] = ("means_",)

    def _fit(self, train):
        inter = train.interactions
        mu = inter.rating.mean()
        sums = np.bincount(inter.item, weights=inter.rating, minlength=self.n_items_)
        counts = np.bincount(inter.item, minlength=self.n_items_)
        self.means_ = (sums + self.config.shrink * mu) / (counts + self.config.shrink)

    def score(self, users):
        return np.tile(self.means_.astype(np.float32), (len(users), 1))

    def predict(self, users, items):
        return self.clip(self.means_[items])
'''


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("site")
    (root / "rb_thirdparty.py").write_text(textwrap.dedent(PLUGIN))
    dist = root / "rb_thirdparty-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: rb-thirdparty\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[recbench.algorithms]\n"
        "itemmean = rb_thirdparty:ItemMean\n"
        "broken = rb_thirdparty:DoesNotExist\n"
    )
    return root


def run(args: list[str], plugin_path: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(plugin_path), RECBENCH_DATA=str(tmp_path))
    return subprocess.run(
        [sys.executable, "-m", "recbench", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_plugin_runs_through_compare(plugin_path: Path, tmp_path: Path) -> None:
    res = run(
        ["-q", "compare", "--algos", "itemmean,baseline", "--param", "itemmean.shrink=2",
         "--format", "json"],
        plugin_path,
        tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    algos = {a["name"]: a for a in json.loads(res.stdout)["algorithms"]}
    assert algos["itemmean"]["params"] == {"shrink": 2.0}
    assert 0.8 < algos["itemmean"]["metrics"]["rmse"]["mean"] < 1.2
    assert "ndcg@10" in algos["itemmean"]["metrics"]


def test_plugin_listed_and_validated(plugin_path: Path, tmp_path: Path) -> None:
    res = run(["algorithms", "--format", "json"], plugin_path, tmp_path)
    assert res.returncode == 0, res.stderr
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert rows["itemmean"]["package"] == "rb-thirdparty"
    assert rows["itemmean"]["params"] == {"shrink": 5.0}
    assert rows["broken"]["available"] is False
    assert "failed to load" in rows["broken"]["install"]
    bad = run(["compare", "--algos", "itemmean", "--param", "shrink=-1"], plugin_path, tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: parameter 'shrink' of itemmean")
    broken = run(["compare", "--algos", "broken"], plugin_path, tmp_path)
    assert broken.returncode == 2
    assert "algorithm 'broken'" in broken.stderr and "failed to load" in broken.stderr
    assert "Traceback" not in broken.stderr
