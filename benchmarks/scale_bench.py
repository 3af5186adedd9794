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
  LocalCluster of 2 processes: end to end as ``recbench compare [--workers 2]`` processes
  (start-up included), alternating, and the cells alone with the cluster up; medians, the
  load average, metrics checked equal (``--workers-heavy``: also a heavier set, labelled).
- ``netflix``: the Netflix Prize shape (480k users x 17.8k items, 100M ratings; opt-in) along a
  user's path: ``recbench datasets synth`` in a child process (generate to Parquet, register,
  build and cache), ``load_dataset(name)`` from the Parquet cache as ``compare`` does,
  ``user-holdout:0.2``, popularity and ALS (default factors; ``--netflix-als-iterations``) fitted
  and evaluated at 10: wall, CPU and peak RSS (sampled) per step, ``ru_maxrss`` of this process
  and of the child. ``--netflix-ratings`` scales it down (same users and items); ``--data-dir``
  keeps the generated set and reuses it when the parameters match.
- ``ml25m``: ML-25M-shape ``compare --split user-holdout:0.2`` of popularity, ALS, item-kNN,
  SVD and baseline plus EASE (which refuses with its memory need), on a Dask LocalCluster of
  ``--ml25m-workers`` processes (default 2; 1 runs in process): fit and evaluation seconds per
  algorithm, total wall, peak RSS of this process, of the largest worker and of all together,
  cores, the metrics table. ``--ml25m-algos`` / ``--ml25m-ratings`` run a subset or a smaller
  set to estimate. Surprise's SVD alone is 20M ratings x 20 epochs; opt-in only.

Run with ``OPENBLAS_NUM_THREADS=1`` (the Makefile exports it). Data: synthetic (no download);
ml-100k from ``<repo>/../shared/datasets/ml-100k/u.data`` (``RECBENCH_ML100K``), else the
bundled ml-latest-small.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import threading
import time
from dataclasses import replace
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
#: the Netflix Prize shape (the ratings count can be lowered with --netflix-ratings)
NETFLIX = SynthConfig(n_users=480_189, n_items=17_770, n_ratings=100_480_507, seed=0)
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


#: a heavier five-algorithm set, where the cluster's start-up is a smaller share of the run
HEAVY = [
    AlgoSpec("svd"),
    AlgoSpec("item-knn"),
    AlgoSpec("user-knn"),
    AlgoSpec("ease"),
    AlgoSpec("als"),
]


def _compare_cli(algos: list[AlgoSpec], data_dir: Path, workers: int | None) -> list[str]:
    """The ``recbench compare`` command a user types (the console script when installed)."""
    script = Path(sys.executable).with_name("recbench")
    cmd = [str(script)] if script.is_file() else [sys.executable, "-m", "recbench"]
    data = ["-d", str(ML100K), "--columns", "user,item,rating,timestamp", "--sep", "\t"]
    cmd += ["-q", "--data-dir", str(data_dir), "compare", *(data if ML100K.is_file() else [])]
    cmd += ["--algos", ",".join(a.label for a in algos), "--split", "kfold:5"]
    cmd += ["--no-store", "--format", "json"]
    return cmd + (["--workers", str(workers)] if workers else [])


def _timed_cli(cmd: list[str]) -> tuple[float, float, list[tuple[Any, ...]]]:
    """(wall s, load average when it started, the result rows) of one CLI process."""
    import json
    import subprocess

    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    wall = time.perf_counter() - t0
    rows = [(r["algorithm"], r["fold"], r["metric"], r["k"], r["value"])
            for r in json.loads(out)["rows"]]  # fmt: skip
    return wall, load, rows


