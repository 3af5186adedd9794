"""User- and item-based k-nearest-neighbour collaborative filtering, vectorised.

Rating prediction follows Surprise's ``KNNBasic`` / ``KNNWithMeans`` / ``KNNBaseline``
(``predictor`` = "basic" / "means" / "baseline") and its four similarity measures exactly:

* similarities are computed over **co-rated** entries only (``cosine``, ``msd``, ``pearson``,
  ``pearson_baseline``), pairs with fewer than ``min_support`` co-ratings get 0 (at least 2 for
  ``pearson_baseline``, whose shrinkage is ``(n - 1) / (n - 1 + shrinkage)``), the diagonal is 1;
  the sums come from sparse products (e.g. the squared differences of ``msd`` are
  ``X2 M' + M X2' - 2 X X'`` with ``M`` the indicator and ``X2`` the squared ratings);
* the neighbours of a pair (u, i) are the ``k`` most similar users who rated i (user-based) or
  the ``k`` items most similar to i among those u rated (item-based), ties broken by training
  order like ``heapq.nlargest``; of those, only the ones with a **positive** similarity are
  aggregated, and fewer than ``min_k`` of them means no neighbourhood term;
* an unknown user or item (no training ratings), or too few neighbours for "basic", falls back
  to the training global mean (Surprise's ``PredictionImpossible``); "means" falls back to the
  user (item) mean when only the neighbourhood is missing, "baseline" to mu + b_u + b_i always.

Baseline estimates are Surprise's ALS ones (:class:`BaselineRecommender`, same defaults); the
default similarity is Surprise's ``msd`` (it recommends ``pearson_baseline`` with "baseline").

Ranking (``score``) is the usual top-N neighbourhood scheme on the **binary** interaction matrix:
each user (item) keeps its ``k`` most similar other users (items) with positive similarity;
user-based: ``score(u, j) = sum of sim(u, v) over u's neighbours v who interacted with j``;
item-based: ``score(u, j) = sum of sim(j, l) over j's neighbours l that u interacted with``.
Binary rather than mean-centred values, so a strongly similar but low-rated neighbour still
counts as evidence of interest (which suits top-N ranking).

What happens at each size (n users for user-kNN, items for item-kNN; ``blockwise="auto"``):

* the dense n x n float64 similarity fits ``max_memory_gb`` (about ``n^2 * 8 * 4..6`` bytes at
  the peak, e.g. n = 10k needs 2-5 GB): it is computed once at fit and kept (``sim_``), as always;
* it does not: nothing n x n is ever allocated. The ranking neighbourhoods are computed a block
  of rows at a time (``block_rows`` x n, sized from ``max_memory_gb``) and only each row's top
  ``k`` is kept (sparse); ``estimate`` computes, a block of distinct test x's at a time, those
  rows of the rating similarity (:mod:`recbench.algorithms.knn_blocks`). Similarity rows and
  neighbourhoods are bitwise the dense path's (same arithmetic in the same order, so ties
  resolve identically); predictions equal it to float rounding (about 1e-16).
  The saved model holds the training ratings (``yr_*``) and an empty ``sim_``;
* it is refused (:meth:`_KNNRecommender.refusal`, a one-line message) when even the blockwise
  structures and one block exceed ``max_memory_gb``, or when one pass over the rows would take
  more than :data:`MAX_PASS_WORK` multiply-adds (user-kNN at ML-25M size: hours; item-kNN or
  fewer users work). ``blockwise="always"`` / ``"never"`` force a path.

Blockwise cost: one pass is ``sum over y of deg(y)^2`` multiply-adds per sparse product (item-kNN:
the users' activity; user-kNN: the items' popularity, far larger), one product for the ranking
neighbourhoods at fit (binary cosine) and 3 (cosine) to 6 (pearson) for the rows of the test
pairs' x's at predict time, blocks spread over ``num_threads`` threads (scipy's and numpy's
kernels release the GIL). The neighbourhood sums of the test pairs are vectorised over a block's
pairs (:mod:`recbench.algorithms.knn_terms`). Ranking scores are sparse products too, scored in
two threads by evaluation (``thread_safe_score``).
"""

