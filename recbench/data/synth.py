"""Synthetic ratings at any scale: ``recbench datasets synth``.

A planted model generates MovieLens-shaped data without a download:

- **item popularity** follows a power law (Zipf weight ``rank**-popularity_exponent`` over a
  random permutation of the items);
- **user activity** is log-normal (``activity_sigma``), scaled so the counts sum to exactly
  ``n_ratings``, each between ``min_user_ratings`` and a share of the catalogue;
- **which items** a user rates: their taste cluster tilts the popularity weights by
  ``exp(affinity * <cluster centre, item factors>)`` (so ranking models have a signal beyond
  popularity); items are drawn without replacement, vectorised over a chunk of users;
- **ratings** come from a planted low-rank model, ``<user, item factors> + biases + noise``,
  standardised, put on the rating scale and rounded to ``rating_step``;
- **timestamps**: each user is active over a random window of the time span.

Generation works in chunks of about :data:`CHUNK_RATINGS` ratings written to Parquet one row group
at a time, so memory is bounded by the chunk plus O(users + items) state, whatever
``n_ratings`` is. Chunks are cut from the users' counts only, so the output depends on the
parameters and the seed alone. The dataset is registered like one added with ``datasets add``
(format parquet), and ``synth.json`` beside the files records every generation parameter.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recbench.atomic import atomic_write_text, replace_dir, staging_dir
from recbench.data.datadir import io_errors, now_iso
from recbench.data.loading import load_counted
from recbench.data.model import Dataset
from recbench.data.user_datasets import (
    UserDataset,
    check_user_name,
    save_user_dataset,
    user_datasets,
)
from recbench.errors import UsageError

#: ratings generated (and written as one Parquet row group) per chunk
CHUNK_RATINGS = 1 << 21
#: manifest file written beside the generated files
MANIFEST = "synth.json"
SYNTH_VERSION = 1
#: progress callback: (ratings generated so far, ratings to generate)
SynthProgress = Callable[[int, int], None]

GENRES = (
    "Action",
    "Adventure",
    "Animation",
    "Children",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
#: sampling rounds (doubling the over-draw) before a user's remaining items are drawn uniformly
_ROUNDS = 8


@dataclass(frozen=True)
class SynthConfig:
    """Generation parameters; every one is recorded in the dataset's manifest."""

    n_users: int
    n_items: int
    n_ratings: int
    seed: int = 0
    rank: int = 16
    n_clusters: int = 16
    popularity_exponent: float = 1.0
    activity_sigma: float = 1.0
    min_user_ratings: int = 5
    #: most ratings one user may have, as a share of the catalogue
    max_user_share: float = 0.5
    affinity: float = 1.0
    signal: float = 1.0
    noise: float = 0.5
    rating_min: float = 1.0
    rating_max: float = 5.0
    rating_step: float = 0.5
    #: centre and spread of the latent rating before users' choice of items (which favours
    #: items they like): the defaults give a mean near 3.55 and a sd near 1, like MovieLens
    rating_mean: float = 3.0
    rating_sd: float = 1.1
    start: int = 946_684_800  # 2000-01-01 UTC
    span_days: int = 3650
    item_features: bool = False

    def __post_init__(self) -> None:
        for name in ("n_users", "n_items", "n_ratings", "rank", "n_clusters"):
            if getattr(self, name) <= 0:
                raise UsageError(f"{name.replace('_', '-')} must be positive")
        if self.min_user_ratings < 1:
            raise UsageError("min-user-ratings must be at least 1")
        if not 0 < self.max_user_share <= 1:
            raise UsageError("max-user-share must be in (0, 1]")
        if self.rating_step < 0 or self.rating_max < self.rating_min:
            raise UsageError("the rating scale must have max >= min and a step >= 0")
        if self.popularity_exponent < 0 or self.activity_sigma < 0 or self.noise < 0:
            raise UsageError("popularity-exponent, activity-sigma and noise must be >= 0")
        if self.span_days <= 0:
            raise UsageError("span-days must be positive")
        if self.min_user_ratings > self.n_items:
            raise UsageError(
                f"min-user-ratings {self.min_user_ratings} is more than the {self.n_items} items"
            )
        cap = self.user_cap
        if self.n_ratings < self.n_users * self.min_user_ratings:
            raise UsageError(
                f"{self.n_ratings:,} ratings cannot give {self.n_users:,} users at least "
                f"{self.min_user_ratings} each; lower --min-user-ratings or raise --ratings"
            )
        if self.n_ratings > self.n_users * cap:
            raise UsageError(
                f"{self.n_ratings:,} ratings do not fit: {self.n_users:,} users can rate at most "
                f"{cap:,} of {self.n_items:,} items each (max-user-share "
                f"{self.max_user_share:g}); add users or items"
            )

    @property
    def user_cap(self) -> int:
        return min(
            self.n_items, max(self.min_user_ratings, int(self.n_items * self.max_user_share))
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SynthConfig:
        keep = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in keep})


