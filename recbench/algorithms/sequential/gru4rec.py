"""GRU4Rec (Hidasi et al., ICLR 2016) as a next-item model over whole sequences.

Item embeddings feed a GRU; each position's state, projected back to the embedding size, scores
every item by dot product with the (shared) item embeddings. Trained with full-softmax
cross-entropy at every position at once (the loss Hidasi & Czapp 2023 recommend), or any loss of
:mod:`~recbench.algorithms.sequential.losses`.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from recbench.algorithms.sequential.data import IntArray, Sequences
from recbench.algorithms.sequential.loop import (
    EpochHook,
    TorchSeqModel,
    TrainConfig,
)
from recbench.algorithms.sequential.losses import Loss
from recbench.algorithms.sequential.sasrec import fit_causal


class GRU4RecConfig(TrainConfig):
    """GRU4Rec settings."""

    layers: int = Field(1, ge=1, le=16, description="stacked GRU layers")
    loss: Loss = Field("ce", description="ce, bce, sampled-ce or gbce")
    n_negatives: int = Field(256, ge=1, description="negatives per position (sampled-ce, gbce)")
    gbce_t: float = Field(0.75, ge=0, le=1, description="gBCE calibration t")


def _net(n_items: int, cfg: GRU4RecConfig) -> Any:
    import torch
    from torch import nn

    class GRU4RecNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            d = cfg.hidden
            self.item_emb = nn.Embedding(n_items + 1, d, padding_idx=0)
            self.drop = nn.Dropout(cfg.dropout)
            self.gru = nn.GRU(d, d, num_layers=cfg.layers, batch_first=True)
            self.proj = nn.Linear(d, d)
            nn.init.normal_(self.item_emb.weight, std=d**-0.5)
            with torch.no_grad():
                self.item_emb.weight[0].zero_()

        def hidden(self, ids: torch.Tensor) -> torch.Tensor:
            out, _ = self.gru(self.drop(self.item_emb(ids)))
            return self.proj(self.drop(out))

        def score(self, ids: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
            h = self.hidden(ids)
            last = h[torch.arange(len(ids), device=ids.device), (lens - 1).clamp(min=0)]
            return last @ self.item_emb.weight[1:].T

    return GRU4RecNet()


def fit_gru4rec(
    train: Sequences,
    n_items: int,
    config: GRU4RecConfig | None = None,
    *,
    valid_targets: IntArray | None = None,
    seed: int = 0,
    on_epoch: EpochHook | None = None,
) -> TorchSeqModel:
    """Fit GRU4Rec on training sequences (item ids in [0, n_items)); see ``fit_torch``."""
    cfg = config if config is not None else GRU4RecConfig.model_validate({})
    return fit_causal(
        _net, train, n_items, cfg, valid_targets=valid_targets, seed=seed, on_epoch=on_epoch
    )
