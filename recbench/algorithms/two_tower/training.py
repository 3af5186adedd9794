"""The two-tower training loop: in-batch sampled softmax with log-Q correction, early stopping.

Every (user, item) pair of the fitting share is a positive; the other items of a batch are its
negatives. Ids are dropped to the shared "unknown" row with probability ``id_dropout``, and the
target item is left out of the user's pooled history. After each epoch the model ranks the full
catalogue for (a seeded sample of) the users with held-out items, fitted items masked, and the
mean NDCG@10 (:func:`recbench.metrics.ranking.ndcg_at_k`) decides early stopping; the best
epoch's weights are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from recbench.algorithms.base import top_k
from recbench.algorithms.torch_session import TorchSession
from recbench.algorithms.two_tower.config import TwoTowerConfig
from recbench.algorithms.two_tower.network import (
    TowerNet,
    adam,
    build_net,
    device_for,
    embed_items,
    embed_users,
)
from recbench.metrics.ranking import ndcg_at_k

if TYPE_CHECKING:  # pragma: no cover
    import torch

#: users per validation ranking chunk, most validation users ranked per epoch, and the cut-off
VAL_CHUNK = 256
VAL_USERS = 4096
VAL_K = 10


@dataclass(frozen=True)
class TowerInputs:
    """Everything the loop reads, encoded (see :mod:`.features`)."""

    n_users: int
    n_items: int
    n_genres: int
    n_user_feats: int
    #: the (user, item) pairs trained on
    user: np.ndarray
    item: np.ndarray
    #: genre codes, decade, word buckets per item
    item_inputs: tuple[np.ndarray, np.ndarray, np.ndarray]
    #: feature codes per user
    user_feats: np.ndarray
    #: padded item codes (index + 1) of each user's recent fitted items, and of all their items
    hist_fit: np.ndarray
    hist_all: np.ndarray
    user_known: np.ndarray
    item_known: np.ndarray
    #: users ranked for early stopping, and their marks (1 = held out, 2 = fitted on)
    val_users: np.ndarray
    val_marks: sp.csr_array


@dataclass(frozen=True)
class Trained:
    """The trained network (CPU, eval mode) and what it learned."""

    net: TowerNet
    #: per epoch: mean training loss, validation NDCG@10 (NaN without validation)
    log: np.ndarray
    best_epoch: int
    item_emb: np.ndarray
    user_emb: np.ndarray


def validation_ndcg(net: TowerNet, device: torch.device, data: TowerInputs, dim: int) -> float:
    """Mean NDCG@10 of the held-out items over the full catalogue, fitted items masked."""
    net.eval()
    items = embed_items(
        net, device, np.arange(data.n_items), data.item_inputs, data.item_known, dim
    )
    values = []
    for start in range(0, len(data.val_users), VAL_CHUNK):
        ub = data.val_users[start : start + VAL_CHUNK]
        ue = embed_users(net, device, ub, data.user_feats, data.hist_fit, data.user_known, dim)
        scores = ue @ items.T
        marks = data.val_marks[ub].toarray()
        scores[marks == 2] = -np.inf
        idx, _ = top_k(scores, VAL_K)
        hits = np.take_along_axis(marks, idx, axis=1) == 1
        values.append(ndcg_at_k(hits, (marks == 1).sum(axis=1), VAL_K))
    net.train()
    return float(np.concatenate(values).mean())


def embed_all(
    net: TowerNet, device: torch.device, data: TowerInputs, dim: int
) -> tuple[np.ndarray, np.ndarray]:
    """(item, user) embeddings of the whole catalogue and every user (full histories), as
    the fitted model scores them; the network is left in the mode it was in."""
    was_training = net.training
    net.eval()
    items = embed_items(
        net, device, np.arange(data.n_items), data.item_inputs, data.item_known, dim
    )
    users = embed_users(
        net, device, np.arange(data.n_users), data.user_feats, data.hist_all, data.user_known, dim
    )
    net.train(was_training)
    return items, users


#: offered (epoch, embed) after each epoch; ``embed()`` gives the current (item, user) embeddings
EpochDone = Callable[[int, Callable[[], tuple[np.ndarray, np.ndarray]]], None]


def train_towers(
    cfg: TwoTowerConfig,
    seed: int,
    data: TowerInputs,
    report: Callable[[int, int, float], None],
    epoch_done: EpochDone | None = None,
) -> Trained:
    """Train under a seeded, deterministic torch session; ``report`` gets (epoch, of, loss)
    after each epoch (the last call has epoch < of when early stopping ends training), and
    ``epoch_done`` (epoch, embed) then, to score the current state (pruning)."""
    import torch
    from torch.nn import functional as F

    counts = np.bincount(data.item, minlength=data.n_items).astype(np.float64)
    log_q = np.log(np.maximum(counts, 1.0) / max(counts.sum(), 1.0))
    device = device_for(cfg)
    log: list[tuple[float, float]] = []
    best_epoch = 0
    with TorchSession(seed, cfg.num_threads, device):
        net = build_net(data.n_users, data.n_items, data.n_genres, data.n_user_feats, cfg)
        net.to(device)
        opt = adam(net, cfg)
        gen = torch.Generator().manual_seed(seed)

        def t(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(a)).to(device)

        pu, pi = t(data.user), t(data.item)
        genres_t, decade_t, words_t = (t(a) for a in data.item_inputs)
        ufeat_t, hist_t, logq_t = t(data.user_feats), t(data.hist_fit), t(log_q.astype(np.float32))
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
            if len(data.val_users):
                score = validation_ndcg(net, device, data, cfg.dim)
            log.append((mean_loss, score))
            report(epoch + 1, cfg.epochs, mean_loss)
            if epoch_done is not None:
                epoch_done(epoch + 1, lambda: embed_all(net, device, data, cfg.dim))
            if not len(data.val_users):
                continue
            if score > best:
                best, bad = score, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                best_epoch = epoch + 1
            else:
                bad += 1
                if bad >= cfg.patience:
                    break
        if best_state is not None:
            net.load_state_dict(best_state)
        else:
            best_epoch = len(log)
        net.eval()
        item_emb, user_emb = embed_all(net, device, data, cfg.dim)
    return Trained(
        net=net.cpu(),
        log=np.asarray(log, dtype=np.float64).reshape(-1, 2),
        best_epoch=best_epoch,
        item_emb=item_emb,
        user_emb=user_emb,
    )