@dataclass(frozen=True)
class _Model:
    """State shared by every chunk: O(users + items) arrays."""

    counts: np.ndarray  # ratings per user (int64)
    cluster: np.ndarray  # taste cluster per user
    cdf: np.ndarray  # (n_clusters, n_items) cumulative item-choice distribution
    centres: np.ndarray  # (n_clusters, rank)
    item_factors: np.ndarray  # (n_items, rank)
    item_bias: np.ndarray


def user_counts(cfg: SynthConfig, rng: np.random.Generator) -> np.ndarray:
    """Log-normal activity scaled to sum to exactly ``n_ratings`` within the per-user bounds."""
    lo, hi = cfg.min_user_ratings, cfg.user_cap
    w = rng.lognormal(0.0, cfg.activity_sigma, cfg.n_users)
    total = cfg.n_ratings
    # Scale into [lo, hi] by bisection on the factor (clipping moves mass), then round by
    # largest remainder and fix the last few units where bounds bind.
    a, b = 0.0, total / w.min()
    for _ in range(100):
        mid = (a + b) / 2
        if np.clip(w * mid, lo, hi).sum() < total:
            a = mid
        else:
            b = mid
    x = np.clip(w * b, lo, hi)
    n = np.floor(x).astype(np.int64)
    short = total - int(n.sum())
    if short > 0:
        order = np.argsort(-(x - n), kind="stable")
        room = order[n[order] < hi]
        n[room[:short]] += 1
        short = total - int(n.sum())
    while short != 0:  # rare: bounds bind; move single units where there is room
        if short > 0:
            room = np.flatnonzero(n < hi)
            n[room[:short]] += 1
        else:
            room = np.flatnonzero(n > lo)
            n[room[:-short]] -= 1
        short = total - int(n.sum())
    return n


def _build_model(cfg: SynthConfig) -> _Model:
    rng = np.random.default_rng([cfg.seed, 0])
    counts = user_counts(cfg, rng)
    cluster = rng.integers(0, cfg.n_clusters, cfg.n_users)
    ranks = rng.permutation(cfg.n_items) + 1
    log_pop = -cfg.popularity_exponent * np.log(ranks.astype(np.float64))
    centres = rng.standard_normal((cfg.n_clusters, cfg.rank))
    item_factors = rng.standard_normal((cfg.n_items, cfg.rank)).astype(np.float32)
    tilt = (centres @ item_factors.T.astype(np.float64)) / math.sqrt(cfg.rank)
    logits = log_pop[None, :] + cfg.affinity * tilt
    logits -= logits.max(axis=1, keepdims=True)
    cdf = np.cumsum(np.exp(logits), axis=1)
    cdf /= cdf[:, -1:]
    # Popular items are rated a little higher, as in MovieLens.
    z_pop = (log_pop - log_pop.mean()) / (log_pop.std() or 1.0)
    item_bias = 0.3 * rng.standard_normal(cfg.n_items) + 0.15 * z_pop
    return _Model(counts, cluster, cdf, centres, item_factors, item_bias)


def _chunks(counts: np.ndarray, per_chunk: int) -> list[tuple[int, int]]:
    """User ranges [lo, hi) of about ``per_chunk`` ratings each (at least one user)."""
    ends = np.cumsum(counts)
    out, lo = [], 0
    n = len(counts)
    while lo < n:
        base = ends[lo - 1] if lo else 0
        hi = int(np.searchsorted(ends, base + per_chunk, side="right"))
        hi = max(hi, lo + 1)
        out.append((lo, min(hi, n)))
        lo = min(hi, n)
    return out


