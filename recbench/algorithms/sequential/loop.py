"""The shared torch training loop of the sequence models, with early stopping on validation.

Every model trains on whole sequences, all positions at once: a batch is a set of users' padded
windows (:func:`~recbench.algorithms.sequential.data.windows`), never one sample per prefix.
After every ``eval_every`` epochs the model ranks the full catalogue for each validation user
(history = the training sequence, excluded from the ranking) and the network of best validation
NDCG@10 is kept; training stops after ``patience`` evaluations without gain. Fits are seeded
(:class:`~recbench.algorithms.torch_session.TorchSession`), on the CPU unless ``device`` asks
for CUDA or is ``auto`` and a GPU is present.

torch is imported inside functions only, so importing this module stays light.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from recbench.algorithms.base import AlgoConfig
from recbench.algorithms.sequential.data import IntArray, Sequences, check_sequences, windows
from recbench.algorithms.sequential.protocol import full_ranks, hit_ndcg
from recbench.algorithms.torch_session import TorchSession, pick_device

if TYPE_CHECKING:  # pragma: no cover
    pass


class TrainConfig(AlgoConfig):
    """Settings every torch sequence model shares (the loop's and the window's)."""

    max_len: int = Field(50, ge=2, le=10_000, description="most recent items a model reads")
    hidden: int = Field(64, ge=1, le=100_000, description="embedding and hidden size")
    dropout: float = Field(0.2, ge=0, lt=1, description="dropout while training")
    epochs: int = Field(200, ge=1, le=100_000, description="most training epochs")
    batch_size: int = Field(128, ge=1, le=1_000_000, description="users per batch")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate")
    weight_decay: float = Field(0.0, ge=0, description="Adam L2 penalty")
    adam_beta2: float = Field(0.999, gt=0, lt=1, description="Adam's beta2")
    patience: int = Field(10, ge=1, description="evaluations without validation gain before stop")
    eval_every: int = Field(1, ge=1, description="epochs between validation evaluations")
    valid_users: int = Field(
        10_000, ge=1, description="most validation users (a seeded sample when there are more)"
    )
    num_threads: int = Field(
        1, ge=0, description="CPU threads for torch (0: torch's default; more spin on a busy box)"
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="where to train")
    bucket: bool = Field(
        True,
        description="batch rows of similar length and drop all-padding columns (short sequences)",
    )
    max_seconds: float = Field(
        0.0, ge=0, description="stop at the first validation past this many seconds (0: no limit)"
    )


@dataclass
class TrainLog:
    """What a fit did: seconds per epoch, validation NDCG@10 per evaluation, the best epoch."""

    epoch_seconds: list[float] = field(default_factory=list)
    #: this process's CPU seconds per epoch (all threads): the cost on a busy, shared machine
    epoch_cpu_seconds: list[float] = field(default_factory=list)
    valid_ndcg: list[tuple[int, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_valid: float = float("nan")
    seconds_to_best: float = 0.0
    stopped: str = "epochs"  # or "patience", "time"

    @property
    def epochs_run(self) -> int:
        return len(self.epoch_seconds)


class TorchSeqModel:
    """A fitted torch sequence model: scores histories with the network of best validation."""

    def __init__(self, net: Any, n_items: int, history_len: int, log: TrainLog) -> None:
        self.net, self.n_items, self.history_len, self.log = net, n_items, history_len, log

    def score(self, histories: Sequences) -> NDArray[np.float32]:
        """(n, n_items) scores of every item as each history's next item."""
        import torch

        device = next(self.net.parameters()).device
        ids, lens = windows(histories, self.history_len)
        ids = ids[:, : max(int(lens.max(initial=0)), 1)]  # right padding: drop padding columns
        was_training = self.net.training
        self.net.eval()
        try:
            with torch.no_grad():
                out = self.net.score(
                    torch.as_tensor(ids, device=device), torch.as_tensor(lens, device=device)
                )
        finally:
            self.net.train(was_training)
        return np.asarray(out.float().cpu().numpy(), dtype=np.float32)


#: builds the network on a device: (n_items, config) -> nn.Module with ``score(ids, lens)``
NetBuilder = Callable[[int, Any], Any]
#: progress of one epoch: (epoch, training seconds, validation NDCG@10 or None)
EpochHook = Callable[[int, float, float | None], None]
#: loss of one batch: (net, row indices into the training windows, torch generator) -> scalar
BatchLoss = Callable[[Any, IntArray, Any], Any]