def part_workers(rounds: int = 3, algos: list[AlgoSpec] | None = None, label: str = "") -> None:
    """Serial vs ``--workers 2``, alternating, ``rounds`` times each: end to end as a user runs
    ``recbench compare`` (process start, imports, data, cluster start-up, cells, exit), then
    the cells alone in this process (cluster up already). Medians; metrics checked equal."""
    import statistics
    import tempfile

    algos = algos or FIVE
    ds = _ml100k()
    spec = parse_split("kfold:5")
    say(f"workers{label}: {ds.describe()}, kfold:5, {', '.join(a.label for a in algos)}; "
        f"cores: {ranking.cores()} (os.cpu_count {os.cpu_count()}), "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")  # fmt: skip
    walls: dict[str, list[float]] = {"serial": [], "workers": []}
    cells: dict[str, list[float]] = {"serial": [], "workers": []}
    loads: list[float] = []
    same = True
    with tempfile.TemporaryDirectory(prefix="recbench-bench-") as tmp:
        serial_cmd = _compare_cli(algos, Path(tmp), None)
        workers_cmd = _compare_cli(algos, Path(tmp), 2)
        _timed_cli(serial_cmd)  # warm-up: imports the file into the data directory's cache
        for r in range(rounds):
            order = ["serial", "workers"] if r % 2 == 0 else ["workers", "serial"]
            got = {}
            for kind in order:
                wall, load, rows = _timed_cli(serial_cmd if kind == "serial" else workers_cmd)
                walls[kind].append(wall)
                loads.append(load)
                got[kind] = rows
            same = same and got["serial"] == got["workers"]
            t0 = time.perf_counter()
            ref = executors.run_cells(ds, spec, algos, 0)
            cells["serial"].append(time.perf_counter() - t0)
            with executors.make_executor(workers=2) as ex:
                assert isinstance(ex, executors.DaskExecutor)
                ex.client  # noqa: B018 - the cluster is up before the clock starts
                t0 = time.perf_counter()
                par = executors.run_cells(ds, spec, algos, 0, executor=ex)
                cells["workers"].append(time.perf_counter() - t0)
                up_s = ex.startup_seconds or 0.0
            same = same and ref.results[KEY].reset_index(drop=True).equals(
                par.results[KEY].reset_index(drop=True)
            )
            say(f"  round {r + 1}: end to end serial {walls['serial'][-1]:.1f} s, --workers 2 "
                f"{walls['workers'][-1]:.1f} s; cells serial {cells['serial'][-1]:.1f} s, "
                f"--workers 2 {cells['workers'][-1]:.1f} s; cluster start {up_s:.1f} s"
                f"{' (fork server up already)' if r else ''}; "
                f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
    med = {k: statistics.median(v) for k, v in walls.items()}
    cmed = {k: statistics.median(v) for k, v in cells.items()}
    pairs = [w / s for w, s in zip(walls["workers"], walls["serial"], strict=True)]
    say(f"  end to end (`recbench compare`, median of {rounds}): serial {med['serial']:.1f} s, "
        f"--workers 2 {med['workers']:.1f} s = {med['workers'] / med['serial']:.2f}x serial "
        f"(per round {', '.join(f'{x:.2f}x' for x in pairs)})")  # fmt: skip
    say(f"  cells only (in process, cluster up): serial {cmed['serial']:.1f} s, --workers 2 "
        f"{cmed['workers']:.1f} s = {cmed['workers'] / cmed['serial']:.2f}x serial")  # fmt: skip
    say(f"  identical metrics: {same}; load average (1 min) at the runs "
        f"{min(loads):.1f}..{max(loads):.1f} on {os.cpu_count()} cores")  # fmt: skip


class Step:
    """Wall time, CPU time (all threads) and peak RSS of this process during one step.

    RSS is sampled every 20 ms: ``ru_maxrss`` only ever grows, so it cannot say which step set
    the peak; the sampler can (it may miss a spike shorter than the interval, which the
    process-wide ``ru_maxrss`` printed at the end does not). ``tree_peak`` is the peak of the
    summed RSS of this process and its descendants (Dask workers), ``child_peak`` the largest
    single descendant, both sampled every 0.5 s.
    """

    def __init__(self) -> None:
        import psutil

        self._proc = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.peak = self.after = self.tree_peak = self.child_peak = 0
        self.wall = self.cpu = 0.0

    def _tree(self) -> None:
        import psutil

        total = self._proc.memory_info().rss
        for child in self._proc.children(recursive=True):
            try:
                rss = child.memory_info().rss
            except psutil.Error:  # gone meanwhile
                continue
            total += rss
            self.child_peak = max(self.child_peak, rss)
        self.tree_peak = max(self.tree_peak, total)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            if n % 25 == 0:
                self._tree()
            n += 1
            self._stop.wait(0.02)

    def __enter__(self) -> Step:
        self.peak = self._proc.memory_info().rss
        self._thread.start()
        self._t0, self._c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._t0
        self.cpu = time.process_time() - self._c0
        self._stop.set()
        self._thread.join()
        self.after = self._proc.memory_info().rss
        self.peak = max(self.peak, self.after)


def _children() -> tuple[float, float]:
    """CPU seconds of every finished child process, and the largest peak RSS among them (GB)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1e6


def _synth_matches(data_dir: Path, name: str, cfg: SynthConfig) -> bool:
    """``name`` is registered in ``data_dir`` and was generated with ``cfg``."""
    from recbench.data.synth import read_manifest
    from recbench.data.user_datasets import user_datasets

    manifest = read_manifest(data_dir, name)
    return (
        name in user_datasets(data_dir)
        and manifest is not None
        and manifest.get("parameters") == cfg.to_dict()
    )


def part_netflix(cfg: SynthConfig, data_dir: Path | None, als_iterations: int) -> None:
    """Netflix-shape synthetic set along the user's path: ``recbench datasets synth`` (a child
    process: generate to Parquet, register, build and cache), then ``load_dataset(name)`` from
    the cache as ``compare`` does, ``user-holdout:0.2``, popularity and ALS fitted and evaluated
    (ranking @10). Wall, CPU and peak RSS per step; the process's ``ru_maxrss`` at the end."""
    import shutil
    import subprocess
    import tempfile

    name = "synth-netflix"
    keep = data_dir is not None
    root = Path(data_dir) if data_dir is not None else Path(tempfile.mkdtemp(prefix="recbench-"))
    say(
        f"netflix: {cfg.n_users:,} users x {cfg.n_items:,} items, {cfg.n_ratings:,} ratings "
        f"(seed {cfg.seed}); data dir {root}; cores {ranking.cores()}, OPENBLAS_NUM_THREADS="
        f"{os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}"
    )
    say(f"  {'step':<32}{'wall s':>8}{'CPU s':>8}{'peak GB':>9}{'after GB':>10}")
    rows: list[tuple[str, float, float]] = []  # step, wall s, peak GB

    def row(step: str, wall: float, cpu: float, peak: float, after: float | None) -> None:
        rows.append((step, wall, peak))
        shown = "-" if after is None else f"{after:.2f}"
        say(f"  {step:<32}{wall:8.1f}{cpu:8.1f}{peak:9.2f}{shown:>10}")

    def stepped(step: str, s: Step) -> None:
        row(step, s.wall, s.cpu, s.peak / 1e9, s.after / 1e9)

    try:
        if _synth_matches(root, name, cfg):
            say(f"  datasets synth: reusing {name} in {root} (same parameters)")
        else:
            cmd = [
                sys.executable, "-m", "recbench", "--quiet", "--data-dir", str(root),
                "datasets", "synth", name, "--users", str(cfg.n_users),
                "--items", str(cfg.n_items), "--ratings", str(cfg.n_ratings),
                "--seed", str(cfg.seed), "--force",
            ]  # fmt: skip
            cpu0, _ = _children()
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True)
            wall = time.perf_counter() - t0
            cpu1, child_peak = _children()
            row("datasets synth (child)", wall, cpu1 - cpu0, child_peak, None)
        with Step() as s:
            ds = load_dataset(name, root)
        stepped("load_dataset (cached)", s)
        say(f"    {ds.describe()}")
        with Step() as s:
            split = make_split(ds, parse_split("user-holdout:0.2"), seed=0)
        stepped("split user-holdout:0.2", s)
        say(f"    train {len(split.train.interactions):,} ratings, test {len(split.test):,}")
        ev = EvalConfig(ks=(10,))
        for algo, params in (("popularity", {}), ("als", {"iterations": als_iterations})):
            model = plugins.make(algo, params, seed=0)
            with Step() as s:
                model.fit(split.train)
            stepped(f"{algo} fit", s)
            with Step() as s:
                res = evaluate(model, split, ev)
            stepped(f"{algo} evaluate @10", s)
            shown = ", ".join(f"{k} {v:.4f}" for k, v in sorted(res.metrics.items()))
            say(f"    {res.n_ranked_users:,} users ranked; {shown}")
            del model
        als_cfg = plugins.make("als", {"iterations": als_iterations}, seed=0).config
        say(
            f"  ALS: factors {als_cfg.factors} (default), iterations {als_cfg.iterations} "
            f"(default {type(als_cfg).model_fields['iterations'].default})"
        )
        top = max(rows, key=lambda r: r[2])
        say(
            f"  total {sum(r[1] for r in rows):.0f} s; peak RSS (ru_maxrss): this process "
            f"{peak_gb():.2f} GB, largest child {_children()[1]:.2f} GB; highest step: "
            f"{top[0]} ({top[2]:.2f} GB); load average {os.getloadavg()[0]:.1f}"
        )
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def part_ml25m(workers: int, n_ratings: int, names: list[str] | None) -> None:
    """ML-25M-shape ``compare --split user-holdout:0.2`` (in memory, as compare runs it after
    loading): per-algorithm fit + evaluation seconds (measured inside each cell, on whichever
    process ran it), total wall, peak RSS of this process and of its Dask workers, cores."""
    cfg = replace(ML25M, n_ratings=n_ratings)
    with Step() as s:
        ds = synthetic(cfg, "synth-ml25m")
    say(f"ml25m: {ds.describe()} built in {s.wall:.1f} s, peak RSS {s.peak / 1e9:.2f} GB")
    algos = [a for a in [*FIVE, AlgoSpec("ease")] if names is None or a.name in names]
    t0 = time.perf_counter()

    def on_event(ev: Any) -> None:
        if ev.kind == "cell-done":
            say(f"  {ev.algorithm} done at {time.perf_counter() - t0:.0f} s")

    ex = executors.make_executor(workers=workers if workers > 1 else None)
    with Step() as s, ex:
        res = executors.run_cells(
            ds, parse_split("user-holdout:0.2"), algos, 0, EvalConfig(ks=(10,)), on_event, ex
        )
        where = ex.description
        if isinstance(ex, executors.DaskExecutor):
            where += f" ({ex.ran_locally} cell(s) in this process while it started)"
    say(
        f"  {', '.join(a.label for a in algos)}; {where}; cores {ranking.cores()}, "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}"
    )
    cells = res.results.drop_duplicates(["algorithm", "fold"])
    say(f"  {'algorithm':<12}{'fit s':>8}{'eval s':>8}{'cell s':>8}")
    for r in cells.itertuples():
        cell_s = r.fit_seconds + r.score_seconds
        say(f"  {r.algorithm:<12}{r.fit_seconds:8.0f}{r.score_seconds:8.0f}{cell_s:8.0f}")
    for label, why in res.unable.items():
        say(f"  {label}: unable: {why}")
    say(
        f"  total wall {s.wall:.0f} s ({s.wall / 60:.1f} min); peak RSS: this process "
        f"{s.peak / 1e9:.2f} GB (ru_maxrss {peak_gb():.2f} GB), largest worker "
        f"{s.child_peak / 1e9:.2f} GB, all processes together {s.tree_peak / 1e9:.2f} GB; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    summary = res.summary()
    shown = summary[summary["metric"].isin(["ndcg", "recall", "precision", "rmse", "mae"])]
    say(shown.to_string(index=False))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", choices=["synth", "ranking", "workers", "netflix", "ml25m"], action="append"
    )
    parser.add_argument("--als-iterations", type=int, default=15)
    parser.add_argument("--synth-ratings", type=int, default=ML25M.n_ratings)
    parser.add_argument("--netflix-ratings", type=int, default=NETFLIX.n_ratings)
    parser.add_argument("--netflix-als-iterations", type=int, default=15)
    parser.add_argument("--ml25m-ratings", type=int, default=ML25M.n_ratings)
    parser.add_argument(
        "--ml25m-workers", type=int, default=2, help="ml25m: Dask worker processes (1: serial)"
    )
    parser.add_argument("--ml25m-algos", help="ml25m: a comma-separated subset (default all)")
    parser.add_argument("--workers-rounds", type=int, default=3, help="workers: runs of each")
    parser.add_argument(
        "--workers-heavy", action="store_true", help="workers: also the heavier five-algorithm set"
    )
    parser.add_argument(
        "--data-dir", type=Path, help="netflix: keep (and reuse) the generated set here"
    )
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
            part_workers(args.workers_rounds)
            if args.workers_heavy:
                part_workers(args.workers_rounds, HEAVY, " (heavier set, start-up amortised)")
        elif part == "netflix":
            cfg = SynthConfig(
                n_users=NETFLIX.n_users, n_items=NETFLIX.n_items, n_ratings=args.netflix_ratings
            )
            part_netflix(cfg, args.data_dir, args.netflix_als_iterations)
        elif part == "ml25m":
            names = args.ml25m_algos.split(",") if args.ml25m_algos else None
            part_ml25m(args.ml25m_workers, args.ml25m_ratings, names)
    for part in ("netflix", "ml25m"):
        if part not in parts:
            say(f"{part}: not run by default (long on 2 cores); `--only {part}` runs it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
