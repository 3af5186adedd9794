"""Content-based filtering from item features (genres, tags, title words, year).

Items become TF-IDF vectors over feature tokens (each feature block weighted, rows L2-normalised);
a user's profile is the sum of their rated items' vectors weighted by a choice weight plus
(rating - user mean), or by 1 on implicit data. Ranking scores are cosine similarities between
profile and items, so items that have features but no ratings are scored like any other (the
model is inductive on items). Ratings are predicted from the user's ratings of the items most
similar in content. Explanations name the history items whose removal would lower an item's
score most (leave-one-out; centring and the cosine make the profile's terms inseparable).
"""

from __future__ import annotations

import itertools
import re
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import Field

from recbench.algorithms.base import AlgoConfig, Recommender
from recbench.algorithms.explain import Contribution, describe, rank_contributions
from recbench.algorithms.space import Float, Int, Space
from recbench.data.model import Dataset
from recbench.errors import UsageError

_WORD = re.compile(r"[a-z0-9]+")


def _block_tokens(features: pd.DataFrame, column: str) -> list[list[str]]:
    """Tokens of one feature column per item: pipe lists for genres/tags, words otherwise."""
    values = features[column].fillna("").astype(str).str.lower()
    if column in ("genres", "tags"):
        return [[t.strip() for t in v.split("|") if t.strip()] for v in values]
    return [_WORD.findall(v) for v in values]


#: how each feature block names its tokens in explanations
_BLOCK_LABEL = {"genres": "genre", "tags": "tag", "title_words": "title word", "year": "decade"}


def item_features_with_vocab(
    features: pd.DataFrame, weights: dict[str, float]
) -> tuple[sp.csr_array, np.ndarray]:
    """The TF-IDF matrix and the name of each column (``"genre: comedy"``, ``"tag: pixar"``)."""
    n = len(features)
    blocks = []
    names: list[str] = []
    for column, weight in weights.items():
        if weight <= 0 or column not in features:
            continue
        if column == "year":
            years = pd.to_numeric(features["year"], errors="coerce")
            tokens = [[] if pd.isna(y) else [f"{int(y) // 10 * 10}s"] for y in years]
        else:
            tokens = _block_tokens(features, column)
        lengths = np.fromiter((len(t) for t in tokens), np.int64, n)
        flat = [tok for row in tokens for tok in row]
        if not flat:
            continue
        codes, vocab = pd.factorize(pd.Series(flat, dtype=object))
        rows = np.repeat(np.arange(n), lengths)
        tf = sp.csr_array((np.ones(len(codes), np.float64), (rows, codes)), shape=(n, len(vocab)))
        tf.sum_duplicates()
        df = np.bincount(tf.indices, minlength=len(vocab))
        idf = np.log((1 + n) / (1 + df)) + 1.0
        block = tf @ sp.diags_array(idf)
        norms = np.sqrt(np.asarray(block.multiply(block).sum(axis=1))).ravel()
        block = sp.diags_array(np.divide(weight, norms, out=np.zeros(n), where=norms > 0)) @ block
        blocks.append(block)
        names += [f"{_BLOCK_LABEL.get(column, column)}: {tok}" for tok in vocab]
    if not blocks:
        return sp.csr_array((n, 0), dtype=np.float32), np.array([], dtype=str)
    mat = sp.csr_array(sp.hstack(blocks, format="csr"))
    norms = np.sqrt(np.asarray(mat.multiply(mat).sum(axis=1))).ravel()
    mat = sp.diags_array(np.divide(1.0, norms, out=np.zeros(n), where=norms > 0)) @ mat
    return sp.csr_array(mat, dtype=np.float32), np.array(names, dtype=str)


