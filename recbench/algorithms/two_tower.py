"""Two-tower neural retrieval (user tower x item tower), trained with in-batch sampled softmax.

The item tower reads an item's id plus its content (genres, release decade, hashed title words and
tags); the user tower reads the user's id, their demographics when the dataset has them (bucketed
age, gender, occupation) and the mean of embeddings of their most recent training items. Both end
in a small MLP and are L2-normalised, so a score is a cosine and the item vectors can go straight
into an approximate nearest-neighbour index (:mod:`recbench.algorithms.ann`).

Training treats every interaction as a positive (implicit feedback, like ALS) and uses the other
items of a batch as negatives: a softmax over ``user . item / temperature`` with the log of each
item's sampling probability subtracted (the log-Q correction of Yi et al. 2019, which stops
popular items from being over-penalised for appearing as negatives more often). A weight of 1 makes
the in-batch softmax an unbiased estimate of the full one; the default 1.5 leans the learned scores
a little further towards popular items, which measured best on ml-100k (per-user 25% holdout,
NDCG@10 about 0.45 at 1.5, 0.43 at 1.0, 0.33 at 0.5 and 0.09 without correction). Ids are dropped
to a shared "unknown" row with probability ``id_dropout`` so that the feature paths learn too:
that is what lets the model embed items and users unseen in training (``inductive``). A seeded
share of each user's training interactions is held out to stop training early (best epoch kept).

Fitting is seeded and deterministic on CPU (the same scores for any thread count); the global
torch RNG and torch's thread and determinism settings are restored afterwards. One CPU thread is the
default: batches are small (512 x 64), so more threads gain little, and on a shared machine they
can lose a lot to oversubscription. A CUDA device is used when available. Scoring a
fitted (or loaded) model needs no torch at all: user and item vectors are precomputed numpy
arrays. The network's weights are saved as plain arrays (``net__<parameter>``) inside the model
directory's ``arrays.npz``, so loading never unpickles anything.

torch is imported inside functions only, so ``import recbench`` stays light.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import Field

from recbench.algorithms.base import AlgoConfig, Recommender, top_k
from recbench.algorithms.space import Float, Int, Space
from recbench.data.model import Dataset

if TYPE_CHECKING:  # pragma: no cover
    import torch

#: (epoch, n_epochs, mean training loss) after each epoch
Progress = Callable[[int, int, float], None]
#: the torch module built by ``_build_net`` (an ``nn.Module`` with ``users()`` and ``items()``);
#: typed loosely because its class is only defined once torch is imported
TowerNet = Any

_WORD = re.compile(r"[a-z0-9]+")
_YEAR = re.compile(r"\((\d{4})\)")
#: release decades: 1 = before 1900, 2 = 1900s ... 14 = 2020s, 15 = later; 0 = unknown
N_DECADES = 15
#: age group edges (the MovieLens-1M groups): <18, 18-24, 25-34, 35-44, 45-49, 50-55, 56+
AGE_EDGES = np.array([18, 25, 35, 45, 50, 56])
#: categorical user-feature columns the user tower reads when the dataset has them
USER_CATEGORICAL = ("gender", "occupation")
MAX_GENRES = 16
MAX_WORDS = 32
#: users per validation ranking chunk, and most validation users ranked per epoch
_VAL_CHUNK = 256
_VAL_USERS = 4096
_VAL_K = 10


class TwoTowerConfig(AlgoConfig):
    dim: int = Field(64, ge=2, le=4096, description="output embedding size of both towers")
    hidden: int = Field(256, ge=1, le=16_384, description="hidden units of each tower's MLP")
    epochs: int = Field(20, ge=1, le=10_000, description="most training epochs")
    batch_size: int = Field(
        512, ge=2, le=1_000_000, description="(user, item) pairs per batch (in-batch negatives)"
    )
    lr: float = Field(3e-3, gt=0, description="Adam learning rate")
    temperature: float = Field(0.05, gt=0, description="softmax temperature on cosine scores")
    weight_decay: float = Field(0.0, ge=0, description="Adam L2 penalty")
    logq_correction: float = Field(
        1.5,
        ge=0,
        le=3,
        description="weight of the log-Q correction: 1 unbiased, above 1 favours popular items",
    )
    history_len: int = Field(50, ge=1, le=100_000, description="most recent items pooled")
    id_dropout: float = Field(
        0.3, ge=0, lt=1, description="probability of replacing an id by the unknown row"
    )
    patience: int = Field(5, ge=1, description="epochs without validation gain before stopping")
    val_fraction: float = Field(
        0.05, ge=0, lt=1, description="share of each user's training items held out to stop early"
    )
    hash_buckets: int = Field(
        2**14, ge=1, le=2**24, description="hash buckets for title words and tags"
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto: CUDA when available, else CPU"
    )
    num_threads: int = Field(
        1, ge=0, description="CPU threads for torch while fitting (0: torch's default)"
    )


# -- feature encoding (numpy, no torch) --------------------------------------------------------
def _pad_rows(rows: np.ndarray, codes: np.ndarray, n: int, cap: int) -> np.ndarray:
    """(n, width) int64 matrix holding each row's codes left-aligned, 0-padded, at most ``cap``.

    ``rows`` must be sorted (codes of one row contiguous, in the order they should keep).
    """
    counts = np.bincount(rows, minlength=n)
    starts = np.cumsum(counts) - counts
    pos = np.arange(len(rows)) - starts[rows]
    keep = pos < cap
    width = max(1, min(cap, int(counts.max(initial=0))))
    out = np.zeros((n, width), dtype=np.int64)
    out[rows[keep], pos[keep]] = codes[keep]
    return out


def _split_tokens(values: pd.Series, sep: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Flattened (row, token) pairs: pipe lists when ``sep`` is given, lowercase words otherwise."""
    text = values.fillna("").astype(str).str.lower()
    if sep is not None:
        lists = [[t.strip() for t in v.split(sep) if t.strip()] for v in text]
    else:
        lists = [_WORD.findall(v) for v in text]
    lengths = np.fromiter((len(t) for t in lists), np.int64, len(lists))
    rows = np.repeat(np.arange(len(lists)), lengths)
    return rows, np.array([t for row in lists for t in row], dtype=object)


