"""BERT4Rec (Sun et al., CIKM 2019): a bidirectional transformer trained by masked item prediction.

Each training step masks a random share ``mask_prob`` of every window's items (at least one per
window) with a [MASK] token and predicts them by full-softmax cross-entropy; a share
``mask_last`` of windows masks only the last item instead (the paper's samples that mimic the
test task, Section 3.6). To score, [MASK] is
appended after the user's last ``max_len - 1`` items and its state ranks the catalogue.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field, model_validator

from recbench.algorithms.sequential.data import IntArray, Sequences, windows
from recbench.algorithms.sequential.loop import (
    BatchLoss,
    EpochHook,
    TorchSeqModel,
    TrainConfig,
    fit_torch,
)


class BERT4RecConfig(TrainConfig):
    """BERT4Rec settings (the same budget as SASRec's defaults, hidden 64, 2 layers, 50)."""

    layers: int = Field(2, ge=1, le=64, description="transformer blocks")
    heads: int = Field(2, ge=1, le=64, description="attention heads (must divide hidden)")
    mask_prob: float = Field(0.2, gt=0, lt=1, description="share of items masked per window")
    mask_last: float = Field(
        0.1, ge=0, le=1, description="share of windows with only their last item masked"
    )

    @model_validator(mode="after")
    def _heads_divide(self) -> BERT4RecConfig:
        if self.hidden % self.heads:
            raise ValueError(f"heads ({self.heads}) must divide hidden ({self.hidden})")
        return self


def _net(n_items: int, cfg: BERT4RecConfig) -> Any:
    import torch
    from torch import nn

    mask_id = n_items + 1

    class BERT4RecNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            d = cfg.hidden
            self.item_emb = nn.Embedding(n_items + 2, d, padding_idx=0)
            self.pos_emb = nn.Embedding(cfg.max_len, d)
            self.drop = nn.Dropout(cfg.dropout)
            layer = nn.TransformerEncoderLayer(
                d,
                cfg.heads,
                dim_feedforward=4 * d,
                dropout=cfg.dropout,
                batch_first=True,
                norm_first=True,
                activation="gelu",
            )
            self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(d)
            self.out_bias = nn.Parameter(torch.zeros(n_items))
            self.scale = math.sqrt(d)
            nn.init.normal_(self.item_emb.weight, std=d**-0.5)
            with torch.no_grad():
                self.item_emb.weight[0].zero_()

        def hidden(self, ids: torch.Tensor) -> torch.Tensor:
            pos = torch.arange(ids.shape[1], device=ids.device)
            x = self.drop(self.item_emb(ids) * self.scale + self.pos_emb(pos)[None])
            # right padding: position 0 is always real, so no query sees only padding
            return self.norm(self.encoder(x, src_key_padding_mask=ids == 0))

        def logits(self, h: torch.Tensor) -> torch.Tensor:
            return h @ self.item_emb.weight[1 : n_items + 1].T + self.out_bias

        def score(self, ids: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
            rows = torch.arange(len(ids), device=ids.device)
            ids = torch.cat([ids, torch.zeros_like(ids[:, :1])], dim=1)
            ids[rows, lens] = mask_id
            return self.logits(self.hidden(ids)[rows, lens])

    return BERT4RecNet()


def fit_bert4rec(
    train: Sequences,
    n_items: int,
    config: BERT4RecConfig | None = None,
    *,
    valid_targets: IntArray | None = None,
    seed: int = 0,
    on_epoch: EpochHook | None = None,
) -> TorchSeqModel:
    """Fit BERT4Rec on training sequences (item ids in [0, n_items)); see ``fit_torch``."""
    cfg = config if config is not None else BERT4RecConfig.model_validate({})

    def make_loss(tr: Sequences, n: int, c: Any, device: Any) -> tuple[IntArray, BatchLoss]:
        import torch
        from torch.nn import functional as F

        w, lens = windows(tr, cfg.max_len)
        keep = lens >= 2
        seqs = torch.as_tensor(w[keep], device=device)
        row_lens = lens[keep]
        last = torch.as_tensor(row_lens - 1, device=device)

        def batch(net: Any, rows: IntArray, gen: Any) -> Any:
            idx = torch.as_tensor(rows, device=device)
            x = seqs[idx]
            if cfg.bucket:  # right padding: columns past the longest row are padding only
                x = x[:, : int(row_lens[rows].max())]
            real = x > 0
            masked = (torch.rand(x.shape, generator=gen, device=device) < cfg.mask_prob) & real
            # the paper's extra samples that mimic the test task: only the last item masked
            only_last = torch.rand(len(x), generator=gen, device=device) < cfg.mask_last
            masked[only_last] = False
            none = ~masked.any(dim=1)
            masked[none, last[idx][none]] = True  # every window predicts at least one item
            inputs = torch.where(masked, torch.full_like(x, n + 1), x)
            h = net.hidden(inputs)[masked]
            return F.cross_entropy(net.logits(h), x[masked] - 1)

        return row_lens, batch

    return fit_torch(
        _net,
        make_loss,
        train,
        n_items,
        cfg,
        history_len=cfg.max_len - 1,
        valid_targets=valid_targets,
        seed=seed,
        on_epoch=on_epoch,
    )
