"""NeuMF neural collaborative filtering (He et al. 2017, "Neural Collaborative Filtering", WWW).

Two branches share the output layer: GMF, the element-wise product of a user and an item
embedding, and an MLP over the concatenation of two other embeddings; ``logit = w . [gmf, mlp]``.
Every training interaction is a positive and ``negatives`` items drawn uniformly from those the
user has not interacted with are negatives; the loss is binary cross-entropy (the paper's
pointwise log loss), optimised with Adam. A seeded share of each user's training items is held
out, the model ranks the full catalogue for those users after every epoch (NDCG@10), and the
best epoch is kept (early stopping with ``patience``).

Ranking covers the full catalogue like every recbench model: scores are computed in numpy from
the learned arrays (``net__<name>`` in the model file), in user chunks whose (users x items x
hidden) block stays under a fixed budget. Fitting is seeded and deterministic on CPU.

:class:`NCFRecommender` takes an optional per-user "group" input (used by ``cluster-ncf``): a
group embedding is added to the user embedding of both branches, and an "unknown user" row
(trained through ``user_dropout``) lets a newcomer be scored from the group alone.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from recbench.algorithms.base import AlgoConfig, Recommender
from recbench.algorithms.neural.common import (
    prefixed_state,
    unprefixed_state,
    validation_cut,
    validation_ndcg,
)
from recbench.algorithms.space import Float, Int, Space
from recbench.algorithms.torch_session import TorchSession
from recbench.data.model import Dataset

#: most float32 elements of one (users x items x hidden) block while scoring
_BLOCK = 4_000_000


class NCFConfig(AlgoConfig):
    factors: int = Field(16, ge=1, le=4096, description="GMF embedding size")
    layers: str = Field(
        "64,32,16",
        pattern=r"^\d+(,\d+)+$",
        description="MLP widths (two or more); the first is the input",
    )
    negatives: int = Field(4, ge=1, le=1000, description="sampled negatives per positive")
    epochs: int = Field(40, ge=1, le=10_000, description="most training epochs")
    batch_size: int = Field(1024, ge=1, le=1_000_000, description="(user, item) pairs per batch")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate")
    weight_decay: float = Field(0.0, ge=0, description="Adam L2 penalty")
    patience: int = Field(5, ge=1, description="epochs without validation gain before stopping")
    val_fraction: float = Field(
        0.05, ge=0, lt=1, description="share of each user's training items held out to stop early"
    )
    num_threads: int = Field(1, ge=0, description="CPU threads for torch (0: torch's default)")


def _widths(text: str) -> list[int]:
    widths = [int(w) for w in text.split(",")]
    if any(w < 1 for w in widths):
        from recbench.errors import UsageError

        raise UsageError(f"layers must be positive widths, got '{text}'")
    return widths


def build_net(n_users: int, n_items: int, n_groups: int, factors: int, widths: list[int]) -> Any:
    """The NeuMF module (class built here so torch loads lazily). Row ``n_users`` of the user
    tables is the "unknown user"; groups (``n_groups`` > 0) add their own embedding."""
    import torch
    from torch import nn

    half = max(1, widths[0] // 2)

    class NeuMF(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gmf_user = nn.Embedding(n_users + 1, factors)
            self.gmf_item = nn.Embedding(n_items, factors)
            self.mlp_user = nn.Embedding(n_users + 1, half)
            self.mlp_item = nn.Embedding(n_items, half)
            self.groups = n_groups
            if n_groups:
                self.gmf_group = nn.Embedding(n_groups, factors)
                self.mlp_group = nn.Embedding(n_groups, half)
            dims = [2 * half, *widths[1:]]
            self.mlp = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(dims))
            self.out = nn.Linear(factors + dims[-1], 1)

        def forward(
            self, users: torch.Tensor, items: torch.Tensor, groups: torch.Tensor | None
        ) -> torch.Tensor:
            gu, mu = self.gmf_user(users), self.mlp_user(users)
            if groups is not None:
                gu = gu + self.gmf_group(groups)
                mu = mu + self.mlp_group(groups)
            h = torch.cat([mu, self.mlp_item(items)], dim=-1)
            for layer in self.mlp:
                h = torch.relu(layer(h))
            g = gu * self.gmf_item(items)
            return self.out(torch.cat([g, h], dim=-1)).squeeze(-1)

    return NeuMF()


def init_net(net: Any, seed: int) -> None:
    """Seeded initialisation: N(0, 0.01) embeddings (as in the paper), Xavier linear layers."""
    import torch
    from torch import nn

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if p.dim() == 2 and not name.startswith(("mlp.", "out.")):
                nn.init.normal_(p, std=0.01, generator=gen)
            elif p.dim() == 2:
                nn.init.xavier_uniform_(p, generator=gen)
            else:
                p.zero_()


def sample_negatives(
    seen: sp.csr_array, users: np.ndarray, n_items: int, rng: np.random.Generator, tries: int = 5
) -> np.ndarray:
    """One uniformly drawn item per entry of ``users`` that the user has not seen (redrawn up to
    ``tries`` times; a user who has seen nearly everything may keep a seen item)."""
    items = rng.integers(0, n_items, len(users))
    for _ in range(tries):
        hit = np.asarray(seen[users, items]).ravel() > 0
        if not hit.any():
            break
        items[hit] = rng.integers(0, n_items, int(hit.sum()))
    return items


class NCFRecommender(Recommender[NCFConfig]):
    """NeuMF (He et al. 2017): GMF + MLP branches, sampled negatives, BCE; ranking only."""

    family = "neural"
    description = "NeuMF neural collaborative filtering (GMF + MLP, sampled negatives; torch)"
    source = "torch"
    requires = ("torch",)
    extra = "deep"
    Config: ClassVar[type[AlgoConfig]] = NCFConfig
    state_attrs: ClassVar[tuple[str, ...]] = ("epochs_run_",)
    reports_epochs = True
    search_space: ClassVar[Space] = {
        "factors": Int(4, 64, log=True),
        "negatives": Int(1, 16, log=True),
        "lr": Float(1e-4, 1e-2, log=True),
        "weight_decay": Float(1e-8, 1e-3, log=True),
    }

    # -- hooks for grouped variants ------------------------------------------------------------
    def _user_dropout(self) -> float:
        """Probability of replacing a user id by the "unknown user" row while training."""
        return 0.0

    def _prepare_groups(self, train: Dataset) -> int:
        """Learn the user groups from ``train``; returns their number (0: no groups)."""
        return 0

    def _groups(self, users: np.ndarray) -> np.ndarray | None:
        return None

    # -- fitting -------------------------------------------------------------------------------
    def _fit(self, train: Dataset) -> None:
        import torch
        from torch.nn import functional as F

        cfg = self.config
        widths = _widths(cfg.layers)
        n_groups = self._prepare_groups(train)
        fit_part, held = validation_cut(train, cfg.val_fraction, self.seed)
        inter = fit_part.interactions
        seen = sp.csr_array(inter.csr("binary"), dtype=np.float32)
        seen.sort_indices()
        pos_u, pos_i = inter.user.astype(np.int64), inter.item.astype(np.int64)
        rng = np.random.default_rng(self.seed)
        n_u, n_i = self.n_users_, self.n_items_
        with TorchSession(self.seed, cfg.num_threads):
            net = build_net(n_u, n_i, n_groups, cfg.factors, widths)
            init_net(net, self.seed)
            opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
            best, best_epoch, best_weights = -1.0, 0, self._weights(net)
            for epoch in range(cfg.epochs):
                users = np.repeat(pos_u, 1 + cfg.negatives)
                items = np.repeat(pos_i, 1 + cfg.negatives)
                label = np.zeros(len(users), np.float32)
                label[:: 1 + cfg.negatives] = 1.0
                neg = label == 0
                items[neg] = sample_negatives(seen, users[neg], n_i, rng)
                order = rng.permutation(len(users))
                users, items, label = users[order], items[order], label[order]
                groups = self._groups(users)
                if self._user_dropout() > 0:
                    users = np.where(rng.random(len(users)) < self._user_dropout(), n_u, users)
                net.train()
                total = 0.0
                for s in range(0, len(users), cfg.batch_size):
                    sl = slice(s, s + cfg.batch_size)
                    logit = net(
                        torch.from_numpy(users[sl]),
                        torch.from_numpy(items[sl]),
                        None if groups is None else torch.from_numpy(groups[sl]),
                    )
                    loss = F.binary_cross_entropy_with_logits(logit, torch.from_numpy(label[sl]))
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    total += float(loss.detach()) * len(logit)
                self.report(epoch + 1, cfg.epochs, total / len(users))
                self.net_ = self._weights(net)
                self.epoch_done(epoch + 1)  # scores from net_, set just now
                if held.nnz == 0:
                    best_weights, best_epoch = self.net_, epoch + 1
                    continue
                ndcg = validation_ndcg(self.score, seen, held)
                if ndcg > best:
                    best, best_epoch, best_weights = ndcg, epoch + 1, self.net_
                elif epoch + 1 - best_epoch >= cfg.patience:
                    break
        self.net_ = best_weights
        self.epochs_run_ = np.int64(best_epoch)

    @staticmethod
    def _weights(net: Any) -> dict[str, np.ndarray]:
        return {
            name: p.detach().numpy().astype(np.float32, copy=True)
            for name, p in net.state_dict().items()
        }

    # -- scoring (numpy) -----------------------------------------------------------------------
    def _score_rows(self, user_rows: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
        """Scores of every item for the given rows of the user tables (and groups)."""
        w = self.net_
        gu = w["gmf_user.weight"][user_rows]
        mu = w["mlp_user.weight"][user_rows]
        if groups is not None:
            gu = gu + w["gmf_group.weight"][groups]
            mu = mu + w["mlp_group.weight"][groups]
        out_w, out_b = w["out.weight"][0], w["out.bias"][0]
        factors = gu.shape[1]
        gmf_items = (w["gmf_item.weight"] * out_w[:factors]).T  # factors x n_items
        n_layers = sum(1 for k in w if k.startswith("mlp.") and k.endswith(".weight"))
        first_w, first_b = w["mlp.0.weight"], w["mlp.0.bias"]
        half = mu.shape[1]
        user_part = mu @ first_w[:, :half].T + first_b  # B x h1
        item_part = w["mlp_item.weight"] @ first_w[:, half:].T  # n_items x h1
        n_items = item_part.shape[0]
        chunk = max(1, _BLOCK // max(1, n_items * item_part.shape[1]))
        out = np.empty((len(user_rows), n_items), dtype=np.float32)
        for s in range(0, len(user_rows), chunk):
            sl = slice(s, s + chunk)
            h = np.maximum(user_part[sl, None, :] + item_part[None, :, :], 0)
            for layer in range(1, n_layers):
                h = np.maximum(h @ w[f"mlp.{layer}.weight"].T + w[f"mlp.{layer}.bias"], 0)
            mlp = h @ out_w[factors:]
            out[sl] = gu[sl] @ gmf_items + mlp + out_b
        return out

    def score(self, users: np.ndarray) -> np.ndarray:
        self.check_is_fitted()
        users = np.asarray(users, np.int64)
        return self._score_rows(users, self._groups(users))

    # -- persistence ---------------------------------------------------------------------------
    def get_state(self) -> dict[str, np.ndarray]:
        return {**super().get_state(), **prefixed_state("net", self.net_)}

    def set_state(self, state: dict[str, Any]) -> NCFRecommender:
        super().set_state(state)
        net = unprefixed_state("net", state)
        if "out.weight" not in net or "mlp.0.weight" not in net:
            raise KeyError("model arrays lack the network (net__*)")
        self.net_ = {k: np.asarray(v, np.float32) for k, v in net.items()}
        return self