def _title_words(frame: pd.DataFrame) -> pd.Series:
    if "title_words" in frame:
        return frame["title_words"]
    if "title" in frame:
        return frame["title"].fillna("").astype(str).str.replace(_YEAR, " ", regex=True)
    return pd.Series([""] * len(frame), index=frame.index)


def _years(frame: pd.DataFrame) -> np.ndarray:
    """Release year per item as float (NaN when unknown): the year column, else "(YYYY)"."""
    if "year" in frame:
        years = pd.to_numeric(frame["year"], errors="coerce")
    elif "title" in frame:
        years = pd.to_numeric(
            frame["title"].fillna("").astype(str).str.extract(_YEAR, expand=False), errors="coerce"
        )
    else:
        return np.full(len(frame), np.nan)
    return years.to_numpy(dtype=np.float64, na_value=np.nan)


def decade_codes(years: np.ndarray) -> np.ndarray:
    """Decade bucket per year (1..N_DECADES), 0 where the year is unknown."""
    out = np.zeros(len(years), dtype=np.int64)
    ok = np.isfinite(years)
    out[ok] = np.clip((years[ok] - 1900) // 10 + 2, 1, N_DECADES).astype(np.int64)
    return out


def genre_vocabulary(frame: pd.DataFrame | None) -> np.ndarray:
    """Sorted distinct genres (lowercase) of an item-feature frame; empty without genres."""
    if frame is None or "genres" not in frame:
        return np.array([], dtype=str)
    _, tokens = _split_tokens(frame["genres"], "|")
    return np.array(sorted(set(tokens.tolist())), dtype=str)


def hash_tokens(tokens: np.ndarray, buckets: int) -> np.ndarray:
    """Stable bucket (1..buckets) per token: pandas' keyed hash, the same in every process."""
    if not len(tokens):
        return np.zeros(0, dtype=np.int64)
    h = pd.util.hash_array(np.asarray(tokens, dtype=object))
    return (h % np.uint64(buckets)).astype(np.int64) + 1


def encode_items(
    frame: pd.DataFrame | None, n: int, genre_vocab: np.ndarray, buckets: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Item-tower inputs for ``n`` items: genre codes (n, G), decade (n,), word buckets (n, W).

    Genres unseen in ``genre_vocab`` are dropped (code 0 = padding). Title words are prefixed
    ``w:`` and whole tags ``t:`` before hashing, so a word and a tag never share a bucket by
    name. Items with no features get all-zero rows: the tower then leans on the id alone.
    """
    if frame is None:
        zeros = np.zeros((n, 1), dtype=np.int64)
        return zeros, np.zeros(n, dtype=np.int64), zeros.copy()
    frame = frame.reset_index(drop=True)
    if "genres" in frame:
        rows, toks = _split_tokens(frame["genres"], "|")
        codes = pd.Index(genre_vocab).get_indexer(toks).astype(np.int64) + 1
        keep = codes > 0
        genres = _pad_rows(rows[keep], codes[keep], n, MAX_GENRES)
    else:
        genres = np.zeros((n, 1), dtype=np.int64)
    decade = decade_codes(_years(frame))
    w_rows, w_toks = _split_tokens(_title_words(frame), None)
    parts_rows, parts_toks = [w_rows], [np.array(["w:" + t for t in w_toks], dtype=object)]
    if "tags" in frame:
        t_rows, t_toks = _split_tokens(frame["tags"], "|")
        parts_rows.append(t_rows)
        parts_toks.append(np.array(["t:" + t for t in t_toks], dtype=object))
    rows = np.concatenate(parts_rows)
    toks = np.concatenate(parts_toks) if len(rows) else np.array([], dtype=object)
    order = np.argsort(rows, kind="stable")
    words = _pad_rows(rows[order], hash_tokens(toks[order], buckets), n, MAX_WORDS)
    return genres, decade, words


def user_feature_layout(frame: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which user-feature columns the tower reads: (columns, sizes, flattened vocabularies).

    ``age`` becomes len(AGE_EDGES)+1 age groups (no vocabulary); each of USER_CATEGORICAL that is
    present gets its sorted distinct values. Everything else (e.g. zip codes) is ignored.
    """
    cols: list[str] = []
    sizes: list[int] = []
    vocab: list[str] = []
    if frame is not None:
        if "age" in frame and pd.to_numeric(frame["age"], errors="coerce").notna().any():
            cols.append("age")
            sizes.append(len(AGE_EDGES) + 1)
        for col in USER_CATEGORICAL:
            if col not in frame:
                continue
            values = frame[col].dropna().astype(str).str.strip().str.lower()
            values = sorted(set(values[values != ""].tolist()))
            if values:
                cols.append(col)
                sizes.append(len(values))
                vocab += values
    return (
        np.array(cols, dtype=str),
        np.array(sizes, dtype=np.int64),
        np.array(vocab, dtype=str),
    )


def encode_users(
    frame: pd.DataFrame | None,
    n: int,
    cols: np.ndarray,
    sizes: np.ndarray,
    vocab: np.ndarray,
) -> np.ndarray:
    """(n, max(1, len(cols))) codes into one shared feature table; 0 = missing/unknown value."""
    out = np.zeros((n, max(1, len(cols))), dtype=np.int64)
    if frame is None or not len(cols):
        return out
    frame = frame.reset_index(drop=True)
    offset, vstart = 1, 0
    for j, (col, size) in enumerate(zip(cols.tolist(), sizes.tolist(), strict=True)):
        if col == "age":
            if "age" in frame:
                age = pd.to_numeric(frame["age"], errors="coerce").to_numpy(np.float64)
                ok = np.isfinite(age)
                out[ok, j] = offset + np.digitize(age[ok], AGE_EDGES)
        else:
            values = vocab[vstart : vstart + size]
            vstart += size
            if col in frame:
                text = frame[col].fillna("").astype(str).str.strip().str.lower()
                idx = pd.Index(values).get_indexer(text.to_numpy(dtype=object))
                out[idx >= 0, j] = offset + idx[idx >= 0]
        offset += size
    return out


def _by_dense_index(frame: pd.DataFrame | None, n: int) -> pd.DataFrame | None:
    """A dataset's feature frame in dense-index order, one row per index (missing rows empty).

    Datasets index feature frames by dense index; a frame with any other index is taken to be in
    that order already.
    """
    if frame is None:
        return None
    if pd.api.types.is_integer_dtype(frame.index):
        return frame.reindex(np.arange(n))
    return frame.reset_index(drop=True)


def rank_within_user(user: np.ndarray, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's 0-based rank by ascending ``key`` among its user's rows, and the row count."""
    n = len(user)
    order = np.lexsort((np.arange(n), key, user))
    su = user[order]
    starts = np.flatnonzero(np.r_[True, su[1:] != su[:-1]]) if n else np.zeros(0, np.int64)
    counts = np.diff(np.r_[starts, n])
    ranks = np.empty(n, dtype=np.int64)
    ranks[order] = np.arange(n) - np.repeat(starts, counts)
    size = np.empty(n, dtype=np.int64)
    size[order] = np.repeat(counts, counts)
    return ranks, size


def recent_history(
    user: np.ndarray, item: np.ndarray, recency: np.ndarray, n_users: int, length: int
) -> np.ndarray:
    """(n_users, width) item codes (index + 1, 0 = padding) of each user's latest ``length`` items.

    ``recency`` orders a user's rows, larger = more recent (timestamps, or row positions).
    """
    rank, _ = rank_within_user(user, -recency)
    keep = rank < length
    width = max(1, min(length, int(np.bincount(user, minlength=n_users).max(initial=0))))
    out = np.zeros((n_users, width), dtype=np.int64)
    out[user[keep], rank[keep]] = item[keep].astype(np.int64) + 1
    return out


# -- the network -------------------------------------------------------------------------------
def _build_net(
    n_users: int, n_items: int, n_genres: int, n_user_feats: int, cfg: TwoTowerConfig
) -> TowerNet:
    """The two towers as one torch module (class built here so torch loads lazily)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    dim, hidden = cfg.dim, cfg.hidden

    def mlp(n_in: int) -> nn.Sequential:
        return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, dim))

    class TwoTowerNet(nn.Module):
        """Row 0 of each id table is the shared "unknown" id; ids are shifted by one."""

        def __init__(self) -> None:
            super().__init__()
            self.user_id = nn.Embedding(n_users + 1, dim)
            self.user_feat = nn.EmbeddingBag(n_user_feats + 1, dim, mode="sum", padding_idx=0)
            self.history = nn.EmbeddingBag(n_items + 1, dim, mode="mean", padding_idx=0)
            self.item_id = nn.Embedding(n_items + 1, dim)
            self.genre = nn.EmbeddingBag(n_genres + 1, dim, mode="mean", padding_idx=0)
            self.decade = nn.Embedding(N_DECADES + 1, dim, padding_idx=0)
            self.words = nn.EmbeddingBag(cfg.hash_buckets + 1, dim, mode="mean", padding_idx=0)
            self.user_mlp = mlp(3 * dim)
            self.item_mlp = mlp(4 * dim)
            for table in (
                self.user_id,
                self.user_feat,
                self.history,
                self.item_id,
                self.genre,
                self.decade,
                self.words,
            ):
                nn.init.normal_(table.weight, std=0.1)
                if table.padding_idx is not None:
                    with torch.no_grad():
                        table.weight[table.padding_idx].zero_()

        def users(
            self,
            ids: torch.Tensor,
            feats: torch.Tensor,
            hist: torch.Tensor,
            hist_offsets: torch.Tensor | None = None,
        ) -> torch.Tensor:
            """Unit user vectors: id (0 = unknown), feature codes, history (padded or flat)."""
            pooled = self.history(hist, hist_offsets)
            x = torch.cat([self.user_id(ids), self.user_feat(feats), pooled], dim=-1)
            return F.normalize(self.user_mlp(x), dim=-1)

        def items(
            self,
            ids: torch.Tensor,
            genres: torch.Tensor,
            decade: torch.Tensor,
            words: torch.Tensor,
        ) -> torch.Tensor:
            """Unit item vectors from id (0 = unknown), genres, decade and hashed words."""
            x = torch.cat(
                [self.item_id(ids), self.genre(genres), self.decade(decade), self.words(words)],
                dim=-1,
            )
            return F.normalize(self.item_mlp(x), dim=-1)

    return TwoTowerNet()


def _device(cfg: TwoTowerConfig) -> torch.device:
    import torch

    if cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def _adam(net: TowerNet, cfg: TwoTowerConfig) -> torch.optim.Optimizer:
    """Adam, fused into one kernel per tensor where this torch supports it (CPU: 2.4+).

    Fusing cuts the optimizer's share of a CPU step from about a third to under a tenth: the
    dense update of the 2^14-row word table dominates otherwise.
    """
    import torch

    try:
        return torch.optim.Adam(
            net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True
        )
    except (RuntimeError, TypeError, ValueError):  # older torch: no fused CPU kernel
        return torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


class _TorchSession:
    """Seeded, deterministic torch settings for one fit, restored afterwards.

    The global RNG is forked (so a fit neither reads nor disturbs the caller's torch seed),
    deterministic algorithms are switched on for CPU fits, and the CPU thread count is
    optionally pinned.
    """

    def __init__(self, seed: int, num_threads: int, device: torch.device) -> None:
        self.seed, self.num_threads, self.device = seed, num_threads, device

    def __enter__(self) -> _TorchSession:
        import torch

        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        self._fork = torch.random.fork_rng(devices=devices)
        self._fork.__enter__()
        torch.manual_seed(self.seed)
        self._det = torch.are_deterministic_algorithms_enabled()
        self._det_warn = torch.is_deterministic_algorithms_warn_only_enabled()
        if self.device.type == "cpu":  # CUDA fits are not promised to be bit-reproducible
            torch.use_deterministic_algorithms(True)
        self._threads = torch.get_num_threads()
        if self.num_threads:
            torch.set_num_threads(self.num_threads)
        return self

    def __exit__(self, *exc: object) -> None:
        import torch

        torch.set_num_threads(self._threads)
        torch.use_deterministic_algorithms(self._det, warn_only=self._det_warn)
        self._fork.__exit__(None, None, None)


def _flat_history(
    hist: sp.csr_array, length: int, known: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Flat item codes and bag offsets of each row's ``length`` best-rated items (ties: later
    columns), for an offsets-style EmbeddingBag; items unknown to the model are left out."""
    hist = sp.csr_array(hist)
    n = hist.shape[0]
    counts = np.diff(hist.indptr)
    rows = np.repeat(np.arange(n), counts)
    cols = hist.indices.astype(np.int64)
    ok = (cols >= 0) & (cols < len(known))
    ok[ok] = known[cols[ok]]
    rows, cols, vals = rows[ok], cols[ok], np.asarray(hist.data, np.float64)[ok]
    rank, _ = rank_within_user(rows, -(vals * (len(known) + 1) + cols))
    keep = rank < length
    rows, cols = rows[keep], cols[keep]
    order = np.argsort(rows, kind="stable")
    rows, cols = rows[order], cols[order]
    per_row = np.bincount(rows, minlength=n)
    offsets = np.r_[0, np.cumsum(per_row)[:-1]].astype(np.int64)
    return cols + 1, offsets


class TwoTowerRecommender(Recommender):
    """Two-tower retrieval model: id + content item tower, id + demographics + history user tower.

    Ranking only. Inductive: items with features but no ratings, and users known only by a
    history (and optionally demographics), are embedded without retraining.
    """

    family = "neural"
    description = "Two-tower neural retrieval (torch): ids + content + history, sampled softmax"
    source = "torch"
    requires = ("torch",)
    extra = "deep"
    inductive = True
    cold_users = True
    cold_items = True
    Config = TwoTowerConfig
    search_space: ClassVar[Space] = {
        "dim": Int(16, 256, log=True),
        "epochs": Int(5, 50),
        "lr": Float(1e-4, 1e-2, log=True),
        "temperature": Float(0.02, 0.5, log=True),
        "logq_correction": Float(0.0, 2.0),
    }
    state_attrs: ClassVar[tuple[str, ...]] = (
        "user_emb_",
        "item_emb_",
        "user_known_",
        "item_known_",
        "genre_vocab_",
        "user_cols_",
        "user_sizes_",
        "user_vocab_",
        "train_log_",
        "best_epoch_",
        "item_genres_",
        "item_decade_",
        "item_words_",
    )
    #: optional callback after each epoch, (epoch, n_epochs, mean loss), e.g. for a progress bar;
    #: when early stopping ends training the last call has epoch < n_epochs
    progress: Progress | None = None
    #: the trained network (CPU) once fitted or rebuilt; its weights as arrays after a load
    _net: TowerNet = None
    _net_arrays: dict[str, np.ndarray] | None = None

    # -- fitting -------------------------------------------------------------------------------
    def _fit(self, train: Dataset) -> None:
        import torch
        from torch.nn import functional as F

        cfg = self.config
        assert isinstance(cfg, TwoTowerConfig)
        inter = train.interactions
        n_users, n_items = inter.shape
        user = inter.user.astype(np.int64)
        item = inter.item.astype(np.int64)
        n = len(user)
        rng = np.random.default_rng(self.seed)
        recency = (
            inter.timestamp.astype(np.float64)
            if inter.timestamp is not None
            else np.arange(n, dtype=np.float64)
        )

        # Validation slice: a seeded share of each user's items, at least one kept for fitting.
        rank, size = rank_within_user(user, rng.random(n))
        n_val = np.minimum(np.floor(cfg.val_fraction * size + 0.5), size - 1)
        val = rank < n_val
        fit = ~val
        self.user_known_ = np.bincount(user[fit], minlength=n_users) > 0
        self.item_known_ = np.bincount(item[fit], minlength=n_items) > 0

        # Feature vocabularies and encoded inputs for every user and item of the catalogue.
        self.genre_vocab_ = genre_vocabulary(train.item_features)
        self.user_cols_, self.user_sizes_, self.user_vocab_ = user_feature_layout(
            train.user_features
        )
        item_frame = _by_dense_index(train.item_features, n_items)
        user_frame = _by_dense_index(train.user_features, n_users)
        item_inputs = encode_items(item_frame, n_items, self.genre_vocab_, cfg.hash_buckets)
        # Kept for explanations: the item tower is re-run with one input group switched off.
        self.item_genres_, self.item_decade_, self.item_words_ = item_inputs
        user_feats = encode_users(
            user_frame, n_users, self.user_cols_, self.user_sizes_, self.user_vocab_
        )
        hist_fit = recent_history(user[fit], item[fit], recency[fit], n_users, cfg.history_len)
        hist_all = recent_history(user, item, recency, n_users, cfg.history_len)
        hist_all = np.where(
            hist_all > 0, np.where(self.item_known_[np.maximum(hist_all - 1, 0)], hist_all, 0), 0
        )

        counts = np.bincount(item[fit], minlength=n_items).astype(np.float64)
        log_q = np.log(np.maximum(counts, 1.0) / max(counts.sum(), 1.0))

        device = _device(cfg)
        log: list[tuple[float, float]] = []
        with _TorchSession(self.seed, cfg.num_threads, device):
            net = _build_net(n_users, n_items, len(self.genre_vocab_), self._n_user_feats(), cfg)
            net.to(device)
            opt = _adam(net, cfg)
            gen = torch.Generator().manual_seed(self.seed)

            def t(a: np.ndarray) -> torch.Tensor:
                return torch.from_numpy(np.ascontiguousarray(a)).to(device)

            pu, pi = t(user[fit]), t(item[fit])
            genres_t, decade_t, words_t = (t(a) for a in item_inputs)
            ufeat_t, hist_t, logq_t = t(user_feats), t(hist_fit), t(log_q.astype(np.float32))
            val_users, val_csr = self._validation_set(inter, fit, val, rng)
            n_pairs = len(pi)
            batch = max(2, min(cfg.batch_size, n_pairs))
            best, best_state, bad = -np.inf, None, 0
            for epoch in range(cfg.epochs):
                net.train()
                perm = torch.randperm(n_pairs, generator=gen).to(device)
                drops = (torch.rand((2, n_pairs), generator=gen) < cfg.id_dropout).to(device)
                total, steps = 0.0, 0
                for start in range(0, n_pairs, batch):
                    idx = perm[start : start + batch]
                    if len(idx) < 2:
                        continue
                    u, it = pu[idx], pi[idx]
                    uid = torch.where(drops[0, idx], 0, u + 1)
                    iid = torch.where(drops[1, idx], 0, it + 1)
                    hist = hist_t[u]
                    hist = torch.where(hist == (it + 1)[:, None], 0, hist)  # leave target out
                    ue = net.users(uid, ufeat_t[u], hist)
                    ie = net.items(iid, genres_t[it], decade_t[it], words_t[it])
                    logits = ue @ ie.T / cfg.temperature
                    logits = logits - cfg.logq_correction * logq_t[it][None, :]
                    same = it[:, None] == it[None, :]
                    same.fill_diagonal_(False)  # other copies of the positive are no negatives
                    logits = logits.masked_fill(same, float("-inf"))
                    target = torch.arange(len(idx), device=device)
                    loss = F.cross_entropy(logits, target)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    total += float(loss.detach())
                    steps += 1
                mean_loss = total / max(steps, 1)
                score = np.nan
                if len(val_users):
                    score = self._validation_ndcg(
                        net, device, val_users, val_csr, hist_fit, user_feats, item_inputs
                    )
                log.append((mean_loss, score))
                if self.progress is not None:
                    self.progress(epoch + 1, cfg.epochs, mean_loss)
                if not len(val_users):
                    continue
                if score > best:
                    best, bad = score, 0
                    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                    self.best_epoch_ = np.int64(epoch + 1)
                else:
                    bad += 1
                    if bad >= cfg.patience:
                        break
            if best_state is not None:
                net.load_state_dict(best_state)
            else:
                self.best_epoch_ = np.int64(len(log))
            net.eval()
            self.train_log_ = np.asarray(log, dtype=np.float64).reshape(-1, 2)
            self.item_emb_ = self._embed_items(net, device, np.arange(n_items), item_inputs)
            self.user_emb_ = self._embed_users(
                net, device, np.arange(n_users), user_feats, hist_all
            )
        self._net = net.cpu()
        self._net_arrays = None

    def _n_user_feats(self) -> int:
        return int(np.sum(self.user_sizes_))

    @staticmethod
    def _validation_set(
        inter: Any, fit: np.ndarray, val: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, sp.csr_array]:
        """Users with held-out items (a seeded sample when there are many) and the held-out
        matrix; the matrix's rows are all users."""
        val_csr = inter.subset(val).csr("binary")
        users = np.flatnonzero(np.diff(val_csr.indptr) > 0)
        if len(users) > _VAL_USERS:
            users = np.sort(rng.choice(users, _VAL_USERS, replace=False))
        fit_csr = inter.subset(fit).csr("binary")
        return users, sp.csr_array(val_csr + 2 * fit_csr)  # 1 = held out, 2 = fitted on

    def _validation_ndcg(
        self,
        net: TowerNet,
        device: torch.device,
        users: np.ndarray,
        marks: sp.csr_array,
        hist_fit: np.ndarray,
        user_feats: np.ndarray,
        item_inputs: tuple[np.ndarray, np.ndarray, np.ndarray],
    ) -> float:
        """Mean NDCG@10 of held-out items over the full catalogue, fitted items masked."""
        net.eval()
        items = self._embed_items(net, device, np.arange(marks.shape[1]), item_inputs)
        discount = 1.0 / np.log2(np.arange(2, _VAL_K + 2))
        total = 0.0
        for start in range(0, len(users), _VAL_CHUNK):
            ub = users[start : start + _VAL_CHUNK]
            ue = self._embed_users(net, device, ub, user_feats, hist_fit)
            scores = ue @ items.T
            dense = marks[ub].toarray()
            scores[dense == 2] = -np.inf
            idx, _ = top_k(scores, _VAL_K)
            hits = np.take_along_axis(dense, idx, axis=1) == 1
            n_rel = np.minimum((dense == 1).sum(axis=1), idx.shape[1])
            ideal = np.cumsum(discount[: idx.shape[1]])[n_rel - 1]
            total += float(((hits * discount[: idx.shape[1]]).sum(axis=1) / ideal).sum())
        net.train()
        return total / len(users)

    def _embed_items(
        self,
        net: TowerNet,
        device: torch.device,
        items: np.ndarray,
        inputs: tuple[np.ndarray, np.ndarray, np.ndarray],
        chunk: int = 8192,
    ) -> np.ndarray:
        """(len(items), dim) float32 item vectors; ids unknown to the model use the unknown row."""
        import torch

        genres, decade, words = inputs
        ids = np.where(self.item_known_[items], items + 1, 0)
        out = []
        with torch.no_grad():
            for s in range(0, len(items), chunk):
                sl = slice(s, s + chunk)
                rows = items[sl]
                vec = net.items(
                    torch.from_numpy(ids[sl]).to(device),
                    torch.from_numpy(genres[rows]).to(device),
                    torch.from_numpy(decade[rows]).to(device),
                    torch.from_numpy(words[rows]).to(device),
                )
                out.append(vec.float().cpu().numpy())
        dim = self.config.dim  # type: ignore[attr-defined]
        return np.concatenate(out) if out else np.zeros((0, dim), np.float32)

    def _embed_users(
        self,
        net: TowerNet,
        device: torch.device,
        users: np.ndarray,
        feats: np.ndarray,
        hist: np.ndarray,
        known: np.ndarray | None = None,
        chunk: int = 8192,
    ) -> np.ndarray:
        """(len(users), dim) float32 vectors of catalogue users from a padded history matrix."""
        import torch

        known = self.user_known_ if known is None else known
        ids = np.where(known[users], users + 1, 0)
        out = []
        with torch.no_grad():
            for s in range(0, len(users), chunk):
                rows = users[s : s + chunk]
                vec = net.users(
                    torch.from_numpy(ids[s : s + chunk]).to(device),
                    torch.from_numpy(feats[rows]).to(device),
                    torch.from_numpy(hist[rows]).to(device),
                )
                out.append(vec.float().cpu().numpy())
        dim = self.config.dim  # type: ignore[attr-defined]
        return np.concatenate(out) if out else np.zeros((0, dim), np.float32)

    # -- scoring -------------------------------------------------------------------------------
    def score(self, users: np.ndarray) -> np.ndarray:
        """Cosine of precomputed user and item vectors (no torch needed)."""
        self.check_is_fitted()
        return self.user_emb_[np.asarray(users, np.int64)] @ self.item_emb_.T

    def item_embeddings(self) -> np.ndarray:
        self.check_is_fitted()
        return self.item_emb_

    def history_vectors(self, history: sp.csr_array) -> np.ndarray:
        return self.embed_histories(history)

    def query_vectors(self, users: np.ndarray) -> np.ndarray:
        self.check_is_fitted()
        return self.user_emb_[np.asarray(users, np.int64)]

    def score_history(self, history: sp.csr_array) -> np.ndarray:
        """Scores for users known only by ``history`` (n x n_items): each row's ``history_len``
        best-rated items are pooled (a csr row carries no recency); the user id is unknown."""
        self.check_is_fitted()
        users = self.embed_histories(history)
        return users @ self.item_emb_.T

    def embed_histories(
        self, history: sp.csr_array, user_features: pd.DataFrame | None = None
    ) -> np.ndarray:
        """(n, dim) unit vectors for users given by history rows (and optional feature rows)."""
        import torch

        self.check_is_fitted()
        cfg = self.config
        assert isinstance(cfg, TwoTowerConfig)
        history = sp.csr_array(history)
        n = history.shape[0]
        net = self._network()
        flat, offsets = _flat_history(history, cfg.history_len, self.item_known_)
        feats = encode_users(user_features, n, self.user_cols_, self.user_sizes_, self.user_vocab_)
        with torch.no_grad():
            vec = net.users(
                torch.zeros(n, dtype=torch.int64),
                torch.from_numpy(feats),
                torch.from_numpy(flat),
                torch.from_numpy(offsets),
            )
        return vec.numpy().astype(np.float32)

    # -- explanations --------------------------------------------------------------------------
    def explain(self, history: sp.csr_array, items: np.ndarray) -> list[str] | None:
        """Ablation: how much each input lowers the score when switched off.

        Item side: the id, genres, decade and title/tag words are zeroed one group at a time;
        user side: each history item is left out of the pooled history. The two largest
        contributions are named.
        """
        import torch

        self.check_is_fitted()
        history = sp.csr_array(history)
        items = np.asarray(items, np.int64)
        if not history.nnz or not len(items):
            return None
        net = self._network()
        user = self.embed_histories(history)[0]
        base = self.item_emb_[items] @ user
        known_ids = np.where(self.item_known_[items], items + 1, 0)
        inputs = {
            "ids": torch.from_numpy(known_ids),
            "genres": torch.from_numpy(np.asarray(self.item_genres_)[items]),
            "decade": torch.from_numpy(np.asarray(self.item_decade_)[items]),
            "words": torch.from_numpy(np.asarray(self.item_words_)[items]),
        }
        labels = {
            "ids": "its learned identity",
            "genres": "its genres",
            "decade": "its decade",
            "words": "its title and tag words",
        }
        drops: list[list[tuple[float, str]]] = [[] for _ in items]
        with torch.no_grad():
            for group, label in labels.items():
                ablated = dict(inputs)
                ablated[group] = torch.zeros_like(inputs[group])
                vec = net.items(
                    ablated["ids"], ablated["genres"], ablated["decade"], ablated["words"]
                ).numpy()
                for r, d in enumerate(base - vec @ user):
                    drops[r].append((float(d), label))
        rated = history.indices[np.argsort(-history.data, kind="stable")][:20]
        for j in rated:
            rest = history.copy()
            rest.data[rest.indices == j] = 0
            rest.eliminate_zeros()
            if not rest.nnz:
                continue
            without = self.embed_histories(rest)[0]
            for r, d in enumerate(base - self.item_emb_[items] @ without):
                drops[r].append((float(d), f"you rated {{item:{j}}}"))
        out = []
        for r in range(len(items)):
            top = sorted(drops[r], reverse=True)[:2]
            out.append(", ".join(f"{label} (+{d:.2f})" for d, label in top if d > 0) or "—")
        return out

    # -- inductive use -------------------------------------------------------------------------
    def embed_items_from_features(self, item_features: pd.DataFrame) -> np.ndarray:
        """(len(frame), dim) unit vectors for items described only by features (title, year,
        genres, tags): the id path is the shared unknown row, as for items unseen in training.
        """
        import torch

        self.check_is_fitted()
        cfg = self.config
        assert isinstance(cfg, TwoTowerConfig)
        n = len(item_features)
        genres, decade, words = encode_items(item_features, n, self.genre_vocab_, cfg.hash_buckets)
        net = self._network()
        with torch.no_grad():
            vec = net.items(
                torch.zeros(n, dtype=torch.int64),
                torch.from_numpy(genres),
                torch.from_numpy(decade),
                torch.from_numpy(words),
            )
        return vec.numpy().astype(np.float32)

    def embed_user_from_history(
        self,
        item_indices: Sequence[int] | np.ndarray,
        user_feature_row: Mapping[str, Any] | pd.Series | None = None,
    ) -> np.ndarray:
        """(dim,) unit vector for a user unseen in training, from the items they interacted with
        (dense indices, oldest first; the latest ``history_len`` count; indices outside the
        training catalogue or without training interactions are ignored) and optionally a
        feature row such as ``{"age": 31, "gender": "F", "occupation": "writer"}``."""
        self.check_is_fitted()
        cfg = self.config
        assert isinstance(cfg, TwoTowerConfig)
        items = np.asarray(item_indices, dtype=np.int64).ravel()[-cfg.history_len :]
        items = items[(items >= 0) & (items < self.n_items_)]
        row = sp.csr_array(
            (np.ones(len(items)), (np.zeros(len(items), np.int64), items)),
            shape=(1, self.n_items_),
        )
        frame = None if user_feature_row is None else pd.DataFrame([dict(user_feature_row)])
        return self.embed_histories(row, frame)[0]

    def recommend_for_history(
        self,
        item_indices: Sequence[int] | np.ndarray,
        k: int,
        exclude: Sequence[int] | np.ndarray | None = None,
        user_feature_row: Mapping[str, Any] | pd.Series | None = None,
        exclude_history: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (item indices, scores) for a user known only by a history, best first.

        The history's own items are left out unless ``exclude_history`` is False; ``exclude``
        names further items to leave out.
        """
        vec = self.embed_user_from_history(item_indices, user_feature_row)
        scores = (self.item_emb_ @ vec)[None, :].astype(np.float32)
        masked = [] if exclude is None else [np.asarray(exclude, np.int64).ravel()]
        if exclude_history:
            masked.append(np.asarray(item_indices, np.int64).ravel())
        if masked:
            drop = np.concatenate(masked)
            drop = drop[(drop >= 0) & (drop < self.n_items_)]
            scores[0, drop] = -np.inf
        idx, vals = top_k(scores, k)
        keep = np.isfinite(vals[0])
        return idx[0][keep], vals[0][keep]

    # -- persistence ---------------------------------------------------------------------------
    def _network(self) -> TowerNet:
        """The trained network on CPU, rebuilt from saved arrays after a load."""
        import torch

        if self._net is not None:
            return self._net
        arrays = self._net_arrays
        if arrays is None:
            raise RuntimeError("the network's weights are missing; fit or load the model first")
        cfg = self.config
        assert isinstance(cfg, TwoTowerConfig)
        net = _build_net(
            self.n_users_, self.n_items_, len(self.genre_vocab_), self._n_user_feats(), cfg
        )
        net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in arrays.items()})
        net.eval()
        self._net = net
        return net

    def get_state(self) -> dict[str, np.ndarray]:
        """Fitted arrays plus every network tensor as ``net__<name>`` (float32 numpy)."""
        state = super().get_state()
        if self._net is not None:
            for name, tensor in self._net.state_dict().items():
                state[f"net__{name}"] = tensor.detach().cpu().float().numpy()
        elif self._net_arrays is not None:
            for name, arr in self._net_arrays.items():
                state[f"net__{name}"] = arr
        return state

    def set_state(self, state: dict[str, Any]) -> TwoTowerRecommender:
        """Restore arrays; the network is rebuilt lazily (scoring needs only the vectors).

        Shapes are checked against this instance's config here, so a model directory whose
        parameters do not match its weights fails at load time with a ValueError.
        """
        super().set_state(state)
        cfg = self.config
        assert isinstance(cfg, TwoTowerConfig)
        self.best_epoch_ = np.int64(self.best_epoch_)
        arrays = {k[5:]: np.asarray(v) for k, v in state.items() if k.startswith("net__")}
        if not arrays:
            raise KeyError("model arrays lack the network weights (net__*)")
        expected = {
            "user_id.weight": (self.n_users_ + 1, cfg.dim),
            "item_id.weight": (self.n_items_ + 1, cfg.dim),
            "words.weight": (cfg.hash_buckets + 1, cfg.dim),
            "genre.weight": (len(self.genre_vocab_) + 1, cfg.dim),
            "user_feat.weight": (self._n_user_feats() + 1, cfg.dim),
            "user_mlp.0.weight": (cfg.hidden, 3 * cfg.dim),
            "item_mlp.2.weight": (cfg.dim, cfg.hidden),
        }
        for name, shape in expected.items():
            got = arrays.get(name)
            if got is None or got.shape != shape:
                found = None if got is None else got.shape
                raise ValueError(f"network weight {name} has shape {found}, expected {shape}")
        if self.user_emb_.shape != (self.n_users_, cfg.dim) or self.item_emb_.shape != (
            self.n_items_,
            cfg.dim,
        ):
            raise ValueError("stored user/item vectors do not match the model's shape")
        self._net = None
        self._net_arrays = arrays
        return self
