"""The two-tower Recommender: fitting (features, validation share, training), numpy scoring,
history embedding, explanations and persistence of the network as plain arrays."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recbench.algorithms.base import Recommender
from recbench.algorithms.explain import APPROXIMATE
from recbench.algorithms.space import Float, Int, Space
from recbench.algorithms.two_tower.config import TwoTowerConfig
from recbench.algorithms.two_tower.features import (
    by_dense_index,
    encode_items,
    encode_users,
    flat_history,
    genre_vocabulary,
    rank_within_user,
    recent_history,
    user_feature_layout,
)
from recbench.algorithms.two_tower.network import TowerNet, build_net
from recbench.algorithms.two_tower.training import VAL_USERS, TowerInputs, train_towers
from recbench.data.model import Dataset, Interactions


def validation_set(
    inter: Interactions, fit: np.ndarray, val: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, sp.csr_array]:
    """Users with held-out items (a seeded sample when there are many) and the users x items
    marks (1 = held out, 2 = fitted on)."""
    val_csr = inter.subset(val).csr("binary")
    users = np.flatnonzero(np.diff(val_csr.indptr) > 0)
    if len(users) > VAL_USERS:
        users = np.sort(rng.choice(users, VAL_USERS, replace=False))
    fit_csr = inter.subset(fit).csr("binary")
    return users, sp.csr_array(val_csr + 2 * fit_csr)


class TwoTowerRecommender(Recommender[TwoTowerConfig]):
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
    reports_epochs = True
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
    #: the trained network (CPU) once fitted or rebuilt; its weights as arrays after a load
    _net: TowerNet = None
    _net_arrays: dict[str, np.ndarray] | None = None

    # -- fitting -------------------------------------------------------------------------------
    def _fit(self, train: Dataset) -> None:
        cfg = self.config
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
        item_frame = by_dense_index(train.item_features, n_items)
        user_frame = by_dense_index(train.user_features, n_users)
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
        val_users, val_marks = validation_set(inter, fit, val, rng)
        data = TowerInputs(
            n_users=n_users,
            n_items=n_items,
            n_genres=len(self.genre_vocab_),
            n_user_feats=self._n_user_feats(),
            user=user[fit],
            item=item[fit],
            item_inputs=item_inputs,
            user_feats=user_feats,
            hist_fit=hist_fit,
            hist_all=hist_all,
            user_known=self.user_known_,
            item_known=self.item_known_,
            val_users=val_users,
            val_marks=val_marks,
        )

        def epoch_done(epoch: int, embed: Callable[[], tuple[np.ndarray, np.ndarray]]) -> None:
            def sync() -> None:
                self.item_emb_, self.user_emb_ = embed()

            self.epoch_done(epoch, sync)

        trained = train_towers(cfg, self.seed, data, self.report, epoch_done)
        self.train_log_ = trained.log
        self.best_epoch_ = np.int64(trained.best_epoch)
        self.item_emb_ = trained.item_emb
        self.user_emb_ = trained.user_emb
        self._net = trained.net
        self._net_arrays = None

    def _n_user_feats(self) -> int:
        return int(np.sum(self.user_sizes_))

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
        """(n, dim) unit vectors for users given by history rows (items outside the training
        catalogue are ignored) and, optionally, one feature row each, e.g. a frame with columns
        ``age``, ``gender`` and ``occupation``."""
        import torch

        self.check_is_fitted()
        cfg = self.config
        history = sp.csr_array(history)
        n = history.shape[0]
        net = self._network()
        flat, offsets = flat_history(history, cfg.history_len, self.item_known_)
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
        """Ablation, an approximation: how much each input lowers the score when switched off.

        Item side: the id, genres, decade and title/tag words are zeroed one group at a time;
        user side: each history item is left out of the pooled history. The two largest drops
        are named. The towers are non-linear, so these drops do not add up to the score.
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
            named = ", ".join(f"{label} (+{d:.2f})" for d, label in top if d > 0)
            out.append(f"{named or '—'} ({APPROXIMATE})")
        return out

    # -- inductive use -------------------------------------------------------------------------
    def embed_items_from_features(self, item_features: pd.DataFrame) -> np.ndarray:
        """(len(frame), dim) unit vectors for items described only by features (title, year,
        genres, tags): the id path is the shared unknown row, as for items unseen in training.
        """
        import torch

        self.check_is_fitted()
        cfg = self.config
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

    # -- persistence ---------------------------------------------------------------------------
    def _network(self) -> TowerNet:
        """The trained network on CPU, rebuilt from saved arrays after a load."""
        import torch

        if self._net is not None:
            return self._net
        arrays = self._net_arrays
        if arrays is None:
            raise RuntimeError("the network's weights are missing; fit or load the model first")
        net = build_net(
            self.n_users_, self.n_items_, len(self.genre_vocab_), self._n_user_feats(), self.config
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
