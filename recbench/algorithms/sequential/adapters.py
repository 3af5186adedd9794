"""The sequence models as ``Recommender`` plugins: ``sasrec``, ``gsasrec``, ``bert4rec``,
``gru4rec``, ``pop-recent``, ``markov``, ``sknn``.

A fit reads each user's training rows in event order (``Interactions.sequences()``: timestamp,
then file order). Rows marked ``PART_VALID`` (a leave-one-out split's validation item, which is
also part of the test history) are left out of the torch models' training sequences and become
their early-stopping targets; without such rows each user's last training item (users with at
least 3) is carved off as the validation target instead. The baselines stop on nothing and fit
on the whole history. At score time every model reads the user's whole history (validation item
included). Each fit keeps the sequences it trained on and the validation targets it stopped on
(``trained_on_``, ``stopped_on_``), so a test can show that no held-out item reached training.
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from recbench.algorithms import sequential as seq
from recbench.algorithms.base import Recommender
from recbench.algorithms.neural.common import prefixed_state, unprefixed_state
from recbench.algorithms.sequential.bert4rec import _net as bert4rec_net
from recbench.algorithms.sequential.data import IntArray, Sequences
from recbench.algorithms.sequential.gru4rec import _net as gru4rec_net
from recbench.algorithms.sequential.losses import Loss
from recbench.algorithms.sequential.sasrec import _causal_net
from recbench.algorithms.space import Categorical, Float, Int, Space
from recbench.data.model import PART_VALID, Dataset, Interactions

C = TypeVar("C", bound=seq.SeqConfig)
#: most history items an explanation tries deleting (the most recent ones)
EXPLAIN_ITEMS = 50


def training_sequences(
    inter: Interactions, *, carve: bool
) -> tuple[Sequences, Sequences, IntArray]:
    """(history, training sequences, validation target per user or -1) of ``inter``.

    The history is every row in event order. Rows marked ``PART_VALID`` are dropped from the
    training sequences and the user's last such row is the validation target; without them and
    with ``carve``, each user with at least 3 rows gives its last row as the target instead.
    """
    view = inter.sequences()
    history = Sequences(view.indptr.astype(np.int64), view.items.astype(np.int64))
    users = np.repeat(np.arange(inter.n_users), np.diff(view.indptr))
    valid = np.full(inter.n_users, -1, dtype=np.int64)
    held = np.zeros(len(view.items), dtype=bool)
    if inter.part is not None and np.any(inter.part == PART_VALID):
        held = inter.part[view.rows] == PART_VALID
        valid[users[held]] = view.items[held]  # in event order: the last one stays
    elif carve:
        lens = np.diff(view.indptr)
        ends = view.indptr[1:][lens >= 3] - 1
        held[ends] = True
        valid[users[ends]] = view.items[ends]
    keep = ~held
    indptr = np.zeros(inter.n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(users[keep], minlength=inter.n_users), out=indptr[1:])
    return history, Sequences(indptr, history.items[keep]), valid


class SequenceRecommender(Recommender[C], Generic[C]):
    """Shared adapter: fit on the ordered training rows, score each user's whole history."""

    family = "sequential"
    source = "recbench"
    #: the model stops early on a validation item (the torch ones); the baselines do not
    early_stops: ClassVar[bool] = False
    state_attrs: ClassVar[tuple[str, ...]] = ("hist_indptr_", "hist_items_")

    def _fit(self, train: Dataset) -> None:
        inter = train.interactions
        history, train_seqs, valid = training_sequences(inter, carve=self.early_stops)
        self.hist_indptr_, self.hist_items_ = history.indptr, history.items
        fit_on = train_seqs if self.early_stops else history
        self.trained_on_ = fit_on
        self.stopped_on_ = valid if self.early_stops else np.full_like(valid, -1)
        self.model_: seq.SeqModel = seq.fit(
            fit_on,
            inter.n_items,
            self.config,
            valid_targets=valid if self.early_stops and np.any(valid >= 0) else None,
            seed=self.seed,
        )

    def histories(self, users: np.ndarray) -> Sequences:
        """The ordered histories of ``users`` (their whole training rows)."""
        return Sequences(self.hist_indptr_, self.hist_items_).take(np.asarray(users, np.int64))

    def score(self, users: np.ndarray) -> np.ndarray:
        self.check_is_fitted()
        return np.asarray(self.model_.score(self.histories(users)), dtype=np.float32)

    def explain_user(self, user: int, items: np.ndarray) -> list[str] | None:
        """Per recommended item, the history items that mattered most, by deletion: each of the
        last :data:`EXPLAIN_ITEMS` history items is dropped in turn and the history rescored;
        the items whose removal lowers the recommended item's score most are named."""
        self.check_is_fitted()
        hist = self.histories(np.array([user])).items
        recent = hist[-EXPLAIN_ITEMS:]
        if not len(recent):
            return None
        start = len(hist) - len(recent)
        variants = [hist] + [np.delete(hist, start + j) for j in range(len(recent))]
        scores = self.model_.score(Sequences.from_lists(variants))
        items = np.asarray(items, np.int64)
        drops = scores[0][items][None, :] - scores[1:][:, items]  # (history item, rec item)
        out = []
        for col in range(len(items)):
            order = np.argsort(-drops[:, col], kind="stable")[:3]
            named = [
                f"{{item:{int(recent[j])}}} (-{drops[j, col]:.3g})"
                for j in order
                if drops[j, col] > 0
            ]
            out.append(
                "its score drops most when these history items are deleted: " + ", ".join(named)
                if named
                else "no single history item raises its score (deletion test)"
            )
        return out

    def explain(self, history: sp.csr_array, items: np.ndarray) -> list[str] | None:
        return None  # an unordered history row says nothing to a sequence model

    # -- persistence ---------------------------------------------------------------------------
    def get_state(self) -> dict[str, np.ndarray]:
        return {**super().get_state(), **prefixed_state("model", _model_arrays(self.model_))}

    def set_state(self, state: dict[str, Any]) -> SequenceRecommender[C]:
        super().set_state(state)
        arrays = unprefixed_state("model", state)
        self.model_ = _model_from(self.config, int(self.n_items_), arrays)
        return self