class ContentConfig(AlgoConfig):
    genres_weight: float = Field(1.0, ge=0, description="weight of the genre block")
    tags_weight: float = Field(1.0, ge=0, description="weight of the user-tag block")
    title_words_weight: float = Field(0.5, ge=0, description="weight of the title-word block")
    year_weight: float = Field(0.5, ge=0, description="weight of the decade token")
    k: int = Field(40, ge=1, le=100_000, description="neighbours for rating prediction")
    choice_weight: float = Field(
        0.5, ge=0, description="weight a rated item adds before its (rating - user mean)"
    )


class ContentRecommender(Recommender[ContentConfig]):
    """TF-IDF item profiles; cosine ranking; content-kNN rating prediction."""

    family = "content"
    description = "TF-IDF content profiles (genres, tags, title words, year)"
    predicts_ratings = True
    needs_ratings = False  # on implicit data it ranks only, each rated item weighing 1
    inductive = True
    cold_users = True
    cold_items = True
    needs_item_features = True
    Config = ContentConfig
    search_space: ClassVar[Space] = {
        "genres_weight": Float(0.0, 2.0),
        "tags_weight": Float(0.0, 2.0),
        "title_words_weight": Float(0.0, 2.0),
        "year_weight": Float(0.0, 2.0),
        "k": Int(5, 200, log=True),
        "choice_weight": Float(0.0, 2.0),
    }
    state_attrs: ClassVar[tuple[str, ...]] = (
        "feat_indptr_",
        "feat_indices_",
        "feat_data_",
        "n_tokens_",
        "tokens_",
        "hist_indptr_",
        "hist_indices_",
        "hist_ratings_",
        "user_mean_",
        "global_mean_",
    )

    def _fit(self, train: Dataset) -> None:
        cfg = self.config
        if train.item_features is None:
            raise UsageError(f"content needs item features, and {train.name} has none")
        feats, vocab = item_features_with_vocab(
            train.item_features,
            {
                "genres": cfg.genres_weight,
                "tags": cfg.tags_weight,
                "title_words": cfg.title_words_weight,
                "year": cfg.year_weight,
            },
        )
        if feats.shape[1] == 0:
            raise UsageError(f"content found no usable item features in {train.name}")
        self.feat_indptr_ = feats.indptr.astype(np.int64)
        self.feat_indices_ = feats.indices.astype(np.int32)
        self.feat_data_ = feats.data.astype(np.float32)
        self.n_tokens_ = np.int64(feats.shape[1])
        self.tokens_ = vocab
        inter = train.interactions
        hist = inter.csr("rating")
        self.hist_indptr_ = hist.indptr.astype(np.int64)
        self.hist_indices_ = hist.indices.astype(np.int32)
        self.hist_ratings_ = hist.data.astype(np.float32)
        counts = np.diff(hist.indptr)
        sums = np.asarray(hist.sum(axis=1)).ravel()
        self.global_mean_ = np.float64(hist.data.mean()) if hist.nnz else np.float64(0.0)
        self.user_mean_ = np.where(counts > 0, sums / np.maximum(counts, 1), self.global_mean_)

    # -- helpers -------------------------------------------------------------------------------
    def _features(self) -> sp.csr_array:
        return sp.csr_array(
            (self.feat_data_, self.feat_indices_, self.feat_indptr_),
            shape=(self.n_items_, int(self.n_tokens_)),
        )

    def _history(self) -> sp.csr_array:
        return sp.csr_array(
            (self.hist_ratings_, self.hist_indices_, self.hist_indptr_),
            shape=(self.n_users_, self.n_items_),
        )

    def _weights(self, hist: sp.csr_array) -> sp.csr_array:
        """Per-user item weights: ``choice_weight + (rating - user mean)``, 1 on implicit data.

        Pure mean-centring sums to zero over a user's items, so a user who only rates one genre
        (some 5s, some 4s) would get no weight on it at all; the choice weight keeps the signal
        that they chose those items. With ``choice_weight=0`` a user whose ratings all equal
        their mean weighs each rated item 1 instead of getting an empty profile.
        """
        cfg = self.config
        hist = hist.copy()
        if self.rating_scale_[1] <= self.rating_scale_[0]:
            hist.data = np.ones_like(hist.data)
            return hist
        n = hist.shape[0]
        counts = np.diff(hist.indptr)
        rows = np.repeat(np.arange(n), counts)
        sums = np.bincount(rows, weights=hist.data, minlength=n)
        means = sums / np.maximum(counts, 1)
        weight = cfg.choice_weight + hist.data - means[rows]
        flat = np.bincount(rows, weights=np.abs(weight), minlength=n) == 0
        hist.data = np.where(flat[rows], 1.0, weight).astype(np.float32)
        return hist

    # -- scoring -------------------------------------------------------------------------------
    def score(self, users: np.ndarray) -> np.ndarray:
        self.check_is_fitted()
        users = np.asarray(users, np.int64)
        return self._score_weights(self._weights(self._history()[users]))

    def score_history(self, history: sp.csr_array) -> np.ndarray:
        """Profiles built from a given history: users never seen in training need no refit."""
        self.check_is_fitted()
        return self._score_weights(self._weights(sp.csr_array(history, dtype=np.float32)))

    def _score_weights(self, weights: sp.csr_array) -> np.ndarray:
        feats = self._features()
        profile = weights @ feats  # users x tokens
        norms = np.sqrt(np.asarray(profile.multiply(profile).sum(axis=1))).ravel()
        scores = (profile @ feats.T).toarray()
        scores /= np.where(norms > 0, norms, 1.0)[:, None]
        return scores.astype(np.float32)

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Mean-centred average of the user's ratings of the k most content-similar items."""
        self.check_is_fitted()
        cfg = self.config
        users = np.asarray(users, np.int64)
        items = np.asarray(items, np.int64)
        feats = self._features()
        hist = self._history()
        out = self.user_mean_[users].astype(np.float64)
        order = np.argsort(users, kind="stable")
        sorted_users = users[order]
        bounds = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1], True])
        for a, b in itertools.pairwise(bounds):
            u = sorted_users[a]
            rated = hist.indices[hist.indptr[u] : hist.indptr[u + 1]]
            if len(rated) == 0:
                continue
            dev = hist.data[hist.indptr[u] : hist.indptr[u + 1]] - self.user_mean_[u]
            pos = order[a:b]
            sims = (feats[items[pos]] @ feats[rated].T).toarray()  # pairs x rated
            sims[sims < 0] = 0.0
            k = min(cfg.k, len(rated))
            if k < len(rated):
                cut = np.argpartition(-sims, k - 1, axis=1)[:, k:]
                np.put_along_axis(sims, cut, 0.0, axis=1)
            den = sims.sum(axis=1)
            num = sims @ dev
            out[pos] += np.divide(num, den, out=np.zeros(len(pos)), where=den > 0)
        return self.clip(out)

    def contributions(
        self, history: sp.csr_array, items: np.ndarray
    ) -> list[list[Contribution]] | None:
        """Each history item's contribution to item j's score is the exact drop in that score
        when the item is left out of the history (leave-one-out).

        The score is the cosine of the profile ``p = sum_l w_l f_l`` and ``f_j``, with weights
        ``w_l = choice_weight + r_l - mean(r)``: leaving item m out moves the mean, hence every
        other weight, and the profile's norm, so ``w_l (f_l . f_j) / |p|`` is not what item l
        adds and the largest such term need not be the item whose removal costs the most. The
        leave-one-out profiles are ``p_m = A - a_m B - (c + r_m - a_m) f_m`` (``A = sum_l (c +
        r_l) f_l``, ``B = sum_l f_l``, ``a_m`` the mean without m; ``B - f_m`` where the rest
        weigh 1: implicit data, or no rest rating away from its mean), built in blocks of rows
        over the tokens the history uses and scored against the items. The drops do not sum
        to the score; a share is a drop over the sum of the positive drops.
        """
        self.check_is_fitted()
        hist = sp.csr_array(history, dtype=np.float32)[[0]]
        hist.sum_duplicates()
        items = np.asarray(items, np.int64)
        rated = np.asarray(hist.indices, np.int64)
        h = len(rated)
        if h == 0:
            return [[] for _ in items]
        feats = self._features()
        used = np.unique(feats[rated].indices)
        rows = sp.csr_array(feats[rated][:, used], dtype=np.float64)  # h x tokens used
        targets = feats[items][:, used].toarray().astype(np.float64).T  # tokens used x items
        weights = self._weights(hist).data.astype(np.float64)
        profile = rows.T @ weights
        norm = float(np.sqrt(profile @ profile))
        full = (profile @ targets) / (norm if norm > 0 else 1.0)
        if h == 1:  # without it the profile is empty and every score 0
            return rank_contributions(rated, full[:, None])
        x, y, z = self._leave_one_out_coefficients(hist.data.astype(np.float64))
        a = rows.T @ (self.config.choice_weight + hist.data.astype(np.float64))
        b = np.asarray(rows.sum(axis=0)).ravel()
        drops = np.empty((h, len(items)))
        step = max(1, (1 << 21) // max(len(used), 1))  # rows per block: 16 MiB of float64
        for lo in range(0, h, step):
            hi = min(lo + step, h)
            own = (sp.diags_array(z[lo:hi]) @ rows[lo:hi]).toarray()
            block = x[lo:hi, None] * a[None, :] + y[lo:hi, None] * b[None, :] - own
            norms = np.sqrt(np.einsum("ij,ij->i", block, block))
            scores = (block @ targets) / np.where(norms > 0, norms, 1.0)[:, None]
            drops[lo:hi] = full[None, :] - scores
        return rank_contributions(rated, drops.T)

    def _leave_one_out_coefficients(
        self, ratings: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per left-out item m (h >= 2), (x, y, z) with ``p_m = x A + y B - z f_m`` as
        :meth:`_weights` weighs the other items."""
        h = len(ratings)
        ones = np.ones(h)
        if self.rating_scale_[1] <= self.rating_scale_[0]:  # implicit: every item weighs 1
            return np.zeros(h), ones, ones
        c = self.config.choice_weight
        mean = (ratings.sum() - ratings) / (h - 1)  # the mean without item m
        order = np.argsort(ratings, kind="stable")
        lowest, second_lowest = ratings[order[0]], ratings[order[1]]
        highest, second_highest = ratings[order[-1]], ratings[order[-2]]
        low = np.where(np.arange(h) == order[0], second_lowest, lowest)  # min without m
        high = np.where(np.arange(h) == order[-1], second_highest, highest)  # max without m
        flat = (c + high - mean == 0) & (c + low - mean == 0)  # _weights then weighs all 1
        x = np.where(flat, 0.0, 1.0)
        y = np.where(flat, 1.0, -mean)
        z = np.where(flat, 1.0, c + ratings - mean)
        return x, y, z

    def explain(self, history: sp.csr_array, items: np.ndarray) -> list[str] | None:
        """The history items whose removal lowers each score most (:meth:`contributions`), and
        the features the user's profile and the item share most strongly."""
        found = self.contributions(history, items)
        if found is None:  # pragma: no cover - content always decomposes
            return None
        feats = self._features()
        weights = self._weights(sp.csr_array(history, dtype=np.float32))
        profile = (weights @ feats).toarray()[0]
        out = []
        for item, parts in zip(np.asarray(items, np.int64), found, strict=True):
            shared = profile * feats[[item]].toarray()[0]
            top = [j for j in np.argsort(-shared, kind="stable")[:3] if shared[j] > 0]
            reason = describe(parts)
            if top:
                reason += "; shares " + ", ".join(str(self.tokens_[j]) for j in top)
            out.append(reason)
        return out
