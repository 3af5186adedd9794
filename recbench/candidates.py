"""Sampled-candidate evaluation (``--candidates sampled:N[:uniform|popularity]``), for
reproducing papers that rank each test item against N sampled negatives.

Krichene & Rendle ("On Sampled Metrics for Item Recommendation", KDD 2020) show that such
metrics can order algorithms differently from full-catalogue ranking, so recbench computes them
only beside the full-catalogue ones, in labelled columns (``HR@10 (100 sampled)``).

Per ranked user the candidates are the user's relevant test items plus N negatives drawn
without replacement from the items the user has neither in the history (the masked items) nor
among the test items: uniformly, or with probability proportional to training popularity plus
one. The draw is one frozen set per user from ``np.random.default_rng((seed, fold))`` in user
order, so every algorithm of a comparison ranks the same candidates. Ties count against the
relevant items (a negative scoring the same ranks first), and the same metric functions as the
full ranking are applied to the sorted candidate list.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from recbench.errors import UsageError
from recbench.metrics import METRIC_SPECS, METRICS
from recbench.metrics.spec import RankingMetric

Sampler = Literal["uniform", "popularity"]
SAMPLERS: tuple[Sampler, ...] = ("uniform", "popularity")
CITATION = 'Krichene & Rendle 2020, "On Sampled Metrics for Item Recommendation", KDD 2020'


@dataclass(frozen=True)
class CandidateSpec:
    """N sampled negatives per user, drawn by ``sampler`` from ``seed``."""

    n: int
    sampler: Sampler = "uniform"
    seed: int = 0

    @property
    def suffix(self) -> str:
        """Metric-name suffix of the sampled columns: ``_s100`` or ``_s100pop``."""
        return f"_s{self.n}" + ("pop" if self.sampler == "popularity" else "")

    @property
    def text(self) -> str:
        """How a column header says it: ``100 sampled`` / ``100 popularity-sampled``."""
        return f"{self.n} {'popularity-' if self.sampler == 'popularity' else ''}sampled"


def parse_candidates(text: str | None, seed: int = 0) -> CandidateSpec | None:
    """``full`` (or None) -> None; ``sampled:N[:uniform|popularity]`` -> a spec; else a
    one-line UsageError."""
    if text is None or text.strip().lower() == "full":
        return None
    parts = text.strip().lower().split(":")
    usage = "use full or sampled:N[:uniform|popularity], e.g. sampled:100"
    if parts[0] != "sampled" or len(parts) not in (2, 3):
        raise UsageError(f"unknown --candidates form '{text}' ({usage})")
    try:
        n = int(parts[1])
    except ValueError:
        raise UsageError(f"--candidates '{text}': N must be a whole number ({usage})") from None
    if n < 1:
        raise UsageError(f"--candidates '{text}': N must be at least 1")
    sampler = parts[2] if len(parts) == 3 else "uniform"
    if sampler not in SAMPLERS:
        raise UsageError(f"--candidates '{text}': unknown sampler '{sampler}' ({usage})")
    return CandidateSpec(n, sampler, seed)  # type: ignore[arg-type]


@dataclass(frozen=True, kw_only=True)
class SampledMetric(RankingMetric):
    """A ranking metric over the sampled candidates; its column says how many were sampled."""

    base: str
    spec_text: str

    def column(self, k: int | None = None) -> str:
        head = self.label if k is None else f"{self.label}@{k}"
        return f"{head} ({self.spec_text})"


def sampled_metrics(spec: CandidateSpec, names: tuple[str, ...]) -> list[SampledMetric]:
    """The sampled twin of every ranking metric among ``names``."""
    out = []
    for name in names:
        base = METRICS.get(name)
        if not isinstance(base, RankingMetric) or isinstance(base, SampledMetric):
            continue
        out.append(
            SampledMetric(
                name=base.name + spec.suffix,
                label=base.label,
                higher_is_better=base.higher_is_better,
                help=f"{base.help}, over the target and {spec.text} negatives",
                at_k=base.at_k,
                base=base.name,
                spec_text=spec.text,
            )
        )
    return out


_STORED = re.compile(r"^(?P<base>.+)_s(?P<n>[0-9]+)(?P<pop>pop)?$")


def stored_metric(name: str) -> SampledMetric | None:
    """The sampled twin a stored metric name stands for (``ndcg_s100`` -> NDCG over 100
    sampled), so a stored run's sampled columns read as they did when it ran; else None."""
    match = _STORED.match(name)
    if match is None:
        return None
    sampler: Sampler = "popularity" if match["pop"] else "uniform"
    twins = sampled_metrics(CandidateSpec(int(match["n"]), sampler), (match["base"],))
    return twins[0] if twins else None