def _draw(m: _Model, users: np.ndarray, draws: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``draws[j]`` items for each ``users[j]`` from their cluster's distribution (flat)."""
    rep = np.repeat(np.arange(len(users)), draws)
    cl = m.cluster[users][rep]
    u = rng.random(len(rep))
    items = np.empty(len(rep), dtype=np.int64)
    for c in np.unique(cl):
        sel = cl == c
        items[sel] = np.searchsorted(m.cdf[c], u[sel], side="right")
    np.minimum(items, m.cdf.shape[1] - 1, out=items)
    return rep * m.cdf.shape[1] + items


def _pick_items(
    m: _Model, users: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct items per user, exactly ``counts[user]`` each: (local user, item) arrays."""
    n_items = m.cdf.shape[1]
    need = m.counts[users]
    keys = np.zeros(0, dtype=np.int64)
    have = np.zeros(len(users), dtype=np.int64)
    factor = 1.3
    for _ in range(_ROUNDS):
        short = np.flatnonzero(have < need)
        if not len(short):
            break
        deficit = need[short] - have[short]
        draws = np.minimum(np.ceil(deficit * factor).astype(np.int64) + 4, 64 * n_items)
        new = _draw(m, users[short], draws, rng)
        new = short[new // n_items] * n_items + new % n_items  # chunk-local user index
        keys = np.concatenate([keys, new])
        _, first = np.unique(keys, return_index=True)
        first.sort()  # keep draw order: the first n_u distinct items are a random sample
        keys = keys[first]
        keys = keys[np.argsort(keys // n_items, kind="stable")]
        owner = keys // n_items
        start = np.searchsorted(owner, np.arange(len(users)))
        rank_in_user = np.arange(len(keys)) - start[owner]
        keys = keys[rank_in_user < need[owner]]
        have = np.bincount(keys // n_items, minlength=len(users))
        factor *= 2
    for j in np.flatnonzero(have < need):  # rare: heavy users deep in the tail
        owned = keys[keys // n_items == j] % n_items
        free = np.setdiff1d(np.arange(n_items), owned)
        extra = rng.choice(free, size=int(need[j] - have[j]), replace=False)
        keys = np.concatenate([keys, j * n_items + extra])
    keys.sort()
    return keys // n_items, keys % n_items


def generate_chunks(
    cfg: SynthConfig, progress: SynthProgress | None = None
) -> Iterator[pd.DataFrame]:
    """The ratings as frames of about :data:`CHUNK_RATINGS` rows: user, item, rating, timestamp.

    Raw ids are 1-based (``user`` 1..n_users, ``item`` 1..n_items).
    """
    m = _build_model(cfg)
    done = 0
    sd_z = math.sqrt(cfg.signal**2 + 2 * 0.3**2 + 0.15**2 + cfg.noise**2)
    span = cfg.span_days * 86_400
    for n_chunk, (lo, hi) in enumerate(_chunks(m.counts, CHUNK_RATINGS)):
        rng = np.random.default_rng([cfg.seed, 1, n_chunk])
        users = np.arange(lo, hi)
        local, items = _pick_items(m, users, rng)
        n_u = len(users)
        mix = 0.5
        uf = m.centres[m.cluster[users]] * math.sqrt(1 - mix)
        uf += rng.standard_normal(uf.shape) * math.sqrt(mix)
        uf32 = uf.astype(np.float32)
        user_bias = 0.3 * rng.standard_normal(n_u)
        dot = np.einsum("ij,ij->i", uf32[local], m.item_factors[items], dtype=np.float32)
        z = cfg.signal * dot / math.sqrt(cfg.rank)
        z += user_bias[local] + m.item_bias[items] + cfg.noise * rng.standard_normal(len(items))
        raw = cfg.rating_mean + cfg.rating_sd * z / sd_z
        if cfg.rating_step > 0:
            raw = cfg.rating_min + np.round((raw - cfg.rating_min) / cfg.rating_step) * (
                cfg.rating_step
            )
        rating = np.clip(raw, cfg.rating_min, cfg.rating_max).astype(np.float32)
        first = rng.random(n_u) * span
        length = np.minimum(span - first, rng.lognormal(math.log(200 * 86_400), 1.5, n_u))
        ts = cfg.start + (first[local] + rng.random(len(items)) * length[local]).astype(np.int64)
        yield pd.DataFrame(
            {
                "user": (users[local] + 1).astype(np.int32),
                "item": (items + 1).astype(np.int32),
                "rating": rating,
                "timestamp": ts,
            }
        )
        done += len(items)
        if progress is not None:
            progress(done, cfg.n_ratings)


def generate(cfg: SynthConfig, progress: SynthProgress | None = None) -> pd.DataFrame:
    """All ratings in one frame (for small sizes; use :func:`write_synth` for large ones)."""
    return pd.concat(list(generate_chunks(cfg, progress)), ignore_index=True)


def item_features(cfg: SynthConfig) -> pd.DataFrame:
    """MovieLens-like features: ``title`` (with a year) and pipe-separated ``genres`` from the
    planted item factors (items close in taste share genres), indexed by raw item id."""
    m = _build_model(cfg)
    rng = np.random.default_rng([cfg.seed, 2])
    proj = rng.standard_normal((cfg.rank, len(GENRES))).astype(np.float32)
    g = m.item_factors @ proj
    top = np.argsort(-g, axis=1)[:, :3]
    second = np.take_along_axis(g, top[:, 1:2], axis=1)[:, 0] > 1.0
    third = np.take_along_axis(g, top[:, 2:3], axis=1)[:, 0] > 2.0
    names = np.array(GENRES, dtype=object)
    genres = names[top[:, 0]]
    genres = np.where(second, genres + "|" + names[top[:, 1]], genres)
    genres = np.where(second & third, genres + "|" + names[top[:, 2]], genres)
    year = 1930 + rng.integers(0, 90, cfg.n_items)
    ids = np.arange(1, cfg.n_items + 1)
    titles = [f"Synthetic {i} ({y})" for i, y in zip(ids.tolist(), year.tolist(), strict=True)]
    return pd.DataFrame({"item": ids, "title": titles, "genres": genres})


def write_synth(cfg: SynthConfig, directory: Path, progress: SynthProgress | None = None) -> dict:  # type: ignore[type-arg]
    """Generate into ``directory`` (ratings.parquet, items.parquet?, synth.json); atomic."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory = Path(directory)
    with io_errors(f"writing {directory}"), staging_dir(directory) as tmp:
        writer = None
        try:
            for frame in generate_chunks(cfg, progress):
                table = pa.Table.from_pandas(frame, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(tmp / "ratings.parquet", table.schema)
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()
        if cfg.item_features:
            item_features(cfg).to_parquet(tmp / "items.parquet", index=False)
        manifest = {
            "kind": "synthetic",
            "generator": f"recbench.data.synth/{SYNTH_VERSION}",
            "created": now_iso(),
            "parameters": cfg.to_dict(),
            "files": sorted(p.name for p in tmp.iterdir()),
        }
        atomic_write_text(tmp / MANIFEST, json.dumps(manifest, indent=1))
        replace_dir(tmp, directory)
    return manifest


def synth_dir(data_dir: Path, name: str) -> Path:
    return Path(data_dir) / "synthetic" / name


def synth_dataset(
    name: str,
    cfg: SynthConfig,
    data_dir: Path,
    *,
    force: bool = False,
    progress: SynthProgress | None = None,
) -> tuple[UserDataset, Dataset]:
    """Generate a dataset and register it under ``name`` like ``datasets add`` would; load it."""
    check_user_name(name)
    if name in user_datasets(data_dir) and not force:
        raise UsageError(f"dataset '{name}' is already registered; pass --force to replace it")
    directory = synth_dir(data_dir, name)
    write_synth(cfg, directory, progress)
    feats = directory / "items.parquet"
    record = UserDataset(
        name=name,
        path=str((directory / "ratings.parquet").resolve()),
        format="parquet",
        item_features=str(feats.resolve()) if cfg.item_features else None,
        added=now_iso(),
    )
    record, ds = load_counted(record, data_dir)
    save_user_dataset(data_dir, record)
    return record, ds
