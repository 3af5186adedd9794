"""Click models, team-draft interleaving and the A/B simulation (synthetic data; ml-100k for the
issue's acceptance figures)."""

from __future__ import annotations

import numpy as np
import pytest

from recbench.algorithms import plugins
from recbench.data import DatasetSpec, load_dataset
from recbench.errors import UsageError
from recbench.online import interleave
from recbench.online.clicks import ClickModel
from recbench.online.simulate import SimConfig, build_population, repeat, simulate
from recbench.split import make_split, parse_split
from tests.helpers import ML100K, checkerboard

# --- click models ----------------------------------------------------------------------------


def test_position_based_probabilities():
    cm = ClickModel("position", "log", 0.8, 0.1)
    attract = cm.attractiveness(np.array([[True, False, True]]))
    p = cm.click_probabilities(attract)
    assert p[0] == pytest.approx([0.8, 0.1 / np.log2(3), 0.8 / 2])
    power = ClickModel("position", "power:1").click_probabilities(np.ones((1, 3)))
    assert power[0] == pytest.approx([1, 1 / 2, 1 / 3])
    listed = ClickModel("position", "0.9,0.5").click_probabilities(np.ones((1, 3)))
    assert listed[0] == pytest.approx([0.9, 0.5, 0.5])


def test_cascade_probabilities_and_sampling():
    cm = ClickModel("cascade", attract_relevant=0.5, attract_other=0.2)
    attract = np.tile([0.5, 0.2, 0.5], (100_000, 1))
    p = cm.click_probabilities(attract[:1])[0]
    assert p == pytest.approx([0.5, 0.5 * 0.2, 0.5 * 0.8 * 0.5])
    clicks = cm.sample(attract, np.random.default_rng(0))
    assert clicks.sum(axis=1).max() == 1  # at most one click per session
    assert clicks.mean(axis=0) == pytest.approx(p, abs=0.005)
    multi = cm.sample(attract[:20_000], np.random.default_rng(1), sessions=4)
    assert multi.mean(axis=0) == pytest.approx(4 * p, abs=0.03)


def test_pbm_sampling_over_sessions():
    cm = ClickModel()
    attract = np.full((50_000, 2), 0.6)
    clicks = cm.sample(attract, np.random.default_rng(2), sessions=3)
    assert clicks.mean(axis=0) == pytest.approx(
        3 * cm.click_probabilities(attract[:1])[0], abs=0.02
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "dbn"},
        {"examination": "power:x"},
        {"examination": "1.5,0.2"},
        {"attract_relevant": 1.5},
        {"attract_other": -0.1},
    ],
)
def test_bad_click_model_parameters(kwargs):
    with pytest.raises(UsageError):
        ClickModel(**kwargs)


# --- team-draft interleaving -----------------------------------------------------------------


def test_team_draft_properties():
    rng = np.random.default_rng(0)
    n, k = 2000, 10
    a = np.array([rng.permutation(30)[:k] for _ in range(n)])
    b = np.array([rng.permutation(30)[:k] for _ in range(n)])
    il = interleave.team_draft(a, b, np.random.default_rng(1), k)
    assert (il.items >= 0).all()
    for row in range(0, n, 97):
        assert len(set(il.items[row])) == k  # no duplicates
    n_a = (il.team == interleave.TEAM_A).sum(axis=1)
    assert (np.abs(2 * n_a - k) <= 1).all()  # each team contributes half
    # every item comes from its team's list, at the recorded rank
    rows = np.arange(n)[:, None]
    src = np.where(il.team == interleave.TEAM_A, a[rows, il.source_rank], b[rows, il.source_rank])
    assert (src == il.items).all()
    # the first item is the top of whichever team picked first, about half the time each
    first_a = il.team[:, 0] == interleave.TEAM_A
    assert (il.items[first_a, 0] == a[first_a, 0]).all()
    assert 0.45 < first_a.mean() < 0.55
    # a team's picks keep its list's order
    ranks_a = np.where(il.team == interleave.TEAM_A, il.source_rank, -1)
    for row in range(0, n, 101):
        r = ranks_a[row][ranks_a[row] >= 0]
        assert (np.diff(r) > 0).all()


def test_team_draft_of_identical_lists_is_the_list_and_credit_counts():
    a = np.tile(np.arange(6), (50, 1))
    il = interleave.team_draft(a, a.copy(), np.random.default_rng(3), 6)
    assert (il.items == a).all()
    clicks = np.zeros((50, 6), dtype=int)
    clicks[:, 0] = 1
    ca, cb = interleave.credit(clicks, il.team)
    assert (ca + cb == 1).all() and 10 < ca.sum() < 40


