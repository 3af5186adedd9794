"""Tests for recbench.metrics.beyond: hand-computed cases, brute-force references, properties."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import recbench.metrics.beyond as beyond
from recbench.errors import UsageError
from recbench.metrics.beyond import (
    BEYOND_METRICS,
    arp_at_k,
    beyond_metrics,
    coverage_at_k,
    gini_at_k,
    ild_at_k,
    long_tail_mask,
    novelty_at_k,
    personalisation_at_k,
)

# Three users, five items; the third user's list has one empty slot.
TOPK = np.array([[0, 1], [0, 2], [1, -1]])
POP = np.array([8.0, 4.0, 2.0, 1.0, 0.0])
VECTORS = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0], [2.0, 0.0]])


def aplt_at_k(topk: np.ndarray, k: int, popularity: np.ndarray) -> np.ndarray:
    """APLT through the metric table (the one place it is computed)."""
    return beyond_metrics(topk, [k], popularity, 1, names=("aplt",))[("aplt", k)]  # type: ignore[return-value]


# --------------------------------------------------------------------------- by hand


def test_coverage_by_hand() -> None:
    assert coverage_at_k(TOPK, 2, 5) == pytest.approx(3 / 5)
    assert coverage_at_k(TOPK, 1, 5) == pytest.approx(2 / 5)


def test_gini_by_hand() -> None:
    # exposure 2, 2, 1, 0, 0 -> shares sorted 0, 0, .2, .4, .4;
    # sum (2j - 6) p_j = 0 + 0 + 0 + 2(.4) + 4(.4) = 2.4, divided by n - 1 = 4
    assert gini_at_k(TOPK, 2, 5) == pytest.approx(0.6)
    assert gini_at_k(np.array([[0], [1], [2]]), 1, 3) == 0.0  # even exposure
    assert gini_at_k(np.array([[4], [4]]), 1, 5) == pytest.approx(1.0)  # one item only
    assert math.isnan(gini_at_k(np.full((2, 1), -1), 1, 5))


def test_personalisation_by_hand() -> None:
    # overlaps: (u0, u1) = 1, (u0, u2) = 1, (u1, u2) = 0 -> mean 2/3 items of K = 2
    assert personalisation_at_k(TOPK, 2, 5) == pytest.approx(1 - (2 / 3) / 2)
    same = np.tile([3, 1, 4], (6, 1))
    assert personalisation_at_k(same, 3, 5) == 0.0
    disjoint = np.array([[0, 1], [2, 3], [4, 5]])
    assert personalisation_at_k(disjoint, 2, 6) == 1.0
    assert math.isnan(personalisation_at_k(TOPK[:1], 2, 5))


def test_novelty_by_hand() -> None:
    # self-information with 8 training users: item0 0 bits, item1 1, item2 2, item3 3,
    # item4 (never seen, counted as seen once) 3
    assert novelty_at_k(TOPK, 2, POP, 8) == pytest.approx([0.5, 1.0, 1.0])
    assert novelty_at_k(np.array([[3, 4]]), 2, POP, 8) == pytest.approx([3.0])


def test_arp_by_hand() -> None:
    assert arp_at_k(TOPK, 2, POP) == pytest.approx([6.0, 5.0, 4.0])
    assert arp_at_k(TOPK, 1, POP) == pytest.approx([8.0, 8.0, 4.0])


def test_long_tail_and_aplt_by_hand() -> None:
    # head = ceil(0.2 * 5) = 1 item: item 0
    assert long_tail_mask(POP).tolist() == [False, True, True, True, True]
    assert aplt_at_k(TOPK, 2, POP) == pytest.approx([0.5, 0.5, 1.0])
    # ten items, head = 2; ties at the boundary go to the lower index
    pop = np.array([5, 3, 3, 3, 1, 1, 1, 1, 1, 0])
    assert np.flatnonzero(~long_tail_mask(pop)).tolist() == [0, 1]


@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_ild_by_hand(kind: str) -> None:
    vec = VECTORS if kind == "dense" else sp.csr_array(VECTORS)
    ild = ild_at_k(TOPK, 2, vec)
    assert ild[:2] == pytest.approx([1.0, 1.0 - 1 / math.sqrt(2)])
    assert math.isnan(ild[2])  # one item: no pairs
    three = ild_at_k(np.array([[0, 2, 4]]), 3, vec)
    assert three == pytest.approx([1.0 - (1 / math.sqrt(2) + 1.0 + 1 / math.sqrt(2)) / 3])
    assert ild_at_k(np.array([[0, 3]]), 2, vec) == pytest.approx([1.0])  # zero vector


def test_beyond_metrics_collects_everything() -> None:
    out = beyond_metrics(TOPK, [1, 2], POP, 8, item_vectors=VECTORS)
    assert set(out) == {(n, k) for n in BEYOND_METRICS for k in (1, 2)}
    assert out["coverage", 2] == pytest.approx(0.6)
    assert out["aplt", 2] == pytest.approx([0.5, 0.5, 1.0])
    for name, info in BEYOND_METRICS.items():
        value = out[name, 2]
        assert isinstance(value, float) == (info.scope == "aggregate")
    assert ("ild", 2) not in beyond_metrics(TOPK, [2], POP, 8)
    assert set(beyond_metrics(TOPK, [2], POP, 8, names=("arp",))) == {("arp", 2)}


def test_bad_input() -> None:
    with pytest.raises(UsageError, match="K must be"):
        coverage_at_k(TOPK, 0, 5)
    with pytest.raises(UsageError, match="outside"):
        coverage_at_k(TOPK, 2, 2)
    with pytest.raises(UsageError, match="repeats"):
        coverage_at_k(np.array([[1, 1]]), 2, 5)
    with pytest.raises(UsageError, match="integer"):
        coverage_at_k(np.array([[0.5, 1.0]]), 2, 5)
    with pytest.raises(UsageError, match="non-negative"):
        arp_at_k(TOPK, 2, [1.0, -1.0, 0.0, 0.0, 0.0])
    with pytest.raises(UsageError, match="training users"):
        novelty_at_k(TOPK, 2, POP, 0)
    with pytest.raises(UsageError, match="unknown beyond"):
        beyond_metrics(TOPK, [2], POP, 8, names=("serendipity",))
    with pytest.raises(UsageError, match="sample"):
        personalisation_at_k(TOPK, 2, 5, sample=1)


# --------------------------------------------------------------------------- references


def brute_ild(topk: np.ndarray, k: int, vec: np.ndarray) -> np.ndarray:
    out = []
    for row in topk[:, :k]:
        items = [i for i in row if i >= 0]
        sims = []
        for i, j in itertools.combinations(items, 2):
            ni, nj = np.linalg.norm(vec[i]), np.linalg.norm(vec[j])
            sims.append(0.0 if ni == 0 or nj == 0 else vec[i] @ vec[j] / (ni * nj))
        out.append(1.0 - np.mean(sims) if sims else np.nan)
    return np.array(out)


def brute_personalisation(topk: np.ndarray, k: int) -> float:
    sets = [{i for i in row if i >= 0} for row in topk[:, :k]]
    overlaps = [len(a & b) / k for a, b in itertools.combinations(sets, 2)]
    return 1.0 - float(np.mean(overlaps))


def brute_gini(topk: np.ndarray, k: int, n_items: int) -> float:
    x = np.bincount(topk[:, :k][topk[:, :k] >= 0], minlength=n_items).astype(float)
    mad = np.abs(x[:, None] - x[None, :]).sum()
    return float(mad / (2 * n_items * x.sum()) * n_items / (n_items - 1))


@st.composite
def lists(draw: st.DrawFn) -> tuple[np.ndarray, int, int]:
    """(top-K matrix with distinct items per row and some short lists, K, n_items)."""
    n_items = draw(st.integers(2, 25))
    n_users = draw(st.integers(2, 15))
    k = draw(st.integers(1, min(6, n_items)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    topk = np.argsort(rng.random((n_users, n_items)), axis=1)[:, :k]
    short = rng.random(n_users) < 0.2
    lengths = np.where(short, rng.integers(0, k + 1, n_users), k)
    topk[np.arange(k)[None, :] >= lengths[:, None]] = -1
    return topk, k, n_items


@settings(max_examples=60, deadline=None)
@given(lists(), st.integers(0, 2**32 - 1))
def test_ranges_and_references(data: tuple[np.ndarray, int, int], seed: int) -> None:
    topk, k, n_items = data
    rng = np.random.default_rng(seed)
    pop = rng.integers(0, 20, n_items).astype(float)
    n_users = 20
    vec = rng.random((n_items, 4)) * (rng.random((n_items, 4)) < 0.6)
    eps = 1e-9
    cov = coverage_at_k(topk, k, n_items)
    assert 0.0 <= cov <= 1.0
    if (topk >= 0).any():
        g = gini_at_k(topk, k, n_items)
        assert -eps <= g <= 1.0 + eps
        assert g == pytest.approx(brute_gini(topk, k, n_items))
    pers = personalisation_at_k(topk, k, n_items)
    assert -eps <= pers <= 1.0 + eps
    assert pers == pytest.approx(brute_personalisation(topk, k))
    nov = novelty_at_k(topk, k, pop, n_users)
    ok = ~np.isnan(nov)
    assert ((nov[ok] >= 0) & (nov[ok] <= math.log2(n_users) + eps)).all()
    assert np.isnan(nov).tolist() == (topk[:, :k] < 0).all(axis=1).tolist()
    arp = arp_at_k(topk, k, pop)
    assert ((arp[ok] >= pop.min()) & (arp[ok] <= pop.max())).all()
    aplt = aplt_at_k(topk, k, pop)
    assert ((aplt[ok] >= 0) & (aplt[ok] <= 1)).all()
    ild = ild_at_k(topk, k, vec)
    ref = brute_ild(topk, k, vec)
    np.testing.assert_allclose(ild, ref, atol=1e-9)
    np.testing.assert_allclose(ild_at_k(topk, k, sp.csr_array(vec)), ref, atol=1e-9)
    good = ~np.isnan(ild)
    assert ((ild[good] >= -eps) & (ild[good] <= 1 + eps)).all()


@settings(max_examples=40, deadline=None)
@given(lists(), st.integers(0, 2**32 - 1))
def test_invariances(data: tuple[np.ndarray, int, int], seed: int) -> None:
    topk, k, n_items = data
    rng = np.random.default_rng(seed)
    pop = rng.permutation(n_items).astype(float) + 1.0  # distinct: the tail has no ties
    vec = rng.random((n_items, 3))
    # users in another order: aggregates unchanged, per-user values permuted with the users
    perm = rng.permutation(len(topk))
    for f in (coverage_at_k, gini_at_k, personalisation_at_k):
        a, b = f(topk, k, n_items), f(topk[perm], k, n_items)
        assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b)
    np.testing.assert_allclose(arp_at_k(topk[perm], k, pop), arp_at_k(topk, k, pop)[perm])
    # items in another order within each list: every metric is a function of the set
    shuffled = np.take_along_axis(topk, np.argsort(rng.random(topk.shape), axis=1), axis=1)
    np.testing.assert_allclose(ild_at_k(shuffled, k, vec), ild_at_k(topk, k, vec))
    np.testing.assert_allclose(novelty_at_k(shuffled, k, pop, 30), novelty_at_k(topk, k, pop, 30))
    assert coverage_at_k(shuffled, k, n_items) == coverage_at_k(topk, k, n_items)
    # items renamed consistently (lists, popularity, vectors): nothing changes
    rename = rng.permutation(n_items)
    renamed = np.where(topk >= 0, rename[np.maximum(topk, 0)], -1)
    new_pop, new_vec = np.empty_like(pop), np.empty_like(vec)
    new_pop[rename], new_vec[rename] = pop, vec
    np.testing.assert_allclose(aplt_at_k(renamed, k, new_pop), aplt_at_k(topk, k, pop))
    np.testing.assert_allclose(ild_at_k(renamed, k, new_vec), ild_at_k(topk, k, vec))
    assert gini_at_k(renamed, k, n_items) == pytest.approx(gini_at_k(topk, k, n_items), nan_ok=True)
    # coverage never falls as K grows
    assert all(
        coverage_at_k(topk, j, n_items) <= coverage_at_k(topk, j + 1, n_items) for j in range(1, k)
    )


def test_personalisation_sample_is_seeded() -> None:
    rng = np.random.default_rng(0)
    topk = np.argsort(rng.random((300, 50)), axis=1)[:, :5]
    exact = personalisation_at_k(topk, 5, 50)
    assert personalisation_at_k(topk, 5, 50, sample=300) == exact
    s1 = personalisation_at_k(topk, 5, 50, sample=100, seed=1)
    assert s1 == personalisation_at_k(topk, 5, 50, sample=100, seed=1)
    assert s1 != personalisation_at_k(topk, 5, 50, sample=100, seed=2)
    assert abs(s1 - exact) < 0.02


def test_ild_batches_bound_memory_without_changing_values(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    train = sp.random_array((200, 60), density=0.1, rng=rng, format="csr")
    cooc = sp.csr_array((train > 0).astype(np.float64).T)  # items' co-occurrence vectors
    topk = np.argsort(rng.random((120, 60)), axis=1)[:, :10]
    whole = ild_at_k(topk, 10, cooc)
    monkeypatch.setattr(beyond, "_BATCH_NNZ", 50)
    np.testing.assert_allclose(ild_at_k(topk, 10, cooc), whole)
    np.testing.assert_allclose(whole, brute_ild(topk, 10, cooc.toarray()), atol=1e-12)
