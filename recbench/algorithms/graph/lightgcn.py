"""LightGCN (He et al. SIGIR 2020, "LightGCN: Simplifying and Powering Graph Convolution Network
for Recommendation"), torch, ranking only.

Users and items have free ``dim``-d embeddings ``E_0``; ``layers`` propagations over the
normalised bipartite graph ``A = D^-1/2 [[0, R], [R^T, 0]] D^-1/2`` (a torch sparse matrix:
each propagation is one sparse-dense product, nothing users x items is dense) give ``E_1..E_K``,
and the final embedding is their layer mean. The loss is BPR over one (user, positive,
negative) triple per training interaction per epoch (users drawn uniformly from those with
items, the positive from the user's items, the negative uniformly from items the user has not
interacted with), plus ``reg`` times the squared norms of the batch's layer-0 embeddings, as in
the paper's code; Adam. One forward pass per batch, as the paper's code does.

Early stopping: a seeded ``val_fraction`` of each user's training items is held out, and every
``eval_every`` epochs the validation Recall@20 (full ranking, the remaining training items
masked) is measured; the best epoch's embeddings are kept and training stops after ``patience``
evaluations without a gain. The learning curve (epoch, validation Recall@20) is kept in the model
(``curve_``). With ``refit`` the model is trained again from the same seed on every training row
for the best epoch count. Defaults are the paper's (64-d, 3 layers, lr 1e-3, reg 1e-4, batch
2048) except the epoch budget. CPU fits are seeded and deterministic; a GPU is used when
``device`` asks for it (or "auto" finds one).
"""

from __future__ import annotations

import time
import warnings
from typing import Any, ClassVar, Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from recbench.algorithms.base import AlgoConfig, Recommender, mask_seen, top_k
from recbench.algorithms.linear.item_weights import binary_history
from recbench.algorithms.neural.common import validation_cut
from recbench.algorithms.space import Float, Int, Space
from recbench.algorithms.torch_session import TorchSession, pick_device
from recbench.data.model import Dataset
from recbench.metrics.ranking import recall_at_k

VALID_K = 20


class LightGCNConfig(AlgoConfig):
    dim: int = Field(64, ge=1, le=10_000, description="embedding size")
    layers: int = Field(3, ge=0, le=10, description="propagation layers")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate")
    reg: float = Field(1e-4, ge=0, description="L2 weight on the batch's layer-0 embeddings")
    batch_size: int = Field(2048, ge=1, le=10_000_000, description="BPR triples per batch")
    epochs: int = Field(200, ge=1, le=100_000, description="most training epochs")
    eval_every: int = Field(5, ge=1, description="epochs between validation measurements")
    patience: int = Field(5, ge=1, description="measurements without gain before stopping")
    val_fraction: float = Field(
        0.1, ge=0, lt=1, description="share of each user's items held out to stop early"
    )
    refit: bool = Field(False, description="retrain on all rows for the best epoch count")
    num_threads: int = Field(1, ge=0, description="CPU threads for torch (0: torch's default)")
    device: Literal["auto", "cpu", "cuda"] = Field("cpu", description="where to train")
    max_seconds: float = Field(
        0.0, ge=0, description="stop at the first validation past this many seconds (0: no limit)"
    )


def normalised_graph(x: sp.csr_array) -> sp.coo_array:
    """``D^-1/2 [[0, R], [R^T, 0]] D^-1/2`` of the users x items matrix ``x`` (float32)."""
    n_u, n_i = x.shape
    adj = sp.block_array([[None, x], [x.T, None]], format="csr", dtype=np.float32)
    deg = np.asarray(adj.sum(axis=1)).ravel()
    d = np.zeros_like(deg)
    np.divide(1.0, np.sqrt(deg), out=d, where=deg > 0)
    out = sp.coo_array(sp.diags_array(d) @ adj @ sp.diags_array(d), dtype=np.float32)
    assert out.shape == (n_u + n_i, n_u + n_i)
    return out


