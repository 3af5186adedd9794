"""Evaluation engine: a fitted model + a Split -> overall and per-user metrics.

Ranking: every test user with training history is scored over the full catalogue in batches
(memory bounded by the batch, never users x items), their training items are masked, the top K
is taken by :func:`recbench.metrics.topk.top_k` (equal scores ordered by item index, so the list
at K never depends on the other K asked for), and hits are found by binary search over sorted
(user, item) keys of the relevant test pairs. Rating: every test pair is predicted; pairs whose
user or item has no training rating are still predicted (by the model's fallback, e.g. biases or
the global mean) and counted. The per-user frame also keeps each user's mean squared error
(``mse``) and test-rating count (``n_ratings``), which intervals and paired tests of RMSE/MAE
weight by.

With ``EvalConfig.candidates`` each ranked user's test items are also ranked against sampled
negatives (:mod:`recbench.candidates`), as ``ndcg_s100@10`` etc. beside the full-catalogue
values; ``EvalConfig.exclude_history=False`` leaves the history unmasked (repeat targets).

Beyond-accuracy metrics (``EvalConfig.beyond``) are computed from the same top-K lists: per-user
ones (novelty, ARP, APLT, ILD) join the per-user frame as ``novelty@10`` etc.; aggregate ones
(coverage, Gini, personalisation) are one number per evaluated split.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recbench.algorithms.base import Recommender, mask_seen
from recbench.candidates import (
    CandidateSpec,
    candidate_hits,
    check_feasible,
    draw_negatives,
    fewest_unseen,
)
from recbench.data.model import Dataset
from recbench.errors import UsageError
from recbench.metrics import BEYOND_NAMES, RATING_SPECS, ranking_metrics
from recbench.metrics.beyond import BEYOND_METRICS, beyond_metrics
from recbench.ranking import Ranker
from recbench.split import Split, SplitSpec, make_splits

#: evaluation progress callback: (users scored so far, users to score)
EvalProgress = Callable[[int, int], None]
#: bytes per (user, item) cell held while a batch is ranked: scores, their negation, partition
_BYTES_PER_CELL = 16
#: per-user columns that are not metrics (weights of the rating metrics)
WEIGHT_COLUMNS = (
    *(m.paired_column for m in RATING_SPECS if m.paired_column != m.name),
    "n_ratings",
)


@dataclass(frozen=True)
class EvalConfig:
    """What to measure: cut-offs, which held-out ratings count as relevant, batch memory."""

    ks: tuple[int, ...] = (10,)
    relevance_threshold: float | None = None
    memory_mb: int = 256
    batch_size: int | None = None
    #: beyond-accuracy metrics to compute (names of ``recbench.metrics.BEYOND_SPECS``)
    beyond: tuple[str, ...] = ()
    #: also rank each user's test items against sampled negatives (``recbench.candidates``)
    candidates: CandidateSpec | None = None
    #: mask the user's history in the ranking; False lets a repeat of a history item be a hit
    #: (repeat-consumption data such as music: ``--repeat-targets``)
    exclude_history: bool = True

    def __post_init__(self) -> None:
        if not self.ks:
            raise UsageError("at least one K is needed")
        unknown = [b for b in self.beyond if b not in BEYOND_NAMES]
        if unknown:
            raise UsageError(f"unknown beyond-accuracy metric '{unknown[0]}'")
        bad = [k for k in self.ks if k <= 0]
        if bad:
            raise UsageError(f"K must be a positive integer, got {bad[0]}")
        if self.batch_size is not None and self.batch_size <= 0:
            raise UsageError(f"batch size must be positive, got {self.batch_size}")
        if self.memory_mb <= 0:
            raise UsageError(f"memory budget must be positive, got {self.memory_mb} MB")

    def users_per_batch(self, n_items: int) -> int:
        if self.batch_size is not None:
            return self.batch_size
        return max(1, (self.memory_mb << 20) // (_BYTES_PER_CELL * max(n_items, 1)))


@dataclass
class EvalResult:
    """Overall metric values (``"ndcg@10"``, ``"rmse"``...), per-user values and counts."""

    metrics: dict[str, float]
    per_user: pd.DataFrame
    n_ranked_users: int = 0
    n_cold_users: int = 0
    n_test_pairs: int = 0
    n_fallback: int = 0
    score_seconds: float = 0.0
    #: why the model could not be evaluated under this protocol (cold-start), else None
    unable: str | None = None
    #: metric values per segment: {segment: {metric key: value}} and users per segment
    segments: dict[str, dict[str, float]] = field(default_factory=dict)


#: user segments by training (or fold-in) history length, for --by-segment
SEGMENTS = ((1, 5), (6, 20), (21, None))


def segment_label(lo: int, hi: int | None) -> str:
    return f"history {lo}+" if hi is None else f"history {lo}-{hi}"


def capability_gap(model: Recommender, split: Split) -> str | None:
    """Why ``model`` cannot be evaluated on ``split`` (a cold-start protocol), or None."""
    if split.cold == "users" and not (model.cold_users or model.user_independent):
        return "cannot score users unseen in training"
    if split.cold == "items" and not model.cold_items:
        return "cannot score items unseen in training"
    return None


def history_matrix(split: Split) -> sp.csr_array:
    """What each user is known to have rated: training plus any fold-in history."""
    seen = split.train.interactions.csr("rating")
    if split.fold_in is not None and len(split.fold_in):
        seen = sp.csr_array(seen + split.fold_in.csr("rating"))
        seen.sort_indices()
    return seen


def metric_key(name: str, k: int | None) -> str:
    return name if k is None else f"{name}@{k}"


def evaluate(
    model: Recommender,
    split: Split,
    config: EvalConfig | None = None,
    progress: EvalProgress | None = None,
) -> EvalResult:
    """Evaluate a fitted model on one split (ranking and, when it can, rating metrics)."""
    config = config or EvalConfig()
    model.check_is_fitted()
    test = split.test
    train = split.train.interactions
    if model.n_items_ != test.n_items or model.n_users_ != test.n_users:
        raise UsageError(
            f"model was fitted on {model.n_users_} users x {model.n_items_} items, but the "
            f"split has {test.n_users} x {test.n_items}"
        )
    t0 = time.perf_counter()
    metrics: dict[str, float] = {}
    frames: list[pd.DataFrame] = []
    result = EvalResult(metrics, pd.DataFrame(), n_test_pairs=len(test))
    result.unable = capability_gap(model, split)
    if result.unable:
        return result
    seen = history_matrix(split)
    if model.ranks:
        values, users, cold, lists = _rank(model, split, seen, config, progress)
        result.n_ranked_users = len(users)
        result.n_cold_users = cold
        if len(users):
            if config.candidates is not None:
                values.update(_sampled(model, split, users, seen, config, config.candidates))
            frame = pd.DataFrame({metric_key(n, k): v for (n, k), v in values.items()})
            for (name, k), v in values.items():
                metrics[metric_key(name, k)] = float(v.mean())
            if config.beyond and lists is not None:
                for (name, k), bv in beyond_values(split, lists, config).items():
                    if isinstance(bv, float):
                        metrics[metric_key(name, k)] = bv
                    else:
                        frame[metric_key(name, k)] = bv
                        metrics[metric_key(name, k)] = float(np.nanmean(bv))
            frame.insert(0, "user", users)
            frames.append(frame)
    # Under user cold-start the test users are only known by a fold-in history, which rating
    # predictors do not take: only ranking is measured there.
    if model.rates() and test.rating is not None and len(test) and split.cold != "users":
        pred = predict_pairs(model, test.user, test.item)
        train_users = train.user_counts() > 0
        train_items = train.item_counts() > 0
        unknown = ~(train_users[test.user] & train_items[test.item])
        result.n_fallback = int(unknown.sum())
        for spec in RATING_SPECS:
            metrics[spec.name] = spec.overall(pred, test.rating)
        cold_item = ~train_items[test.item]
        for label, sel in (("warm items", ~cold_item), ("cold items", cold_item)):
            if sel.any():
                seg = {s.name: s.overall(pred[sel], test.rating[sel]) for s in RATING_SPECS}
                result.segments[label] = {**seg, "n_test": float(sel.sum())}
        count = np.bincount(test.user, minlength=test.n_users)
        has = count > 0
        rated = {"user": np.flatnonzero(has)}
        for spec in RATING_SPECS:
            rated[spec.name] = spec.per_user(test.user, pred, test.rating, test.n_users)[has]
            if spec.root:
                rated[spec.paired_column] = rated[spec.name] ** 2
        rated["n_ratings"] = count[has]
        frames.append(pd.DataFrame(rated))
    if frames:
        per_user = frames[0]
        for f in frames[1:]:
            per_user = per_user.merge(f, on="user", how="outer")
        result.per_user = per_user.sort_values("user", ignore_index=True)
        _user_segments(result, seen)
    result.score_seconds = time.perf_counter() - t0
    return result


def _masked(seen: sp.csr_array, config: EvalConfig, split: Split) -> sp.csr_array:
    """What the ranking masks: the history, or nothing under ``exclude_history=False``."""
    if config.exclude_history:
        return seen
    if split.fold_in is not None:
        raise UsageError("--repeat-targets does not apply to a user cold-start split")
    return sp.csr_array(seen.shape, dtype=seen.dtype)


def check_candidates(dataset: Dataset, spec: SplitSpec, seed: int, config: EvalConfig) -> None:
    """One-line UsageError, before any fit, when ``config``'s sampled candidates cannot be drawn
    for every test user of every split (N at least the catalogue, or above some user's count of
    items neither in the history nor a test item)."""
    cand = config.candidates
    if cand is None:
        return
    check_feasible(cand, dataset.n_items, dataset.n_items)
    if spec.cold is not None:
        raise UsageError("--candidates sampled:N does not apply to a cold-start split")
    for split in make_splits(dataset, spec, seed):
        seen = _masked(history_matrix(split), config, split)
        rel_user, rel_item = relevant_pairs(split, config.relevance_threshold)
        check_feasible(cand, dataset.n_items, fewest_unseen(seen, rel_user, rel_item))


def _sampled(
    model: Recommender,
    split: Split,
    users: np.ndarray,
    seen: sp.csr_array,
    config: EvalConfig,
    spec: CandidateSpec,
) -> dict[tuple[str, int], np.ndarray]:
    """Per-user ranking metrics of ``users`` over their test items plus sampled negatives
    (module :mod:`recbench.candidates`), keyed by the sampled metric names."""
    if split.fold_in is not None or split.candidates is not None:
        raise UsageError("--candidates sampled:N does not apply to a cold-start split")
    n_items = model.n_items_
    rel_user, rel_item = relevant_pairs(split, config.relevance_threshold)
    mask = _masked(seen, config, split)
    targets = sp.csr_array(
        (np.ones(len(rel_user), np.float32), (rel_user, rel_item)), shape=seen.shape
    )
    excluded = sp.csr_array(targets + sp.csr_array(mask, dtype=np.float32))
    excluded.sum_duplicates()
    popularity = np.asarray(split.train.interactions.csr("binary").sum(axis=0)).ravel()
    negatives = draw_negatives(spec, users, excluded, popularity, split.fold)
    k_max = max(config.ks)
    hits = np.zeros((len(users), k_max), dtype=bool)
    n_rel = np.zeros(len(users), dtype=np.int64)
    batch = config.users_per_batch(n_items)
    for start in range(0, len(users), batch):
        ub = users[start : start + batch]
        scores = np.array(model.score(ub), dtype=np.float32, copy=True)
        mask_seen(scores, mask, ub)
        rel = [targets.indices[targets.indptr[u] : targets.indptr[u + 1]] for u in ub]
        h, n = candidate_hits(scores, rel, negatives[start : start + len(ub)])
        width = min(k_max, h.shape[1])
        hits[start : start + len(ub), :width] = h[:, :width]
        n_rel[start : start + len(ub)] = n
    return {
        (name + spec.suffix, k): v
        for (name, k), v in ranking_metrics(hits, n_rel, config.ks).items()
    }


def _user_segments(result: EvalResult, seen: sp.csr_array) -> None:
    """Per-user metric means by history length (the per-user frame already holds the values)."""
    frame = result.per_user
    n_hist = np.diff(seen.indptr)[frame["user"].to_numpy()]
    for lo, hi in SEGMENTS:
        sel = (n_hist >= lo) & (n_hist <= (hi if hi is not None else np.iinfo(np.int64).max))
        if not sel.any():
            continue
        part = frame[sel]
        values = {
            c: float(part[c].mean())
            for c in frame.columns
            if c != "user" and c not in WEIGHT_COLUMNS
        }
        values["n_users"] = float(sel.sum())
        result.segments[segment_label(lo, hi)] = values


def predict_pairs(
    model: Recommender, users: np.ndarray, items: np.ndarray, chunk: int = 1 << 20
) -> np.ndarray:
    """Predictions for every pair, in chunks; a non-finite prediction is an error, not a skip."""
    out = np.empty(len(users), dtype=np.float32)
    for start in range(0, len(users), chunk):
        sl = slice(start, start + chunk)
        out[sl] = model.predict(users[sl].astype(np.int64), items[sl].astype(np.int64))
    if not np.all(np.isfinite(out)):
        bad = int((~np.isfinite(out)).sum())
        raise RuntimeError(f"{type(model).__name__} produced {bad} non-finite predictions")
    return out


def relevant_pairs(split: Split, threshold: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Users and items of the held-out interactions that count as relevant."""
    test = split.test
    if threshold is None:
        return test.user, test.item
    if test.rating is None:
        raise UsageError("--relevance-threshold needs ratings, and this dataset has none")
    keep = test.rating >= threshold
    return test.user[keep], test.item[keep]