from __future__ import annotations

import threading
from typing import ClassVar, Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from recbench.algorithms.base import AlgoConfig, Recommender
from recbench.algorithms.baselines import BaselineConfig, BaselineRecommender
from recbench.algorithms.explain import Contribution, rank_contributions
from recbench.algorithms.knn_blocks import (
    BLOCK_ARRAYS,
    ENTRY_BYTES,
    RANK_ARRAYS,
    SimilarityRows,
    cores,
    map_blocks,
    neighbour_csr,
    pass_work,
    select_top,
    top_neighbours_blockwise,
)
from recbench.algorithms.knn_terms import neighbour_terms
from recbench.algorithms.space import Categorical, Int, Space
from recbench.data.model import Dataset
from recbench.errors import UsageError

#: dense n x n float64 arrays alive at the peak of the similarity computation (measured on
#: ml-latest-small item-based, 9.7k items: msd 2.7 GB, cosine 3.9 GB, pearson(_baseline) 4.6 GB)
_PEAK_ARRAYS = {"msd": 4, "cosine": 5, "pearson": 6, "pearson_baseline": 6}
#: blockwise passes needing more multiply-adds than this are refused (at ~10 ns each on one
#: core, about 5 minutes per sparse product; item-kNN at ML-25M size needs 1e10)
MAX_PASS_WORK = 3e10
#: guards the ranking cache of :meth:`_KNNRecommender.score` (evaluation scores in threads)
_RANK_CACHE_LOCK = threading.Lock()


class KNNConfig(AlgoConfig):
    k: int = Field(40, ge=1, description="maximum number of neighbours aggregated")
    min_k: int = Field(
        1, ge=0, description="fewer positive-similarity neighbours than this: no neighbour term"
    )
    similarity: Literal["cosine", "msd", "pearson", "pearson_baseline"] = Field(
        "msd",
        description="similarity over co-rated entries (Surprise's default msd; "
        "pearson_baseline suits predictor=baseline)",
    )
    min_support: int = Field(1, ge=1, description="co-ratings below which similarity is 0")
    rank_similarity: Literal["cosine", "rating"] = Field(
        "cosine",
        description="ranking neighbourhoods: cosine on binary interactions, or the rating "
        "similarity above",
    )
    shrinkage: float = Field(100.0, ge=0, description="shrinkage of pearson_baseline only")
    predictor: Literal["basic", "means", "baseline"] = Field(
        "basic",
        description="Surprise's KNNBasic, KNNWithMeans or KNNBaseline rating estimate",
    )
    reg_u: float = Field(15.0, ge=0, description="baseline: L2 regularisation of user biases")
    reg_i: float = Field(10.0, ge=0, description="baseline: L2 regularisation of item biases")
    n_epochs: int = Field(10, ge=1, le=1000, description="baseline: ALS passes")
    max_memory_gb: float = Field(
        4.0,
        gt=0,
        description="memory budget: dense similarity up to it, blockwise above (refuse when "
        "even that needs more)",
    )
    blockwise: Literal["auto", "always", "never"] = Field(
        "auto",
        description="blockwise sparse neighbourhoods: when the dense similarity exceeds "
        "max_memory_gb (auto), always, or never (refuse instead)",
    )
    block_rows: int = Field(
        0, ge=0, description="rows per block of the blockwise path (0: sized from max_memory_gb)"
    )
    num_threads: int = Field(0, ge=0, description="blockwise path: threads (0: all cores)")


def _triu_mirror(a: np.ndarray, block: int = 1024) -> np.ndarray:
    """Copy the strict upper triangle onto the lower one, in place (Surprise fills i < j)."""
    n = a.shape[0]
    for s in range(0, n, block):
        e = min(s + block, n)
        a[s:e, :s] = a[:s, s:e].T
        diag = a[s:e, s:e]
        lower = np.tril_indices(e - s, -1)
        diag[lower] = diag.T[lower]
    return a


