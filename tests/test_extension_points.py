"""Extension in one place: a toy split kind, a toy metric of each family, a toy file format and a
toy algorithm, each registered with one call, then run through ``compare``.

Every registration is undone when its test ends (monkeypatch, or the undo that
``recbench.metrics.register`` returns), and the fixture checks that it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recbench import metrics, split
from recbench.algorithms import plugins
from recbench.algorithms.base import AlgoConfig, Recommender
from recbench.data import load_dataset, sources
from recbench.data.formats import FORMATS, Format, ReadOptions
from recbench.data.model import Dataset
from recbench.errors import UsageError
from recbench.evaluation import EvalConfig
from recbench.executors import run_cells
from recbench.experiment import AlgoSpec
from recbench.metrics.beyond import BeyondInfo, BeyondInput
from recbench.metrics.spec import BeyondMetric, RankingMetric, RatingMetric
from tests.helpers import run_cli

N_USERS, N_ITEMS = 30, 20


# --- the toy extensions ---------------------------------------------------------------------


def _assign_every_third(dataset: Dataset, value: float, rng: np.random.Generator) -> np.ndarray:
    """Every third interaction (in stored order) is tested; the rest train."""
    folds = np.full(len(dataset.interactions), split.TRAIN, dtype=np.int32)
    folds[2::3] = 0
    return folds


TOY_SPLIT = split.SplitKind(
    "every-third",
    "none",
    "every third rating held out",
    lambda v, seed: "every third rating held out (toy)",
    _assign_every_third,
)


def _max_error(predicted: np.ndarray, actual: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(predicted, np.float64) - actual)))


def _per_user_max_error(
    users: np.ndarray, predicted: np.ndarray, actual: np.ndarray, n_users: int
) -> np.ndarray:
    out = np.full(n_users, np.nan)
    err = np.abs(np.asarray(predicted, np.float64) - actual)
    seen = np.bincount(users, minlength=n_users) > 0
    out[seen] = 0.0
    np.maximum.at(out, users, err)
    return out


TOY_RATING = RatingMetric(
    name="maxerr",
    label="MaxErr",
    higher_is_better=False,
    help="largest absolute error (toy)",
    overall=_max_error,
    per_user=_per_user_max_error,
)
TOY_RANKING = RankingMetric(
    name="hits",
    label="Hits",
    higher_is_better=True,
    help="relevant items in the top K (toy)",
    at_k=lambda hits, n_relevant, k: hits[:, :k].sum(axis=1).astype(np.float64),
)


def _distinct(x: BeyondInput) -> float:
    items = np.asarray(x.topk)[:, : x.k]
    return float(len(np.unique(items[items >= 0])))


TOY_BEYOND = BeyondMetric(
    name="distinct",
    label="Distinct",
    higher_is_better=True,
    help="distinct items recommended (toy)",
    scope="aggregate",
)
TOY_BEYOND_INFO = BeyondInfo(
    "distinct", "Distinct", True, "aggregate", "distinct items recommended (toy)", _distinct
)


def read_toy_format(path: Path, options: ReadOptions):  # type: ignore[no-untyped-def]
    """A toy format: ``user|item|stars|when`` lines after a ``#`` header."""
    from recbench.data.tabular import Parsed

    frame = pd.read_csv(path, sep="|", comment="#", names=["user", "item", "rating", "timestamp"])
    return Parsed(frame)


TOY_FORMAT = Format("toy-pipes", "file", f"{__name__}:read_toy_format", "toy pipe-separated file")


class ToyMeanConfig(AlgoConfig):
    pass


class ToyMean(Recommender[ToyMeanConfig]):
    """Predicts the training mean for every pair; ranks items by their number of ratings."""

    family = "baseline"
    description = "toy: global mean rating, popularity ranking"
    predicts_ratings = True
    Config = ToyMeanConfig

    def _fit(self, train: Dataset) -> None:
        inter = train.interactions
        self.mean_ = float(np.mean(inter.rating)) if inter.rating is not None else 0.0
        self.counts_ = inter.item_counts().astype(np.float32)

    def score(self, users: np.ndarray) -> np.ndarray:
        self.check_is_fitted()
        return np.tile(self.counts_, (len(users), 1))

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        self.check_is_fitted()
        return np.full(len(users), self.mean_, dtype=np.float32)


TOY_ALGO = EntryPoint("toy-mean", f"{__name__}:ToyMean", plugins.GROUP)