def fit_torch(
    build: NetBuilder,
    make_loss: Callable[[Sequences, int, Any, Any], tuple[IntArray, BatchLoss]],
    train: Sequences,
    n_items: int,
    cfg: TrainConfig,
    *,
    history_len: int,
    valid_targets: IntArray | None = None,
    seed: int = 0,
    on_epoch: EpochHook | None = None,
) -> TorchSeqModel:
    """Train ``build(n_items, cfg)`` on ``train`` with the loss from ``make_loss``.

    ``make_loss(train, n_items, cfg, device)`` returns (real length of each training row,
    batch loss); with ``cfg.bucket`` a batch holds rows of similar length.
    With ``valid_targets`` (one item per user of ``train``, -1 for none) the network of best
    validation NDCG@10 is kept and training stops early; without, the last network is kept.
    ``on_epoch(epoch, seconds, valid_ndcg or None)`` reports progress (the caller prints).
    """
    import torch

    train = check_sequences(train, n_items)
    device = pick_device(cfg.device)
    valid_users = _valid_users(train, n_items, valid_targets, cfg.valid_users, seed)
    with TorchSession(seed, cfg.num_threads, device):
        net = build(n_items, cfg).to(device)
        row_lens, batch_loss = make_loss(train, n_items, cfg, device)
        n_rows = len(row_lens)
        if n_rows == 0:
            raise ValueError("no training sequence has two items: nothing to learn from")
        opt = torch.optim.Adam(
            net.parameters(), lr=cfg.lr, betas=(0.9, cfg.adam_beta2), weight_decay=cfg.weight_decay
        )
        gen = torch.Generator(device=device).manual_seed(seed)
        order_rng = np.random.default_rng(seed)
        log = TrainLog()
        model = TorchSeqModel(net, n_items, history_len, log)
        best_state: dict[str, Any] | None = None
        waited, elapsed = 0, 0.0
        for epoch in range(1, cfg.epochs + 1):
            start, cpu_start = time.perf_counter(), time.process_time()
            net.train()
            for rows in _batches(row_lens, cfg, order_rng):
                loss = batch_loss(net, rows, gen)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            seconds = time.perf_counter() - start
            log.epoch_seconds.append(seconds)
            log.epoch_cpu_seconds.append(time.process_time() - cpu_start)
            elapsed += seconds
            if valid_users is None or epoch % cfg.eval_every:
                if on_epoch is not None:
                    on_epoch(epoch, seconds, None)
                continue
            start = time.perf_counter()
            value = _valid_ndcg(model, train, valid_targets, valid_users)  # type: ignore[arg-type]
            elapsed += time.perf_counter() - start  # time to best counts validation too
            log.valid_ndcg.append((epoch, value))
            if on_epoch is not None:
                on_epoch(epoch, seconds, value)
            if best_state is None or value > log.best_valid:
                log.best_epoch, log.best_valid, log.seconds_to_best = epoch, value, elapsed
                best_state = copy.deepcopy(net.state_dict())
                waited = 0
            else:
                waited += 1
                if waited >= cfg.patience:
                    log.stopped = "patience"
                    break
            if cfg.max_seconds and elapsed >= cfg.max_seconds:
                log.stopped = "time"
                break
        if best_state is not None:
            net.load_state_dict(best_state)
        else:
            log.best_epoch, log.seconds_to_best = log.epochs_run, elapsed
        net.eval()
    return model


def _batches(lens: IntArray, cfg: TrainConfig, rng: np.random.Generator) -> list[IntArray]:
    """One epoch's batches of row indices: a seeded shuffle, or with ``cfg.bucket`` the shuffle
    stably sorted by length, cut into batches, and the batches shuffled (less padding)."""
    rows = rng.permutation(len(lens))
    if cfg.bucket:
        rows = rows[np.argsort(lens[rows], kind="stable")]
    out = [rows[s : s + cfg.batch_size] for s in range(0, len(rows), cfg.batch_size)]
    if cfg.bucket:
        out = [out[i] for i in rng.permutation(len(out))]
    return out


def _valid_users(
    train: Sequences, n_items: int, valid: IntArray | None, most: int, seed: int
) -> IntArray | None:
    if valid is None:
        return None
    valid = np.asarray(valid, dtype=np.int64)
    if valid.shape != (train.n_users,):
        raise ValueError(
            f"valid_targets needs one entry per user ({train.n_users}), got {valid.shape}"
        )
    if np.any(valid >= n_items) or np.any(valid < -1):
        raise ValueError(f"validation items must lie in [0, {n_items}) or be -1 (none)")
    users = np.flatnonzero(valid >= 0)
    if not len(users):
        return None
    if len(users) > most:
        users = np.sort(np.random.default_rng(seed).choice(users, size=most, replace=False))
    return users


def _valid_ndcg(model: TorchSeqModel, train: Sequences, valid: IntArray, users: IntArray) -> float:
    ranks = full_ranks(model.score, train.take(users), valid[users], batch_size=512)
    return float(hit_ndcg(ranks, 10)[1].mean())