def _rank(
    model: Recommender,
    split: Split,
    seen: sp.csr_array,
    config: EvalConfig,
    progress: EvalProgress | None,
) -> tuple[dict[tuple[str, int], np.ndarray], np.ndarray, int, np.ndarray | None]:
    """Per-user ranking metrics of warm test users; ``seen`` = training + fold-in history.

    Also returns the users' top-K lists (item indices, -1 for empty slots) when beyond-accuracy
    metrics are asked for, else None.
    """
    n_items = model.n_items_
    rel_user, rel_item = relevant_pairs(split, config.relevance_threshold)
    n_train = np.diff(seen.indptr)
    from_history = split.fold_in is not None and not model.user_independent
    blocked = None
    if split.candidates is not None:
        blocked = np.ones(n_items, dtype=bool)
        blocked[split.candidates] = False
    n_relevant_all = np.bincount(rel_user, minlength=seen.shape[0])
    candidates = np.flatnonzero(n_relevant_all > 0)
    warm = n_train[candidates] > 0
    users = candidates[warm]
    cold = int((~warm).sum())
    keys = np.sort(rel_user.astype(np.int64) * n_items + rel_item)
    k_max = max(config.ks)
    batch = config.users_per_batch(n_items)
    hits = np.zeros((len(users), min(k_max, n_items)), dtype=bool)
    lists = np.full(hits.shape, -1, dtype=np.int32) if config.beyond else None
    done = 0
    # score, mask seen/blocked items, top-K under the tie rule (fast routes: recbench.ranking)
    ranker = Ranker(model, _masked(seen, config, split), blocked, k_max, from_history)
    for start in range(0, len(users), batch):
        ub = users[start : start + batch]
        idx, vals = ranker(ub)
        flat = ub.astype(np.int64)[:, None] * n_items + idx
        pos = np.minimum(np.searchsorted(keys, flat), len(keys) - 1)
        hits[start : start + len(ub)] = (keys[pos] == flat) & np.isfinite(vals)
        if lists is not None:
            lists[start : start + len(ub)] = np.where(np.isfinite(vals), idx, -1)
        done += len(ub)
        if progress is not None:
            progress(done, len(users))
    if not len(users):
        return {}, users, cold, None
    return ranking_metrics(hits, n_relevant_all[users], config.ks), users, cold, lists