def _model_arrays(model: seq.SeqModel) -> dict[str, np.ndarray]:
    if isinstance(model, seq.TorchSeqModel):
        return {k: v.detach().cpu().numpy() for k, v in model.net.state_dict().items()}
    if isinstance(model, seq.PopRecent):
        return {"counts": model.counts}
    if isinstance(model, seq.Markov):
        t = model.trans
        return {"data": t.data, "indices": t.indices, "indptr": t.indptr, "prior": model.prior}
    r = model.rows
    return {"data": r.data, "indices": r.indices, "indptr": r.indptr}


def _model_from(cfg: Any, n_items: int, a: dict[str, np.ndarray]) -> seq.SeqModel:
    if isinstance(cfg, seq.PopRecentConfig):
        return seq.PopRecent(a["counts"].astype(np.float32))
    if isinstance(cfg, seq.MarkovConfig | seq.SKNNConfig):
        n_rows = len(a["indptr"]) - 1
        mat = sp.csr_array((a["data"], a["indices"], a["indptr"]), shape=(n_rows, n_items))
        if isinstance(cfg, seq.MarkovConfig):
            return seq.Markov(mat, a["prior"].astype(np.float32), cfg.alpha)
        return seq.SKNN(mat, cfg)
    import torch

    if isinstance(cfg, seq.BERT4RecConfig):
        net, history_len = bert4rec_net(n_items, cfg), cfg.max_len - 1
    elif isinstance(cfg, seq.GRU4RecConfig):
        net, history_len = gru4rec_net(n_items, cfg), cfg.max_len
    else:
        net, history_len = _causal_net(n_items, cfg), cfg.max_len
    net.load_state_dict({k: torch.as_tensor(v) for k, v in a.items()})
    net.eval()
    return seq.TorchSeqModel(net, n_items, history_len, seq.TrainLog())


