"""text-svd: biased matrix factorisation whose item factors are tied to the items' text.

``r(u, i) = mu + b_u + b_i + x_i . w + p_u . (q_i + W^T x_i)``, where ``x_i`` is the item's
TF-IDF vector over its text (title words, genres, tags, and plot / overview / description words
when the dataset has them), ``W`` projects text into the factor space and ``w`` gives a text
bias. An item with many ratings learns its free vector ``q_i``; an item with few or none gets its
factors (and bias) from its words, since the L2 penalty pulls ``q_i`` to zero where the ratings
do not pull it away. This is the collaborative-topic / feature-tied-factor idea of Wang & Blei
2011 (CTR), Agarwal & Chen 2009 (regression-based latent factors) and Gantner et al. 2010
(attribute-to-feature mapping), fitted like Koren et al. 2009's biased SVD: squared error with
per-rating L2 penalties, optimised by minibatch Adam in torch. A seeded 5% of each user's ratings
is held out to keep the epoch with the lowest validation RMSE.

Items unseen in training are scored from their text (``cold_items``), so the model takes part in
``--split item-cold``. Scoring and prediction are numpy only, from the learned arrays.
"""

from __future__ import annotations

import re
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import Field

from recbench.algorithms.base import AlgoConfig, Recommender
from recbench.algorithms.neural.common import validation_cut
from recbench.algorithms.space import Float, Int, Space
from recbench.algorithms.torch_session import TorchSession
from recbench.data.model import Dataset

_WORD = re.compile(r"[a-z0-9]+")
_YEAR = re.compile(r"\(\d{4}\)")
#: free-text columns read as words when present (besides title, genres and tags)
TEXT_COLUMNS = ("overview", "plot", "description", "summary", "text")


class TextSVDConfig(AlgoConfig):
    n_factors: int = Field(64, ge=1, le=10_000, description="latent factors")
    epochs: int = Field(60, ge=1, le=10_000, description="most training epochs")
    batch_size: int = Field(1024, ge=1, le=1_000_000, description="ratings per batch")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate")
    reg: float = Field(0.1, ge=0, description="L2 penalty on user/item factors and biases")
    reg_text: float = Field(0.01, ge=0, description="L2 penalty on the text projection")
    min_df: int = Field(2, ge=1, description="ignore words found in fewer items")
    patience: int = Field(5, ge=1, description="epochs without validation gain before stopping")
    val_fraction: float = Field(
        0.05, ge=0, lt=1, description="share of each user's ratings held out to stop early"
    )
    num_threads: int = Field(1, ge=0, description="CPU threads for torch (0: torch's default)")