def _outcomes(il: interleave.Interleaved) -> dict[tuple, float]:
    keys = [
        tuple(zip(i[i >= 0].tolist(), t[i >= 0].tolist(), r[i >= 0].tolist(), strict=True))
        for i, t, r in zip(il.items, il.team, il.source_rank, strict=True)
    ]
    return {key: keys.count(key) / len(keys) for key in set(keys)}


def test_team_draft_stops_when_either_list_has_no_unshown_item():
    """Hand-worked, Radlinski, Kurup & Joachims 2008, Algorithm 2 (team draft):
    A = (1, 2, 3), B = (2, 1, 4, 5), K = 6. The team with fewer picks goes next, a coin decides
    ties, each adds its top item not yet in I; stop once A or B has no unshown item.
      coin A: 1 (A); B's top unshown is 2 (B); coin again:
        A: 3 (A) -> A exhausted, stop: (1A, 2B, 3A)
        B: 4 (B); A (fewer picks) adds 3 (A) -> stop: (1A, 2B, 4B, 3A)
      coin B: 2 (B); A's top 1 (A); coin again:
        A: 3 (A) -> stop: (2B, 1A, 3A)
        B: 4 (B); A adds 3 -> stop: (2B, 1A, 4B, 3A)
    Each with probability 1/4; B's item 5 is never shown (the old code went on to show it)."""
    n = 4000
    a = np.tile([1, 2, 3, -1], (n, 1))
    b = np.tile([2, 1, 4, 5], (n, 1))
    il = interleave.team_draft(a, b, np.random.default_rng(7), 6)
    A, B = interleave.TEAM_A, interleave.TEAM_B
    expected = {  # (item, team, rank in that team's list)
        ((1, A, 0), (2, B, 0), (3, A, 2)),
        ((1, A, 0), (2, B, 0), (4, B, 2), (3, A, 2)),
        ((2, B, 0), (1, A, 0), (3, A, 2)),
        ((2, B, 0), (1, A, 0), (4, B, 2), (3, A, 2)),
    }
    got = _outcomes(il)
    assert set(got) == expected
    assert all(0.22 < share < 0.28 for share in got.values())
    assert (il.items[:, 4:] == -1).all() and (il.team[:, 4:] == -1).all()


def test_team_draft_with_a_shorter_list():
    """A = (1, 2, 3, 4), B = (5, 1), K = 4: coin A gives (1A, 5B) and B is out of unshown
    items; coin B gives (5B, 1A) and the same. Never a third item from A alone."""
    n = 1000
    a = np.tile([1, 2, 3, 4], (n, 1))
    b = np.tile([5, 1, -1, -1], (n, 1))
    il = interleave.team_draft(a, b, np.random.default_rng(0), 4)
    A, B = interleave.TEAM_A, interleave.TEAM_B
    got = _outcomes(il)
    assert set(got) == {((1, A, 0), (5, B, 0)), ((5, B, 0), (1, A, 0))}
    assert all(0.44 < share < 0.56 for share in got.values())
    one = interleave.team_draft(
        np.array([[1, 2, -1, -1]]), np.array([[3, -1, -1, -1]]), np.random.default_rng(0), 4
    )
    assert sorted(one.items[0][one.items[0] >= 0]) in ([3], [1, 3])


# --- simulation ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic():
    ds = checkerboard(n_users=120, n_items=40, seed=1)
    sp = make_split(ds, parse_split("holdout:0.3"), 0)
    good = plugins.make("ease", {}, seed=0).fit(sp.train)
    bad = plugins.make("random", {}, seed=0).fit(sp.train)
    return sp, good, bad


def test_simulation_better_model_wins(synthetic):
    sp, good, bad = synthetic
    pop = build_population(sp, [("random", bad), ("ease", good)], k=5)
    assert pop.arms[1].ndcg > pop.arms[0].ndcg
    cfg = SimConfig(n_users=3000, days=7)
    sim = simulate(pop, cfg, seed=0, interleaving=True)
    comp = sim.analysis.comparison("ctr")
    assert comp.treatment > comp.control and comp.p_value < 0.01
    assert sim.analysis.arms == ["random", "ease"]
    assert len(sim.sequential.z) == 7 and sim.day_users[-1] == 3000
    assert sim.sequential.gs_reject
    il = sim.interleaving
    assert il is not None and il.wins_treatment > il.wins_control and il.p_value < 0.01
    assert il.wins_control + il.wins_treatment + il.ties == 3000
    assert set(sim.log.columns) >= {"user", "arm", "day", "impressions", "clicks", "rating_sum"}
    assert (sim.log["clicks"] <= sim.log["impressions"]).all()
    # same seed, same result; another seed differs
    again = simulate(pop, cfg, seed=0, interleaving=True)
    assert again.log.equals(sim.log)
    assert not simulate(pop, cfg, seed=1).log["clicks"].equals(sim.log["clicks"])


