"""recbench.serving: one recommend path for training users and histories, ANN over-fetch,
history parsing, and item names safe to print."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recbench import serving
from recbench.algorithms import plugins
from recbench.errors import UsageError

from .helpers import checkerboard, make_dataset


@pytest.fixture(scope="module")
def board():  # type: ignore[no-untyped-def]
    return checkerboard()


def test_history_recommendations_mask_the_history_for_every_cold_user_model(board) -> None:  # type: ignore[no-untyped-def]
    """The same path serves every cold-user model: its score_history, history masked, top-n."""
    history = serving.parse_history("0,1,2:4", board)
    assert history.shape == (1, board.n_items) and history.nnz == 3
    assert history[0, 0] == 5.0 and history[0, 2] == 4.0  # no rating -> top of the scale
    for name in ("ease", "item-knn", "content"):
        model = plugins.make(name).fit(board)
        recs = serving.recommend(model, history, 5)
        assert not recs.approximate and len(recs.items) == 5
        assert not set(recs.items.tolist()) & {0, 1, 2}
        expected = np.asarray(model.score_history(history), np.float32)[0].copy()
        expected[[0, 1, 2]] = -np.inf
        order = sorted(range(board.n_items), key=lambda i: (-expected[i], i))[:5]
        assert recs.items.tolist() == order, name
        assert all(i < board.n_items // 2 for i in recs.items), name  # the history's own half


def test_training_user_matches_the_models_recommend(board) -> None:  # type: ignore[no-untyped-def]
    seen = board.interactions.csr("rating")
    model = plugins.make("popularity").fit(board)
    for user in (0, 7):
        recs = serving.recommend(model, seen[[user]], 4, user=user)
        items, scores = model.recommend(np.array([user]), 4, exclude=seen)
        assert recs.items.tolist() == items[0].tolist()
        np.testing.assert_allclose(recs.scores, scores[0])


def test_ann_over_fetches_past_seen_items(board) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("implicit")
    from recbench.algorithms.ann import AnnIndex

    model = plugins.make("als", {"factors": 4, "iterations": 3}).fit(board)
    index = AnnIndex(backend="exact").build(model.item_embeddings())
    seen = board.interactions.csr("rating")[[0]]
    recs = serving.recommend(model, seen, 5, user=0, index=index)
    exact = serving.recommend(model, seen, 5, user=0)
    assert recs.approximate and not exact.approximate
    assert len(recs.items) == 5 and not set(recs.items.tolist()) & set(seen.indices.tolist())
    assert recs.items.tolist() == exact.items.tolist()


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("1:nan", "not a finite number"),
        ("1:inf", "not a finite number"),
        ("1:99", "outside checkerboard's rating scale 4 to 5"),
        ("1:-2", "outside checkerboard's rating scale"),
        ("1:x", "rating 'x' of item 1 is not a number"),
        ("1,999", "item '999' is not in dataset"),
        (" , ", "--history is empty"),
    ],
)
def test_bad_histories(board, text: str, needle: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError, match=needle.replace("(", r"\(")):
        serving.parse_history(text, board)


def test_implicit_history_needs_positive_ratings() -> None:
    ds = make_dataset([0, 1], [0, 1])
    assert serving.parse_history("0,1", ds).data.tolist() == [1.0, 1.0]
    with pytest.raises(UsageError, match="must be positive"):
        serving.parse_history("0:-1", ds)


def test_cold_user_message_comes_from_capability_flags(board) -> None:  # type: ignore[no-untyped-def]
    able = serving.algorithms_with("cold_users")
    assert {"ease", "item-knn", "content"} <= set(able)
    assert all(plugins.load(n).cold_users for n in able)
    assert not {"popularity", "baseline", "svd"} & set(able)
    with pytest.raises(UsageError) as info:
        serving.require_cold_users(plugins.make("popularity").fit(board), "popularity")
    message = str(info.value)
    assert "popularity cannot score a user unseen in training" in message
    assert all(name in message for name in able)


def test_item_names_are_safe_to_print(board) -> None:  # type: ignore[no-untyped-def]
    feats = board.item_features.copy()
    feats.loc[0, "title"] = "Heat\x1b]0;pwned\x07 (1995)\x1b[31m"
    feats.loc[0, "genres"] = "Crime\x00|Drama"
    ds = replace(board, item_features=pd.DataFrame(feats))
    names = serving.name_items(ds, np.array([0, 1]))
    assert names.titles is not None and names.genres is not None
    assert names.titles[0] == "Heat (1995)" and names.genres[0] == "Crime|Drama"
    assert names.raw == [0, 1] and isinstance(names.raw[0], int)


def test_explanations_name_items_by_title(board) -> None:  # type: ignore[no-untyped-def]
    model = plugins.make("content").fit(board)
    seen = sp.csr_array(board.interactions.csr("rating")[[0]])
    recs = serving.recommend(model, seen, 3, user=0)
    reasons = serving.explain(model, recs, board, "content")
    assert len(reasons) == 3 and all("{item:" not in r for r in reasons)
