"""The two towers as one torch module, their optimiser, and a seeded torch session.

torch is imported inside functions only, so importing this module stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from recbench.algorithms.two_tower.config import TwoTowerConfig
from recbench.algorithms.two_tower.features import N_DECADES

if TYPE_CHECKING:  # pragma: no cover
    import torch

#: the torch module built by ``build_net`` (an ``nn.Module`` with ``users()`` and ``items()``);
#: typed loosely because its class is only defined once torch is imported
TowerNet = Any


def build_net(
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


def device_for(cfg: TwoTowerConfig) -> torch.device:
    import torch

    if cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def adam(net: TowerNet, cfg: TwoTowerConfig) -> torch.optim.Optimizer:
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


def embed_items(
    net: TowerNet,
    device: torch.device,
    items: np.ndarray,
    inputs: tuple[np.ndarray, np.ndarray, np.ndarray],
    known: np.ndarray,
    dim: int,
    chunk: int = 8192,
) -> np.ndarray:
    """(len(items), dim) float32 item vectors; ids not ``known`` use the unknown row."""
    import torch

    genres, decade, words = inputs
    ids = np.where(known[items], items + 1, 0)
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
    return np.concatenate(out) if out else np.zeros((0, dim), np.float32)


def embed_users(
    net: TowerNet,
    device: torch.device,
    users: np.ndarray,
    feats: np.ndarray,
    hist: np.ndarray,
    known: np.ndarray,
    dim: int,
    chunk: int = 8192,
) -> np.ndarray:
    """(len(users), dim) float32 vectors of catalogue users from a padded history matrix."""
    import torch

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
    return np.concatenate(out) if out else np.zeros((0, dim), np.float32)
