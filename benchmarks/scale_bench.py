"""Scale benchmarks (issue 12), side by side in one run: ``make bench-scale``.

Parts (``--only NAME`` runs one; every figure is printed, nothing is asserted):

- ``synth``: generate a synthetic ratings set (default the ML-25M shape: 162k users x 59k items,
  25M ratings) chunk by chunk, counting rows; wall time and peak RSS (memory-bounded generator).
- ``ranking``: ALS and popularity ranking evaluation on the 7.6M-rating synthetic shape
  (70k users x 10.7k items), plain path (score, mask, argpartition top-K per user: the code
  before issue 12) vs the fast routes (one list for user-independent models; dot products in
  two threads; top-K by a block-maximum bound), from one run, with the ratio. The models are
  fitted once; only evaluation is timed (the metrics are checked equal).
- ``workers``: ``compare`` of five algorithms on ml-100k ``kfold:5`` serial vs a Dask
  LocalCluster of 2 processes (wall with and without cluster start-up; metrics checked equal).
- ``ml25m``: ML-25M-shape ``compare --split user-holdout:0.2`` of popularity, ALS, item-kNN,
  SVD and baseline plus EASE (which refuses with its memory need): wall per algorithm, peak RSS.
  Hours on a 2-core machine (Surprise's SVD alone: about 20M ratings x 20 epochs); opt-in only.

Run with ``OPENBLAS_NUM_THREADS=1`` (the Makefile exports it). Data: synthetic (no download);
ml-100k from ``<repo>/../shared/datasets/ml-100k/u.data`` (``RECBENCH_ML100K``), else the
bundled ml-latest-small.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recbench import executors, ranking
from recbench.algorithms import plugins
from recbench.data.build import build_dataset
from recbench.data.loading import DatasetSpec, load_dataset
from recbench.data.model import Dataset
from recbench.data.synth import SynthConfig, generate, generate_chunks
from recbench.evaluation import EvalConfig, evaluate
from recbench.experiment import AlgoSpec
from recbench.split import make_split, parse_split

ML25M = SynthConfig(n_users=162_000, n_items=59_000, n_ratings=25_000_000, seed=0)
SHAPE_76M = SynthConfig(n_users=70_000, n_items=10_700, n_ratings=7_600_000, seed=0)
ML100K = Path(
    os.environ.get(
        "RECBENCH_ML100K", Path(__file__).resolve().parents[2] / "shared/datasets/ml-100k/u.data"
    )
)
FIVE = [
    AlgoSpec("popularity"),
    AlgoSpec("baseline"),
    AlgoSpec("svd"),
    AlgoSpec("als"),
    AlgoSpec("item-knn"),
]
KEY = ["algorithm", "fold", "metric", "k", "value"]


def peak_gb() -> float:
    """Peak resident memory of this process so far (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def say(line: str) -> None:
    print(line, flush=True)


def synthetic(cfg: SynthConfig, name: str) -> Dataset:
    """A synthetic Dataset built in memory (no registration, no Parquet)."""
    frame = generate(cfg)
    return build_dataset(name, frame, checksum=f"{name}-{cfg.seed}", rating_scale=(1.0, 5.0))


def part_synth(cfg: SynthConfig) -> None:
    t0 = time.perf_counter()
    rows = 0
    for chunk in generate_chunks(cfg):
        rows += len(chunk)
    wall = time.perf_counter() - t0
    say(
        f"synth: {rows:,} ratings ({cfg.n_users:,} users x {cfg.n_items:,} items) generated in "
        f"{wall:.1f} s; peak RSS {peak_gb():.2f} GB"
    )


def _timed_eval(model: Any, split: Any, fast: bool) -> tuple[float, Any]:
    ranking.ENABLED = fast
    try:
        t0 = time.perf_counter()
        res = evaluate(model, split, EvalConfig(ks=(10,)))
        return time.perf_counter() - t0, res
    finally:
        ranking.ENABLED = True


def part_ranking(als_iterations: int) -> None:
    t0 = time.perf_counter()
    ds = synthetic(SHAPE_76M, "synth-7.6M")
    say(f"ranking: {ds.describe()} built in {time.perf_counter() - t0:.1f} s")
    split = make_split(ds, parse_split("holdout:0.2"), seed=0)
    rows = []
    for name, params in (("popularity", {}), ("als", {"iterations": als_iterations})):
        model = plugins.make(name, params, seed=0)
        t0 = time.perf_counter()
        model.fit(split.train)
        fit_s = time.perf_counter() - t0
        plain_s, plain = _timed_eval(model, split, fast=False)
        fast_s, fast = _timed_eval(model, split, fast=True)
        same = plain.metrics == fast.metrics
        rows.append((name, fit_s, plain_s, fast_s, plain_s / fast_s, same, plain.n_ranked_users))
    say(
        f"  cores available: {ranking.cores()}; OPENBLAS_NUM_THREADS="
        f"{os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}"
    )
    say(f"  {'model':<11}{'fit s':>8}{'plain s':>10}{'fast s':>9}{'speed-up':>10}  same metrics")
    for name, fit_s, plain_s, fast_s, ratio, same, _n in rows:
        say(f"  {name:<11}{fit_s:>8.1f}{plain_s:>10.1f}{fast_s:>9.1f}{ratio:>9.1f}x  {same}")
    say(f"  ({rows[0][6]:,} users ranked over {ds.n_items:,} items; peak RSS {peak_gb():.2f} GB)")


def _ml100k() -> Dataset:
    if ML100K.is_file():
        spec = DatasetSpec(str(ML100K), "user,item,rating,timestamp", "\t")
        return load_dataset(spec, None)
    return load_dataset("ml-latest-small")


def part_workers() -> None:
    ds = _ml100k()
    spec = parse_split("kfold:5")
    t0 = time.perf_counter()
    serial = executors.run_experiment(ds, spec, FIVE, 0)
    serial_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with executors.make_executor(workers=2) as ex:
        up_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        par = executors.run_experiment(ds, spec, FIVE, 0, executor=ex)
        run_s = time.perf_counter() - t1
    total_s = time.perf_counter() - t0
    same = (
        serial.results[KEY].reset_index(drop=True).equals(par.results[KEY].reset_index(drop=True))
    )
    say(f"workers: {ds.describe()}, kfold:5, {', '.join(a.label for a in FIVE)}")
    say(f"  serial (in process)          {serial_s:7.1f} s")
    say(f"  --workers 2 (incl. start-up) {total_s:7.1f} s  = {total_s / serial_s:.2f}x serial")
    say(
        f"  --workers 2 (cells only)     {run_s:7.1f} s  = {run_s / serial_s:.2f}x serial "
        f"(cluster start {up_s:.1f} s)"
    )
    say(f"  identical metrics: {same}; cores: {ranking.cores()}")


def part_ml25m() -> None:
    t0 = time.perf_counter()
    ds = synthetic(ML25M, "synth-ml25m")
    say(
        f"ml25m: {ds.describe()} built in {time.perf_counter() - t0:.1f} s, "
        f"peak RSS {peak_gb():.2f} GB"
    )
    algos = [*FIVE, AlgoSpec("ease")]
    times: dict[str, float] = {}
    last = [time.perf_counter()]

    def on_event(ev: Any) -> None:
        if ev.kind == "cell-start":
            last[0] = time.perf_counter()
        elif ev.kind == "cell-done":
            times[ev.algorithm] = times.get(ev.algorithm, 0.0) + time.perf_counter() - last[0]
            say(f"  {ev.algorithm}: {times[ev.algorithm]:.0f} s, peak RSS {peak_gb():.2f} GB")

    t0 = time.perf_counter()
    res = executors.run_experiment(
        ds, parse_split("user-holdout:0.2"), algos, 0, EvalConfig(ks=(10,)), on_event
    )
    say(f"  total {time.perf_counter() - t0:.0f} s; unable: {res.unable}")
    summary = res.summary()
    say(summary[summary["metric"].isin(["ndcg", "rmse"])].to_string(index=False))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["synth", "ranking", "workers", "ml25m"], action="append")
    parser.add_argument("--als-iterations", type=int, default=15)
    parser.add_argument("--synth-ratings", type=int, default=ML25M.n_ratings)
    args = parser.parse_args(argv)
    parts = args.only or ["ranking", "workers", "synth"]
    pd.set_option("display.width", 160)
    np.set_printoptions(linewidth=160)
    for part in parts:
        if part == "synth":
            cfg = SynthConfig(
                n_users=ML25M.n_users, n_items=ML25M.n_items, n_ratings=args.synth_ratings
            )
            part_synth(cfg)
        elif part == "ranking":
            part_ranking(args.als_iterations)
        elif part == "workers":
            part_workers()
        elif part == "ml25m":
            part_ml25m()
    if "ml25m" not in parts:
        say("ml25m: not run by default (hours on 2 cores); `--only ml25m` runs it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
