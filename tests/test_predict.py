"""`recbench predict --model DIR --user U --item I`: one rating from a saved rating model, by raw
id (as Surprise's ``predict``), and one-line errors for what it cannot answer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from recbench import serving
from recbench.algorithms import plugins
from recbench.errors import UsageError
from recbench.persistence import load_model

from .helpers import make_dataset, run_cli
from .test_cli import assert_one_line_error

#: string ids whose sorted (dense) order differs from the file's
USERS = ["zoe", "adam", "mia", "bob", "eve", "kai"]
ITEMS = ["i9", "i1", "i5", "i3", "i7", "i2", "i8"]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small ratings file with string ids and three unrated pairs."""
    rng = np.random.default_rng(3)
    rows = [
        (u, i, float(rng.integers(1, 6)))
        for u in USERS
        for i in ITEMS
        if (u, i) not in {("zoe", "i8"), ("kai", "i9"), ("mia", "i2")}
    ]
    path = tmp_path_factory.mktemp("predict") / "r.csv"
    path.write_text("user,item,rating\n" + "".join(f"{u},{i},{r:g}\n" for u, i, r in rows))
    return {"csv": path}


def _fit(capsys, csv: Path, algo: str, target: Path, data: Path) -> None:  # type: ignore[no-untyped-def]
    res = run_cli(
        ["fit", algo, "-d", str(csv), "--split", "none", "--out", str(target)], capsys, data
    )
    assert res.code == 0, res.err


def test_predict_one_rating_by_raw_ids(capsys, tmp_path: Path, models: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]
    csv, data = models["csv"], tmp_path / "data"
    _fit(capsys, csv, "baseline", tmp_path / "m", data)
    fitted, _, _ = load_model(tmp_path / "m")
    # the model's own estimate for the unrated pair (zoe, i8), found by dense index
    users, items = sorted(USERS), sorted(ITEMS)
    expected = float(
        fitted.predict(np.array([users.index("zoe")]), np.array([items.index("i8")]))[0]
    )
    res = run_cli(
        ["predict", "-m", str(tmp_path / "m"), "-u", "zoe", "-i", "i8", "-f", "json"], capsys, data
    )
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    assert (doc["user"], doc["item"], doc["algorithm"]) == ("zoe", "i8", "baseline")
    assert doc["rating"] == pytest.approx(expected, abs=1e-6)
    assert 1.0 <= doc["rating"] <= 5.0
    assert doc["training_rating"] is None and doc["fallback"] is False
    # a rated pair: the training rating is the file's
    rated = {
        tuple(line.split(",")[:2]): float(line.split(",")[2])
        for line in csv.read_text().split()[1:]
    }
    res = run_cli(
        ["predict", "-m", str(tmp_path / "m"), "-u", "bob", "-i", "i3", "-f", "json"], capsys, data
    )
    assert json.loads(res.out)["training_rating"] == rated[("bob", "i3")]
    table = run_cli(["predict", "-m", str(tmp_path / "m"), "-u", "zoe", "-i", "i8"], capsys, data)
    assert table.code == 0 and f"{expected:.4f}" in table.out


def test_predict_errors_are_one_line(capsys, tmp_path: Path, models: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]
    csv, data = models["csv"], tmp_path / "data"
    _fit(capsys, csv, "baseline", tmp_path / "m", data)
    _fit(capsys, csv, "popularity", tmp_path / "pop", data)
    m = ["predict", "-m", str(tmp_path / "m")]
    assert_one_line_error(
        run_cli([*m, "-u", "nobody", "-i", "i1"], capsys, data), "user 'nobody' is not in dataset"
    )
    assert_one_line_error(
        run_cli([*m, "-u", "zoe", "-i", "i99"], capsys, data), "item 'i99' is not in dataset"
    )
    assert_one_line_error(
        run_cli([*m, "-u", "zoe", "-i", "i1", "-f", "csv"], capsys, data), "table or json"
    )
    pop = ["predict", "-m", str(tmp_path / "pop"), "-u", "zoe", "-i", "i1"]
    assert_one_line_error(
        run_cli(pop, capsys, data), "popularity ranks items and does not predict ratings"
    )
    assert_one_line_error(
        run_cli(["predict", "-m", str(tmp_path / "none"), "-u", "zoe", "-i", "i1"], capsys, data),
        "not found",
    )


def test_fallback_for_a_user_without_training_ratings() -> None:
    """User 3 is in the dataset but not in the training part: the estimate is the fallback."""
    users = [0, 0, 1, 1, 2, 2, 3]
    items = [0, 1, 1, 2, 0, 2, 1]
    ratings = [5, 3, 4, 2, 1, 4, 5]
    ds = make_dataset(users, items, ratings)
    train = ds.interactions.subset(np.array(users) != 3)
    model = plugins.make("baseline", {}, seed=0).fit(ds.with_interactions(train))
    p = serving.predict_rating(model, "baseline", ds, train, "3", "1")
    assert p.fallback and p.training_rating is None and p.user == 3
    q = serving.predict_rating(model, "baseline", ds, train, "0", "1")
    assert not q.fallback and q.training_rating == 3.0
    with pytest.raises(UsageError, match="does not predict ratings"):
        ranker = plugins.make("popularity", {}, seed=0).fit(ds.with_interactions(train))
        serving.predict_rating(ranker, "popularity", ds, train, "0", "1")
