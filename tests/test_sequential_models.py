"""Sequence models on tiny synthetic sequences: a deterministic cycle every model must learn,
the leave-one-out cut, leak-freedom of training and early stopping, and the ranking metrics."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")

from recbench.algorithms import sequential as seq
from recbench.algorithms.sequential import bert4rec as bert_mod
from recbench.algorithms.sequential import loop as loop_mod
from recbench.algorithms.sequential import sasrec as sasrec_mod
from recbench.algorithms.sequential.data import windows
from recbench.algorithms.sequential.protocol import (
    full_ranks,
    hit_ndcg,
    sample_candidates,
    sampled_ranks,
)

N_ITEMS = 24
TINY = {
    "max_len": 8,
    "hidden": 32,
    "batch_size": 64,
    "epochs": 40,
    "patience": 2,
    "dropout": 0.0,
    "lr": 5e-3,
    "device": "cpu",
    "eval_every": 5,
}


def cycle_sequences(n_users: int = 160, seed: int = 0) -> seq.Sequences:
    """Each user walks the cycle 0 -> 1 -> ... -> N_ITEMS-1 -> 0 from a random start, for fewer
    than N_ITEMS steps, so the next item is always (last + 1) mod N_ITEMS and never a repeat."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n_users):
        start, length = rng.integers(N_ITEMS), rng.integers(5, 21)
        rows.append((start + np.arange(length)) % N_ITEMS)
    return seq.Sequences.from_lists(rows)


