"""Rehearse an online test on held-out data: A/B assignment and team-draft interleaving.

Protocol. Models are fitted on a split's training part (by the caller); every held-out user
(one with training history and at least one held-out rating) gets each model's top-K slate over
the full catalogue with their training items masked (the offline evaluation's ranking). Traffic
is these users in a seeded random order (or ``n_users`` drawn from them with replacement); each
visitor is assigned to the treatment arm with probability ``share``, sees that arm's slate in
``sessions`` sessions, and clicks by the click model (``recbench.online.clicks``), whose
attractiveness comes from the held-out ratings. Visitors arrive evenly over ``days`` days; the
sequential view looks once a day. Interleaving shows every visitor one team-draft interleaving of
both slates and counts the clicks each team gets.

Fitting is done once; each seed re-draws only the assignment, the interleaving coins and the
clicks, so many seeds (power, or the false-positive rate of an A/A test) are cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recbench.algorithms.base import Recommender, mask_seen, top_k
from recbench.errors import UsageError
from recbench.evaluation import history_matrix, relevant_pairs
from recbench.metrics import ranking_metrics
from recbench.online import interleave
from recbench.online.analysis import Analysis, analyze_users, cumulative_ratio, ratio_from_sums
from recbench.online.clicks import ClickModel
from recbench.online.sequential_test import SequentialView, sequential_view
from recbench.online.stats import sign_test_p, wilson_interval
from recbench.split import Split, SplitSpec
from recbench.stats.lazy import sps


@dataclass(frozen=True)
class ArmSlates:
    """One model's top-K slates for the held-out users, with held-out relevance and ratings."""

    name: str
    items: np.ndarray  # (n_users, K) item indices, -1 when fewer than K candidates
    relevant: np.ndarray  # (n_users, K) bool
    rating: np.ndarray  # (n_users, K) held-out rating, NaN where none
    ndcg: float  # offline NDCG@K over the held-out users with >= 1 relevant item


@dataclass(frozen=True)
class Population:
    """Held-out users and each arm's slates; built once, simulated under many seeds."""

    users: np.ndarray  # dense user indices
    arms: tuple[ArmSlates, ArmSlates]  # control, treatment
    k: int

    @property
    def n_users(self) -> int:
        return len(self.users)


@dataclass(frozen=True)
class SimConfig:
    """How traffic behaves in the simulation (see the module docstring)."""

    click: ClickModel = field(default_factory=ClickModel)
    share: float = 0.5
    sessions: int = 1
    days: int = 14
    n_users: int | None = None
    alpha: float = 0.05

    def __post_init__(self) -> None:
        if not 0 < self.share < 1:
            raise UsageError(f"--share must be in (0, 1), got {self.share}")
        if self.sessions < 1:
            raise UsageError(f"--sessions must be at least 1, got {self.sessions}")
        if self.days < 1:
            raise UsageError(f"--days must be at least 1, got {self.days}")
        if self.n_users is not None and self.n_users < 4:
            raise UsageError(f"--users must be at least 4, got {self.n_users}")
        if not 0 < self.alpha < 1:
            raise UsageError(f"--alpha must be in (0, 1), got {self.alpha}")


def check_simulation(repeats: int, k: int, split: SplitSpec, n_algos: int) -> None:
    """The simulate options a SimConfig does not hold, checked before any work."""
    if repeats < 0:
        raise UsageError(f"--repeat must be >= 0, got {repeats}")
    if k <= 0:
        raise UsageError(f"--k must be positive, got {k}")
    if not split.holds_out:
        raise UsageError(f"abtest simulate needs a split with held-out data (not '{split}')")
    if n_algos > 2:
        raise UsageError(f"--algos takes one or two algorithms, got {n_algos}")


