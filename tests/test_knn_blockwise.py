"""Blockwise k-NN (issue 12, large catalogues) gives the dense path's neighbourhoods, scores and
predictions, survives a save and load, and never allocates an n x n array."""

from __future__ import annotations

import multiprocessing as mp
import threading
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recbench.algorithms import knn
from recbench.algorithms.knn import (
    ItemKNNRecommender,
    KNNConfig,
    UserKNNRecommender,
    binary_cosine,
)
from recbench.algorithms.knn_blocks import map_blocks
from recbench.data import load_dataset
from recbench.data.model import Dataset
from recbench.errors import UsageError
from recbench.persistence import load_model, save_model

from .helpers import make_dataset

CLASSES = {"user": UserKNNRecommender, "item": ItemKNNRecommender}
#: rows per block on the test data: several blocks (610 users, 800 items), one ragged
BLOCK = 97


def cfg(**params: Any) -> KNNConfig:
    return KNNConfig.model_validate(params)


def pair(kind: str, **params: Any) -> tuple[Any, Any]:
    """(dense, blockwise) models of one configuration, unfitted."""
    cls = CLASSES[kind]
    dense = cls(cfg(blockwise="never", max_memory_gb=64, **params))
    blocked = cls(cfg(blockwise="always", block_rows=BLOCK, **params))
    return dense, blocked


@pytest.fixture(scope="module")
def small() -> tuple[Dataset, np.ndarray, np.ndarray]:
    """ml-latest-small cut to its 800 most-rated items, 85/15 at random; held-out pairs
    include users and items without training ratings."""
    inter = load_dataset("ml-latest-small").interactions
    top = np.argsort(-np.bincount(inter.item), kind="stable")[:800]
    remap = np.full(inter.n_items, -1)
    remap[top] = np.arange(len(top))
    keep = remap[inter.item] >= 0
    u, i, r = inter.user[keep], remap[inter.item[keep]], inter.rating[keep]
    test = np.random.default_rng(1).random(len(u)) < 0.15
    test |= np.isin(u, [2, 9]) | np.isin(i, [7, 500])
    train = make_dataset(u[~test], i[~test], r[~test], n_users=inter.n_users, n_items=len(top))
    pick = np.flatnonzero(test)[:4000]
    return train, u[pick].astype(np.int64), i[pick].astype(np.int64)


@pytest.fixture(scope="module")
def fitted(small: Any) -> dict[tuple[str, str, str], tuple[Any, Any]]:
    """Dense and blockwise fits per (orientation, similarity, ranking similarity), shared."""
    train = small[0]
    out = {}
    for kind in CLASSES:
        for sim in ("cosine", "msd", "pearson", "pearson_baseline"):
            for rank in ("cosine", "rating"):
                if rank == "cosine" and sim != "msd":
                    continue  # binary ranking does not depend on the rating similarity
                dense, blocked = pair(kind, similarity=sim, rank_similarity=rank, k=7)
                out[kind, sim, rank] = (dense.fit(train), blocked.fit(train))
    return out


def test_blockwise_fit_keeps_no_dense_similarity(fitted: Any, small: Any) -> None:
    dense, blocked = fitted["item", "msd", "cosine"]
    assert dense.sim_.shape == (small[0].n_items,) * 2
    assert blocked.sim_.size == 0 and blocked._blockwise()
    assert small[0].n_items > 2 * BLOCK  # several blocks


@pytest.mark.parametrize("kind", ["user", "item"])
@pytest.mark.parametrize("sim", ["cosine", "msd", "pearson", "pearson_baseline"])
def test_similarity_rows_are_the_dense_rows(fitted: Any, kind: str, sim: str) -> None:
    dense, blocked = fitted[kind, sim, "rating"]
    rows = np.arange(3, dense.sim_.shape[0], 5)
    np.testing.assert_array_equal(blocked._similarity_rows().rating_rows(rows), dense.sim_[rows])


