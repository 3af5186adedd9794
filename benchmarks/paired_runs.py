"""Paired test between algorithms recorded in different runs (or different stores).

``recbench compare --baseline`` tests rows of one table. When two rows were run apart (one on a
GPU machine, one here), export each run's per-user values (``recbench runs export RUN --table
per_user -o FILE.csv``) and pair them here on the test user: the same randomization test and
interval as ``compare --baseline`` (recbench.stats.paired), Holm-adjusted over the metrics.
Both runs must be of the same dataset checksum and split (the caller's responsibility: the
files carry no manifest).

Example: ``python benchmarks/paired_runs.py a.csv:bspm b.csv:lightgcn --metrics recall@20,ndcg@20``
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from recbench.stats.correction import adjust_pvalues
from recbench.stats.paired import DEFAULT_ROUNDS, paired_test


def _values(spec: str, metrics: list[str]) -> pd.DataFrame:
    path, _, algo = spec.rpartition(":")
    frame = pd.read_csv(path)
    frame = frame[frame["algorithm"] == algo]
    if frame.empty:
        raise SystemExit(f"{path} has no per-user rows of {algo}")
    # a user's mean over the folds / seeds that tested them, as compare pairs them
    return frame.groupby("user")[metrics].mean()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", help="FILE.csv:ALGORITHM (the one tested)")
    ap.add_argument("b", help="FILE.csv:ALGORITHM (the baseline)")
    ap.add_argument("--metrics", default="recall@20,ndcg@20")
    args = ap.parse_args(argv)
    metrics = args.metrics.split(",")
    a, b = _values(args.a, metrics), _values(args.b, metrics)
    users = a.index.intersection(b.index)
    print(f"{len(users):,} users in both ({len(a):,} and {len(b):,})")
    results = [paired_test(a.loc[users, m].to_numpy(), b.loc[users, m].to_numpy()) for m in metrics]
    adjusted = adjust_pvalues(np.array([r.p for r in results]), "holm")
    floor = f"< {1 / DEFAULT_ROUNDS:.0e} (no sign flip of {DEFAULT_ROUNDS:,} as extreme)"
    for m, r, p in zip(metrics, results, adjusted, strict=True):
        shown = f"p = {r.p:.2g} (Holm {p:.2g})" if r.p > 0 else f"p {floor}"
        print(
            f"{m}: {a.loc[users, m].mean():.4f} vs {b.loc[users, m].mean():.4f}, difference "
            f"{r.mean_diff:+.4f} [{r.low:+.4f}, {r.high:+.4f}], {shown}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