def test_aa_simulation_is_calibrated_on_synthetic_data(synthetic):
    sp, good, _ = synthetic
    pop = build_population(sp, [("ease", good)], k=5)
    assert pop.arms[0] is pop.arms[1]
    rep = repeat(pop, SimConfig(n_users=400, days=5), list(range(80)))
    assert rep.fixed_horizon <= 0.15 and rep.group_sequential <= 0.15
    assert rep.msprt <= rep.group_sequential + 0.05
    assert rep.naive_peeking >= rep.fixed_horizon


def test_simulation_option_errors(synthetic):
    sp, good, bad = synthetic
    for kwargs in ({"share": 1.0}, {"sessions": 0}, {"days": 0}, {"n_users": 2}, {"alpha": 0}):
        with pytest.raises(UsageError):
            SimConfig(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        build_population(sp, [("a", good), ("b", bad), ("c", bad)])
    with pytest.raises(UsageError):
        build_population(sp, [("a", good)], k=0)


# --- ml-100k: the acceptance figures -------------------------------------------------


@pytest.fixture(scope="module")
def ml100k(tmp_path_factory):
    if not ML100K.exists():
        pytest.skip("shared ml-100k is not present")
    cache = tmp_path_factory.mktemp("cache")
    ds = load_dataset(DatasetSpec(str(ML100K), "user,item,rating,timestamp", "\\t"), cache)
    sp = make_split(ds, parse_split("holdout:0.2"), 0)
    models = {n: plugins.make(n, {}, seed=0).fit(sp.train) for n in ("popularity", "ease")}
    # the README's close pair: ALS at implicit's defaults (100 factors, alpha 1; NDCG@10 0.31
    # against EASE's 0.45). recbench's own ALS defaults (0.43) are closer still: A/B then needs
    # more than this test's 5,000 users to reach power at all.
    models["als"] = plugins.make("als", {"factors": 100, "alpha": 1.0}, seed=0).fit(sp.train)
    return sp, models


@pytest.mark.ml100k
@pytest.mark.slow
def test_ml100k_higher_offline_ndcg_has_higher_simulated_ctr(ml100k):
    sp, models = ml100k
    pop = build_population(sp, [("popularity", models["popularity"]), ("ease", models["ease"])])
    best = max(pop.arms, key=lambda a: a.ndcg).name
    for click in (ClickModel(), ClickModel("cascade")):
        sim = simulate(pop, SimConfig(click=click), seed=0)
        comp = sim.analysis.comparison("ctr")
        winner = sim.analysis.arms[1] if comp.diff > 0 else sim.analysis.arms[0]
        assert winner == best == "ease"
        assert comp.p_value < 0.01


@pytest.mark.ml100k
@pytest.mark.slow
def test_ml100k_aa_rejects_about_alpha_over_200_seeds(ml100k):
    sp, models = ml100k
    pop = build_population(sp, [("ease", models["ease"])])
    rep = repeat(pop, SimConfig(), list(range(200)))
    assert 0.025 <= rep.fixed_horizon <= 0.075
    assert 0.025 <= rep.group_sequential <= 0.075
    assert rep.msprt <= 0.05  # always valid, hence conservative over 14 daily looks
    assert rep.naive_peeking > 0.1


@pytest.mark.ml100k
@pytest.mark.slow
def test_ml100k_interleaving_needs_fewer_users(ml100k):
    """EASE vs popularity (a very large effect): interleaving needs ~4.5-5x fewer users under
    the cascade model and ~2x fewer under the position-based model (80% power over seeds)."""
    sp, models = ml100k
    pop = build_population(sp, [("popularity", models["popularity"]), ("ease", models["ease"])])
    cascade = repeat(pop, SimConfig(click=ClickModel("cascade")), list(range(100)), True)
    assert cascade.ab_users_for_power is not None
    assert cascade.interleaving_users_for_power is not None
    assert cascade.ab_users_for_power >= 4 * cascade.interleaving_users_for_power
    pbm = repeat(pop, SimConfig(), list(range(100)), True)
    assert pbm.ab_users_for_power is not None and pbm.interleaving_users_for_power is not None
    assert pbm.ab_users_for_power > 1.5 * pbm.interleaving_users_for_power


@pytest.mark.ml100k
@pytest.mark.slow
def test_ml100k_interleaving_is_far_more_sensitive_for_close_models(ml100k):
    """ALS (implicit's defaults) vs EASE (close offline NDCG) under the cascade model: >= 5x
    fewer users."""
    sp, models = ml100k
    pop = build_population(sp, [("als", models["als"]), ("ease", models["ease"])])
    cfg = SimConfig(click=ClickModel("cascade"), n_users=5000, days=7)
    rep = repeat(pop, cfg, list(range(20)), True)
    assert rep.ab_users_for_power is not None and rep.interleaving_users_for_power is not None
    assert rep.ab_users_for_power >= 5 * rep.interleaving_users_for_power