@pytest.mark.parametrize("kind", ["user", "item"])
@pytest.mark.parametrize(
    ("sim", "rank"),
    [("msd", "cosine"), ("msd", "rating"), ("pearson", "rating"), ("cosine", "rating")],
)
def test_neighbourhoods_and_scores_are_the_dense_ones(
    fitted: Any, kind: str, sim: str, rank: str
) -> None:
    dense, blocked = fitted[kind, sim, rank]
    a, b = dense._neighbours(), blocked._neighbours()
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_allclose(a.data, b.data, rtol=0, atol=1e-6)
    users = np.arange(0, dense.n_users_, 3)
    np.testing.assert_array_equal(blocked.score(users), dense.score(users))


def test_ties_at_the_kth_neighbour_resolve_as_dense(small: Any, fitted: Any) -> None:
    """Binary cosine has many equal values; some row ties at its k-th place, and the blockwise
    neighbourhoods (k=7) still equal the dense ones entry for entry."""
    train = small[0]
    inter = train.interactions
    sim = binary_cosine(inter.item, inter.user, train.n_items, train.n_users)
    np.fill_diagonal(sim, -np.inf)
    top = -np.sort(-sim, axis=1)[:, 6:8]
    assert ((top[:, 0] == top[:, 1]) & (top[:, 0] > 0)).any()
    dense, blocked = fitted["item", "msd", "cosine"]
    assert (dense._neighbours() != blocked._neighbours()).nnz == 0