def similarity_matrix(
    x: np.ndarray,
    y: np.ndarray,
    r: np.ndarray,
    n_x: int,
    n_y: int,
    name: str,
    min_support: int = 1,
    shrinkage: float = 100.0,
    mu: float = 0.0,
    bx: np.ndarray | None = None,
    by: np.ndarray | None = None,
) -> np.ndarray:
    """Dense (n_x, n_x) similarity between the ``x`` entities over their co-rated ``y``s.

    Same definitions and arithmetic as ``surprise.similarities``; ``bx``/``by`` are the baseline
    biases of x and y (needed by ``pearson_baseline`` only).
    """
    x = np.asarray(x, np.int64)
    y = np.asarray(y, np.int64)
    r = np.asarray(r, np.float64)
    shape = (n_x, n_y)

    def mat(values: np.ndarray) -> sp.csr_array:
        return sp.csr_array((values, (x, y)), shape=shape)

    def dense_product(a: sp.csr_array, b: sp.csr_array) -> np.ndarray:
        out = (a @ b.T).toarray()
        return np.ascontiguousarray(out, dtype=np.float64)

    m = mat(np.ones_like(r))
    freq = dense_product(m, m)
    if name == "pearson_baseline":
        assert bx is not None and by is not None
        d = r - ((mu + by[y]) + bx[x])
        dm = mat(d)
        prods = dense_product(dm, dm)
        sqi = dense_product(mat(d * d), m)  # sqi[a, b] = sum over co-rated of d_a^2
        denom = np.sqrt(sqi * sqi.T)
        del sqi
        with np.errstate(divide="ignore", invalid="ignore"):
            sim = prods / denom
            sim *= (freq - 1) / (freq - 1 + shrinkage)
        del prods, denom
        sim[freq < max(2, min_support)] = 0
    elif name == "msd":
        sq = dense_product(mat(r * r), m)
        sq += sq.T.copy()
        sq -= 2 * dense_product(mat(r), mat(r))
        with np.errstate(divide="ignore", invalid="ignore"):
            sq /= freq
            sq += 1
            sim = np.reciprocal(sq, out=sq)
        sim[freq < min_support] = 0
    elif name == "cosine":
        xm = mat(r)
        prods = dense_product(xm, xm)
        sqi = dense_product(mat(r * r), m)
        denom = np.sqrt(sqi * sqi.T)
        del sqi
        with np.errstate(divide="ignore", invalid="ignore"):
            sim = np.divide(prods, denom, out=prods)
        del denom
        sim[freq < min_support] = 0
    elif name == "pearson":
        xm = mat(r)
        prods = dense_product(xm, xm)
        si = dense_product(xm, m)  # si[a, b] = sum over co-rated of r_a
        num = freq * prods
        num -= si * si.T
        del prods
        sqi = dense_product(mat(r * r), m)
        a = freq * sqi
        a -= si * si
        del sqi, si
        denom = np.sqrt(np.maximum(a * a.T, 0))
        del a
        with np.errstate(divide="ignore", invalid="ignore"):
            sim = np.divide(num, denom, out=num)
        del denom
        sim[freq < min_support] = 0
    else:  # pragma: no cover - the config validates the name
        raise UsageError(f"unknown similarity '{name}'")
    sim[~np.isfinite(sim)] = 0  # 0/0 (no spread): Surprise sets 0 or fails; 0 here
    _triu_mirror(sim)
    np.fill_diagonal(sim, 1.0)
    return sim


def binary_cosine(x: np.ndarray, y: np.ndarray, n_x: int, n_y: int) -> np.ndarray:
    """Dense cosine similarity between the x's over binary interactions with the y's.

    The usual top-N neighbourhood similarity (Deshpande & Karypis 2004; Sarwar et al. 2001):
    rating-agreement measures such as msd rate two items with one co-rating in agreement as
    perfectly similar, which fills neighbourhoods with obscure items.
    """
    m = sp.csr_array((np.ones(len(x), np.float32), (x, y)), shape=(n_x, n_y))
    m.sum_duplicates()
    m.data[:] = 1.0
    co = (m @ m.T).toarray()
    norms = np.sqrt(np.diag(co)).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        co /= norms[:, None]
        co /= norms[None, :]
    return np.nan_to_num(co, copy=False)


