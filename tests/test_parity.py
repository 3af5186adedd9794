"""Published reference numbers on ml-100k (skipped when ../shared/datasets/ml-100k is absent)."""

from __future__ import annotations

import pytest

from recbench.data import DatasetSpec, load_dataset
from recbench.evaluation import EvalConfig
from recbench.experiment import AlgoSpec, run_experiment
from recbench.split import parse_split

from .helpers import ML100K

pytestmark = [
    pytest.mark.ml100k,
    pytest.mark.skipif(not ML100K.exists(), reason="ml-100k not present in ../shared/datasets"),
]


def test_ml100k_loads_as_published() -> None:
    ds = load_dataset(DatasetSpec(str(ML100K), "user,item,rating,timestamp", "\\t"))
    assert (len(ds.interactions), ds.n_users, ds.n_items) == (100_000, 943, 1_682)
    assert ds.rating_scale == (1.0, 5.0)


def test_surprise_published_5fold_figures() -> None:
    """Surprise README, 5-fold CV: SVD 0.934 / 0.737, BaselineOnly 0.944 (+- 0.004)."""
    ds = load_dataset(DatasetSpec(str(ML100K), "user,item,rating,timestamp", "\\t"))
    res = run_experiment(
        ds, parse_split("kfold:5"), [AlgoSpec("svd"), AlgoSpec("baseline")], 0, EvalConfig()
    )
    s = res.summary().set_index(["algorithm", "metric"])["mean"]
    assert s[("svd", "rmse")] == pytest.approx(0.934, abs=0.004)
    assert s[("svd", "mae")] == pytest.approx(0.737, abs=0.004)
    assert s[("baseline", "rmse")] == pytest.approx(0.944, abs=0.004)
    assert s[("baseline", "mae")] == pytest.approx(0.748, abs=0.004)
