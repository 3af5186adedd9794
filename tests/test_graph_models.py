"""Graph and linear item-item models (gf-cf, rp3beta, slim) against direct dense numpy
computations of their published formulas on small random data.

(The shared contract - shapes, determinism, save/load identity, contributions - is the
conformance test in test_algo_conformance.py, parametrised over every registered plugin.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from recbench.algorithms import make
from recbench.algorithms.linear.item_weights import keep_top_k, keep_top_k_dense
from recbench.data.model import Dataset

from .helpers import make_dataset


def random_data(
    n_users: int = 60, n_items: int = 45, density: float = 0.15, seed: int = 0
) -> Dataset:
    """Random binary interactions; the last item and the last user have none."""
    rng = np.random.default_rng(seed)
    dense = rng.random((n_users, n_items)) < density
    dense[-1, :] = False
    dense[:, -1] = False
    u, i = np.nonzero(dense)
    return make_dataset(u, i, n_users=n_users, n_items=n_items)


def dense_x(ds: Dataset) -> np.ndarray:
    return ds.interactions.csr("binary").toarray().astype(np.float64)


def inv_sqrt(d: np.ndarray) -> np.ndarray:
    return np.where(d > 0, 1.0 / np.sqrt(np.where(d > 0, d, 1.0)), 0.0)


def gf_cf_reference(x: np.ndarray, vectors: int, alpha: float) -> np.ndarray:
    """Shen et al. 2021, eq. for GF-CF, computed densely."""
    du, di = inv_sqrt(x.sum(axis=1)), inv_sqrt(x.sum(axis=0))
    xn = du[:, None] * x * di[None, :]
    _, _, vt = np.linalg.svd(xn, full_matrices=False)
    v = vt[:vectors]
    d_sqrt = np.where(di > 0, 1.0 / np.where(di > 0, di, 1.0), 0.0)
    return x @ (xn.T @ xn) + alpha * ((x * di[None, :]) @ v.T @ v) * d_sqrt[None, :]


@pytest.mark.parametrize("vectors", [8, 200])  # ARPACK (8 < min shape - 1) and dense SVD
def test_gf_cf_equals_the_dense_formula(vectors: int) -> None:
    ds = random_data()
    model = make("gf-cf", {"vectors": vectors, "alpha": 0.3}).fit(ds)
    users = np.arange(ds.n_users)
    expected = gf_cf_reference(dense_x(ds), vectors, 0.3)
    np.testing.assert_allclose(model.score(users), expected, rtol=1e-4, atol=1e-5)
    assert np.all(model.score(users)[-1] == 0)  # no history, no score


def test_gf_cf_without_the_low_pass_is_the_normalised_item_filter() -> None:
    ds = random_data(seed=1)
    model = make("gf-cf", {"alpha": 0.0}).fit(ds)
    x = dense_x(ds)
    np.testing.assert_allclose(
        model.score(np.arange(ds.n_users)), gf_cf_reference(x, 1, 0.0), rtol=1e-5, atol=1e-6
    )
    assert model.get_state()["V_"].shape == (0, ds.n_items)


def test_keep_top_k_keeps_each_rows_largest() -> None:
    rng = np.random.default_rng(3)
    dense = np.where(rng.random((30, 30)) < 0.4, rng.random((30, 30)), 0.0)
    dense[4, :6] = 0.5  # a tie: lower columns are kept first
    dense[7] = 0.0
    dense[7, [1, 3, 4, 5, 8]] = [0.9, 0.25, 0.25, 0.25, 0.25]  # a tie straddling the cut
    kept = keep_top_k(sp.csr_array(dense), 3).toarray()
    np.testing.assert_array_equal(keep_top_k_dense(dense, 3).toarray(), kept)
    for row, out in zip(dense, kept, strict=True):
        order = sorted(np.flatnonzero(row), key=lambda j: (-row[j], j))[:3]
        assert sorted(np.flatnonzero(out)) == sorted(order)
        np.testing.assert_array_equal(out[order], row[order])


def rp3beta_reference(
    x: np.ndarray, k: int, alpha: float, beta: float, normalize: bool
) -> np.ndarray:
    """Paudel et al. 2017 / Dacrema et al. 2019's RP3beta weights, dense, one row at a time."""

    def stochastic(m: np.ndarray) -> np.ndarray:
        s = m.sum(axis=1, keepdims=True)
        p = np.divide(m, s, out=np.zeros_like(m), where=s > 0)
        return np.where(p > 0, p**alpha, 0.0)  # the walk's edges only (0 ** 0 is no edge)

    pop = x.sum(axis=0)
    penalty = np.where(pop > 0, np.where(pop > 0, pop, 1.0) ** -beta, 0.0)
    full = stochastic(x.T) @ stochastic(x) * penalty[None, :]
    np.fill_diagonal(full, 0.0)
    w = np.zeros_like(full)
    for i, row in enumerate(full):
        top = sorted(np.flatnonzero(row), key=lambda j: (-row[j], j))[:k]
        w[i, top] = row[top]
        if normalize and w[i].sum() > 0:
            w[i] /= w[i].sum()
    return w