def ild_vectors(split: Split) -> tuple[sp.csr_array, str]:
    """Item vectors for intra-list diversity and what they are: the dataset's genres (one-hot)
    when it has them, else each item's co-occurrence vector (the training users who rated it)."""
    feats = split.train.item_features
    n_items = split.train.interactions.n_items
    if feats is not None and "genres" in feats.columns:
        genres = feats["genres"].reindex(range(n_items)).fillna("").astype(str)
        tags = genres.str.split("|").explode()
        tags = tags[tags.str.strip() != ""]
        if len(tags):
            codes, names = pd.factorize(tags)
            mat = sp.csr_array(
                (np.ones(len(codes)), (tags.index.to_numpy(), codes)),
                shape=(n_items, len(names)),
            )
            mat.sum_duplicates()
            return mat, "item genre vectors"
    return sp.csr_array(split.train.interactions.csr("binary").T), "item co-occurrence vectors"


def beyond_values(
    split: Split, lists: np.ndarray, config: EvalConfig
) -> dict[tuple[str, int], np.ndarray | float]:
    """The selected beyond-accuracy metrics of the top-K ``lists`` of the ranked users, with
    popularity from the training part (training users per item)."""
    train = split.train.interactions.csr("binary")
    popularity = np.asarray(train.sum(axis=0)).ravel()
    n_train_users = int(np.count_nonzero(np.diff(train.indptr)))
    wanted = [BEYOND_METRICS[n] for n in config.beyond if n in BEYOND_METRICS]
    vectors = ild_vectors(split)[0] if any(b.needs_vectors for b in wanted) else None
    names = tuple(n for n in BEYOND_NAMES if n in config.beyond)
    return beyond_metrics(
        lists, list(config.ks), popularity, max(n_train_users, 1), item_vectors=vectors, names=names
    )