MODELS: dict[str, Any] = {
    "sasrec-ce": seq.SASRecConfig(**TINY, loss="ce"),
    "sasrec-bce": seq.SASRecConfig(**TINY, loss="bce"),
    "sasrec-sampled-ce": seq.SASRecConfig(**TINY, loss="sampled-ce", n_negatives=8),
    "gsasrec": seq.SASRecConfig(**TINY, loss="gbce", n_negatives=8),
    "bert4rec": seq.BERT4RecConfig(**{**TINY, "epochs": 30}, mask_prob=0.3),
    "gru4rec": seq.GRU4RecConfig(**TINY),
    "markov": seq.MarkovConfig(),
    "sknn": seq.SKNNConfig(k=20),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_learns_the_cycle(name: str) -> None:
    loo = seq.leave_one_out(cycle_sequences())
    cfg = MODELS[name]
    torch_model = not isinstance(cfg, seq.MarkovConfig | seq.SKNNConfig)
    model = seq.fit(
        loo.train if torch_model else loo.history, N_ITEMS, cfg, valid_targets=loo.valid, seed=1
    )
    ranks = full_ranks(lambda h: seq.score_histories(model, h), loo.history, loo.test)
    hr1 = float((ranks <= 1).mean())
    assert hr1 >= 0.9, f"{name}: HR@1 {hr1:.3f} on a deterministic cycle"
    if torch_model:
        assert model.log.best_epoch >= 1 and model.log.valid_ndcg


def test_popularity_cannot_learn_the_cycle_but_counts_right() -> None:
    s = seq.Sequences.from_lists([[0, 1, 2], [2, 3], [4, 2, 1]])
    model = seq.fit(s, 5, seq.PopRecentConfig())
    np.testing.assert_array_equal(seq.score_histories(model, s)[0], [1, 2, 3, 1, 1])
    recent = seq.fit(s, 5, seq.PopRecentConfig(window=1))
    np.testing.assert_array_equal(recent.score(s)[0], [0, 1, 1, 1, 0])


def test_markov_is_the_smoothed_transition_row() -> None:
    s = seq.Sequences.from_lists([[0, 1], [0, 1], [0, 2]])
    model = seq.fit(s, 3, seq.MarkovConfig(alpha=1.0))
    prior = np.array([3 + 1, 2 + 1, 1 + 1]) / 9.0
    expect = (np.array([0, 2, 1]) + prior) / (3 + 1.0)
    np.testing.assert_allclose(model.score(seq.Sequences.from_lists([[0]]))[0], expect, rtol=1e-6)


def test_leave_one_out_cut_and_short_users() -> None:
    s = seq.Sequences.from_lists([[5, 6, 7, 8], [1, 2], [3, 3, 4]])
    loo = seq.leave_one_out(s)
    assert [loo.train.row(u).tolist() for u in range(3)] == [[5, 6], [1, 2], [3]]
    assert [loo.history.row(u).tolist() for u in range(3)] == [[5, 6, 7], [1, 2], [3, 3]]
    assert loo.valid.tolist() == [7, -1, 3] and loo.test.tolist() == [8, -1, 4]
    assert loo.n_short == 1 and loo.evaluated.tolist() == [0, 2]


def test_windows_keep_the_last_items_right_padded_and_shifted() -> None:
    s = seq.Sequences.from_lists([[0, 1, 2, 3, 4], [7], []])
    ids, lens = windows(s, 3)
    assert ids.tolist() == [[3, 4, 5], [8, 0, 0], [0, 0, 0]] and lens.tolist() == [3, 1, 0]


def test_ranks_count_ties_against_the_target_and_exclude_history() -> None:
    hist = seq.Sequences.from_lists([[0], [1], [2]])
    scores = np.array([[9, 5, 5, 1], [9, 5, 5, 1], [0, 0, 0, 0]], dtype=np.float32)
    ranks = full_ranks(
        lambda h: scores[: h.n_users] if h.n_users == 3 else scores, hist, np.array([2, 2, 2])
    )
    # user 0: item 0 excluded, item 1 ties with 2 -> rank 2; user 1: item 0 above, item 1
    # excluded -> rank 2; user 2: the target is a history item -> excluded, a miss
    assert ranks.tolist() == [2.0, 2.0, np.inf]
    hr, ndcg = hit_ndcg(np.array([1.0, 2.0, 11.0, np.inf]), k=10)
    assert hr.tolist() == [1, 1, 0, 0]
    np.testing.assert_allclose(ndcg, [1.0, 1 / np.log2(3), 0.0, 0.0])


def test_sampled_candidates_are_unseen_distinct_and_frozen() -> None:
    full = seq.Sequences.from_lists([[0, 1, 2, 3], [4, 5]])
    a = sample_candidates(full, 12, 6, np.array([0, 1]), seed=3)
    b = sample_candidates(full, 12, 6, np.array([0, 1]), seed=3)
    np.testing.assert_array_equal(a, b)
    for u in range(2):
        assert len(set(a[u])) == 6 and not set(a[u]) & set(full.row(u).tolist())
    with pytest.raises(ValueError, match="unseen items"):
        sample_candidates(full, 8, 6, np.array([0]), seed=3)
    scores = np.arange(12, dtype=np.float32)[None].repeat(2, 0)
    ranks = sampled_ranks(
        lambda h: scores[: h.n_users], seq.Sequences.from_lists([[0], [1]]), np.array([11, 0]), a
    )
    assert ranks.tolist() == [1.0, 7.0]


def test_no_test_or_validation_item_reaches_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each user's last two items are items nobody else has: none may be a training input or
    target, validation (early stopping) ranks only validation items from training histories."""
    base = cycle_sequences(60)
    rows = []
    for u in range(base.n_users):
        rows.append(np.r_[base.row(u), N_ITEMS + 2 * u, N_ITEMS + 2 * u + 1])
    n_items = N_ITEMS + 2 * base.n_users
    loo = seq.leave_one_out(seq.Sequences.from_lists(rows))
    valid_items, test_items = set(loo.valid.tolist()), set(loo.test.tolist())
    windowed: list[np.ndarray] = []
    validated: list[tuple[np.ndarray, np.ndarray]] = []

    def spy_windows(real: Any) -> Any:
        def wrapper(s: seq.Sequences, max_len: int, users: Any = None) -> Any:
            ids, lens = real(s, max_len, users)
            windowed.append(ids - 1)
            return ids, lens

        return wrapper

    real_ranks = loop_mod.full_ranks

    def spy_ranks(score: Any, histories: seq.Sequences, targets: Any, **kw: Any) -> Any:
        validated.append((histories.items.copy(), np.asarray(targets).copy()))
        return real_ranks(score, histories, targets, **kw)

    monkeypatch.setattr(sasrec_mod, "windows", spy_windows(sasrec_mod.windows))
    monkeypatch.setattr(bert_mod, "windows", spy_windows(bert_mod.windows))
    monkeypatch.setattr(loop_mod, "full_ranks", spy_ranks)
    small = {**TINY, "epochs": 2, "eval_every": 1}
    for cfg in (seq.SASRecConfig(**small), seq.BERT4RecConfig(**small), seq.GRU4RecConfig(**small)):
        seq.fit(loo.train, n_items, cfg, valid_targets=loo.valid, seed=0)
    assert len(windowed) == 3 and len(validated) == 6
    for ids in windowed:
        assert not set(ids[ids >= 0].tolist()) & (valid_items | test_items)
    for hist, targets in validated:
        assert set(targets.tolist()) <= valid_items
        assert not set(hist.tolist()) & (valid_items | test_items)


def test_fits_are_seeded_and_bad_input_is_a_value_error() -> None:
    loo = seq.leave_one_out(cycle_sequences(40))
    cfg = seq.SASRecConfig(**{**TINY, "epochs": 2})
    a = seq.fit(loo.train, N_ITEMS, cfg, valid_targets=loo.valid, seed=4)
    b = seq.fit(loo.train, N_ITEMS, cfg, valid_targets=loo.valid, seed=4)
    np.testing.assert_array_equal(
        seq.score_histories(a, loo.history), seq.score_histories(b, loo.history)
    )
    with pytest.raises(ValueError, match="item ids must lie"):
        seq.fit(loo.train, 3, cfg)
    with pytest.raises(ValueError, match="one entry per user"):
        seq.fit(loo.train, N_ITEMS, cfg, valid_targets=np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="heads"):
        seq.SASRecConfig(hidden=10, heads=3)
    with pytest.raises(ValueError):
        seq.SASRecConfig(loss="softmax")  # type: ignore[arg-type]


def test_bucketed_batches_cover_every_row_once_with_similar_lengths() -> None:
    lens = np.random.default_rng(0).integers(1, 50, size=1000)
    rng = np.random.default_rng(1)
    plain = loop_mod._batches(lens, seq.SASRecConfig(batch_size=100, bucket=False), rng)
    bucketed = loop_mod._batches(lens, seq.SASRecConfig(batch_size=100), rng)
    for batches in (plain, bucketed):
        assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    spread = lambda bs: np.mean([np.ptp(lens[b]) for b in bs])  # noqa: E731
    assert spread(bucketed) < 10 < spread(plain)


def test_bucketing_leaves_scores_of_a_fitted_net_unchanged() -> None:
    """Dropping all-padding columns must not change a real position's state."""
    loo = seq.leave_one_out(cycle_sequences(30))
    for cfg in (
        seq.SASRecConfig(**{**TINY, "epochs": 1}),
        seq.BERT4RecConfig(**{**TINY, "epochs": 1}),
    ):
        model = seq.fit(loo.train, N_ITEMS, cfg, seed=0)
        short = seq.Sequences.from_lists([[1, 2]])
        mixed = seq.Sequences.from_lists([[1, 2], list(range(3, 12))])
        np.testing.assert_allclose(model.score(short)[0], model.score(mixed)[0], atol=1e-5)


def test_max_seconds_stops_at_the_next_validation() -> None:
    loo = seq.leave_one_out(cycle_sequences(40))
    cfg = seq.GRU4RecConfig(
        **{**TINY, "epochs": 50, "eval_every": 1, "patience": 50}, max_seconds=1e-9
    )
    model = seq.fit(loo.train, N_ITEMS, cfg, valid_targets=loo.valid, seed=0)
    assert model.log.epochs_run == 1 and model.log.stopped == "time"
    assert len(model.log.epoch_cpu_seconds) == 1
