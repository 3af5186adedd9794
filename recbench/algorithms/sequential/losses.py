"""Next-item losses over every real position of a batch of causal hidden states.

- ``ce``: softmax cross-entropy over the full catalogue.
- ``bce``: one negative per position, drawn uniformly among items not in the user's window, and
  binary cross-entropy on the positive and the negative (SASRec, Kang & McAuley 2018).
- ``sampled-ce``: softmax cross-entropy over the positive and ``n_negatives`` uniform negatives.
- ``gbce``: gSASRec's generalised BCE (Petrov & Macdonald, RecSys 2023): the positive's
  probability is raised to ``beta = alpha * (t * (1 - 1/alpha) + 1/alpha)``, with ``alpha`` the
  negative sampling rate ``n_negatives / (n_items - 1)``, against overconfidence from sampling.

Ids are shifted by one (0 is padding); ``item_weight`` row ``i + 1`` embeds item ``i``.
torch is imported inside functions only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # pragma: no cover
    import torch

Loss = Literal["ce", "bce", "sampled-ce", "gbce"]


def next_item_loss(
    hidden: torch.Tensor,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    item_weight: torch.Tensor,
    *,
    n_items: int,
    loss: Loss,
    n_negatives: int,
    gbce_t: float,
    gen: torch.Generator,
) -> torch.Tensor:
    """Mean loss over the positions whose target is not padding (``targets > 0``)."""
    import torch
    from torch.nn import functional as F

    mask = targets > 0
    h = hidden[mask]  # (M, d)
    y = targets[mask]  # (M,)
    if loss == "ce":
        return F.cross_entropy(h @ item_weight[1 : n_items + 1].T, y - 1)
    n = 1 if loss == "bce" else n_negatives
    neg = torch.randint(1, n_items + 1, (len(y), n), generator=gen, device=y.device)
    if loss == "bce":
        rows = mask.nonzero()[:, 0]
        seen = torch.cat([inputs, targets[:, -1:]], dim=1)[rows]  # the user's window
        for _ in range(10):  # redraw negatives that the user interacted with
            clash = (neg[:, :, None] == seen[:, None, :]).any(-1)
            if not bool(clash.any()):
                break
            fresh = torch.randint(1, n_items + 1, neg.shape, generator=gen, device=y.device)
            neg = torch.where(clash, fresh, neg)
    else:
        for _ in range(10):  # redraw negatives that are the positive
            clash = neg == y[:, None]
            if not bool(clash.any()):
                break
            fresh = torch.randint(1, n_items + 1, neg.shape, generator=gen, device=y.device)
            neg = torch.where(clash, fresh, neg)
    pos_logit = (h * item_weight[y]).sum(-1, keepdim=True)  # (M, 1)
    neg_logit = torch.einsum("md,mnd->mn", h, item_weight[neg])  # (M, n)
    if loss == "bce":
        return F.softplus(-pos_logit).mean() + F.softplus(neg_logit).mean()
    if loss == "sampled-ce":
        logits = torch.cat([pos_logit, neg_logit], dim=1)
        return F.cross_entropy(logits, torch.zeros(len(y), dtype=torch.long, device=y.device))
    return _gbce(pos_logit, neg_logit, n_items=n_items, t=gbce_t)


def _gbce(pos: torch.Tensor, neg: torch.Tensor, *, n_items: int, t: float) -> torch.Tensor:
    """gBCE as in the gSASRec authors' code (positive transformed in float64 for stability)."""
    import torch
    from torch.nn import functional as F

    alpha = neg.shape[1] / max(n_items - 1, 1)
    beta = alpha * (t * (1 - 1 / alpha) + 1 / alpha)
    eps = 1e-10
    p = torch.clamp(torch.sigmoid(pos.double()), eps, 1 - eps)
    adjusted = torch.clamp(p.pow(-beta), 1 + eps, torch.finfo(torch.float64).max)
    pos_t = torch.clamp(1.0 / (adjusted - 1), eps, torch.finfo(torch.float64).max).log()
    logits = torch.cat([pos_t.to(neg.dtype), neg], dim=1)
    labels = torch.zeros_like(logits)
    labels[:, 0] = 1
    return F.binary_cross_entropy_with_logits(logits, labels)