def top_neighbours(sim: np.ndarray, k: int, block: int = 1024) -> sp.csr_array:
    """Each row's ``k`` most similar other rows with positive similarity, as a sparse matrix."""
    n = sim.shape[0]
    rows, cols, vals = [], [], []
    k = min(k, max(n - 1, 1))
    for start in range(0, n, block):
        r, c, v = select_top(sim[start : start + block].copy(), start, k)
        rows.append(r)
        cols.append(c)
        vals.append(v)
    return neighbour_csr(rows, cols, vals, n)


class _KNNRecommender(Recommender[KNNConfig]):
    """Shared implementation; subclasses fix ``user_based``."""

    family = "neighbourhood"
    source = "recbench"
    predicts_ratings = True
    needs_ratings = False  # implicit data is ranked (binary cosine); ratings only to predict
    thread_safe_score = True  # scipy's sparse product releases the GIL; the cache is locked
    Config = KNNConfig
    search_space: ClassVar[Space] = {
        "k": Int(5, 1000, log=True),
        "similarity": Categorical(("cosine", "msd", "pearson", "pearson_baseline")),
        "rank_similarity": Categorical(("cosine", "rating")),
        "predictor": Categorical(("basic", "means", "baseline")),
    }
    user_based: ClassVar[bool] = True
    state_attrs: ClassVar[tuple[str, ...]] = (
        "sim_",
        "global_mean_",
        "bu_",
        "bi_",
        "means_",
        "user_known_",
        "item_known_",
        "yr_indptr_",
        "yr_indices_",
        "yr_data_",
        "nb_indptr_",
        "nb_indices_",
        "nb_data_",
    )

    def refusal(self, train: Dataset) -> str | None:
        return self._memory_refusal(train) or super().refusal(train)

    def rates(self) -> bool:
        """Fitted on implicit data (no rating scale), it ranks but predicts no ratings."""
        return bool(self.rating_scale_[1] > 0) if hasattr(self, "rating_scale_") else True

    def _memory_refusal(self, train: Dataset) -> str | None:
        return self._plan(train)[2]

    def _plan(self, train: Dataset) -> tuple[bool, int, str | None]:
        """(blockwise?, rows per block, why it cannot run) for fitting on ``train``."""
        cfg = self.config
        inter = train.interactions
        n_x = train.n_users if self.user_based else train.n_items
        kind = "users" if self.user_based else "items"
        name = type(self).__name__
        need = n_x * n_x * 8 * _PEAK_ARRAYS[cfg.similarity] / 1e9
        if cfg.blockwise == "never" or (cfg.blockwise == "auto" and need <= cfg.max_memory_gb):
            if need <= cfg.max_memory_gb:
                return False, 0, None
            return (
                False,
                0,
                (
                    f"{name} needs about {need:.1f} GB for the dense similarity of {n_x:,} {kind} "
                    f"(max_memory_gb={cfg.max_memory_gb:g}); raise max_memory_gb, allow "
                    "blockwise=auto or use the other orientation"
                ),
            )
        ys = inter.item if self.user_based else inter.user
        n_y = train.n_items if self.user_based else train.n_users
        work = pass_work(np.asarray(ys, np.int64), n_y)
        if work > MAX_PASS_WORK:
            works = (
                "item-knn, or fewer users (--min-user-ratings)"
                if self.user_based
                else "fewer items or users (--min-item-ratings, --min-user-ratings)"
            )
            return (
                True,
                0,
                (
                    f"{name} would need about {work:.1e} multiply-adds per blockwise similarity "
                    f"pass over {n_x:,} {kind} (over {MAX_PASS_WORK:.0e}: hours on a CPU); use "
                    f"{works}"
                ),
            )
        row_gb = n_x * 8 * max(BLOCK_ARRAYS[cfg.similarity], RANK_ARRAYS) / 1e9
        fixed_gb = (len(inter) * ENTRY_BYTES + n_x * min(cfg.k, n_x) * 16) / 1e9
        spare = cfg.max_memory_gb - fixed_gb
        if spare < row_gb:
            return (
                True,
                0,
                (
                    f"{name} needs about {need:.1f} GB for the dense similarity of {n_x:,} {kind} "
                    f"and {fixed_gb + row_gb:.2f} GB even blockwise (max_memory_gb="
                    f"{cfg.max_memory_gb:g}); raise max_memory_gb or use the other orientation"
                ),
            )
        rows = cfg.block_rows or int(spare // (row_gb * self._workers()))
        return True, max(1, min(rows, n_x)), None

    def _workers(self) -> int:
        """Threads of the blockwise path (each holds one block)."""
        return self.config.num_threads or cores()

    def _fit(self, train: Dataset) -> None:
        cfg = self.config
        inter = train.interactions
        n_x = self.n_users_ if self.user_based else self.n_items_
        n_y = self.n_items_ if self.user_based else self.n_users_
        blockwise, block_rows, reason = self._plan(train)
        if reason:
            raise UsageError(reason)
        u = inter.user.astype(np.int64)
        i = inter.item.astype(np.int64)
        implicit = inter.rating is None
        if implicit:  # all ones, no baselines, binary cosine neighbourhoods: it ranks only
            r = np.ones(len(u), np.float64)
            self.global_mean_ = np.float64(1.0)
            self.bu_ = np.zeros(self.n_users_, np.float64)
            self.bi_ = np.zeros(self.n_items_, np.float64)
        else:
            r = inter.rating.astype(np.float64)  # type: ignore[union-attr]
            base = BaselineRecommender(
                BaselineConfig(reg_u=cfg.reg_u, reg_i=cfg.reg_i, n_epochs=cfg.n_epochs)
            )
            base.fit(train)
            self.global_mean_ = np.float64(base.mu_)
            self.bu_ = np.asarray(base.bu_, np.float64)
            self.bi_ = np.asarray(base.bi_, np.float64)
        rank_cosine = implicit or cfg.rank_similarity == "cosine"
        n_u = np.bincount(u, minlength=self.n_users_)
        n_i = np.bincount(i, minlength=self.n_items_)
        self.user_known_ = n_u > 0
        self.item_known_ = n_i > 0
        x, y = (u, i) if self.user_based else (i, u)
        bx, by = (self.bu_, self.bi_) if self.user_based else (self.bi_, self.bu_)
        n_xc = n_u if self.user_based else n_i
        with np.errstate(divide="ignore", invalid="ignore"):
            self.means_ = np.nan_to_num(np.bincount(x, weights=r, minlength=n_x) / n_xc)
        # Candidates per y in training order (Surprise's ir / ur lists): a stable sort.
        order = np.argsort(y, kind="stable")
        self.yr_indptr_ = np.concatenate([[0], np.cumsum(np.bincount(y, minlength=n_y))])
        self.yr_indices_ = x[order]
        self.yr_data_ = r[order]
        if blockwise:
            self.sim_ = np.zeros((0, 0))  # rows are computed on demand: see _similarity_rows
            self.block_rows_ = block_rows
            rows = self._similarity_rows()
            rows.prepare(rank_cosine)
            rows_of = rows.binary_rows if rank_cosine else rows.rating_rows
            nb = top_neighbours_blockwise(rows_of, n_x, cfg.k, block_rows, self._workers())
        elif implicit:
            self.sim_ = binary_cosine(x, y, n_x, n_y)
            nb = top_neighbours(self.sim_, cfg.k)
        else:
            self.sim_ = similarity_matrix(
                x, y, r, n_x, n_y, cfg.similarity, cfg.min_support, cfg.shrinkage,
                float(self.global_mean_), bx, by,
            )  # fmt: skip
            rank_sim = self.sim_
            if rank_cosine:
                rank_sim = binary_cosine(x, y, n_x, n_y)
            nb = top_neighbours(rank_sim, cfg.k)
        self.nb_indptr_, self.nb_indices_, self.nb_data_ = nb.indptr, nb.indices, nb.data

    # -- blockwise -----------------------------------------------------------------------------
    def _blockwise(self) -> bool:
        """Whether this fitted model keeps no dense similarity (``sim_`` is empty)."""
        return self.sim_.size == 0

    def _similarity_rows(self) -> SimilarityRows:
        """Row computer of the similarities from the stored training ratings (cached)."""
        cache = self.__dict__.setdefault("_rows_cache", {})
        if cache.get("key") is not self.yr_data_:  # rebuilt after fit / set_state
            cfg = self.config
            n_x = self.n_users_ if self.user_based else self.n_items_
            bx, by = (self.bu_, self.bi_) if self.user_based else (self.bi_, self.bu_)
            rows = SimilarityRows(
                self.yr_indptr_, self.yr_indices_, self.yr_data_, n_x, cfg.similarity,
                cfg.min_support, cfg.shrinkage, float(self.global_mean_), bx, by,
            )  # fmt: skip
            cache.update(key=self.yr_data_, rows=rows)
        return cache["rows"]

    def _predict_block_rows(self) -> int:
        """Rows per block at predict time: as at fit, or re-planned from the config after a
        load (the training size is known from the stored ratings)."""
        if "block_rows_" in self.__dict__:
            return int(self.block_rows_)
        cfg = self.config
        n_x = self.n_users_ if self.user_based else self.n_items_
        row_gb = n_x * 8 * BLOCK_ARRAYS[cfg.similarity] / 1e9
        fixed_gb = len(self.yr_data_) * ENTRY_BYTES / 1e9
        spare = max(cfg.max_memory_gb - fixed_gb, row_gb * self._workers())
        rows = cfg.block_rows or int(spare // (row_gb * self._workers()))
        return max(1, min(rows, n_x))

    # -- ranking -------------------------------------------------------------------------------
    def _neighbours(self) -> sp.csr_array:
        n = len(self.nb_indptr_) - 1
        return sp.csr_array((self.nb_data_, self.nb_indices_, self.nb_indptr_), shape=(n, n))

    def _binary(self) -> sp.csr_array:
        """Binary training matrix, users x items, from the stored candidate lists."""
        n_y = len(self.yr_indptr_) - 1
        ys = np.repeat(np.arange(n_y), np.diff(self.yr_indptr_))
        ones = np.ones(len(ys), np.float64)
        if self.user_based:  # y = items
            m = sp.csr_array((ones, (self.yr_indices_, ys)), shape=(self.n_users_, self.n_items_))
        else:
            m = sp.csr_array((ones, (ys, self.yr_indices_)), shape=(self.n_users_, self.n_items_))
        return m

    def score(self, users: np.ndarray) -> np.ndarray:
        self.check_is_fitted()
        users = np.asarray(users, np.int64)
        with _RANK_CACHE_LOCK:  # scored in threads: the first builds the cache
            cache = self.__dict__.setdefault("_rank_cache", {})
            if cache.get("key") is not self.nb_data_:  # rebuilt after fit / set_state
                cache.update(key=self.nb_data_, nb=self._neighbours(), b=self._binary())
            nb, b = cache["nb"], cache["b"]
        out = nb[users] @ b if self.user_based else b[users] @ nb.T
        return np.asarray(out.toarray(), dtype=np.float32)

    def _neighbours_cached(self) -> sp.csr_array:
        self.score(np.zeros(0, np.int64))  # builds the cache
        return self.__dict__["_rank_cache"]["nb"]

    # -- rating prediction -----------------------------------------------------------------------
    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        self.check_is_fitted()
        return self.clip(self.estimate(users, items))

    def estimate(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Unclipped float64 estimates, exactly as Surprise's ``predict`` before clipping."""
        cfg = self.config
        users = np.asarray(users, np.int64)
        items = np.asarray(items, np.int64)
        mu = float(self.global_mean_)
        known = self.user_known_[users] & self.item_known_[items]
        x, y = (users, items) if self.user_based else (items, users)
        sum_sim = np.zeros(len(users))
        sum_num = np.zeros(len(users))
        actual_k = np.zeros(len(users), np.int64)
        sums = (sum_sim, sum_num, actual_k)
        idx = np.flatnonzero(known)
        if not self._blockwise():
            for a, b in zip(sums, self._neighbour_terms(idx, x, y, self.sim_, None), strict=True):
                a[idx] = b
        else:
            # each block of distinct test x's: its similarity rows once, then all its pairs
            rows = self._similarity_rows()
            rows.prepare(False)
            idx = idx[np.argsort(x[idx], kind="stable")]
            xs = x[idx]
            distinct = np.unique(xs)
            step = self._predict_block_rows()
            starts = range(0, len(distinct), step)

            def task(b: int) -> tuple[np.ndarray, ...]:
                block = distinct[starts[b] : starts[b] + step]
                pos = np.zeros(len(self.means_), np.int64)
                pos[block] = np.arange(len(block))
                lo = np.searchsorted(xs, block[0], side="left")
                pairs = idx[lo : np.searchsorted(xs, block[-1], side="right")]
                return (pairs, *self._neighbour_terms(pairs, x, y, rows.rating_rows(block), pos))

            for pairs, *terms in map_blocks(task, len(starts), self._workers()):
                for a, b in zip(sums, terms, strict=True):
                    a[pairs] = b
        enough = known & (actual_k >= cfg.min_k) & (sum_sim > 0)
        term = np.zeros(len(users))
        np.divide(sum_num, sum_sim, out=term, where=enough)
        if cfg.predictor == "basic":
            return np.where(enough, term, mu)
        if cfg.predictor == "means":
            return np.where(known, self.means_[x] + term, mu)
        return mu + self.bu_[users] + self.bi_[items] + term

    def _neighbour_terms(
        self,
        pairs: np.ndarray,
        x: np.ndarray,
        y: np.ndarray,
        sim: np.ndarray,
        pos: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(sum of positive similarities, of their weighted residuals, their count) of each of
        ``pairs`` from the ``k`` nearest of the x's who rated the pair's y
        (:func:`recbench.algorithms.knn_terms.neighbour_terms`); the similarity row of x is
        ``sim[x]``, or ``sim[pos[x]]`` when ``sim`` holds some rows."""
        cfg = self.config
        mu = float(self.global_mean_)
        bx, by = (self.bu_, self.bi_) if self.user_based else (self.bi_, self.bu_)

        def residual(rr: np.ndarray, nbs: np.ndarray, ys: np.ndarray) -> np.ndarray:
            if cfg.predictor == "means":
                return rr - self.means_[nbs]
            if cfg.predictor == "baseline":
                return rr - (mu + bx[nbs] + by[ys][:, None])
            return rr

        rows = x[pairs] if pos is None else pos[x[pairs]]
        return neighbour_terms(
            sim, rows, y[pairs], self.yr_indptr_, self.yr_indices_, self.yr_data_, cfg.k, residual
        )


class UserKNNRecommender(_KNNRecommender):
    """User-based k-NN (Surprise KNNBasic / KNNWithMeans / KNNBaseline, user_based=True)."""

    description = "User-based k-nearest neighbours (Surprise KNN semantics), vectorised"
    user_based = True


class ItemKNNRecommender(_KNNRecommender):
    """Item-based k-NN (Surprise KNNBasic / KNNWithMeans / KNNBaseline, user_based=False)."""

    description = "Item-based k-nearest neighbours (Surprise KNN semantics), vectorised"
    user_based = False
    cold_users = True  # a newcomer's history times the item neighbourhoods scores them

    def score_history(self, history: sp.csr_array) -> np.ndarray:
        self.check_is_fitted()
        b = sp.csr_array(history, dtype=np.float64)
        b.data = np.ones_like(b.data)
        return np.asarray((b @ self._neighbours_cached().T).toarray(), dtype=np.float32)

    def contributions(
        self, history: sp.csr_array, items: np.ndarray
    ) -> list[list[Contribution]] | None:
        """The ranking score of item j is the sum, over the history items l, of the similarity
        of l to j when l is among j's ``k`` ranking neighbours (binary cosine by default): the
        same neighbourhoods that produced the score, not the rating similarity."""
        self.check_is_fitted()
        rated = np.unique(np.asarray(sp.csr_array(history).indices, np.int64))
        nb = self._neighbours_cached()
        terms = nb[np.asarray(items, np.int64)][:, rated].toarray()
        return rank_contributions(rated, terms)
