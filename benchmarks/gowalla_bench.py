"""Graph CF and linear baselines on LightGCN's Gowalla split: ``make bench-gowalla``.

Reads ``../shared/datasets/gowalla-lightgcn/train.txt`` and ``test.txt`` (one user per line,
``user item item ...``; LightGCN's own files, never committed) straight into recbench's
``Dataset`` and ``Split``, then for each model: fit, full ranking of every test user with the
training items excluded, Recall@20 and NDCG@20 by recbench's metric code (hits / |R|; binary
gains, ideal DCG over min(K, |R|), as LightGCN's evaluation), each with a 95% BCa bootstrap
interval over users, fit and score seconds and peak RSS. Each model runs in its own process, so
its peak memory is its own. Hyperparameters are the published defaults (``MODELS``), never
chosen on test.txt. Skips with a message when the files are absent. Nothing is asserted.

``--valid`` never reads test.txt: it carves a validation split from train.txt (``user-holdout:0.2``,
seed 0: a fifth of each user's training items) and evaluates on that, so parameters given with
``--params`` can be chosen there and only then run on the test file.

    python benchmarks/gowalla_bench.py [--only gf-cf,rp3beta] [--data DIR] [--valid]
        [--params '{"beta": 0.3}']
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from recbench.algorithms import make
from recbench.data.idmap import IdMap
from recbench.data.model import Dataset, Interactions
from recbench.evaluation import EvalConfig, evaluate
from recbench.split import Split, make_split, parse_split
from recbench.stats.intervals import bootstrap_ci

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "gowalla-lightgcn"
#: model -> parameters (published defaults; none chosen on the test file)
MODELS: dict[str, dict[str, Any]] = {
    "popularity": {},
    # Shen et al. 2021: 256 singular vectors, ideal low-pass weight 0.3
    "gf-cf": {"alpha": 0.3, "vectors": 256},
    # Choi et al. 2023's Gowalla command: 448 vectors, idl_beta 0.2, T_b 1 K_b 1, T_s 2.5 in one
    # rk4 step, early merge (bspm's defaults)
    "bspm": {},
    # recbench's defaults (Dacrema et al. 2019's ranges; see rp3beta's module notes)
    "rp3beta": {},
    # EASE's large-catalogue path: float32 in-place Cholesky inverse
    "ease": {"l2": 500.0, "max_memory_gb": 10.0},
}
K = 20


def read_lists(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(user, item) int32 arrays from a LightGCN-format file (``user item item ...``)."""
    users: list[np.ndarray] = []
    items: list[np.ndarray] = []
    with path.open() as fh:
        for line in fh:
            parts = line.split()
            if len(parts) < 2:
                continue
            its = np.asarray(parts[1:], dtype=np.int32)
            users.append(np.full(len(its), int(parts[0]), dtype=np.int32))
            items.append(its)
    return np.concatenate(users), np.concatenate(items)


#: the validation carve of ``--valid``: a fifth of each user's training items, seeded
VALID = "user-holdout:0.2"


def gowalla_split(data: Path, valid: bool = False) -> Split:
    """LightGCN's given Gowalla split as a recbench Split (ids are already dense indices); with
    ``valid``, a validation split carved from train.txt alone instead."""
    tr_u, tr_i = read_lists(data / "train.txt")
    if valid:
        ds = _dataset(tr_u, tr_i, np.zeros(0, np.int32), np.zeros(0, np.int32))[0]
        return make_split(ds, parse_split(VALID), seed=0)
    te_u, te_i = read_lists(data / "test.txt")
    ds, test = _dataset(tr_u, tr_i, te_u, te_i)
    return Split(ds, test, "given", 0, "LightGCN's given train/test split", spec="given")


def _dataset(
    tr_u: np.ndarray, tr_i: np.ndarray, te_u: np.ndarray, te_i: np.ndarray
) -> tuple[Dataset, Interactions]:
    n_users = int(max(tr_u.max(), te_u.max(initial=0))) + 1
    n_items = int(max(tr_i.max(), te_i.max(initial=0))) + 1
    users, items = IdMap(np.arange(n_users)), IdMap(np.arange(n_items))
    train = Interactions(tr_u, tr_i, None, None, users, items)
    test = Interactions(te_u, te_i, None, None, users, items)
    return Dataset("gowalla-lightgcn", train, checksum="gowalla-lightgcn-given"), test


def peak_rss_gb() -> float:
    """Peak resident memory of this process (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def run_one(name: str, data: Path, valid: bool, params: dict[str, Any]) -> dict[str, Any]:
    """Fit and evaluate one model in this process; the figures as a dict."""
    split = gowalla_split(data, valid)
    params = {**MODELS.get(name, {}), **params}
    model = make(name, params, seed=0)
    t0 = time.perf_counter()
    model.fit(split.train)
    fit_s = time.perf_counter() - t0
    result = evaluate(model, split, EvalConfig(ks=(K,)))
    row: dict[str, Any] = {
        "model": name,
        "params": params,
        "fit_s": round(fit_s, 1),
        "score_s": round(result.score_seconds, 1),
        "users": result.n_ranked_users,
        "peak_rss_gb": round(peak_rss_gb(), 2),
    }
    for metric in ("recall", "ndcg"):
        ci = bootstrap_ci(result.per_user[f"{metric}@{K}"].to_numpy(), seed=0)
        row[f"{metric}@{K}"] = [round(ci.mean, 4), round(ci.low, 4), round(ci.high, 4)]
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder with train/test.txt")
    parser.add_argument("--only", default=",".join(MODELS), help="comma-separated models")
    parser.add_argument("--valid", action="store_true", help=f"evaluate on {VALID} of train.txt")
    parser.add_argument("--params", default="{}", help="JSON parameters for every model run")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # the child process: one model
    args = parser.parse_args(argv)
    params = json.loads(args.params)
    if not (args.data / "train.txt").is_file() or not (args.data / "test.txt").is_file():
        print(f"gowalla: skipped, no train.txt/test.txt in {args.data}")
        return 0
    if args.one:
        print(json.dumps(run_one(args.one, args.data, args.valid, params)), flush=True)
        return 0
    split = gowalla_split(args.data, args.valid)
    what = f"validation ({VALID} of train.txt)" if args.valid else "test"
    print(
        f"gowalla: {split.train.n_users:,} users x {split.train.n_items:,} items, "
        f"{len(split.train.interactions):,} train / {len(split.test):,} {what} interactions; "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}",
        flush=True,
    )
    del split
    print(f"{'model':<12} {'recall@20 [95% CI]':<26} {'ndcg@20 [95% CI]':<26} "
          f"{'fit s':>7} {'score s':>8} {'peak GB':>8}", flush=True)  # fmt: skip
    for name in args.only.split(","):
        cmd = [sys.executable, __file__, "--data", str(args.data), "--one", name]
        cmd += ["--params", args.params] + (["--valid"] if args.valid else [])
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
            print(f"{name:<12} failed (exit {done.returncode}): {last}", flush=True)
            continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        cells = [
            f"{m:.4f} [{lo:.4f}, {hi:.4f}]" for m, lo, hi in (row["recall@20"], row["ndcg@20"])
        ]
        extra = f"  {json.dumps(params)}" if params else ""
        print(f"{name:<12} {cells[0]:<26} {cells[1]:<26} {row['fit_s']:>7.1f} "
              f"{row['score_s']:>8.1f} {row['peak_rss_gb']:>8.2f}{extra}", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
