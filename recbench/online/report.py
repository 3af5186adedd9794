"""Results of ``abtest`` commands as named sections of tidy frames (no printing here).

The CLI renders each :class:`Section` as a rich table, Markdown or CSV rows, and the whole
report as one JSON object (:func:`to_json`). Frames hold raw numbers; formatting is the CLI's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recbench.algorithms.base import Recommender
from recbench.online.analysis import Analysis
from recbench.online.power import Plan
from recbench.online.simulate import (
    Population,
    RepeatSummary,
    SimConfig,
    Simulation,
    build_population,
    repeat,
    simulate,
)
from recbench.split import Split


@dataclass
class Section:
    """One table of a report: a machine name, a title, the rows and notes printed below."""

    name: str
    title: str
    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _clean(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return None if not math.isfinite(v) else v
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def to_json(schema: str, sections: list[Section], meta: dict[str, Any]) -> dict[str, Any]:
    """One JSON-ready object: schema, meta fields, then each section's rows and notes."""
    doc: dict[str, Any] = {"schema": schema, **{k: _clean(v) for k, v in meta.items()}}
    for s in sections:
        rows = [{k: _clean(v) for k, v in r.items()} for r in s.frame.to_dict("records")]
        doc[s.name] = {"rows": rows, "notes": s.notes} if s.notes else rows
    return doc


def to_csv_frame(sections: list[Section]) -> pd.DataFrame:
    """All sections stacked into one frame with a leading ``section`` column."""
    frames = [s.frame.assign(section=s.name) for s in sections if len(s.frame)]
    stacked = pd.concat(frames, ignore_index=True, sort=False)
    cols = ["section", *[c for c in stacked.columns if c != "section"]]
    stacked = stacked[cols]
    counts = ("seeds", "wins_control", "wins_treatment", "ties")
    for c in cols:  # counts padded with NaN by the stacking stay whole numbers
        v = stacked[c]
        is_count = c.startswith("users") or c in counts
        if is_count and v.dtype.kind == "f" and (v.dropna() % 1 == 0).all():
            stacked[c] = v.astype("Int64")
    return stacked


def analysis_sections(a: Analysis) -> list[Section]:
    """Per-arm estimates, comparisons with control, and the sample-ratio check."""
    pct = round((1 - a.alpha) * 100)
    arms = pd.DataFrame(
        [
            {
                "arm": r.arm,
                "metric": r.metric,
                "users": r.users,
                "value": r.value,
                "ci_low": r.low,
                "ci_high": r.high,
            }
            for r in a.estimates
        ]
    )
    comp_rows = []
    for c in a.comparisons:
        row = {
            "arm": c.arm,
            "control": c.control,
            "metric": c.metric,
            "control_value": c.result.control,
            "arm_value": c.result.treatment,
            "lift": c.result.lift,
            "lift_low": c.result.lift_low,
            "lift_high": c.result.lift_high,
            "p_value": c.result.p_value,
            "test": c.result.method,
        }
        if c.boot_low is not None:
            row.update(boot_low=c.boot_low, boot_high=c.boot_high, boot_p=c.boot_p)
        comp_rows.append(row)
    srm = a.srm
    srm_frame = pd.DataFrame(
        [
            {
                "arm": arm,
                "users": obs,
                "expected": exp,
                "chi2": srm.chi2,
                "p_value": srm.p_value,
                "mismatch": srm.mismatch,
            }
            for arm, obs, exp in zip(a.arms, srm.observed, srm.expected, strict=True)
        ]
    )
    metric_notes = [f"{m.name}: {m.description}" for m in a.metrics]
    notes = [
        f"{pct}% intervals. Ratio metrics (ctr, engagement) and means use the delta method "
        "clustered by user (Deng et al. 2018); conversion: Wilson interval per arm, pooled "
        "two-proportion z-test.",
        "; ".join(metric_notes),
    ]
    comp_notes = ["lift = arm / control - 1 with a delta-method interval; p-values are two-sided."]
    srm_notes = [
        f"sample-ratio check: chi-square {srm.chi2:.3f}, p = {srm.p_value:.3g} "
        f"(mismatch when p < {srm.threshold:g})"
    ]
    if a.overlap_users:
        srm_notes.append(
            f"{a.overlap_users} user(s) appear in more than one arm and were left out "
            f"(e.g. {', '.join(a.overlap_examples)})"
        )
    return [
        Section("arms", "per arm", arms, notes),
        Section("comparisons", "against control", pd.DataFrame(comp_rows), comp_notes),
        Section("sample_ratio", "sample ratio", srm_frame, srm_notes),
    ]


