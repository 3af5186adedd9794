"""Next-item (sequence) models on plain arrays, ahead of their ``Recommender`` adapters.

A fit takes per-user item sequences (:class:`Sequences`, CSR-like ``indptr`` / ``items`` with
dense 0-based item ids in time order) and returns a model whose :func:`score_histories` ranks
the catalogue for any histories. Torch models (SASRec, gSASRec = SASRec with ``loss="gbce"``,
BERT4Rec, GRU4Rec) train in one shared loop with early stopping on a validation item per user;
the baselines (pop-recent, markov, sknn) are numpy only.

    model = fit(loo.train, n_items, SASRecConfig(loss="ce"), valid_targets=loo.valid, seed=0)
    scores = score_histories(model, loo.history)  # (n_users, n_items) float32
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from recbench.algorithms.sequential.baselines import (
    SKNN,
    Markov,
    MarkovConfig,
    PopRecent,
    PopRecentConfig,
    SeqBaseline,
    SKNNConfig,
    fit_baseline,
)
from recbench.algorithms.sequential.bert4rec import BERT4RecConfig, fit_bert4rec
from recbench.algorithms.sequential.data import (
    LeaveOneOut,
    Sequences,
    check_sequences,
    leave_one_out,
)
from recbench.algorithms.sequential.gru4rec import GRU4RecConfig, fit_gru4rec
from recbench.algorithms.sequential.loop import EpochHook, TorchSeqModel, TrainConfig, TrainLog
from recbench.algorithms.sequential.sasrec import SASRecConfig, fit_sasrec

SeqConfig = (
    SASRecConfig | BERT4RecConfig | GRU4RecConfig | PopRecentConfig | MarkovConfig | SKNNConfig
)
SeqModel = TorchSeqModel | SeqBaseline

__all__ = [
    "SKNN",
    "BERT4RecConfig",
    "GRU4RecConfig",
    "LeaveOneOut",
    "Markov",
    "MarkovConfig",
    "PopRecent",
    "PopRecentConfig",
    "SASRecConfig",
    "SKNNConfig",
    "SeqConfig",
    "SeqModel",
    "Sequences",
    "TorchSeqModel",
    "TrainConfig",
    "TrainLog",
    "check_sequences",
    "fit",
    "leave_one_out",
    "score_histories",
]


def fit(
    seqs: Sequences,
    n_items: int,
    config: SeqConfig,
    *,
    valid_targets: NDArray[np.int64] | None = None,
    seed: int = 0,
    on_epoch: EpochHook | None = None,
) -> SeqModel:
    """Fit the model ``config`` names on ``seqs``; ``valid_targets`` (one item per user, -1 for
    none) drives early stopping of the torch models and is ignored by the baselines."""
    torch_fits: dict[type, Any] = {
        SASRecConfig: fit_sasrec,
        BERT4RecConfig: fit_bert4rec,
        GRU4RecConfig: fit_gru4rec,
    }
    for kind, fitter in torch_fits.items():
        if isinstance(config, kind):
            model: TorchSeqModel = fitter(
                seqs, n_items, config, valid_targets=valid_targets, seed=seed, on_epoch=on_epoch
            )
            return model
    if isinstance(config, PopRecentConfig | MarkovConfig | SKNNConfig):
        return fit_baseline(seqs, n_items, config)
    raise TypeError(f"not a sequence model config: {type(config).__name__}")


def score_histories(
    model: SeqModel, histories: Sequences, *, batch_size: int = 1024
) -> NDArray[np.float32]:
    """(n, n_items) float32 scores of every item as each history's next item, in batches."""
    n_items = model.n_items if isinstance(model, TorchSeqModel) else _baseline_items(model)
    histories = check_sequences(histories, n_items)
    out = np.empty((histories.n_users, n_items), dtype=np.float32)
    for s in range(0, histories.n_users, batch_size):
        users = np.arange(s, min(s + batch_size, histories.n_users))
        out[users] = model.score(histories.take(users))
    return out


def _baseline_items(model: SeqBaseline) -> int:
    if isinstance(model, PopRecent):
        return len(model.counts)
    if isinstance(model, Markov):
        return len(model.prior)
    return int(model.rows.shape[1])