def install(
    spec: CandidateSpec, names: tuple[str, ...]
) -> tuple[tuple[str, ...], Callable[[], None]]:
    """Add the sampled twins of ``names`` to the metric tables (so tables, stores and stats
    know them; the full ranking never computes them); returns ``names`` with each twin right
    after its full-catalogue metric, and the undo."""
    added = [m for m in sampled_metrics(spec, names) if m.name not in METRICS]
    for m in added:
        METRIC_SPECS.append(m)
        METRICS[m.name] = m

    def undo() -> None:
        for m in added:
            METRIC_SPECS.remove(m)
            METRICS.pop(m.name, None)

    shown: list[str] = []
    for name in names:
        shown.append(name)
        twin = name + spec.suffix
        if twin in METRICS:
            shown.append(twin)
    return tuple(shown), undo


def fewest_unseen(seen: sp.csr_array, rel_user: np.ndarray, rel_item: np.ndarray) -> int:
    """The fewest items any user with a relevant test item has neither seen nor as a target."""
    n_users, n_items = seen.shape
    users = np.unique(rel_user)
    if not len(users):
        return n_items
    both = sp.csr_array(
        (np.ones(len(rel_user), np.float32), (rel_user, rel_item)), shape=(n_users, n_items)
    )
    both = sp.csr_array(both + sp.csr_array(seen, dtype=np.float32))
    both.sum_duplicates()
    return int(n_items - np.diff(both.indptr)[users].max())


def check_feasible(spec: CandidateSpec, n_items: int, fewest: int) -> None:
    """One-line UsageError when N negatives cannot be drawn for every user."""
    if spec.n >= n_items:
        raise UsageError(
            f"--candidates sampled:{spec.n}: N must be below the catalogue size ({n_items:,})"
        )
    if spec.n > fewest:
        raise UsageError(
            f"--candidates sampled:{spec.n}: some user has only {fewest:,} items neither in "
            "the history nor a test item (use a smaller N)"
        )


def draw_negatives(
    spec: CandidateSpec,
    users: np.ndarray,
    excluded: sp.csr_array,
    popularity: np.ndarray,
    fold: int = 0,
) -> np.ndarray:
    """(len(users), N) negatives per user, none of them in that user's ``excluded`` row."""
    n_items = excluded.shape[1]
    rng = np.random.default_rng((spec.seed, fold))
    weight = popularity.astype(np.float64) + 1.0
    out = np.empty((len(users), spec.n), dtype=np.int64)
    for row, u in enumerate(users):
        skip = excluded.indices[excluded.indptr[u] : excluded.indptr[u + 1]]
        if n_items - len(skip) < spec.n:
            raise UsageError(
                f"--candidates sampled:{spec.n}: a user has only {n_items - len(skip):,} "
                "items to sample from"
            )
        if spec.sampler == "uniform":
            # a uniform random ordered subset of the catalogue with the excluded items
            # filtered out is a uniform random ordered subset of the others
            draw = rng.choice(n_items, size=min(n_items, spec.n + len(skip)), replace=False)
            out[row] = draw[~np.isin(draw, skip)][: spec.n]
        else:
            p = weight.copy()
            p[skip] = 0.0
            out[row] = rng.choice(n_items, size=spec.n, replace=False, p=p / p.sum())
    return out


def candidate_hits(
    scores: np.ndarray, relevant: list[np.ndarray], negatives: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(hits over each user's sorted candidate list, relevant count per user).

    ``scores`` is (n, n_items); a row's candidates are its relevant items and its negatives.
    Sorted by score, descending; among equal scores the negatives come first."""
    n = len(relevant)
    width = max((len(r) for r in relevant), default=0)
    rel = np.full((n, width), -1, dtype=np.int64)
    for row, r in enumerate(relevant):
        rel[row, : len(r)] = r
    cand = np.concatenate([rel, negatives], axis=1)
    is_rel = np.concatenate([rel >= 0, np.zeros(negatives.shape, dtype=bool)], axis=1)
    vals = np.take_along_axis(scores, np.maximum(cand, 0), axis=1).astype(np.float64)
    vals[cand < 0] = -np.inf
    order = np.lexsort((is_rel, -vals), axis=1)
    hits = np.take_along_axis(is_rel & np.isfinite(vals), order, axis=1)
    return hits, (rel >= 0).sum(axis=1)