def simulation_sections(
    sim: Simulation,
    pop: Population,
    cfg: SimConfig,
    rep: RepeatSummary | None = None,
) -> list[Section]:
    """Offline vs online per arm, comparisons, the daily sequential view, interleaving."""
    a = sim.analysis
    secs = analysis_sections(a)
    k = pop.k
    ndcg = {arm.name: arm.ndcg for arm in pop.arms}
    if pop.arms[0] is pop.arms[1]:
        ndcg = {"A": pop.arms[0].ndcg, "B": pop.arms[0].ndcg}
    arms = secs[0].frame
    offline = pd.DataFrame(
        [
            {"arm": arm, "metric": f"offline ndcg@{k}", "users": None, "value": ndcg.get(arm)}
            for arm in a.arms
        ]
    )
    secs[0].frame = pd.concat([offline, arms], ignore_index=True)
    secs[0].notes.insert(
        0,
        f"offline ndcg@{k}: the same slates scored against the held-out ratings (users with "
        f">= 1 relevant held-out item).",
    )
    seq = sim.sequential
    days = pd.DataFrame(
        {
            "day": np.arange(1, len(seq.z) + 1),
            "users": sim.day_users,
            "ctr_lift": sim.day_lift,
            "diff": seq.diff,
            "z": seq.z,
            "naive_p": seq.naive_p,
            "always_valid_p": seq.always_valid_p,
            "cs_low": seq.cs_low,
            "cs_high": seq.cs_high,
            "gs_boundary": seq.boundary,
            "gs_reject": np.abs(seq.z) >= seq.boundary,
        }
    )
    stop = seq.gs_stop_look
    seq_notes = [
        "diff = CTR(treatment) - CTR(control) on the users so far; naive_p is the fixed-horizon "
        "p-value (peeking at it inflates false positives).",
        f"always_valid_p and [cs_low, cs_high]: mSPRT always-valid p-value and confidence "
        f"sequence (Johari et al. 2017; mixture variance {seq.tau2:.3g}), safe under "
        "continuous monitoring.",
        "gs_boundary: group-sequential |z| boundary for these daily looks, O'Brien-Fleming-type "
        "alpha spending (Lan & DeMets 1983); "
        + (f"crossed on day {stop + 1}." if stop is not None else "not crossed."),
    ]
    secs.append(Section("sequential", "day by day (CTR)", days, seq_notes))
    need_rows = [
        {
            "method": "A/B test (CTR, delta method)",
            "users": len(sim.log),
            "p_value": a.comparison("ctr").p_value,
            "users_to_significance": sim.ab_users_to_significance,
            "users_for_80pct_power": sim.ab_users_for_power,
        }
    ]
    need_notes = [
        "users_to_significance: visitors (in arrival order, all arms) after which the test "
        "stays significant at alpha; users_for_80pct_power: from the observed effect and "
        "per-user variance."
    ]
    il = sim.interleaving
    if il is not None:
        need_rows.append(
            {
                "method": "team-draft interleaving (sign test)",
                "users": il.users,
                "p_value": il.p_value,
                "users_to_significance": il.users_to_significance,
                "users_for_80pct_power": il.users_for_power,
            }
        )
        pref = pd.DataFrame(
            [
                {
                    "control": a.arms[0],
                    "treatment": a.arms[1],
                    "users": il.users,
                    "wins_control": il.wins_control,
                    "wins_treatment": il.wins_treatment,
                    "ties": il.ties,
                    "share_treatment": il.share_treatment,
                    "share_low": il.share_low,
                    "share_high": il.share_high,
                    "delta": il.delta,
                    "p_value": il.p_value,
                }
            ]
        )
        secs.append(
            Section(
                "interleaving",
                "team-draft interleaving",
                pref,
                [
                    "Every visitor sees one team-draft interleaving of both slates (Radlinski et "
                    "al. 2008; Chapelle et al. 2012); a visitor prefers the side whose items got "
                    "more clicks. share_treatment = wins / decided visitors (Wilson interval); "
                    "delta = (wins_treatment + ties/2) / users - 1/2; exact sign test."
                ],
            )
        )
    if rep is not None:
        need_rows[0]["users_for_80pct_power_over_seeds"] = rep.ab_users_for_power
        if il is not None:
            need_rows[1]["users_for_80pct_power_over_seeds"] = rep.interleaving_users_for_power
        need_notes.append(
            f"users_for_80pct_power_over_seeds: smallest number of visitors at which the test "
            f"was significant in {rep.power:.0%} of the {rep.seeds} seeds (the most robust "
            "figure; a single run's users_to_significance is noisy)."
        )
    if il is not None:
        for key, label in (
            ("users_to_significance", "to significance in this run"),
            ("users_for_80pct_power", "for 80% power (observed effect)"),
            ("users_for_80pct_power_over_seeds", "for 80% power over seeds"),
        ):
            ab_n, il_n = need_rows[0].get(key), need_rows[1].get(key)
            if isinstance(ab_n, (int, float)) and isinstance(il_n, (int, float)) and il_n > 0:
                need_notes.append(f"A/B / interleaving users {label}: {ab_n / il_n:.1f}x")
    secs.append(Section("sensitivity", "users needed", pd.DataFrame(need_rows), need_notes))
    if rep is not None:
        rows = [
            ("fixed horizon (delta-method z-test)", rep.fixed_horizon),
            ("group sequential (O'Brien-Fleming spending, daily looks)", rep.group_sequential),
            ("mSPRT always-valid p < alpha", rep.msprt),
            ("naive daily peeking at the fixed-horizon p (invalid)", rep.naive_peeking),
        ]
        if rep.interleaving is not None:
            rows.append(("interleaving sign test", rep.interleaving))
        frame = pd.DataFrame(
            [{"procedure": p, "seeds": rep.seeds, "reject_rate": v} for p, v in rows]
        )
        notes = [
            f"Share of {rep.seeds} seeds rejecting H0 at alpha {rep.alpha:g} (models fitted once; "
            "assignment, interleaving coins and clicks re-drawn per seed): the false-positive "
            "rate of an A/A test, the power of an A/B test.",
            f"users for {rep.power:.0%} power across seeds: A/B {rep.ab_users_for_power}"
            + (
                f", interleaving {rep.interleaving_users_for_power}"
                if rep.interleaving is not None
                else ""
            ),
        ]
        secs.append(Section("repeat", "over seeds", frame, notes))
    return secs


