"""BSPM (Choi et al. 2023) against a direct dense numpy solution of its ODEs on small random data:
classical Runge-Kutta stages and Euler steps written out, dense SVD, dense item-item filter.

(The shared contract - shapes, determinism, save/load identity, contributions adding up to the
score, cold users - is the conformance test in test_algo_conformance.py.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from scipy.linalg import expm

from recbench.algorithms import make

from .test_graph_models import dense_x, inv_sqrt, random_data

Flow = Callable[[np.ndarray], np.ndarray]


def solve(f: Flow, y: np.ndarray, t: float, k: int, method: str) -> list[np.ndarray]:
    """The states after each of ``k`` fixed steps of ``dy/dt = f(y)`` up to ``t``."""
    h, out = t / k, []
    for _ in range(k):
        if method == "euler":
            y = y + h * f(y)
        else:  # classical RK4
            k1 = f(y)
            k2 = f(y + h / 2 * k1)
            k3 = f(y + h / 2 * k2)
            k4 = f(y + h * k3)
            y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        out.append(y)
    return out


def filters(x: np.ndarray, vectors: int) -> tuple[np.ndarray, np.ndarray]:
    """(L = R~^T R~, P = D_i^-1/2 V^T V D_i^1/2) of the binary matrix ``x``, densely."""
    du, di = inv_sqrt(x.sum(axis=1)), inv_sqrt(x.sum(axis=0))
    xn = du[:, None] * x * di[None, :]
    _, _, vt = np.linalg.svd(xn, full_matrices=False)
    v = vt[:vectors]
    d_sqrt = np.where(di > 0, 1.0 / np.where(di > 0, di, 1.0), 0.0)
    return xn.T @ xn, (di[:, None] * v.T) @ v * d_sqrt[None, :]


def bspm_reference(x: np.ndarray, p: dict[str, Any]) -> np.ndarray:
    """The authors' CPU BSPM (blur, ideal low-pass, sharpen, merge), in float64."""
    lin, low = filters(x, p["vectors"])
    blurred = solve(lambda s: s @ lin - s, x, p["t_b"], p["k_b"], "euler")
    idl = x @ low
    if p["t_s"] == 0:
        states = blurred if p["t_point_combination"] else blurred[-1:]
        return np.mean(states, axis=0) + p["idl_beta"] * idl
    start = blurred[-1] + (p["idl_beta"] * idl if p["final_sharpening"] else 0.0)
    sharpened = solve(lambda s: -(s @ lin), start, p["t_s"], p["k_s"], p["solver"])
    out = np.mean(blurred + sharpened, axis=0) if p["t_point_combination"] else sharpened[-1]
    return out if p["final_sharpening"] else out + p["idl_beta"] * idl


PUBLISHED = {
    "vectors": 8,
    "idl_beta": 0.2,
    "t_b": 1.0,
    "k_b": 1,
    "t_s": 2.5,
    "k_s": 1,
    "solver": "rk4",
    "final_sharpening": True,
    "t_point_combination": False,
}
VARIANTS = [
    {},  # the authors' Gowalla command (ARPACK: 8 vectors < min shape - 1)
    {"vectors": 200},  # the dense-SVD path (all vectors)
    {"solver": "euler", "k_s": 3, "t_s": 1.2, "t_b": 0.7, "k_b": 2},
    {"final_sharpening": False, "k_s": 2, "idl_beta": 0.5},
    {"t_point_combination": True, "k_b": 2, "k_s": 2, "solver": "euler"},
    {"t_s": 0.0, "t_point_combination": True, "k_b": 3},
]


@pytest.mark.parametrize(
    "extra", VARIANTS, ids=lambda e: "-".join(map(str, e.values())) or "published"
)
def test_bspm_equals_the_dense_odes(extra: dict[str, Any]) -> None:
    ds = random_data(seed=4)
    params = {**PUBLISHED, **extra}
    model = make("bspm", params).fit(ds)
    users = np.arange(ds.n_users)
    scores = model.score(users)
    assert scores.shape == (ds.n_users, ds.n_items) and scores.dtype == np.float32
    assert np.all(np.isfinite(scores))
    expected = bspm_reference(dense_x(ds), params)
    np.testing.assert_allclose(scores, expected, rtol=2e-4, atol=2e-5)
    assert np.all(scores[-1] == 0)  # no history, no score


def test_no_sharpening_and_no_low_pass_is_the_linear_filter() -> None:
    """``T_s = 0`` and ``idl_beta = 0`` leave one Euler blurring step ``r L``: GF-CF without its
    low-pass term, and no singular vectors computed."""
    ds = random_data(seed=5)
    model = make("bspm", {"t_s": 0.0, "idl_beta": 0.0}).fit(ds)
    gf = make("gf-cf", {"alpha": 0.0}).fit(ds)
    users = np.arange(ds.n_users)
    np.testing.assert_allclose(model.score(users), gf.score(users), rtol=1e-5, atol=1e-6)
    assert model.get_state()["V_"].shape == (0, ds.n_items)


def test_more_sharpening_steps_approach_the_exact_flow() -> None:
    """``K_s`` is the step count and ``T_s`` the time: fine steps of either solver approach the
    exact solution ``x(0) expm(-T_s L)``, rk4 much faster than Euler."""
    ds = random_data(seed=6)
    x = dense_x(ds)
    lin, low = filters(x, 8)
    t_s = 2.0
    exact = (x @ lin + 0.2 * x @ low) @ expm(-t_s * lin)
    users = np.arange(ds.n_users)

    def error(solver: str, k_s: int) -> float:
        model = make("bspm", {**PUBLISHED, "solver": solver, "k_s": k_s, "t_s": t_s}).fit(ds)
        return float(np.abs(model.score(users) - exact).max())

    euler = [error("euler", k) for k in (1, 4, 16)]
    assert euler[0] > euler[1] > euler[2]
    assert error("rk4", 4) < 1e-3 < euler[2]


def test_recommendations_exclude_the_history() -> None:
    ds = random_data(seed=7)
    model = make("bspm", {"vectors": 8}).fit(ds)
    seen = ds.interactions.csr("binary")
    users = np.arange(ds.n_users - 1)
    recs, scores = model.recommend(users, 5, exclude=seen)
    assert recs.shape == (len(users), 5)
    assert not np.any(seen[np.repeat(users, 5), recs.ravel()])
    assert np.all(np.diff(scores, axis=1) <= 0)