@pytest.mark.parametrize(
    "params",
    [
        {"k": 10, "alpha": 1.0, "beta": 0.6, "normalize": False},
        {"k": 5, "alpha": 0.7, "beta": 0.3, "normalize": True},
        {"k": 200, "alpha": 0.0, "beta": 1.2, "normalize": False},
    ],
)
def test_rp3beta_equals_the_dense_random_walk(params: dict[str, Any]) -> None:
    ds = random_data(seed=2)
    model = make("rp3beta", params).fit(ds)
    x = dense_x(ds)
    w = rp3beta_reference(x, **params)
    np.testing.assert_allclose(model.weights.toarray(), w, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(model.score(np.arange(ds.n_users)), x @ w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dense_share", [0.0, 1.0])  # every block dense / every block sparse
def test_rp3beta_blocks_do_not_change_the_weights(
    dense_share: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recbench.algorithms.graph import rp3beta

    ds = random_data(seed=4)
    whole = make("rp3beta", {"k": 7}).fit(ds).weights.toarray()
    monkeypatch.setattr(rp3beta, "BLOCK_CELLS", 4 * ds.n_items)  # blocks of 4 items
    monkeypatch.setattr(rp3beta, "DENSE_SHARE", dense_share)
    np.testing.assert_array_equal(make("rp3beta", {"k": 7}).fit(ds).weights.toarray(), whole)


def slim_reference(x: np.ndarray, alpha: float, l1_ratio: float, k: int) -> np.ndarray:
    """SLIM as Dacrema et al. fit it: one ElasticNet per target on the whole matrix with the
    target's column zeroed, then its k largest weights."""
    from sklearn.linear_model import ElasticNet

    n = x.shape[1]
    w = np.zeros((n, n))
    for j in range(n):
        xz = x.copy()
        xz[:, j] = 0.0
        enet = ElasticNet(
            alpha=alpha, l1_ratio=l1_ratio, positive=True, fit_intercept=False,
            max_iter=100_000, tol=1e-12,
        )  # fmt: skip
        coef = enet.fit(xz, x[:, j]).coef_
        top = sorted(np.flatnonzero(coef > 0), key=lambda i: (-coef[i], i))[:k]
        w[top, j] = coef[top]
    return w


@pytest.mark.parametrize("threads", [1, 2])
def test_slim_equals_elasticnet_on_the_whole_matrix(
    threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only co-occurring items as features (and blocks in threads) give the same weights."""
    from recbench.algorithms.linear import slim

    monkeypatch.setattr(slim, "BLOCK_TARGETS", 4)  # several blocks
    ds = random_data(n_users=50, n_items=25, density=0.2, seed=5)
    params = {"alpha": 0.01, "l1_ratio": 0.1, "k": 6, "max_iter": 100_000, "tol": 1e-12}
    model = make("slim", {**params, "num_threads": threads}).fit(ds)
    x = dense_x(ds)
    w = slim_reference(x, 0.01, 0.1, 6)
    assert (w > 0).sum() > 2 * ds.n_items  # a non-trivial solution
    np.testing.assert_allclose(model.weights.toarray(), w, rtol=1e-5, atol=1e-7)
    assert np.all(np.diag(model.weights.toarray()) == 0)
    np.testing.assert_allclose(model.score(np.arange(ds.n_users)), x @ w, rtol=1e-5, atol=1e-6)


def ease_reference(x: np.ndarray, l2: float) -> np.ndarray:
    """Steck 2019's closed form in float64 through a general inverse (the former LU path)."""
    p = np.linalg.inv(x.T @ x + l2 * np.eye(x.shape[1]))
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    return b


@pytest.mark.parametrize("one_thread_rows", [20_000, 0])  # BLAS threads as given / held to one
def test_ease_cholesky_in_place_equals_the_lu_inverse(
    one_thread_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """float32 Cholesky weights match the float64 LU ones, and so do the top-10 lists up to
    float32 ties (scores within 1e-5 of each other)."""
    from recbench.algorithms import ease

    monkeypatch.setattr(ease, "ONE_THREAD_ROWS", one_thread_rows)
    monkeypatch.setattr(ease, "_GRAM_BLOCK", 16)  # several column blocks of G
    ds = random_data(n_users=300, n_items=120, density=0.1, seed=6)
    x = dense_x(ds)
    model = make("ease", {"l2": 20.0}).fit(ds)
    b = ease_reference(x, 20.0)
    assert model.B_.dtype == np.float32 and model.B_.flags.c_contiguous
    np.testing.assert_allclose(model.B_, b, rtol=1e-3, atol=1e-6)
    seen = ds.interactions.csr("binary")
    users = np.arange(ds.n_users - 1)  # the last user has no history
    got, _ = model.recommend(users, 10, exclude=seen)
    exact = np.where(x[users] > 0, -np.inf, x[users] @ b)
    for u, row in zip(users, got, strict=True):
        ref = exact[u]
        tenth = np.sort(ref)[::-1][9]
        must = set(np.flatnonzero(ref > tenth + 1e-5))  # above the tenth beyond any tie
        may = set(np.flatnonzero(ref >= tenth - 1e-5))
        assert must <= set(row) <= may


def test_ease_memory_need_is_one_float32_matrix() -> None:
    from recbench.algorithms.ease import memory_need_gb

    assert memory_need_gb(40_981) == pytest.approx(40_981**2 * 4 / 1e9, rel=0.12)
    assert memory_need_gb(40_981) < 10
    ds = random_data()
    refusal = make("ease", {"max_memory_gb": 1e-6}).refusal(ds)
    assert refusal is not None and "45 items needs about" in refusal and "\n" not in refusal


def test_lightgcn_propagation_graph_is_the_normalised_bipartite_adjacency() -> None:
    from recbench.algorithms.graph.lightgcn import normalised_graph

    ds = random_data(n_users=12, n_items=9, density=0.3, seed=7)
    x = dense_x(ds)
    adj = np.block([[np.zeros((12, 12)), x], [x.T, np.zeros((9, 9))]])
    d = inv_sqrt(adj.sum(axis=1))
    np.testing.assert_allclose(normalised_graph(ds.interactions.csr("binary")).toarray(),
                               d[:, None] * adj * d[None, :], rtol=1e-6)  # fmt: skip


def test_lightgcn_negatives_are_never_the_users_items() -> None:
    from recbench.algorithms.graph.lightgcn import sample_triples

    ds = random_data(density=0.6, seed=8)
    x = sp.csr_array(ds.interactions.csr("binary"))
    users, pos, neg = sample_triples(x, 5000, np.random.default_rng(0))
    assert np.all(x[users, pos] == 1) and not np.any(x[users, neg])


def test_lightgcn_learns_the_checkerboard_and_keeps_its_learning_curve() -> None:
    pytest.importorskip("torch")
    from .helpers import checkerboard

    ds = checkerboard()
    losses: list[float] = []
    params = {"dim": 16, "epochs": 40, "batch_size": 128, "lr": 0.01, "eval_every": 5}
    model: Any = make("lightgcn", {**params, "val_fraction": 0.2}, seed=0)
    model.fit(ds, lambda step, of, loss: losses.append(loss))
    assert losses[-1] < 0.5 * losses[0], losses
    epochs, recall = model.curve_[:, 0], model.curve_[:, 1]
    assert list(epochs[:2]) == [5, 10] and recall.max() > 0.9
    assert int(model.epochs_run_) == int(epochs[np.argmax(recall)])
    users = np.arange(ds.n_users)
    recs, _ = model.recommend(users, 3, exclude=ds.interactions.csr("binary"))
    half = ds.n_items // 2
    assert np.mean(np.where((users % 2 == 0)[:, None], recs < half, recs >= half)) >= 0.95


def test_lightgcn_max_seconds_stops_at_the_first_validation_past_the_budget() -> None:
    pytest.importorskip("torch")
    from .helpers import checkerboard

    ds = checkerboard()
    params = {"dim": 8, "epochs": 40, "batch_size": 128, "eval_every": 2, "val_fraction": 0.2}
    capped: Any = make("lightgcn", {**params, "max_seconds": 1e-9}, seed=0)
    capped.fit(ds)
    assert capped.curve_[:, 0].tolist() == [2.0]  # one measurement, then the budget is spent
    free: Any = make("lightgcn", {**params, "patience": 100}, seed=0)
    free.fit(ds)
    assert len(free.curve_) == 20  # without a budget it runs every epoch


def test_lightgcn_learning_curve_is_recorded_per_cell_and_drawn_in_the_report(
    capsys: Any, tmp_path: Path
) -> None:
    """compare records each lightgcn fit's validation curve in its store cell; the report
    draws it (a learning-curves chart with the recorded epochs and values)."""
    pytest.importorskip("torch")
    pytest.importorskip("altair")
    from recbench.report import build, read_runs
    from recbench.report.charts import chart_specs
    from recbench.store import Store

    from .helpers import run_cli

    data = tmp_path / "data"
    args = ["-q", "compare", "--algos", "popularity,lightgcn",
            "-p", "lightgcn.epochs=4", "-p", "lightgcn.eval_every=2", "-p", "lightgcn.dim=8",
            "--split", "user-holdout:0.2", "--k", "10"]  # fmt: skip
    res = run_cli(args, capsys, data)
    assert res.code == 0, res.err
    store = Store.in_data_dir(data)
    (run,) = store.runs()
    cells = {c["label"]: c for c in store.cells(run)}
    assert cells["popularity"].get("curve") is None
    curve = cells["lightgcn"]["curve"]
    assert [e for e, _ in curve] == [2.0, 4.0] and all(0 <= v <= 1 for _, v in curve)
    rd = read_runs(store, [run.run_id])
    assert rd[0].curves[["epoch", "value"]].values.tolist() == curve
    captions = [c for c, _ in chart_specs(build(rd))]
    assert any(c.startswith("learning curves") and "lightgcn" in c for c in captions)


@pytest.mark.parametrize("algo", ["lightgcn", "sasrec"])
def test_device_cuda_without_cuda_is_one_line_exit_2(
    algo: str, capsys: Any, tmp_path: Path
) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    from .helpers import run_cli

    args = ["compare", "--algos", algo, "-p", f"{algo}.device=cuda", "-p", f"{algo}.epochs=1",
            "--no-store"]  # fmt: skip
    res = run_cli(args, capsys, tmp_path)
    assert res.code == 2, res.err
    assert "device=cuda asked for, but torch sees no CUDA device" in res.err
    assert "Traceback" not in res.err
