"""Blockwise item-kNN, side by side in one run: ``make bench-knn``.

On the 7.6M-rating synthetic shape (70k users x 10.7k items, ``holdout:0.2``), where the dense
path still fits (about 3.7 GB), item-kNN with Surprise's defaults (msd, k=40) is run three ways:

- ``dense``: the n x n similarity at fit (the reference);
- ``blockwise, 1 thread`` and ``blockwise, 2 threads``: ``blockwise="always"``, ``num_threads``
  1 and 2 (blocks in threads; scipy's and numpy's kernels release the GIL).

For each: fit seconds, prediction of ``--pairs`` held-out pairs, top-10 of ``--users`` users
(evaluation's ranking path, two threads where the model allows), peak RSS growth, and whether
the predictions and lists equal the dense path's (predictions to 1e-12, lists exactly).
Run with ``OPENBLAS_NUM_THREADS=1`` (the Makefile exports it). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import numpy as np

from recbench import ranking
from recbench.algorithms import plugins
from recbench.data.build import build_dataset
from recbench.data.synth import SynthConfig, generate
from recbench.evaluation import history_matrix
from recbench.split import make_split, parse_split

SHAPE_76M = SynthConfig(n_users=70_000, n_items=10_700, n_ratings=7_600_000, seed=0)
#: the dense reference last, so the blockwise runs' peak memory is their own
WAYS = {
    "blockwise, 1 thread": {"blockwise": "always", "num_threads": 1},
    "blockwise, 2 threads": {"blockwise": "always", "num_threads": 2},
    "dense": {"blockwise": "never", "max_memory_gb": 16},
}


def rss_gb() -> float:
    """Peak resident memory of this process so far (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200_000, help="held-out pairs predicted")
    parser.add_argument("--users", type=int, default=10_000, help="users ranked (top 10)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    frame = generate(SHAPE_76M)
    ds = build_dataset("synth-7.6M", frame, checksum="synth-7.6M-0", rating_scale=(1.0, 5.0))
    del frame
    split = make_split(ds, parse_split("holdout:0.2"), seed=0)
    print(f"knn: {ds.describe()} built and split in {time.perf_counter() - t0:.1f} s; cores "
          f"{ranking.cores()}, OPENBLAS_NUM_THREADS="
          f"{os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}", flush=True)  # fmt: skip
    users = split.test.user[: args.pairs].astype(np.int64)
    items = split.test.item[: args.pairs].astype(np.int64)
    seen = history_matrix(split)
    ranked = np.flatnonzero(np.diff(seen.indptr) > 0)[: args.users]
    rows = []
    got = {}
    for way, params in WAYS.items():
        model = plugins.make("item-knn", params, seed=0)
        t = time.perf_counter()
        model.fit(split.train)
        fit_s = time.perf_counter() - t
        t = time.perf_counter()
        pred = model.predict(users, items)
        pred_s = time.perf_counter() - t
        t = time.perf_counter()
        lists = ranking.Ranker(model, seen, None, 10)(ranked)[0]
        rank_s = time.perf_counter() - t
        rows.append((way, fit_s, pred_s, rank_s, rss_gb()))
        got[way] = (pred, lists)
        del model
    print(f"  {'way':<22}{'fit s':>8}{'predict s':>11}{'top-10 s':>10}{'peak GB':>9}  "
          f"same as dense", flush=True)  # fmt: skip
    dense = got["dense"]
    for way, fit_s, pred_s, rank_s, peak in rows:
        pred, lists = got[way]
        close = bool(np.allclose(pred, dense[0], rtol=0, atol=1e-12))
        same = f"predictions {close}, lists {bool(np.array_equal(lists, dense[1]))}"
        print(f"  {way:<22}{fit_s:>8.1f}{pred_s:>11.1f}{rank_s:>10.1f}{peak:>9.2f}  {same}",
              flush=True)  # fmt: skip
    one, two = rows[0], rows[1]
    print(f"  2 threads vs 1: fit {one[1] / two[1]:.2f}x, predict {one[2] / two[2]:.2f}x, "
          f"top-10 {one[3] / two[3]:.2f}x faster; peak GB is this process's so far (the "
          f"dense run last)", flush=True)  # fmt: skip
    print(f"  ({len(users):,} pairs predicted, {len(ranked):,} users ranked over "
          f"{ds.n_items:,} items; load average {os.getloadavg()[0]:.1f})", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