# -- the plugins -------------------------------------------------------------------------------

_TORCH_SPACE: Space = {
    "lr": Float(1e-4, 1e-2, log=True),
    "dropout": Float(0.0, 0.6),
    "hidden": Categorical((32, 64, 128)),
    "layers": Int(1, 3),
}


class _TorchSequence(SequenceRecommender[C], Generic[C]):
    source = "torch"
    requires = ("torch",)
    extra = "deep"
    early_stops = True


class SASRecRecommender(_TorchSequence[seq.SASRecConfig]):
    """SASRec (Kang & McAuley 2018), causal self-attention; loss ce, bce or sampled-ce."""

    description = "SASRec self-attention next-item model; loss ce | bce | sampled-ce (torch)"
    Config = seq.SASRecConfig
    search_space: ClassVar[Space] = {**_TORCH_SPACE, "loss": Categorical(("ce", "sampled-ce"))}


class GSASRecConfig(seq.SASRecConfig):
    """gSASRec: SASRec with gBCE loss over sampled negatives (Petrov & Macdonald 2023)."""

    loss: Loss = Field("gbce", description="gbce (gSASRec's), or ce, bce, sampled-ce")


class GSASRecRecommender(_TorchSequence[GSASRecConfig]):
    """gSASRec: SASRec trained with gBCE (Petrov & Macdonald, RecSys 2023)."""

    description = "gSASRec: SASRec with gBCE over sampled negatives (torch)"
    Config = GSASRecConfig
    search_space: ClassVar[Space] = {**_TORCH_SPACE, "gbce_t": Float(0.0, 1.0)}


class BERT4RecRecommender(_TorchSequence[seq.BERT4RecConfig]):
    """BERT4Rec (Sun et al. 2019), bidirectional self-attention trained by item masking."""

    description = "BERT4Rec masked-item bidirectional self-attention (torch)"
    Config = seq.BERT4RecConfig
    search_space: ClassVar[Space] = {**_TORCH_SPACE, "mask_prob": Float(0.1, 0.6)}


class GRU4RecRecommender(_TorchSequence[seq.GRU4RecConfig]):
    """GRU4Rec (Hidasi et al. 2016), a recurrent next-item model."""

    description = "GRU4Rec recurrent next-item model (torch)"
    Config = seq.GRU4RecConfig
    search_space: ClassVar[Space] = {
        "lr": Float(1e-4, 1e-2, log=True),
        "dropout": Float(0.0, 0.6),
        "hidden": Int(32, 256, log=True),
        "layers": Int(1, 2),
    }


class PopRecentRecommender(SequenceRecommender[seq.PopRecentConfig]):
    """Popularity among each training sequence's last ``window`` items (0: all)."""

    description = "popularity in a recent window of each sequence (0: all items)"
    Config = seq.PopRecentConfig
    same_scores_for_all_users = True
    user_independent = True
    search_space: ClassVar[Space] = {"window": Int(0, 50)}


class MarkovRecommender(SequenceRecommender[seq.MarkovConfig]):
    """First-order item-to-item transitions from the last history item, smoothed."""

    description = "first-order Markov chain over items, popularity-smoothed"
    Config = seq.MarkovConfig
    search_space: ClassVar[Space] = {"alpha": Float(0.01, 100.0, log=True)}


class SKNNRecommender(SequenceRecommender[seq.SKNNConfig]):
    """V-SKNN (Ludewig & Jannach 2018): sequence kNN over the recent history items."""

    description = "sequence kNN over recent history items (V-SKNN)"
    Config = seq.SKNNConfig
    search_space: ClassVar[Space] = {
        "k": Int(10, 500, log=True),
        "recent": Int(1, 50, log=True),
        "cosine": Categorical((True, False)),
    }