def build_population(
    split: Split,
    models: list[tuple[str, Recommender]],
    k: int = 10,
    relevance_threshold: float | None = None,
    batch_size: int = 2048,
) -> Population:
    """Top-K slates of two fitted models (one model: an A/A test) for the held-out users."""
    if k <= 0:
        raise UsageError(f"--k must be positive, got {k}")
    if not 1 <= len(models) <= 2:
        raise UsageError(f"an A/B simulation takes one or two algorithms, got {len(models)}")
    if split.cold is not None:
        raise UsageError("abtest simulate needs a split of known users (not a cold-start split)")
    test = split.test
    seen = history_matrix(split)
    n_items = test.n_items
    has_test = np.bincount(test.user, minlength=test.n_users) > 0
    users = np.flatnonzero(has_test & (np.diff(seen.indptr) > 0)).astype(np.int64)
    if len(users) < 4:
        raise UsageError(f"the split has {len(users)} held-out users with history; need >= 4")
    rel_u, rel_i = relevant_pairs(split, relevance_threshold)
    rel_keys = np.sort(rel_u.astype(np.int64) * n_items + rel_i)
    n_rel = np.bincount(rel_u, minlength=test.n_users)[users]
    test_keys = test.user.astype(np.int64) * n_items + test.item
    order = np.argsort(test_keys, kind="stable")
    test_keys = test_keys[order]
    test_rating = None if test.rating is None else np.asarray(test.rating, np.float64)[order]
    built = []
    for name, model in models:
        items = np.full((len(users), k), -1, dtype=np.int64)
        for start in range(0, len(users), batch_size):
            ub = users[start : start + batch_size]
            scores = np.array(model.score(ub), dtype=np.float32)
            mask_seen(scores, seen, ub)
            idx, vals = top_k(scores, k)
            idx = np.where(np.isfinite(vals), idx, -1)
            items[start : start + len(ub), : idx.shape[1]] = idx
        flat = users[:, None] * n_items + items
        relevant = _member(rel_keys, flat) & (items >= 0)
        rating = np.full(items.shape, np.nan)
        if test_rating is not None and len(test_keys):
            pos = np.minimum(np.searchsorted(test_keys, flat), len(test_keys) - 1)
            hit = (test_keys[pos] == flat) & (items >= 0)
            rating[hit] = test_rating[pos[hit]]
        has_rel = n_rel > 0
        ndcg = (
            float(ranking_metrics(relevant[has_rel], n_rel[has_rel], (k,))[("ndcg", k)].mean())
            if has_rel.any()
            else float("nan")
        )
        built.append(ArmSlates(name, items, relevant, rating, ndcg))
    pair = (built[0], built[-1]) if len(built) == 1 else (built[0], built[1])
    return Population(users, pair, k)


def _member(sorted_keys: np.ndarray, flat: np.ndarray) -> np.ndarray:
    if not len(sorted_keys):
        return np.zeros(flat.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_keys, flat), len(sorted_keys) - 1)
    return sorted_keys[pos] == flat


@dataclass
class InterleavingResult:
    """Team-draft interleaving of the two slates over the same visitors."""

    users: int
    wins_control: int
    wins_treatment: int
    ties: int
    share_treatment: float  # wins_treatment / (wins_treatment + wins_control)
    share_low: float
    share_high: float
    delta: float  # Chapelle et al. 2012: (wins_T + ties/2) / users - 1/2
    p_value: float  # exact sign test over users with a preference
    users_to_significance: int | None
    users_for_power: float | None
    p_path: np.ndarray  # sign-test p-value after each visitor


@dataclass
class Simulation:
    """One seeded run: the simulated per-user log, its analysis and the sequential views."""

    seed: int
    log: pd.DataFrame  # one row per visitor: user, arm, day, impressions, clicks, ...
    analysis: Analysis
    sequential: SequentialView
    day_users: np.ndarray  # cumulative visitors per look
    day_lift: np.ndarray  # cumulative relative CTR lift per look
    ab_users_to_significance: int | None
    ab_users_for_power: float | None
    interleaving: InterleavingResult | None
    ab_p_path: np.ndarray  # p-value of the CTR difference after each visitor


def _visitors(pop: Population, cfg: SimConfig, rng: np.random.Generator) -> np.ndarray:
    if cfg.n_users is None:
        return rng.permutation(pop.n_users)
    return rng.integers(0, pop.n_users, size=cfg.n_users)