def simulation_header(
    sim: Simulation,
    pop: Population,
    cfg: SimConfig,
    dataset: str,
    split: str,
    labels: list[str],
    seed: int,
) -> tuple[list[str], dict[str, Any]]:
    """The header lines and JSON meta fields of an ``abtest simulate`` report."""
    names = " vs ".join(labels) if len(labels) == 2 else f"{labels[0]} (A/A)"
    header = [
        f"recbench abtest simulate · {dataset} · {split} · {names}",
        f"{pop.n_users:,} held-out users; {len(sim.log):,} visitors over {cfg.days} days, "
        f"{cfg.share:.0%} to treatment, {cfg.sessions} session(s) of a top-{pop.k} slate "
        f"(seed {seed}).",
        cfg.click.describe() + ".",
    ]
    meta = {
        "dataset": dataset,
        "split": split,
        "algorithms": labels,
        "seed": seed,
        "k": pop.k,
        "click_model": cfg.click.describe(),
        "share": cfg.share,
        "sessions": cfg.sessions,
        "days": cfg.days,
        "held_out_users": pop.n_users,
        "visitors": len(sim.log),
        "alpha": cfg.alpha,
    }
    return header, meta


def plan_sections(plans: list[Plan]) -> list[Section]:
    ratio = any(p.model is not None for p in plans)
    rows = []
    for p in plans:
        row: dict[str, Any] = {
            "metric": p.metric,
            "baseline": p.baseline,
            "sd": p.sd,
        }
        if ratio:
            m = p.model
            row["imp_mean"] = None if m is None else m.impressions_mean
            row["imp_sd"] = None if m is None else m.impressions_sd
            row["icc"] = None if m is None else m.icc
        row.update(
            {
                "lift": p.lift,
                "treatment_value": p.baseline * (1 + p.lift),
                "effect_size": p.effect_size,
                "alpha": p.alpha,
                "power": p.power,
                "users_control": p.n_control,
                "users_treatment": p.n_treatment,
                "users_total": p.n_total,
            }
        )
        rows.append(row)
    notes = [
        "Two-sided normal test, with the variance `abtest analyze` uses; users are rounded up. "
        "Proportions use Cohen's h = 2 asin sqrt(p2) - 2 asin sqrt(p1) (as statsmodels "
        "NormalIndPower with proportion_effectsize), means use d = lift x baseline / sd."
    ]
    if ratio:
        notes.append(
            "ratio (CTR = clicks / impressions, clustered by user): each arm's delta-method "
            "variance at its own rate p, p (1 - p) (m + icc (s^2 + m^2 - m)) / m^2 per user, with "
            "m = imp_mean and s = imp_sd impressions per user (Deng et al. 2018); sd: the "
            "control arm's per-user sd of the linearised CTR."
        )
    return [Section("plan", "sample size", pd.DataFrame(rows), notes)]


