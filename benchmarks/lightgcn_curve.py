"""LightGCN on a given split: its learning curve (validation Recall@20 by epoch) and timings.

``recbench compare`` gives the test table; this script fits the same plugin with the same
parameters and seed and prints the curve the fit kept (``curve_``: epoch, validation Recall@20
on the share of each user's training items the fit held out), the epoch it kept, and the
seconds per epoch, so the README can show how training went. The test file is not read by the
fit; this script reads only the training part.

Example: ``python benchmarks/lightgcn_curve.py ../shared/datasets/gowalla-lightgcn
-p device=cuda -p max_seconds=300 --json curve.json``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from recbench.algorithms import plugins
from recbench.data.loading import load_dataset
from recbench.split import given_split


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("-p", "--param", action="append", default=[], help="NAME=VALUE")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    params = {
        k: json.loads(v) if v[:1].isdigit() or v[:1] == "-" else v
        for k, v in (p.split("=", 1) for p in args.param)
    }
    split = given_split(load_dataset(str(args.dataset)))
    model = plugins.make("lightgcn", params, seed=args.seed)
    epochs: list[tuple[int, float]] = []
    start = time.perf_counter()

    def step(epoch: int, of: int, loss: float) -> None:
        epochs.append((epoch, time.perf_counter() - start))
        print(f"epoch {epoch}: loss {loss:.4f}, {epochs[-1][1]:.0f} s", flush=True)

    model.fit(split.train, step)
    fit_s = time.perf_counter() - start
    curve = [(int(e), float(r)) for e, r in model.curve_]  # type: ignore[attr-defined]
    for e, r in curve:
        print(f"valid Recall@20 epoch {e}: {r:.4f}")
    out = {
        "params": model.config.model_dump(),
        "curve": curve,
        "epoch_wall": epochs,
        "kept_epoch": int(model.epochs_run_),  # type: ignore[attr-defined]
        "fit_s": fit_s,
    }
    print(f"kept epoch {out['kept_epoch']} of {len(epochs)}, fit {fit_s:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