def symmetric_spmm(g: sp.coo_array, device: Any) -> Any:
    """``h -> G @ h`` for the symmetric normalised graph ``G`` as a CSR tensor on ``device``,
    differentiable in ``h``. Its gradient is ``G @ grad`` (``G`` is symmetric), so backward is
    one more CSR product instead of the transpose torch would build for a COO matrix each batch.
    """
    import torch

    csr = sp.csr_array(g)
    csr.sort_indices()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta")
        graph = torch.sparse_csr_tensor(
            torch.from_numpy(csr.indptr.astype(np.int64)),
            torch.from_numpy(csr.indices.astype(np.int64)),
            torch.from_numpy(csr.data.astype(np.float32)),
            csr.shape,
            device=device,
            check_invariants=True,  # once, here: scipy's CSR is already valid
        )

    class SymSpMM(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, h: torch.Tensor) -> torch.Tensor:
            return graph @ h

        @staticmethod
        def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
            return graph @ grad

    return SymSpMM.apply


def sample_triples(
    x: sp.csr_array, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` BPR triples: users uniform over those with items, a positive uniform over the
    user's items, a negative uniform over the items they lack (rejection, vectorised)."""
    n_items = x.shape[1]
    counts = np.diff(x.indptr)
    active = np.flatnonzero((counts > 0) & (counts < n_items))
    users = active[rng.integers(len(active), size=n)]
    pos = x.indices[x.indptr[users] + (rng.random(n) * counts[users]).astype(np.int64)]
    rows = np.repeat(np.arange(x.shape[0], dtype=np.int64), counts)
    seen = np.sort(rows * n_items + x.indices)
    neg = rng.integers(n_items, size=n)
    todo = np.arange(n)
    while len(todo):
        flat = users[todo].astype(np.int64) * n_items + neg[todo]
        at = np.minimum(np.searchsorted(seen, flat), len(seen) - 1)
        todo = todo[seen[at] == flat]
        neg[todo] = rng.integers(n_items, size=len(todo))
    return users, pos, neg


def validation_recall(
    user_emb: np.ndarray, item_emb: np.ndarray, seen: sp.csr_array, held: sp.csr_array
) -> float:
    """Mean Recall@20 over users with held-out items, full ranking, ``seen`` masked."""
    users = np.flatnonzero(np.diff(held.indptr) > 0)
    total = 0.0
    for s in range(0, len(users), 1024):
        u = users[s : s + 1024]
        scores = user_emb[u] @ item_emb.T
        mask_seen(scores, seen, u)
        idx, _ = top_k(scores, VALID_K)
        rows = held[u]
        hits = np.asarray(rows[np.repeat(np.arange(len(u)), idx.shape[1]), idx.ravel()])
        hits = hits.reshape(idx.shape) > 0
        total += float(recall_at_k(hits, np.diff(rows.indptr), VALID_K).sum())
    return total / max(len(users), 1)


class LightGCNRecommender(Recommender[LightGCNConfig]):
    """LightGCN: layer-mean propagation on the normalised user-item graph, BPR (torch)."""

    family = "graph"
    description = "LightGCN graph convolution (layer-mean propagation), BPR loss (torch)"
    source = "torch"
    requires = ("torch",)
    extra = "deep"
    reports_epochs = True
    thread_safe_score = True  # a numpy product
    Config = LightGCNConfig
    search_space: ClassVar[Space] = {
        "layers": Int(1, 4),
        "lr": Float(1e-4, 1e-2, log=True),
        "reg": Float(1e-6, 1e-2, log=True),
        "dim": Int(16, 256, log=True),
    }
    state_attrs: ClassVar[tuple[str, ...]] = ("user_emb_", "item_emb_", "curve_", "epochs_run_")

    def _fit(self, train: Dataset) -> None:
        cfg = self.config
        device = pick_device(cfg.device)
        full = binary_history(train.interactions.csr("binary"))
        full.sort_indices()
        fit_part, held = validation_cut(train, cfg.val_fraction, self.seed)
        x = binary_history(fit_part.interactions.csr("binary"))
        x.sort_indices()
        with TorchSession(self.seed, cfg.num_threads, device):
            curve, best_epoch = self._train(x, held if held.nnz else None, cfg.epochs, device)
            if cfg.refit and held.nnz:
                self._train(full, None, best_epoch, device)
        self.curve_ = np.asarray(curve, np.float64).reshape(-1, 2)
        self.epochs_run_ = np.int64(best_epoch)

    def _train(
        self, x: sp.csr_array, held: sp.csr_array | None, epochs: int, device: Any
    ) -> tuple[list[tuple[float, float]], int]:
        """Train from the seed on ``x``; with ``held``, keep the embeddings of the best
        validation Recall@20 (early stopping), else the last. Sets ``user_emb_`` / ``item_emb_``;
        returns the learning curve and the epoch kept."""
        import torch
        from torch.nn import functional as F

        cfg = self.config
        n_u, n_i = x.shape
        g = normalised_graph(x)
        spmm = symmetric_spmm(g, device)
        gen = torch.Generator().manual_seed(self.seed)
        emb = torch.nn.Parameter((torch.randn(n_u + n_i, cfg.dim, generator=gen) * 0.1).to(device))
        opt = torch.optim.Adam([emb], lr=cfg.lr)
        rng = np.random.default_rng(self.seed)

        def propagate() -> Any:
            h: torch.Tensor = emb
            layers = [h]
            for _ in range(cfg.layers):
                h = spmm(h)
                layers.append(h)
            return torch.stack(layers).mean(dim=0)

        def keep() -> None:
            with torch.no_grad():
                out = propagate().cpu().numpy().astype(np.float32)
            self.user_emb_, self.item_emb_ = out[:n_u].copy(), out[n_u:].copy()

        n = int(x.nnz)
        started = time.perf_counter()
        curve: list[tuple[float, float]] = []
        best, best_epoch, since = -1.0, 0, 0
        best_state: tuple[np.ndarray, np.ndarray] | None = None
        for epoch in range(1, epochs + 1):
            triples = [torch.from_numpy(a).to(device) for a in sample_triples(x, n, rng)]
            users, pos, neg = triples[0], triples[1] + n_u, triples[2] + n_u
            total = torch.zeros((), device=device)  # summed on the device: no sync per batch
            for s in range(0, n, cfg.batch_size):
                u = users[s : s + cfg.batch_size]
                p = pos[s : s + cfg.batch_size]
                q = neg[s : s + cfg.batch_size]
                final = propagate()
                diff = (final[u] * (final[p] - final[q])).sum(dim=1)
                reg = (emb[u].pow(2).sum() + emb[p].pow(2).sum() + emb[q].pow(2).sum()) / 2
                loss = -F.logsigmoid(diff).mean() + cfg.reg * reg / len(u)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.detach() * len(u)
            self.report(epoch, epochs, float(total) / max(n, 1))
            if held is None:
                if epoch == epochs:
                    keep()
                continue
            self.epoch_done(epoch, keep)
            if epoch % cfg.eval_every and epoch != epochs:
                continue
            keep()
            recall = validation_recall(self.user_emb_, self.item_emb_, x, held)
            curve.append((epoch, recall))
            if recall > best:
                best, best_epoch, since = recall, epoch, 0
                best_state = (self.user_emb_, self.item_emb_)
            else:
                since += 1
                if since >= cfg.patience:
                    break
            if cfg.max_seconds and time.perf_counter() - started >= cfg.max_seconds:
                break  # the stated training budget: keep the best epoch so far
        if held is None:
            return curve, epochs
        assert best_state is not None
        self.user_emb_, self.item_emb_ = best_state
        return curve, best_epoch

    def learning_curve(self) -> list[list[float]] | None:
        """Validation Recall@20 (on the held-out share of training) by epoch."""
        return [[float(e), float(r)] for e, r in self.curve_] if len(self.curve_) else None

    def score(self, users: np.ndarray) -> np.ndarray:
        self.check_is_fitted()
        u = np.asarray(users, np.int64)
        return np.asarray(self.user_emb_[u] @ self.item_emb_.T, dtype=np.float32)

    def query_vectors(self, users: np.ndarray) -> np.ndarray | None:
        self.check_is_fitted()
        return np.asarray(self.user_emb_[np.asarray(users, np.int64)], np.float32)

    def item_embeddings(self) -> np.ndarray | None:
        return np.asarray(self.item_emb_, np.float32)