def analysis_report(
    analysis: Analysis, user_log: Any, log: Path, alpha: float, srm_threshold: float
) -> tuple[list[Section], dict[str, Any], list[str], list[str]]:
    """``abtest analyze``: sections, JSON meta, header and warnings (users in several arms, a
    sample-ratio mismatch) for an analysed log (:class:`recbench.online.logs.UserLog`)."""
    analysis.overlap_users = user_log.overlap_users
    analysis.overlap_examples = user_log.overlap_examples
    header = [
        f"recbench abtest analyze · {log.name} · {user_log.n_rows:,} rows, "
        f"{len(user_log.users):,} users, arms {', '.join(analysis.arms)} "
        f"(control {analysis.arms[0]})"
    ]
    meta = {
        "log": str(log),
        "rows": user_log.n_rows,
        "users": len(user_log.users),
        "control": analysis.arms[0],
        "arms": analysis.arms,
        "alpha": alpha,
        "overlap_users": user_log.overlap_users,
        "sample_ratio_mismatch": analysis.srm.mismatch,
    }
    warnings = []
    if user_log.overlap_users:
        warnings.append(
            f"{user_log.overlap_users} user(s) appear in more than one arm (e.g. "
            f"{', '.join(user_log.overlap_examples)}); they were left out of the analysis"
        )
    if analysis.srm.mismatch:
        obs = ", ".join(
            f"{a} {n:,}" for a, n in zip(analysis.arms, analysis.srm.observed, strict=True)
        )
        warnings.append(
            f"SAMPLE-RATIO MISMATCH: users per arm {obs} (chi-square p = "
            f"{analysis.srm.p_value:.2g} < {srm_threshold:g}); assignment or logging is broken, "
            "do not trust these results"
        )
    return analysis_sections(analysis), meta, header, warnings


def simulation_report(
    split: Split,
    fitted: list[tuple[str, Recommender]],
    k: int,
    relevance_threshold: float | None,
    cfg: SimConfig,
    seed: int,
    interleaving: bool,
    repeats: int,
    dataset: str,
    split_name: str,
) -> tuple[Simulation, list[Section], list[str], dict[str, Any]]:
    """``abtest simulate``: the simulation of the fitted arms on the split's held-out users
    (re-drawn under ``repeats`` more seeds when asked), its sections, header and JSON meta."""
    pop = build_population(split, fitted, k, relevance_threshold)
    sim = simulate(pop, cfg, seed, interleaving)
    rep = repeat(pop, cfg, list(range(seed, seed + repeats)), interleaving) if repeats else None
    sections = simulation_sections(sim, pop, cfg, rep)
    labels = [label for label, _ in fitted]
    header, meta = simulation_header(sim, pop, cfg, dataset, split_name, labels, seed)
    return sim, sections, header, meta
