"""Synthetic data: exact counts, distinct pairs, planted structure, determinism, registration."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recbench.data import synth
from recbench.data.synth import SynthConfig, generate, synth_dataset, user_counts
from recbench.errors import UsageError

from .helpers import run_cli

SMALL = SynthConfig(n_users=600, n_items=400, n_ratings=30_000, seed=3)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate(SMALL)


def test_exact_counts_and_distinct_pairs(frame: pd.DataFrame) -> None:
    assert len(frame) == SMALL.n_ratings
    assert not frame.duplicated(["user", "item"]).any()
    per_user = frame.groupby("user").size()
    assert len(per_user) == SMALL.n_users
    assert per_user.min() >= SMALL.min_user_ratings
    assert per_user.max() <= SMALL.user_cap
    assert frame["item"].between(1, SMALL.n_items).all()
    assert list(frame.dtypes.astype(str)) == ["int32", "int32", "float32", "int64"]


def test_ratings_on_scale_and_step(frame: pd.DataFrame) -> None:
    r = frame["rating"].to_numpy()
    assert r.min() >= 1.0 and r.max() <= 5.0
    assert np.allclose(r * 2, np.round(r * 2))
    assert 3.2 < r.mean() < 3.9  # MovieLens-like centre
    assert len(np.unique(r)) == 9


def test_popularity_power_law_and_activity_skew(frame: pd.DataFrame) -> None:
    items = frame["item"].value_counts().to_numpy()
    top = items[: len(items) // 10].sum() / items.sum()
    assert top > 0.3  # the top 10% of items take far more than 10% of ratings
    users = frame.groupby("user").size().to_numpy()
    assert users.mean() > np.median(users)  # right-skewed (log-normal) activity


def test_timestamps_within_span(frame: pd.DataFrame) -> None:
    ts = frame["timestamp"].to_numpy()
    assert ts.min() >= SMALL.start
    assert ts.max() <= SMALL.start + SMALL.span_days * 86_400


def test_planted_low_rank_signal(frame: pd.DataFrame) -> None:
    """A rank-16 fit explains ratings beyond user and item means (the planted model)."""
    m = np.zeros((SMALL.n_users, SMALL.n_items))
    u, i, r = frame["user"] - 1, frame["item"] - 1, frame["rating"].to_numpy(np.float64)
    mu = r.mean()
    bu = pd.Series(r - mu).groupby(u.to_numpy()).mean().reindex(range(SMALL.n_users)).to_numpy()
    resid = r - mu - bu[u]
    m[u, i] = resid
    s = np.linalg.svd(m, compute_uv=False)
    noise = np.linalg.svd(np.random.default_rng(0).permutation(m.ravel()).reshape(m.shape))[1]
    assert s[0] > 1.5 * noise[0]


def test_deterministic_and_seeded(frame: pd.DataFrame) -> None:
    assert generate(SMALL).equals(frame)
    other = generate(SynthConfig(n_users=600, n_items=400, n_ratings=30_000, seed=4))
    assert not other.equals(frame)


def test_user_counts_sum_exactly_within_bounds() -> None:
    cfg = SynthConfig(n_users=1000, n_items=50, n_ratings=20_000, min_user_ratings=3)
    n = user_counts(cfg, np.random.default_rng(0))
    assert n.sum() == 20_000 and n.min() >= 3 and n.max() <= cfg.user_cap


def test_dense_users_fill_deep_into_the_tail() -> None:
    """Users needing most of a steep power-law catalogue still get exactly their count."""
    cfg = SynthConfig(
        n_users=20, n_items=100, n_ratings=1900, popularity_exponent=2.0, max_user_share=1.0
    )
    df = generate(cfg)
    assert len(df) == 1900 and not df.duplicated(["user", "item"]).any()


def test_chunked_generation_is_memory_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synth, "CHUNK_RATINGS", 2_000)
    chunks = list(synth.generate_chunks(SMALL))
    assert len(chunks) > 10
    assert max(len(c) for c in chunks) <= 2_000 + SMALL.user_cap
    whole = pd.concat(chunks, ignore_index=True)
    assert len(whole) == SMALL.n_ratings and not whole.duplicated(["user", "item"]).any()


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"n_users": 0}, "n-users must be positive"),
        ({"n_ratings": 10}, "at least 5 each"),
        ({"n_ratings": 10**7}, "do not fit"),
        ({"min_user_ratings": 500}, "more than the 400 items"),
    ],
)
def test_bad_parameters(kwargs: dict, words: str) -> None:  # type: ignore[type-arg]
    base = {"n_users": 600, "n_items": 400, "n_ratings": 30_000}
    with pytest.raises(UsageError, match=words):
        SynthConfig(**{**base, **kwargs})


def test_registered_with_manifest_and_features(tmp_path: Path) -> None:
    cfg = SynthConfig(n_users=200, n_items=100, n_ratings=5_000, item_features=True)
    record, ds = synth_dataset("syn", cfg, tmp_path)
    assert record.format == "parquet" and len(ds.interactions) == 5_000
    assert ds.item_features is not None and {"title", "genres"} <= set(ds.item_features)
    manifest = json.loads((synth.synth_dir(tmp_path, "syn") / synth.MANIFEST).read_text("utf-8"))
    assert manifest is not None and manifest["parameters"] == cfg.to_dict()
    with pytest.raises(UsageError, match="already registered"):
        synth_dataset("syn", cfg, tmp_path)


def test_cli_synth_then_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["datasets", "synth", "toy", "--users", "150", "--items", "80", "--ratings", "4000"]
    res = run_cli([*args, "--item-features", "--seed", "1"], capsys, tmp_path)
    assert res.code == 0, res.err
    doc = json.loads((tmp_path / "synthetic" / "toy" / "synth.json").read_text())
    assert doc["parameters"]["seed"] == 1 and doc["parameters"]["n_ratings"] == 4000
    res = run_cli(
        ["compare", "--dataset", "toy", "--algos", "popularity,content"], capsys, tmp_path
    )
    assert res.code == 0, res.err
    assert "popularity" in res.out and "content" in res.out
    res = run_cli([*args[:3], "--users", "0"], capsys, tmp_path)
    assert res.code == 2 and "n-users must be positive" in res.err
