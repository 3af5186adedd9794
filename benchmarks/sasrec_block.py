"""SASRec's block on SASRec's Games file: the authors' block against torch's pre-norm layer.

Both fits use the paper's Games setting (hidden 50, 2 blocks, length 50, dropout 0.5, BCE with
one negative, lr 1e-3, batch 128) and differ only in ``block`` (with its init) and Adam's beta2.
Every ``--every`` epochs the network is scored on the VALIDATION item only (each user's
second-to-last item, history = the items before it): against 100 uniform negatives on a seeded
random 10,000 users (the sampled protocol), and by full-ranking NDCG@10 on the first 3,000 of
them. The test item is never read, so this comparison can choose an implementation honestly.

    python benchmarks/sasrec_block.py --epochs 40        # about 4 minutes per variant on 1 core
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from seq_bench import read_pairs

from recbench.algorithms import sequential as seq
from recbench.algorithms.sequential import sasrec
from recbench.algorithms.sequential.loop import TorchSeqModel, TrainLog
from recbench.algorithms.sequential.protocol import (
    full_ranks,
    hit_ndcg,
    sample_candidates,
    sampled_ranks,
)

VARIANTS: dict[str, dict[str, Any]] = {
    "paper": {"block": "paper", "adam_beta2": 0.98},
    "pre-norm": {"block": "pre-norm", "adam_beta2": 0.999},
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).parents[1] / "../shared/datasets")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--variants", default="paper,pre-norm")
    args = ap.parse_args(argv)
    path = args.data / "games-sasrec" / "Video.txt"
    if not path.is_file():
        print(f"skip: {path} is absent (never committed)")
        return 0
    import torch

    torch.set_num_threads(1)
    full = read_pairs(path)
    n_items = int(full.items.max()) + 1
    loo = seq.leave_one_out(full)
    users = np.flatnonzero(loo.valid >= 0)
    users = np.sort(np.random.default_rng(1).choice(users, 10_000, replace=False))
    cands = sample_candidates(full, n_items, 100, users, seed=1)
    hist, target = loo.train.take(users), loo.valid[users]
    for name in args.variants.split(","):
        cfg = seq.SASRecConfig(max_len=50, hidden=50, layers=2, heads=1, dropout=0.5, lr=1e-3,
                               batch_size=128, epochs=args.epochs, loss="bce", num_threads=1,
                               **VARIANTS[name])  # fmt: skip
        nets: list[Any] = []
        start = time.perf_counter()

        def build(n: int, c: Any, nets: list[Any] = nets) -> Any:
            nets.append(sasrec._causal_net(n, c))
            return nets[-1]

        def hook(
            epoch: int, seconds: float, value: float | None, nets: list[Any] = nets,
            name: str = name, start: float = start,
        ) -> None:  # fmt: skip
            if epoch % args.every and epoch != args.epochs:
                return
            model = TorchSeqModel(nets[-1], n_items, 50, TrainLog())
            s_hr, s_nd = (x.mean() for x in hit_ndcg(sampled_ranks(model.score, hist, target,
                                                                   cands), 10))  # fmt: skip
            first = np.arange(3000)
            f_nd = hit_ndcg(full_ranks(model.score, hist.take(first), target[first]), 10)[1]
            print(f"{name:9s} epoch {epoch:3d} {time.perf_counter() - start:5.0f} s  valid "
                  f"sampled HR@10 {s_hr:.4f} NDCG@10 {s_nd:.4f}  full NDCG@10 {f_nd.mean():.4f}",
                  flush=True)  # fmt: skip

        sasrec.fit_causal(build, loo.train, n_items, cfg, valid_targets=None, seed=0, on_epoch=hook)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