def simulate(pop: Population, cfg: SimConfig, seed: int, interleaving: bool = False) -> Simulation:
    """One seeded A/B run (and, optionally, interleaving over the same visitors)."""
    rng = np.random.default_rng([seed, 0])
    rows = _visitors(pop, cfg, rng)
    n = len(rows)
    if n < 2 * cfg.days:
        raise UsageError(
            f"{n} visitors over {cfg.days} days is too few for daily looks; use --users or "
            "fewer --days"
        )
    treat = rng.random(n) < cfg.share
    a, b = pop.arms
    relevant = np.where(treat[:, None], b.relevant[rows], a.relevant[rows])
    rating = np.where(treat[:, None], b.rating[rows], a.rating[rows])
    shown = np.where(treat[:, None], b.items[rows], a.items[rows]) >= 0
    attract = cfg.click.attractiveness(relevant) * shown
    clicks = cfg.click.sample(attract, rng, cfg.sessions)
    rated = np.isfinite(rating)
    day = (np.arange(n) * cfg.days) // n
    log = pd.DataFrame(
        {
            "user": np.arange(n),
            "source_user": pop.users[rows],
            "arm": np.where(treat, b.name if b is not a else "B", a.name if b is not a else "A"),
            "day": day,
            "impressions": shown.sum(axis=1) * cfg.sessions,
            "clicks": clicks.sum(axis=1),
            "rated_clicks": (clicks * rated).sum(axis=1),
            "rating_sum": (clicks * np.where(rated, rating, 0.0)).sum(axis=1),
        }
    )
    control_name = str(log["arm"].iloc[np.flatnonzero(~treat)[0]]) if (~treat).any() else None
    if treat.all() or not treat.any():
        raise UsageError("the simulated traffic put every user in one arm; use more users")
    analysis = analyze_users(log, control=control_name, alpha=cfg.alpha)
    num = log["clicks"].to_numpy(np.float64)
    den = log["impressions"].to_numpy(np.float64)
    rc, vc, _ = cumulative_ratio(num[~treat], den[~treat], day[~treat], cfg.days)
    rt, vt, _ = cumulative_ratio(num[treat], den[treat], day[treat], cfg.days)
    users_per_day = np.cumsum(np.bincount(day, minlength=cfg.days))
    planned = np.arange(1, cfg.days + 1) / cfg.days  # equal traffic per day, as planned
    seq = sequential_view(rt - rc, vc + vt, planned, cfg.alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = rt / rc - 1
    p_path = _ab_p_path(num, den, treat)
    needed = _stays_significant(p_path, cfg.alpha)
    comp = analysis.comparison("ctr")
    power_n = _ab_users_for_power(analysis, cfg, comp.diff)
    inter = _interleave(pop, cfg, rows, seed) if interleaving else None
    return Simulation(seed, log, analysis, seq, users_per_day, lift, needed, power_n, inter, p_path)


def _stays_significant(p: np.ndarray, alpha: float) -> int | None:
    """Smallest prefix length after which every prefix's p-value is below alpha."""
    ok = p < alpha
    if not ok[-1]:
        return None
    bad = np.flatnonzero(~ok)
    return int(bad[-1]) + 2 if len(bad) else 1


def _ab_p_path(num: np.ndarray, den: np.ndarray, treat: np.ndarray) -> np.ndarray:
    """p-value of the CTR difference after each visitor (both arms, in arrival order)."""
    n = len(num)
    stats_by_arm = []
    for sel in (~treat, treat):
        w = sel.astype(np.float64)
        sums = [np.cumsum(v * w) for v in (np.ones(n), num, den, num**2, den**2, num * den)]
        stats_by_arm.append(ratio_from_sums(*sums))
    (rc, vc, _), (rt, vt, _) = stats_by_arm
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (rt - rc) / np.sqrt(vc + vt)
    return np.where(np.isfinite(z), 2 * sps().norm.sf(np.abs(z)), 1.0)


def _ab_users_for_power(
    analysis: Analysis, cfg: SimConfig, diff: float, power: float = 0.8
) -> float | None:
    """Total visitors an A/B test needs for ``power`` at the observed CTR difference."""
    if diff == 0:
        return None
    # per-visitor variance of each arm's CTR: variance of the estimate x users in the arm
    est_c = _arm_var(analysis, analysis.arms[0])
    est_t = _arm_var(analysis, analysis.arms[1])
    zsum = sps().norm.isf(cfg.alpha / 2) + sps().norm.ppf(power)
    return float(zsum**2 * (est_c / (1 - cfg.share) + est_t / cfg.share) / diff**2)


def _arm_var(analysis: Analysis, arm: str) -> float:
    row = analysis.estimate("ctr", arm)
    return float(row.se**2 * row.users)


def _interleave(pop: Population, cfg: SimConfig, rows: np.ndarray, seed: int) -> InterleavingResult:
    rng = np.random.default_rng([seed, 1])
    a, b = pop.arms
    il = interleave.team_draft(a.items[rows], b.items[rows], rng, pop.k)
    src = np.maximum(il.source_rank, 0)
    r = np.arange(len(rows))[:, None]
    rel = np.where(
        il.team == interleave.TEAM_A, a.relevant[rows[r], src], b.relevant[rows[r], src]
    ) & (il.items >= 0)
    attract = cfg.click.attractiveness(rel) * (il.items >= 0)
    clicks = cfg.click.sample(attract, rng, cfg.sessions)
    ca, cb = interleave.credit(clicks, il.team)
    win_a, win_b = ca > cb, cb > ca
    n = len(rows)
    wa, wb = int(win_a.sum()), int(win_b.sum())
    ties = n - wa - wb
    lo, hi = wilson_interval(wb, wa + wb, cfg.alpha) if wa + wb else (np.nan, np.nan)
    p_path = sign_test_p(np.cumsum(win_a), np.cumsum(win_b))
    score = win_b.astype(np.float64) - win_a
    mu, sd = score.mean(), score.std(ddof=1)
    zsum = sps().norm.isf(cfg.alpha / 2) + sps().norm.ppf(0.8)
    for_power = float((zsum * sd / mu) ** 2) if mu != 0 else None
    return InterleavingResult(
        n,
        wa,
        wb,
        ties,
        wb / (wa + wb) if wa + wb else float("nan"),
        float(lo),
        float(hi),
        (wb + ties / 2) / n - 0.5,
        float(sign_test_p(wa, wb)),
        _stays_significant(p_path, cfg.alpha),
        for_power,
        p_path,
    )


@dataclass(frozen=True)
class RepeatSummary:
    """Share of seeds in which each procedure rejected H0 (false-positive rate or power), and
    the visitors each method needed to be significant in ``power`` of the seeds."""

    seeds: int
    alpha: float
    fixed_horizon: float  # delta-method z-test on CTR at the end
    group_sequential: float  # O'Brien-Fleming alpha spending over the daily looks
    msprt: float  # always-valid p < alpha by the end (continuous-monitoring safe)
    naive_peeking: float  # fixed-horizon test checked every day (not valid: for contrast)
    interleaving: float | None  # sign test at the end
    power: float
    ab_users_for_power: int | None  # smallest n with P(p_n < alpha) >= power over seeds
    interleaving_users_for_power: int | None


def _n_for_power(paths: np.ndarray, alpha: float, power: float) -> int | None:
    share = (paths < alpha).mean(axis=0)
    ok = np.flatnonzero(share >= power)
    return int(ok[0]) + 1 if len(ok) else None


def repeat(
    pop: Population,
    cfg: SimConfig,
    seeds: list[int],
    interleaving: bool = False,
    power: float = 0.8,
) -> RepeatSummary:
    """Re-randomise assignment and clicks under each seed (no refitting); rejection rates."""
    if not seeds:
        raise UsageError("--repeat needs at least one seed")
    fixed = gs = ms = naive = il = 0
    ab_paths, il_paths = [], []
    for s in seeds:
        sim = simulate(pop, cfg, s, interleaving)
        fixed += sim.analysis.comparison("ctr").p_value < cfg.alpha
        gs += sim.sequential.gs_reject
        ms += sim.sequential.msprt_reject
        naive += sim.sequential.naive_peeking_reject
        ab_paths.append(sim.ab_p_path)
        if sim.interleaving is not None:
            il += sim.interleaving.p_value < cfg.alpha
            il_paths.append(sim.interleaving.p_path)
    k = len(seeds)
    return RepeatSummary(
        k,
        cfg.alpha,
        fixed / k,
        gs / k,
        ms / k,
        naive / k,
        il / k if interleaving else None,
        power,
        _n_for_power(np.array(ab_paths), cfg.alpha, power),
        _n_for_power(np.array(il_paths), cfg.alpha, power) if interleaving else None,
    )


def fit_arms(
    split: Split,
    specs: list[Any],
    seed: int,
    fitting: Callable[[str], AbstractContextManager[object]] | None = None,
) -> list[tuple[str, Recommender]]:
    """Each arm's algorithm (an :class:`recbench.experiment.AlgoSpec`) fitted on the split's
    training part; ``fitting(label)`` wraps each fit (a status line)."""
    from contextlib import nullcontext

    from recbench.algorithms import plugins

    fitted = []
    for spec in specs:
        model = plugins.make(spec.name, spec.params, seed=seed)
        with fitting(spec.label) if fitting is not None else nullcontext():
            model.fit(split.train)
        fitted.append((spec.label, model))
    return fitted