@pytest.fixture
def extensions(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Register every toy extension, one call each; check afterwards that all are gone."""
    monkeypatch.setitem(split.SPLIT_KIND_BY_NAME, TOY_SPLIT.name, TOY_SPLIT)
    monkeypatch.setitem(FORMATS, TOY_FORMAT.name, TOY_FORMAT)
    entries = plugins.entries
    monkeypatch.setattr(plugins, "entries", lambda: {**entries(), TOY_ALGO.name: TOY_ALGO})
    undo = [
        metrics.register(TOY_RATING),
        metrics.register(TOY_RANKING),
        metrics.register(TOY_BEYOND, TOY_BEYOND_INFO),
    ]
    yield
    for u in undo:
        u()
    monkeypatch.undo()
    names = ("maxerr", "hits", "distinct")
    assert not set(names) & set(metrics.METRICS)
    assert not set(names) & {m.name for m in metrics.METRIC_SPECS}
    assert "distinct" not in metrics.BEYOND_NAMES
    assert "every-third" not in split.SPLIT_KIND_BY_NAME and "toy-pipes" not in FORMATS
    assert "toy-mean" not in plugins.entries()


def _ratings() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    pairs = rng.permutation(N_USERS * N_ITEMS)[: N_USERS * N_ITEMS // 2]
    return pd.DataFrame(
        {
            "user": [f"u{p // N_ITEMS}" for p in pairs],
            "item": [f"i{p % N_ITEMS}" for p in pairs],
            "rating": rng.integers(1, 6, len(pairs)).astype(float),
            "timestamp": np.arange(len(pairs)),
        }
    )


def _value(res: pd.DataFrame, algo: str, metric: str, k: int | None = None) -> float:
    rows = res[(res["algorithm"] == algo) & (res["metric"] == metric)]
    if k is not None:
        rows = rows[rows["k"] == k]
    assert len(rows) == 1, (algo, metric, k, len(rows))
    return float(rows["value"].iloc[0])


# --- the tests ------------------------------------------------------------------------------


def test_compare_with_every_toy_extension(extensions: None, tmp_path: Path) -> None:
    frame = _ratings()
    path = tmp_path / "toy.txt"
    lines = [f"{r.user}|{r.item}|{r.rating:g}|{r.timestamp}" for r in frame.itertuples()]
    path.write_text("# user|item|stars|when\n" + "\n".join(lines) + "\n")
    source = sources.Source("toy", "file", path, TOY_FORMAT.name, sources.DatasetSpec(str(path)))
    ds = load_dataset(source, tmp_path / "data")
    assert len(ds.interactions) == len(frame)

    spec = split.parse_split("every-third")
    assert spec.holds_out and not spec.multi_fold and spec.n_folds == 1
    assert "every-third (every third rating held out)" in split.split_help()
    with pytest.raises(UsageError, match="did you mean 'every-third'"):
        split.parse_split("every-thrd")
    config = EvalConfig(ks=(5,), beyond=("distinct", "coverage"))
    res = run_cells(ds, spec, [AlgoSpec("toy-mean"), AlgoSpec("popularity")], 0, config)
    r = res.results

    # the toy split held out every third interaction, and the toy algorithm's mean is the
    # training mean: its largest error is checked against a direct computation
    (sp,) = split.make_splits(ds, spec, 0)
    assert len(sp.test) == len(ds.interactions) // 3
    train_mean = float(np.mean(sp.train.interactions.rating))
    expected = float(np.max(np.abs(np.float32(train_mean) - sp.test.rating)))
    assert _value(r, "toy-mean", "maxerr") == pytest.approx(expected)
    assert _value(r, "toy-mean", "maxerr") >= _value(r, "toy-mean", "mae")
    # toy ranking metric = precision@5 x 5; toy beyond metric = coverage@5 x catalogue size
    for algo in ("toy-mean", "popularity"):
        assert _value(r, algo, "hits", 5) == pytest.approx(5 * _value(r, algo, "precision", 5))
        distinct = _value(r, algo, "distinct", 5)
        assert distinct == pytest.approx(_value(r, algo, "coverage", 5) * ds.interactions.n_items)
    # the toy algorithm ranks by training counts, as popularity does
    assert _value(r, "toy-mean", "hits", 5) == pytest.approx(_value(r, "popularity", "hits", 5))


def test_cli_compare_shows_the_toy_extensions(extensions: None, capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "toy.csv"
    _ratings().to_csv(path, index=False)
    args = ["compare", "-d", str(path), "--algos", "toy-mean,popularity", "--split"]
    args += ["every-third", "--metrics", "rmse,maxerr,hits,distinct", "--k", "5", "--no-store"]
    res = run_cli(args, capsys, tmp_path / "data")
    assert res.code == 0, res.err
    for shown in ("MaxErr", "Hits@5", "Distinct@5", "toy-mean", "every third rating held out"):
        assert shown in res.out, shown


def test_a_registered_metric_name_is_refused_twice(extensions: None) -> None:
    with pytest.raises(UsageError, match="already registered"):
        metrics.register(TOY_RATING)


def test_worker_preload_follows_the_plugin_table(extensions: None) -> None:
    """The fork server's preload list comes from the plugin table: a registered extra-free
    algorithm is on it, torch algorithms (``extra = "deep"``) are not."""
    from recbench.algorithms.preload import worker_modules

    mods = worker_modules()
    assert __name__ in mods  # the toy algorithm's module
    assert "recbench.algorithms.ease" in mods and "surprise" in mods
    assert not {
        "torch",
        "recbench.algorithms.neural.ncf",
        "recbench.algorithms.two_tower.model",
    } & set(mods)
