"""Two-tower model and ANN retrieval: shapes, learning, determinism, persistence, inductive use."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recbench.persistence import load_model, save_model

from .helpers import checkerboard

pytest.importorskip("torch")

from recbench.algorithms.two_tower import TwoTowerConfig, TwoTowerRecommender
from recbench.algorithms.two_tower.features import encode_items
from recbench.algorithms.two_tower.network import build_net

#: small and fast on a 40 x 30 checkerboard; the two groups separate within a few epochs
SMALL: dict[str, Any] = {
    "dim": 16,
    "hidden": 32,
    "batch_size": 64,
    "epochs": 15,
    "patience": 15,
    "id_dropout": 0.3,
}
HALF = 15


def fit(ds, seed: int = 0, **params) -> TwoTowerRecommender:  # type: ignore[no-untyped-def]
    model = TwoTowerRecommender(TwoTowerConfig.model_validate({**SMALL, **params}), seed=seed)
    model.fit(ds)
    return model


@pytest.fixture(scope="module")
def model(board) -> TwoTowerRecommender:  # type: ignore[no-untyped-def]
    return fit(board)


def own_half_share(recs: np.ndarray, users: np.ndarray) -> float:
    own = np.where((users % 2 == 0)[:, None], recs < HALF, recs >= HALF)
    return float(own.mean())


def test_towers_give_unit_vectors_of_the_configured_size() -> None:
    import torch

    cfg = TwoTowerConfig.model_validate({"dim": 8, "hidden": 12, "hash_buckets": 64})
    net = build_net(5, 7, 3, 4, cfg)
    users = net.users(
        torch.tensor([0, 1, 5]),
        torch.tensor([[1, 3], [0, 0], [2, 4]]),
        torch.tensor([[1, 2, 0], [0, 0, 0], [7, 0, 0]]),
    )
    items = net.items(
        torch.tensor([0, 3, 7, 1]),
        torch.tensor([[1, 2], [0, 0], [3, 0], [1, 0]]),
        torch.tensor([0, 5, 15, 2]),
        torch.tensor([[4, 9], [0, 0], [64, 1], [2, 0]]),
    )
    assert users.shape == (3, 8) and items.shape == (4, 8)
    np.testing.assert_allclose(users.norm(dim=1).detach().numpy(), 1.0, atol=1e-5)
    np.testing.assert_allclose(items.norm(dim=1).detach().numpy(), 1.0, atol=1e-5)


def test_fitted_vectors_are_unit_and_scores_are_cosines(model, board) -> None:  # type: ignore[no-untyped-def]
    assert model.item_emb_.shape == (board.n_items, 16)
    assert model.user_emb_.shape == (board.n_users, 16)
    np.testing.assert_allclose(np.linalg.norm(model.item_emb_, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(model.user_emb_, axis=1), 1.0, atol=1e-5)
    scores = model.score(np.arange(board.n_users))
    assert scores.shape == (board.n_users, board.n_items) and scores.dtype == np.float32
    assert np.all(np.abs(scores) <= 1.0 + 1e-5)


def test_loss_decreases_and_the_checkerboard_is_learned(model, board) -> None:  # type: ignore[no-untyped-def]
    loss = model.train_log_[:, 0]
    assert len(loss) == SMALL["epochs"]
    assert loss[-3:].mean() < 0.9 * loss[0]
    users = np.arange(board.n_users)
    recs, _ = model.recommend(users, 3, exclude=board.interactions.csr("binary"))
    assert own_half_share(recs, users) >= 0.95


def test_same_seed_same_scores_and_torch_rng_untouched(model, board) -> None:  # type: ignore[no-untyped-def]
    import torch

    torch.manual_seed(123)
    expected_draw = torch.rand(3)
    torch.manual_seed(123)
    again = fit(board)
    assert torch.equal(torch.rand(3), expected_draw)  # the fit forked the global RNG
    users = np.arange(board.n_users)
    np.testing.assert_array_equal(again.score(users), model.score(users))
    other = fit(board, seed=1)
    assert not np.array_equal(other.score(users), model.score(users))


def test_progress_callback_reports_each_epoch(board) -> None:  # type: ignore[no-untyped-def]
    calls: list[tuple[int, int, float]] = []
    m = TwoTowerRecommender(TwoTowerConfig.model_validate({**SMALL, "epochs": 3}), seed=0)
    m.fit(board, progress=lambda e, n, loss: calls.append((e, n, loss)))
    assert [(e, n) for e, n, _ in calls] == [(1, 3), (2, 3), (3, 3)]
    assert all(np.isfinite(loss) for *_, loss in calls)
    assert m.progress is None  # the callback is not kept on the model
    with pytest.raises(AttributeError):
        m.progress = print  # type: ignore[misc]  # progress goes to fit, not onto the model


def test_early_stopping_keeps_the_best_epoch(board) -> None:  # type: ignore[no-untyped-def]
    m = fit(board, epochs=40, patience=2, val_fraction=0.1)
    val = m.train_log_[:, 1]
    assert len(val) < 40 or np.argmax(val) < 38
    assert int(m.best_epoch_) == int(np.argmax(val)) + 1  # first best epoch is kept
    no_val = fit(board, epochs=4, val_fraction=0.0)
    assert len(no_val.train_log_) == 4 and np.all(np.isnan(no_val.train_log_[:, 1]))


@pytest.fixture
def registered(monkeypatch):  # type: ignore[no-untyped-def]
    """The ``two-tower`` entry point, as pyproject.toml registers it (also before it does)."""
    from importlib.metadata import EntryPoint

    from recbench.algorithms import plugins

    table = plugins.entries()
    if "two-tower" not in table:
        value = "recbench.algorithms.two_tower:TwoTowerRecommender"
        table["two-tower"] = EntryPoint("two-tower", value, plugins.GROUP)
        monkeypatch.setattr(plugins, "entries", lambda: dict(sorted(table.items())))


def test_state_round_trip_through_a_model_directory(model, board, tmp_path, registered) -> None:  # type: ignore[no-untyped-def]
    users = np.arange(board.n_users)
    path = save_model(model, "two-tower", dict(SMALL), tmp_path / "tt", {"note": "test"})
    with np.load(path / "arrays.npz", allow_pickle=False) as npz:
        state = {k: npz[k] for k in npz.files}
    assert any(k.startswith("net__") for k in state)
    loaded, config, _ = load_model(path)
    assert config["algorithm"] == "two-tower" and isinstance(loaded, TwoTowerRecommender)
    np.testing.assert_array_equal(loaded.score(users), model.score(users))
    # Saving a loaded model before its network is rebuilt writes the same arrays again.
    again = loaded.get_state()
    assert set(again) == set(state)
    for key, value in state.items():
        np.testing.assert_array_equal(again[key], value)
    # The network itself survives: inductive embeddings agree after the load.
    feats = board.item_features.iloc[:5]
    np.testing.assert_allclose(
        loaded.embed_items_from_features(feats), model.embed_items_from_features(feats), atol=1e-6
    )
    hist = board.interactions.csr("rating")[:4]
    np.testing.assert_allclose(loaded.score_history(hist), model.score_history(hist), atol=1e-6)
    # A config that does not match the saved weights fails at load time, naming the weight.
    with pytest.raises(ValueError, match="shape"):
        TwoTowerRecommender(TwoTowerConfig.model_validate({**SMALL, "dim": 8})).set_state(state)
    bad = {k: v for k, v in state.items() if not k.startswith("net__")}
    with pytest.raises(KeyError, match="network weights"):
        TwoTowerRecommender(TwoTowerConfig.model_validate(SMALL)).set_state(bad)


def test_unrated_item_is_scored_from_its_features(board) -> None:  # type: ignore[no-untyped-def]
    """Item 1 ('alpha') has no training interactions: alpha users still rank it above every
    'beta' item, from its genre alone."""
    inter = board.interactions
    ds = board.with_interactions(inter.subset(inter.item != 1))
    m = fit(ds, epochs=25, patience=25, id_dropout=0.3)
    assert not m.item_known_[1]
    alpha_users = np.arange(0, board.n_users, 2)
    scores = m.score(alpha_users)
    assert np.all(np.isfinite(scores))
    beta_best = scores[:, HALF:].max(axis=1)
    assert (scores[:, 1] > beta_best).mean() >= 0.95
    # A brand-new item described only by features lands on the alpha side too.
    new = pd.DataFrame(
        {"title": ["Newcomer (1991)"], "year": [1991], "genres": ["alpha"], "tags": [""]}
    )
    vec = m.embed_items_from_features(new)[0]
    np.testing.assert_allclose(np.linalg.norm(vec), 1.0, atol=1e-5)
    new_scores = m.user_emb_[alpha_users] @ vec
    assert (new_scores > beta_best).mean() >= 0.95


def history_rows(histories: list[list[int]], n_items: int = 30) -> sp.csr_array:
    """One binary row per history (the generic ``score_history`` / ``history_vectors`` input)."""
    rows = np.repeat(np.arange(len(histories)), [len(h) for h in histories])
    cols = np.array([i for h in histories for i in h], dtype=np.int64)
    return sp.csr_array((np.ones(len(cols)), (rows, cols)), shape=(len(histories), n_items))


def test_unseen_user_from_history(model, board) -> None:  # type: ignore[no-untyped-def]
    """Histories are served through the generic methods every cold-user model has."""
    assert not hasattr(model, "recommend_for_history")  # one history path, not two
    assert not hasattr(model, "embed_user_from_history")
    rows = history_rows([[16, 18, 20, 22], [0, 2, 4]])  # beta items, alpha items
    vec = model.history_vectors(rows)
    np.testing.assert_allclose(np.linalg.norm(vec, axis=1), 1.0, atol=1e-5)
    scores = model.score_history(rows)
    np.testing.assert_allclose(scores, vec @ model.item_emb_.T, atol=1e-6)
    best = np.argsort(-np.where(rows.toarray() > 0, -np.inf, scores), axis=1)[:, :5]
    assert np.all(best[0] >= HALF) and np.all(best[1] < HALF)
    # score_history: one row per history, full catalogue
    hist = board.interactions.csr("rating")[:6]
    s = model.score_history(hist)
    assert s.shape == (6, board.n_items) and np.all(np.isfinite(s))
    recs = np.argsort(-np.where(hist.toarray() > 0, -np.inf, s), axis=1)[:, :3]
    assert own_half_share(recs, np.arange(6)) >= 0.95


def test_user_features_reach_a_user_without_history(board) -> None:  # type: ignore[no-untyped-def]
    """Users 0 and 1 have no interactions; their demographics (which match the groups) decide
    which half they are offered. Without user features the model still scores them."""
    n = board.n_users
    groups = np.where(np.arange(n) % 2 == 0, "F", "M")
    feats = pd.DataFrame({"age": 20 + np.arange(n) % 7, "gender": groups, "zip": "00000"})
    inter = board.interactions
    ds = replace(board.with_interactions(inter.subset(inter.user > 1)), user_features=feats)
    m = fit(ds, epochs=25, patience=25, id_dropout=0.5)
    assert list(m.user_cols_) == ["age", "gender"]
    s = m.score(np.array([0, 1]))
    assert s[0, :HALF].mean() > s[0, HALF:].mean()
    assert s[1, HALF:].mean() > s[1, :HALF].mean()
    empty = sp.csr_array((1, board.n_items))
    vec = m.embed_histories(empty, pd.DataFrame([{"gender": "M", "age": 30}]))[0]
    assert (m.item_emb_ @ vec)[HALF:].mean() > (m.item_emb_ @ vec)[:HALF].mean()


def test_item_encoding_handles_missing_and_unknown_features() -> None:
    frame = pd.DataFrame(
        {
            "title": ["A Film (1995)", "", "Old One (1888)"],
            "genres": ["Comedy|Drama", "", "Western"],
            "tags": ["cult", "", ""],
        }
    )
    genres, decade, words = encode_items(frame, 3, np.array(["comedy", "drama"]), 128)
    assert genres.tolist() == [[1, 2], [0, 0], [0, 0]]  # 'western' is not in the vocabulary
    assert decade.tolist() == [11, 0, 1]
    assert (words[0] > 0).sum() == 3 and (words[1] == 0).all() and words.max() <= 128
    g, d, w = encode_items(None, 2, np.array([], dtype=str), 16)
    assert g.shape == (2, 1) and not g.any() and not d.any() and not w.any()
    # Hashing is stable across processes (pandas' keyed hash, not Python's salted hash()).
    code = "from recbench.algorithms.two_tower.features import hash_tokens; import numpy as np;"
    code += "print(hash_tokens(np.array(['w:film', 't:cult'], dtype=object), 1 << 14).tolist())"
    out = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        for _ in range(2)
    ]
    assert out[0].stdout == out[1].stdout


def test_importing_recbench_does_not_import_torch() -> None:
    code = (
        "import sys, recbench, recbench.algorithms.two_tower, recbench.algorithms.ann;"
        "print('torch' in sys.modules, 'hnswlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_ann_index_finds_the_exact_top10() -> None:
    pytest.importorskip("hnswlib")
    from recbench.algorithms.ann import AnnIndex, exact_search, recall_at_k

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(20, 32))
    items = centres[rng.integers(0, 20, 5000)] + 0.5 * rng.normal(size=(5000, 32))
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    queries = rng.normal(size=(200, 32)).astype(np.float32)
    exact_ids, exact_scores = exact_search(items, queries, 10)
    index = AnnIndex(seed=0).build(items)
    ids, scores = index.query(queries, 10)
    assert ids.shape == scores.shape == (200, 10)
    assert recall_at_k(ids, exact_ids) >= 0.95
    np.testing.assert_allclose(
        scores, np.take_along_axis(queries @ items.T.astype(np.float32), ids, 1), atol=1e-4
    )
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first
    again, _ = AnnIndex(seed=0).build(items).query(queries, 10)
    np.testing.assert_array_equal(again, ids)  # one build thread: reproducible
    brute_ids, brute_scores = AnnIndex("exact").build(items).query(queries, 10)
    np.testing.assert_array_equal(brute_ids, exact_ids)
    np.testing.assert_array_equal(brute_scores, exact_scores)
    assert recall_at_k(brute_ids, exact_ids) == 1.0
    assert recall_at_k(exact_ids[:, ::-1], exact_ids) == 1.0
    assert recall_at_k(np.full_like(exact_ids, 4999), exact_ids) <= 0.1


def test_ann_over_two_tower_item_vectors(model) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("hnswlib")
    from recbench.algorithms.ann import AnnIndex

    index = AnnIndex(seed=0).build(model.item_embeddings())
    ids, _ = index.query(model.user_emb_[:4], 100)  # more than the catalogue: clamped
    assert ids.shape == (4, 30)
    exact = np.argsort(-model.score(np.arange(4)), axis=1, kind="stable")[:, :5]
    top, _ = index.query(model.user_emb_[:4], 5)
    assert (np.sort(top, axis=1) == np.sort(exact, axis=1)).mean() >= 0.9


def test_explanations_name_inputs_and_real_items() -> None:
    """Ablation reasons: each names a real input group or an item the user rated."""
    import re

    ds = checkerboard()
    model = TwoTowerRecommender(TwoTowerConfig(epochs=3, dim=16, hidden=32), seed=0).fit(ds)
    history = ds.interactions.csr("rating")[[0]]
    reasons = model.explain(history, np.array([1, 2, 20]))
    assert reasons is not None and len(reasons) == 3
    rated = set(history.indices.tolist())
    for reason in reasons:
        assert "approximate reason" in reason  # ablation drops do not add up to the score
        assert reason.startswith("—") or re.search(r"its |you rated \{item:\d+\}", reason)
        for ref in re.findall(r"\{item:(\d+)\}", reason):
            assert int(ref) in rated


def test_fit_with_ann_index_serves_recommend(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """`fit --ann` stores an HNSW index; recommend uses it and agrees with exact scoring."""
    pytest.importorskip("hnswlib")
    from tests.helpers import run_cli

    model_dir = tmp_path / "tt"
    args = ["-q", "fit", "two-tower", "--out", str(model_dir), "--ann",
            "--param", "epochs=2", "--param", "dim=16", "--param", "hidden=32"]  # fmt: skip
    assert run_cli(args, capsys, tmp_path).code == 0
    assert (model_dir / "ann.hnsw").exists()
    for who in (["--user", "1"], ["--history", "1,260,1196"]):
        approx = run_cli(["recommend", "--model", str(model_dir), *who, "-f", "json"], capsys)
        exact = run_cli(
            ["recommend", "--model", str(model_dir), *who, "--exact", "-f", "json"], capsys
        )
        assert approx.code == 0 and exact.code == 0, approx.err + exact.err
        a, e = json.loads(approx.out), json.loads(exact.out)
        assert a["approximate"] and not e["approximate"]
        overlap = {i["item"] for i in a["items"]} & {i["item"] for i in e["items"]}
        assert len(overlap) >= 9  # HNSW recall@10 on 9.7k items


def test_package_uses_the_shared_metric_and_within_user_ranking(board, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """two_tower is a package (features, network, training, model) whose validation NDCG is
    recbench.metrics' and whose within-user ranking is the splitters'; the entry point that
    pyproject.toml names still loads the model."""
    from importlib.metadata import EntryPoint
    from pathlib import Path

    from recbench import split
    from recbench.algorithms.two_tower import features, training
    from recbench.metrics import ranking

    assert features.rank_within_user is split.rank_within_user
    assert training.ndcg_at_k is ranking.ndcg_at_k
    calls: list[int] = []

    def spy(hits, n_relevant, k):  # type: ignore[no-untyped-def]
        calls.append(k)
        return ranking.ndcg_at_k(hits, n_relevant, k)

    monkeypatch.setattr(training, "ndcg_at_k", spy)
    m = fit(board, epochs=2, patience=2)
    assert calls and set(calls) == {training.VAL_K}
    assert np.all(np.isfinite(m.train_log_[:, 1]))
    value = "recbench.algorithms.two_tower:TwoTowerRecommender"  # as in pyproject.toml
    assert EntryPoint("two-tower", value, "recbench.algorithms").load() is TwoTowerRecommender
    package = Path(features.__file__).parent
    assert {p.stem for p in package.glob("*.py")} >= {"features", "network", "training", "model"}
    assert all(len(p.read_text().splitlines()) <= 600 for p in package.glob("*.py"))