def item_tokens(frame: pd.DataFrame | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Flattened (item, token) pairs of the items' text, tokens prefixed by their source
    (``w:`` title word, ``g:`` genre, ``t:`` tag, ``tw:`` tag word, ``d:`` description word)."""
    if frame is None:
        return np.zeros(0, np.int64), np.zeros(0, dtype=object)
    frame = frame.reset_index(drop=True).iloc[:n]
    rows: list[np.ndarray] = []
    toks: list[np.ndarray] = []

    def add(values: pd.Series, prefix: str, sep: str | None) -> None:
        text = values.fillna("").astype(str).str.lower()
        if sep is None:
            lists = [_WORD.findall(v) for v in text]
        else:
            lists = [[t.strip() for t in v.split(sep) if t.strip()] for v in text]
        lengths = np.fromiter((len(t) for t in lists), np.int64, len(lists))
        rows.append(np.repeat(np.arange(len(lists)), lengths))
        toks.append(np.array([prefix + t for row in lists for t in row], dtype=object))

    if "title_words" in frame:
        add(frame["title_words"], "w:", None)
    elif "title" in frame:
        add(frame["title"].fillna("").astype(str).str.replace(_YEAR, " ", regex=True), "w:", None)
    if "genres" in frame:
        add(frame["genres"], "g:", "|")
    if "tags" in frame:
        add(frame["tags"], "t:", "|")
        add(frame["tags"], "tw:", None)
    for col in TEXT_COLUMNS:
        if col in frame:
            add(frame[col], "d:", None)
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, dtype=object)
    return np.concatenate(rows), np.concatenate(toks)


def tfidf_matrix(frame: pd.DataFrame | None, n: int, min_df: int) -> sp.csr_array:
    """(n x vocabulary) L2-normalised TF-IDF of the items' text (smooth idf, as scikit-learn)."""
    rows, toks = item_tokens(frame, n)
    if not len(toks):
        return sp.csr_array((n, 0), dtype=np.float32)
    vocab, codes = np.unique(toks.astype(str), return_inverse=True)
    counts = sp.csr_array((np.ones(len(codes)), (rows, codes)), shape=(n, len(vocab)))
    counts.sum_duplicates()
    df = np.diff(sp.csc_array(counts).indptr)
    keep = np.flatnonzero(df >= min_df)
    counts = sp.csr_array(counts[:, keep])
    idf = np.log((1 + n) / (1 + df[keep])) + 1
    x = sp.csr_array(counts @ sp.diags_array(idf))
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    x = sp.csr_array(sp.diags_array(1.0 / np.maximum(norms, 1e-12)) @ x, dtype=np.float32)
    x.sort_indices()
    return x


class TextSVDRecommender(Recommender[TextSVDConfig]):
    """Biased MF with item factors = free vector + projection of the item's TF-IDF text."""

    family = "hybrid"
    description = "SVD with item factors tied to TF-IDF text (titles, genres, tags; torch)"
    source = "torch"
    requires = ("torch",)
    extra = "deep"
    predicts_ratings = True
    inductive = True
    cold_items = True
    Config = TextSVDConfig
    search_space: ClassVar[Space] = {
        "n_factors": Int(8, 256, log=True),
        "lr": Float(3e-4, 3e-2, log=True),
        "reg": Float(1e-3, 0.5, log=True),
        "reg_text": Float(1e-4, 0.5, log=True),
    }
    state_attrs: ClassVar[tuple[str, ...]] = (
        "mu_",
        "bu_",
        "bi_",
        "pu_",
        "qi_",
        "epochs_run_",
    )

    def _fit(self, train: Dataset) -> None:
        import torch
        from torch import nn
        from torch.nn import functional as F

        cfg = self.config
        inter = train.interactions
        text = tfidf_matrix(train.item_features, self.n_items_, cfg.min_df)
        fit_part, _ = validation_cut(train, cfg.val_fraction, self.seed)
        held_mask = np.ones(len(inter), dtype=bool)
        if cfg.val_fraction > 0:
            # the held-out ratings are those of train not in fit_part: rebuild by key
            key = inter.user.astype(np.int64) * self.n_items_ + inter.item
            fit_key = fit_part.interactions.user.astype(np.int64) * self.n_items_
            fit_key = fit_key + fit_part.interactions.item
            held_mask = ~np.isin(key, fit_key)
        fi = fit_part.interactions
        assert fi.rating is not None and inter.rating is not None
        u_fit, i_fit = fi.user.astype(np.int64), fi.item.astype(np.int64)
        r_fit = fi.rating.astype(np.float32)
        u_val, i_val = inter.user[held_mask].astype(np.int64), inter.item[held_mask]
        r_val = inter.rating[held_mask].astype(np.float64)
        mu = float(r_fit.mean())
        n_text = text.shape[1]
        k = cfg.n_factors
        rng = np.random.default_rng(self.seed)
        with TorchSession(self.seed, cfg.num_threads):
            gen = torch.Generator().manual_seed(self.seed)
            p = nn.Parameter(torch.randn(self.n_users_, k, generator=gen) * 0.1)
            q = nn.Parameter(torch.zeros(self.n_items_, k))
            bu = nn.Parameter(torch.zeros(self.n_users_))
            bi = nn.Parameter(torch.zeros(self.n_items_))
            w = nn.Parameter(torch.randn(max(n_text, 1), k + 1, generator=gen) * 0.01)
            params = [p, q, bu, bi, w]
            opt = torch.optim.Adam(params, lr=cfg.lr)
            best, best_epoch = np.inf, 0
            best_state = self._arrays(mu, p, q, bu, bi, w, text)
            for epoch in range(cfg.epochs):
                order = rng.permutation(len(r_fit))
                total = 0.0
                for s in range(0, len(order), cfg.batch_size):
                    b = order[s : s + cfg.batch_size]
                    ub, ib = torch.from_numpy(u_fit[b]), torch.from_numpy(i_fit[b])
                    uniq, inv = np.unique(i_fit[b], return_inverse=True)
                    rows = text[uniq]
                    proj = F.embedding_bag(
                        torch.from_numpy(rows.indices.astype(np.int64)),
                        w,
                        torch.from_numpy(rows.indptr[:-1].astype(np.int64)),
                        mode="sum",
                        per_sample_weights=torch.from_numpy(rows.data.astype(np.float32)),
                    )[torch.from_numpy(inv)]
                    pu, qi = p[ub], q[ib]
                    est = mu + bu[ub] + bi[ib] + proj[:, k] + (pu * (qi + proj[:, :k])).sum(1)
                    err = est - torch.from_numpy(r_fit[b])
                    penalty = cfg.reg * (
                        pu.pow(2).sum(1) + qi.pow(2).sum(1) + bu[ub].pow(2) + bi[ib].pow(2)
                    ) + cfg.reg_text * proj.pow(2).sum(1)
                    loss = (err.pow(2) + penalty).mean()
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    total += float(err.detach().pow(2).sum())
                self.report(epoch + 1, cfg.epochs, float(np.sqrt(total / len(r_fit))))
                state = self._arrays(mu, p, q, bu, bi, w, text)
                if not len(r_val):
                    best_state, best_epoch = state, epoch + 1
                    continue
                self._set(state)
                rmse = float(np.sqrt(np.mean((self._estimate(u_val, i_val) - r_val) ** 2)))
                if rmse < best:
                    best, best_epoch, best_state = rmse, epoch + 1, state
                elif epoch + 1 - best_epoch >= cfg.patience:
                    break
        self._set(best_state)
        self.epochs_run_ = np.int64(best_epoch)

    @staticmethod
    def _arrays(mu, p, q, bu, bi, w, text: sp.csr_array) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
        """Fold the text into plain item arrays: q_i + W^T x_i and b_i + w . x_i."""
        k = p.shape[1]
        wn = w.detach().numpy().astype(np.float64)
        proj = np.asarray(text @ wn[: text.shape[1]]) if text.shape[1] else np.zeros((0, k + 1))
        if not len(proj):
            proj = np.zeros((q.shape[0], k + 1))
        return {
            "mu_": np.float64(mu),
            "bu_": bu.detach().numpy().astype(np.float64),
            "bi_": bi.detach().numpy().astype(np.float64) + proj[:, k],
            "pu_": p.detach().numpy().astype(np.float64),
            "qi_": q.detach().numpy().astype(np.float64) + proj[:, :k],
        }

    def _set(self, state: dict[str, np.ndarray]) -> None:
        self.mu_ = state["mu_"]
        self.bu_, self.bi_ = state["bu_"], state["bi_"]
        self.pu_, self.qi_ = state["pu_"], state["qi_"]

    def _estimate(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        users, items = np.asarray(users, np.int64), np.asarray(items, np.int64)
        dots = np.einsum("ij,ij->i", self.pu_[users], self.qi_[items])
        return float(self.mu_) + self.bu_[users] + self.bi_[items] + dots

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        self.check_is_fitted()
        return self.clip(self._estimate(users, items))

    def score(self, users: np.ndarray) -> np.ndarray:
        self.check_is_fitted()
        users = np.asarray(users, np.int64)
        est = self.pu_[users] @ self.qi_.T + self.bi_[None, :] + self.bu_[users, None]
        return np.asarray(est + float(self.mu_), dtype=np.float32)

    def item_embeddings(self) -> np.ndarray:
        return np.asarray(self.qi_)
