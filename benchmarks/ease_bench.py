"""EASE's fit, in-place float32 Cholesky vs the former float64 LU inverse: ``make bench-ease``.

On ml-latest-small (bundled; ``holdout:0.2``, seed 0) the item-item weights are computed both
ways, ``--repeats`` times each, alternating, in this process: the LU path as recbench had it
(``scipy.linalg.inv`` of the float64 Gram, three n x n float64 matrices) and today's
(:func:`recbench.algorithms.ease.ease_weights`: one float32 buffer, LAPACK potrf + potri in
place). Printed: median seconds of each, the ratio, the largest weight difference, and whether
every test user's top-10 list is the same up to float32 ties (items whose exact scores lie within
``1e-5`` of the tenth's may trade places). Run with ``OPENBLAS_NUM_THREADS=1`` (the Makefile
exports it) or with the user's threads. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from recbench.algorithms.ease import ease_weights
from recbench.data.loading import load_dataset
from recbench.metrics.topk import mask_seen, top_k
from recbench.split import make_split, parse_split

L2 = 500.0


def ease_weights_lu(x: sp.csr_array, l2: float) -> np.ndarray:
    """recbench's former EASE fit: float64 Gram, general (LU) inverse, float64 B."""
    gram = (x.T @ x).toarray().astype(np.float64)
    gram[np.diag_indices_from(gram)] += l2
    p = scipy.linalg.inv(gram, overwrite_a=True, check_finite=False)
    del gram
    diag = np.diag(p).copy()
    p /= -diag[None, :]
    p[np.diag_indices_from(p)] = 0.0
    return p


def same_lists_up_to_ties(
    x: sp.csr_array, exact: np.ndarray, fast: np.ndarray, users: np.ndarray, k: int = 10
) -> tuple[int, int]:
    """(users whose top-k from ``fast`` differs from ``exact``'s beyond ties, users checked)."""
    bad = 0
    for start in range(0, len(users), 256):
        ub = users[start : start + 256]
        ref = np.asarray(x[ub] @ exact)
        got = np.asarray(x[ub] @ fast, dtype=np.float32)
        mask_seen(ref, x, ub)
        mask_seen(got, x, ub)
        lists, _ = top_k(got, k)
        tenth = -np.sort(-ref, axis=1)[:, k - 1]
        for row, r, t in zip(lists, ref, tenth, strict=True):
            must = set(np.flatnonzero(r > t + 1e-5))
            may = set(np.flatnonzero(r >= t - 1e-5))
            bad += not (must <= set(row.tolist()) <= may)
    return bad, len(users)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="fits of each path")
    args = parser.parse_args(argv)
    ds = load_dataset("ml-latest-small")
    split = make_split(ds, parse_split("holdout:0.2"), seed=0)
    x = sp.csr_array(split.train.interactions.csr("binary"), dtype=np.float64)
    print(f"ease: {split.train.describe()}; l2={L2:g}; OPENBLAS_NUM_THREADS="
          f"{os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}", flush=True)  # fmt: skip
    times: dict[str, list[float]] = {"lu float64": [], "cholesky float32": []}
    weights: dict[str, np.ndarray] = {}
    for _ in range(args.repeats):
        for name, fn in (("lu float64", ease_weights_lu), ("cholesky float32", ease_weights)):
            t0 = time.perf_counter()
            weights[name] = fn(x, L2)
            times[name].append(time.perf_counter() - t0)
    lu, ch = (statistics.median(times[n]) for n in times)
    for name, ts in times.items():
        each = ", ".join(f"{t:.2f}" for t in ts)
        print(f"  {name:<17} median {statistics.median(ts):6.2f} s  ({each})")
    diff = float(np.max(np.abs(weights["lu float64"] - weights["cholesky float32"])))
    users = np.unique(split.test.user).astype(np.int64)
    bad, n = same_lists_up_to_ties(x, weights["lu float64"], weights["cholesky float32"], users)
    print(f"  speed-up {lu / ch:.2f}x; max |B_lu - B_chol| {diff:.2e}; top-10 lists differing "
          f"beyond float32 ties: {bad} of {n} users", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
