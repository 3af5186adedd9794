"""Same numbers: the data redesign of issue 23 changes no result.

The metrics below were computed with the code before the redesign (commit 13ba331, on top of
3b67d4e), full precision, by ``recbench compare --split S --k 10 --format json`` on the bundled
ml-latest-small (seed 0); popularity and baseline keep the test fast, and baseline's RMSE
moves with any change of the training rows. Every splitter draws over the rows in the order
the dataset holds them, so a change of row order, duplicate handling or id maps would move
these numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import run_cli

EXPECTED: dict[str, dict[str, dict[str, float]]] = {
    "holdout:0.2": {
        "popularity": {
            "precision@10": 0.15779967159277505,
            "recall@10": 0.07176721768646582,
            "ndcg@10": 0.18862881967969816,
            "map@10": 0.1074500392202128,
            "mrr@10": 0.37895978314697526,
            "hitrate@10": 0.6157635467980296,
        },
        "baseline": {
            "precision@10": 0.09638752052545156,
            "recall@10": 0.04127390927510412,
            "ndcg@10": 0.10541562565131296,
            "map@10": 0.050046321636359956,
            "mrr@10": 0.22032866786561367,
            "hitrate@10": 0.4794745484400657,
            "rmse": 0.8721333747484944,
            "mae": 0.669043611627782,
        },
    },
    "kfold:3": {
        "popularity": {
            "precision@10": 0.22983606557377054,
            "recall@10": 0.06979207247727381,
            "ndcg@10": 0.25588993529216925,
            "map@10": 0.1566485463847551,
            "mrr@10": 0.4634395871281117,
            "hitrate@10": 0.726775956284153,
        },
        "baseline": {
            "precision@10": 0.14814207650273223,
            "recall@10": 0.04159453205549265,
            "ndcg@10": 0.16727436764397596,
            "map@10": 0.08867099813513747,
            "mrr@10": 0.3594019429265331,
            "hitrate@10": 0.6054644808743169,
            "rmse": 0.8766731322122006,
            "mae": 0.6768458973406668,
        },
    },
    "user-holdout:0.2": {
        "popularity": {
            "precision@10": 0.15721311475409838,
            "recall@10": 0.07315461386148177,
            "ndcg@10": 0.183805740842899,
            "map@10": 0.10340962541665116,
            "mrr@10": 0.3617089513400989,
            "hitrate@10": 0.6360655737704918,
        },
        "baseline": {
            "precision@10": 0.09622950819672131,
            "recall@10": 0.04106098881796041,
            "ndcg@10": 0.11481338311050482,
            "map@10": 0.05614289379990005,
            "mrr@10": 0.2631349206349206,
            "hitrate@10": 0.48032786885245904,
            "rmse": 0.868219126681427,
            "mae": 0.6720813439729975,
        },
    },
    "temporal:0.2": {
        "popularity": {
            "precision@10": 0.1,
            "recall@10": 0.029249414977110307,
            "ndcg@10": 0.10992540345431391,
            "map@10": 0.0693764172335601,
            "mrr@10": 0.20946712018140587,
            "hitrate@10": 0.35714285714285715,
        },
        "baseline": {
            "precision@10": 0.09285714285714286,
            "recall@10": 0.01907845238347652,
            "ndcg@10": 0.09823015725664383,
            "map@10": 0.04806122448979592,
            "mrr@10": 0.2130952380952381,
            "hitrate@10": 0.39285714285714285,
            "rmse": 1.0160777166833925,
            "mae": 0.7864311309363696,
        },
    },
    "last:1": {
        "popularity": {
            "precision@10": 0.004098360655737705,
            "recall@10": 0.040983606557377046,
            "ndcg@10": 0.019318342527362063,
            "map@10": 0.012736143637782983,
            "mrr@10": 0.012736143637782983,
            "hitrate@10": 0.040983606557377046,
        },
        "baseline": {
            "precision@10": 0.002622950819672131,
            "recall@10": 0.02622950819672131,
            "ndcg@10": 0.013759659083714149,
            "map@10": 0.010099531615925058,
            "mrr@10": 0.010099531615925058,
            "hitrate@10": 0.02622950819672131,
            "rmse": 0.9791361629531233,
            "mae": 0.7570891435029077,
        },
    },
    "user-cold:0.1": {
        "popularity": {
            "precision@10": 0.1442622950819672,
            "recall@10": 0.10187071713148806,
            "ndcg@10": 0.1743061903942122,
            "map@10": 0.08914643817454121,
            "mrr@10": 0.35264116575591986,
            "hitrate@10": 0.639344262295082,
        },
        "baseline": {},
    },
    "item-cold:0.1": {
        "popularity": {},
        "baseline": {},
    },
}


@pytest.mark.parametrize("split", list(EXPECTED))
def test_same_metrics_as_before_the_redesign(split: str, capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    algos = ",".join(EXPECTED[split])
    args = ["-q", "compare", "--algos", algos, "--split", split, "--k", "10", "--format", "json"]
    res = run_cli(args, capsys, tmp_path)
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    got = {a["name"]: {m: v["mean"] for m, v in a["metrics"].items()} for a in doc["algorithms"]}
    assert set(got) == set(EXPECTED[split])
    for algo, metrics in EXPECTED[split].items():
        assert set(got[algo]) == set(metrics), algo
        for metric, value in metrics.items():
            assert got[algo][metric] == pytest.approx(value, rel=0, abs=1e-9), (algo, metric)
