"""Validation-only grid search for the torch next-item models, then seeds on the test item.

Stage 1 fits every setting of a small grid with seed 0 on the training items and scores it by
its best validation NDCG@10 (the second-to-last item, full ranking); the test item is never
read. Stage 2 refits the setting with the best validation score with each seed and evaluates
it on the test item (``seq_bench.run_model``), writing runs that ``seq_bench.py --summarise``
reads. Every model gets the same number of settings: an equal tuning budget.

Settings run in parallel processes (``--workers``); on a CUDA machine they share the GPU.
Example: ``python benchmarks/seq_tune.py --dataset lastfm --models sasrec-ce,bert4rec``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import seq_bench

from recbench.algorithms import sequential as seq

#: the grid each model searches (the same size for every model: an equal budget)
GRID: dict[str, list[Any]] = {
    "hidden": [64, 128, 256],
    "dropout": [0.2, 0.5],
    "lr": [1e-3, 2e-3],
    "max_len": [50, 200],
}
BASE: dict[str, Any] = {
    "epochs": 400,
    "batch_size": 128,
    "patience": 20,
    "num_threads": 1,
    "bucket": False,
}
#: the documented LastFM grids ran with torch's pre-norm block, then the default
_PRE_NORM = seq_bench.PRE_NORM
KINDS: dict[str, tuple[type, dict[str, Any]]] = {
    "sasrec-ce": (seq.SASRecConfig, {"loss": "ce", "layers": 2, **_PRE_NORM}),
    "sasrec-bce": (seq.SASRecConfig, {"loss": "bce", "layers": 2, **_PRE_NORM}),
    "gsasrec": (seq.SASRecConfig, {"loss": "gbce", "layers": 2, **_PRE_NORM}),
    "bert4rec": (seq.BERT4RecConfig, {}),
    "gru4rec": (seq.GRU4RecConfig, {}),
}


def _data(data: Path, dataset: str) -> tuple[seq.Sequences, int, seq.LeaveOneOut]:
    files = {
        "lastfm": ("lastfm-s3rec/LastFM.txt", seq_bench.read_lastfm),
        "games": ("games-sasrec/Video.txt", seq_bench.read_pairs),
    }
    rel, reader = files[dataset]
    full = reader(data / rel)
    return full, int(full.items.max()) + 1, seq.leave_one_out(full)


def _config(model: str, setting: dict[str, Any], extra: dict[str, Any]) -> Any:
    cls, fixed = KINDS[model]
    return cls(**(BASE | fixed | setting | extra))


def _valid_only(job: tuple[Path, str, str, dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    """Fit one setting with seed 0; return its best validation NDCG@10 (the test item unread)."""
    import torch

    torch.set_num_threads(1)
    data, dataset, model, setting, extra = job
    _, n_items, loo = _data(data, dataset)
    start = time.perf_counter()
    fitted = seq.fit(loo.train, n_items, _config(model, setting, extra), valid_targets=loo.valid)
    assert isinstance(fitted, seq.TorchSeqModel)
    log = fitted.log
    return {
        "model": model,
        "setting": setting,
        "best_valid": log.best_valid,
        "best_epoch": log.best_epoch,
        "seconds": time.perf_counter() - start,
    }


def _test_run(job: tuple[Path, str, str, dict[str, Any], dict[str, Any], int]) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    data, dataset, model, setting, extra, seed = job
    full, n_items, loo = _data(data, dataset)
    out = seq_bench.run_model(model, _config(model, setting, extra), loo, full, n_items, seed, None)
    return out | {"dataset": dataset, "setting": setting}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).parents[1] / "../shared/datasets")
    ap.add_argument("--dataset", default="lastfm")
    ap.add_argument("--models", default="sasrec-ce,bert4rec")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--set", action="append", default=[], help="NAME=VALUE for every fit")
    ap.add_argument("--grid", help="JSON object overriding GRID (a smaller or other search)")
    ap.add_argument("--json", type=Path, help="write the test runs here (seq_bench format)")
    ap.add_argument("--trials-json", type=Path, help="write every validation trial here")
    args = ap.parse_args(argv)
    extra = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    grid = json.loads(args.grid) if args.grid else GRID
    settings = [dict(zip(grid, vals, strict=True)) for vals in itertools.product(*grid.values())]
    models = [m for m in args.models.split(",") if m]
    jobs = [(args.data, args.dataset, m, s, extra) for m in models for s in settings]
    print(
        f"{args.dataset}: {len(settings)} settings x {models}, {args.workers} workers", flush=True
    )
    ctx = mp.get_context("spawn")
    with ctx.Pool(args.workers) as pool:
        trials = []
        for t in pool.imap_unordered(_valid_only, jobs):
            trials.append(t)
            print(
                f"  valid {t['model']} {t['setting']}: NDCG@10 {t['best_valid']:.4f} "
                f"(epoch {t['best_epoch']}, {t['seconds']:.0f} s)",
                flush=True,
            )
        if args.trials_json:
            args.trials_json.write_text(json.dumps(trials))
        best = {
            m: max((t for t in trials if t["model"] == m), key=lambda t: t["best_valid"])
            for m in models
        }
        for m, t in best.items():
            print(f"  chosen on validation: {m} {t['setting']} ({t['best_valid']:.4f})", flush=True)
        runs = pool.map(
            _test_run,
            [
                (args.data, args.dataset, m, best[m]["setting"], extra, seed)
                for m in models
                for seed in range(args.seeds)
            ],
        )
    if args.json:
        args.json.write_text(json.dumps(runs))
    print("\n".join(seq_bench.summarise(args.dataset, runs)))
    for m in models:
        rs = [r for r in runs if r["model"] == m]
        print(
            f"  {m}: HR@10 {np.mean([np.mean(r['hr']) for r in rs]):.4f} "
            f"NDCG@10 {np.mean([np.mean(r['ndcg']) for r in rs]):.4f} over {len(rs)} seeds"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