@pytest.mark.parametrize("predictor", ["basic", "means", "baseline"])
@pytest.mark.parametrize("kind", ["user", "item"])
@pytest.mark.parametrize("sim", ["cosine", "msd", "pearson", "pearson_baseline"])
def test_predictions_are_the_dense_ones(
    small: Any, fitted: Any, kind: str, sim: str, predictor: str
) -> None:
    _, users, items = small
    dense, blocked = fitted[kind, sim, "rating"]
    for model in (dense, blocked):  # same fit, other predictor: the config is frozen
        model.config = model.config.model_copy(update={"predictor": predictor, "min_k": 2})
    expected = dense.estimate(users, items)
    np.testing.assert_allclose(blocked.estimate(users, items), expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(blocked.predict(users, items), dense.predict(users, items))


def test_saved_and_loaded_blockwise_model_predicts_the_same(small: Any, tmp_path: Path) -> None:
    train, users, items = small
    params = {"blockwise": "always", "block_rows": BLOCK, "predictor": "baseline", "k": 9}
    model = ItemKNNRecommender(cfg(**params)).fit(train)
    path = save_model(model, "item-knn", params, tmp_path / "m", {})
    loaded, _, _ = load_model(path)
    assert isinstance(loaded, ItemKNNRecommender) and loaded._blockwise()
    np.testing.assert_array_equal(loaded.predict(users, items), model.predict(users, items))
    batch = np.arange(40)
    np.testing.assert_array_equal(loaded.score(batch), model.score(batch))
    dense = ItemKNNRecommender(cfg(**{**params, "blockwise": "never"})).fit(train)
    np.testing.assert_allclose(
        loaded.estimate(users, items), dense.estimate(users, items), rtol=0, atol=1e-12
    )


def wide(n_items: int = 20_000, n_users: int = 300, per_user: int = 60) -> Dataset:
    """Many items, few ratings each: the dense item similarity would be 3.2 GB."""
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(n_users), per_user)
    items = np.concatenate([rng.choice(n_items, per_user, replace=False) for _ in range(n_users)])
    items[: n_users // 2] = np.arange(n_users // 2)  # some items shared by many users
    ratings = rng.integers(1, 6, len(users)).astype(np.float32)
    return make_dataset(users, items, ratings, n_users=n_users, n_items=n_items)


def test_blockwise_never_allocates_n_by_n() -> None:
    ds = wide()
    n = ds.n_items
    # one thread: the measured peak is one block's
    model = ItemKNNRecommender(cfg(max_memory_gb=0.1, predictor="means", num_threads=1))
    assert model.refusal(ds) is None  # auto: the dense 3.2 GB would be refused
    inter = ds.interactions
    tracemalloc.start()
    try:
        model.fit(ds)
        model.predict(inter.user[:2000], inter.item[::-1][:2000])
        model.score(np.arange(50))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert model._blockwise()
    assert peak < n * n * 8 / 20, peak  # 160 MB; n x n float64 would be 3.2 GB
    assert peak < 0.1e9 * 1.2, peak


@pytest.mark.parametrize("kind", ["user", "item"])
def test_block_threads_give_the_single_thread_results(small: Any, kind: str) -> None:
    """Blocks spread over two threads (fit's neighbourhoods, estimate's sums) give exactly
    what one thread gives."""
    train, users, items = small
    params = {"blockwise": "always", "block_rows": BLOCK, "similarity": "pearson", "k": 5}
    one = CLASSES[kind](cfg(**params, num_threads=1)).fit(train)
    two = CLASSES[kind](cfg(**params, num_threads=2)).fit(train)
    assert (one._neighbours() != two._neighbours()).nnz == 0
    np.testing.assert_array_equal(two.estimate(users, items), one.estimate(users, items))


def test_map_blocks_keeps_order_runs_in_threads_and_raises() -> None:
    seen: set[int] = set()
    barrier = threading.Barrier(2, timeout=10)

    def task(b: int) -> int:
        seen.add(threading.get_ident())
        if b < 2:
            barrier.wait()  # blocks 0 and 1 run at the same time, or this times out
        return b * b

    assert list(map_blocks(task, 7, 2)) == [b * b for b in range(7)]
    assert len(seen) == 2

    def failing(b: int) -> int:
        if b == 3:
            raise ValueError("block 3")
        return b

    with pytest.raises(ValueError, match="block 3"):
        list(map_blocks(failing, 6, 2))


def _threads_in_daemon(out: Any) -> None:
    barrier = threading.Barrier(2, timeout=10)
    idents: set[int] = set()

    def task(b: int) -> int:
        idents.add(threading.get_ident())
        barrier.wait()
        return b

    list(map_blocks(task, 2, 2))
    out.put(len(idents))


def test_map_blocks_runs_in_parallel_inside_a_daemon_process() -> None:
    """A Dask worker is a daemon process, which may not fork: the blocks still run in two
    threads there (forked pools fell back to one process)."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_threads_in_daemon, args=(out,), daemon=True)
    proc.start()
    try:
        assert out.get(timeout=60) == 2
    finally:
        proc.join(timeout=30)
    assert proc.exitcode == 0


def test_block_rows_share_the_budget_between_workers(small: Any) -> None:
    train = small[0]
    one = ItemKNNRecommender(cfg(blockwise="always", max_memory_gb=0.01, num_threads=1))
    two = ItemKNNRecommender(cfg(blockwise="always", max_memory_gb=0.01, num_threads=2))
    rows_one, rows_two = one._plan(train)[1], two._plan(train)[1]
    assert rows_one < train.n_items and rows_two == pytest.approx(rows_one / 2, abs=1)


def test_auto_chooses_dense_when_it_fits(small: Any) -> None:
    model = ItemKNNRecommender(cfg(max_memory_gb=64)).fit(small[0])
    assert not model._blockwise()


def test_refusals_are_one_line_and_say_what_works(
    small: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    train = small[0]
    never = ItemKNNRecommender(cfg(blockwise="never", max_memory_gb=1e-3)).refusal(train)
    assert never and "dense similarity" in never and "blockwise=auto" in never
    tiny = ItemKNNRecommender(cfg(max_memory_gb=1e-6)).refusal(train)
    assert tiny and "even blockwise" in tiny and "max_memory_gb" in tiny
    monkeypatch.setattr(knn, "MAX_PASS_WORK", 1e3)
    for cls, works in (
        (UserKNNRecommender, "item-knn"),
        (ItemKNNRecommender, "--min-item-ratings"),
    ):
        why = cls(cfg(blockwise="always")).refusal(train)
        assert why and "multiply-adds" in why and works in why and "\n" not in why
        with pytest.raises(UsageError, match="multiply-adds"):
            cls(cfg(blockwise="always")).fit(train)
