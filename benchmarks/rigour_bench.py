"""Section 8 of ``make bench``: what intervals and significance tests add to a comparison.

Times ``recbench compare --split user-holdout:0.25 --algos ease,item-knn,user-knn,als,popularity
--baseline ease`` in its two parts: the experiment (split, fit, evaluate: what the table reports)
and :func:`recbench.significance.analyse` (a BCa bootstrap interval for every cell, paired
randomization tests of every algorithm against EASE on every column, Holm over the table). The
target is that the statistics cost under 10% of the comparison they annotate. Nothing asserted.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.table import Table

from recbench.data.model import Dataset
from recbench.evaluation import EvalConfig
from recbench.executors import run_cells
from recbench.experiment import AlgoSpec
from recbench.render import DEFAULT_METRICS
from recbench.significance import StatsOptions, analyse
from recbench.split import parse_split

SPLIT = "user-holdout:0.25"
ALGOS = ("ease", "item-knn", "user-knn", "als", "popularity")
TARGET = 0.10


def run(console: Console, dataset: Dataset, seed: int = 0) -> None:
    algos = [AlgoSpec(a) for a in ALGOS]
    t0 = time.perf_counter()
    res = run_cells(dataset, parse_split(SPLIT), algos, seed, EvalConfig(ks=(10,)))
    compare_s = time.perf_counter() - t0
    table = Table(
        title=f"compare {SPLIT} --algos {','.join(ALGOS)} --baseline ease ({dataset.name})",
        title_justify="left",
        title_style="bold",
    )
    for col in ("statistics", "seconds", "compare seconds", "share of compare", "target"):
        table.add_column(col, justify="left" if col == "statistics" else "right")
    for label, opts in (
        ("intervals only (default --ci)", StatsOptions(seed=seed)),
        ("intervals + --baseline ease", StatsOptions(baseline="ease", seed=seed)),
    ):
        stats = analyse(res, opts, DEFAULT_METRICS)
        share = stats.seconds / compare_s
        ok = "[bold green]PASS[/]" if share < TARGET else "[bold red]MISS[/]"
        cells = (f"{stats.seconds:.2f}", f"{compare_s:.2f}", f"{share:.1%}")
        table.add_row(label, *cells, f"< {TARGET:.0%} {ok}")
    console.print(table)
    console.print(
        f"  {len(stats.comparisons)} comparisons, {len(stats.intervals)} intervals; "
        "fit + evaluation dominate, the statistics reuse the per-user values already kept."
    )
