"""Dataset loading benchmark: a generated Netflix-Prize-format file of 10M ratings.

Measures, each step in a fresh subprocess so one step's memory cannot hide another's:

1. parse: ``recbench.data.netflix.read_netflix`` (vectorised, bounded blocks) -> time and peak
   memory;
2. first load: ``load_dataset(path, cache_dir)`` = hash + parse + id maps + dedup + Parquet cache
   write -> time and peak memory;
3. cached load: the same call again (median of 5) -> time; target: first / cached >= 10x.

Peak memory is the growth of the process's peak resident set size across the step: the
high-water mark (``VmHWM`` in ``/proc/self/status``) is reset to the current RSS through
``/proc/self/clear_refs`` just before the step (imports done), read just after it, and the RSS
before the step subtracted. It is compared with the in-memory size of the canonical ratings
frame (``DataFrame.memory_usage(deep=True)``: int64 user and item, float32 rating, int64
timestamp = 28 bytes per rating); target: parse peak < 3x. RSS counts pyarrow's allocations,
which tracemalloc would miss. ``getrusage(...).ru_maxrss`` is only a fallback off Linux: after
fork + exec it starts at the *parent's* peak, which would hide the child's growth.

Run: ``.venv/bin/python benchmarks/datasets_bench.py [--ratings N]`` or call ``run(console)``.
Nothing is asserted: the figures are printed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
N_RATINGS = 10_000_000
N_MOVIES = 17_770
N_USERS = 480_189
CACHED_LOADS = 5
RATIO_TARGET = 10.0
MEMORY_TARGET = 3.0


def generate_netflix(path: Path, n: int, seed: int = 0) -> None:
    """Write ``n`` random ratings in Netflix-Prize layout (``MovieID:`` blocks), vectorised.

    Movies are Zipf-like popular, customer ids are spread over the real id range, dates span
    the Prize's years. Each chunk of movies becomes one Arrow table whose first column holds
    either ``123:`` (a movie line) or a customer id; pyarrow writes it as CSV and the empty
    rating/date fields of movie lines are stripped with one ``bytes.replace``.
    """
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, N_MOVIES + 1) ** 0.8
    counts = rng.multinomial(n, weights / weights.sum())
    movies = np.flatnonzero(counts) + 1
    counts = counts[counts > 0]
    customer_ids = np.sort(rng.choice(2_649_430, N_USERS, replace=False)) + 1
    day0 = 10_906  # 1999-11-11 in days since the epoch
    with path.open("wb") as fh:
        for part in np.array_split(np.arange(len(movies)), 20):
            m, c = movies[part], counts[part]
            rows = int(c.sum())
            header_at = np.concatenate([[0], np.cumsum(c[:-1] + 1)])  # line of each "m:"
            total = rows + len(m)
            is_header = np.zeros(total, dtype=bool)
            is_header[header_at] = True
            users = pa.array(customer_ids[rng.integers(0, N_USERS, rows)]).cast(pa.string())
            headers = pa.array([f"{x}:" for x in m])  # one per movie, not per rating
            where = np.empty(total, dtype=np.int64)
            where[~is_header] = np.arange(rows)
            where[is_header] = rows + np.arange(len(m))
            first = pa.concat_arrays([users, headers]).take(pa.array(where))
            rating = np.zeros(total, dtype=np.int8)
            rating[~is_header] = rng.integers(1, 6, rows)
            day = np.zeros(total, dtype=np.int32)
            day[~is_header] = day0 + rng.integers(0, 2_243, rows)
            table = pa.table(
                {
                    "a": first,
                    "b": pa.array(rating, mask=is_header),
                    "c": pa.array(day, mask=is_header).cast(pa.date32()),
                }
            )
            sink = pa.BufferOutputStream()
            pacsv.write_csv(
                table, sink, pacsv.WriteOptions(include_header=False, quoting_style="none")
            )
            fh.write(sink.getvalue().to_pybytes().replace(b":,,\n", b":\n"))


_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
import numpy as np, pandas as pd, pyarrow
from recbench.data import load_dataset
from recbench.data.netflix import read_netflix
step, path, cache = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
def start():
    # Reset the high-water mark to the current RSS (Linux), then read the baseline.
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return status("VmRSS")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
def peak():
    try:
        return status("VmHWM")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
out = {}
if step == "parse":
    base = start(); t = time.perf_counter()
    frame = read_netflix(path)
    out.update(seconds=time.perf_counter() - t, peak=peak() - base, rows=len(frame),
               frame_bytes=int(frame.memory_usage(deep=True).sum()))
elif step == "first":
    base = start(); t = time.perf_counter()
    ds = load_dataset(str(path), data_dir=cache)
    out.update(seconds=time.perf_counter() - t, peak=peak() - base, rows=len(ds.interactions),
               users=ds.n_users, items=ds.n_items, dups=ds.source["duplicates_dropped"])
else:
    times = []
    for _ in range(int(sys.argv[4])):
        t = time.perf_counter(); ds = load_dataset(str(path), data_dir=cache)
        times.append(time.perf_counter() - t)
    out.update(times=times, rows=len(ds.interactions))
print(json.dumps(out))
"""


def _child(step: str, path: Path, cache: Path, *extra: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, step, str(path), str(cache), *extra],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{step} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(console: Console, n_ratings: int = N_RATINGS) -> dict[str, float]:
    """Generate, parse, load, reload; print a rich table; return the figures."""
    with tempfile.TemporaryDirectory(prefix="recbench-datasets-bench-") as tmp:
        path = Path(tmp) / "combined_data_1.txt"
        cache = Path(tmp) / "cache"
        t = time.perf_counter()
        generate_netflix(path, n_ratings)
        gen_s = time.perf_counter() - t
        size = path.stat().st_size
        parse = _child("parse", path, cache)
        first = _child("first", path, cache)
        cached = _child("cached", path, cache, str(CACHED_LOADS))
    cached_s = statistics.median(cached["times"])
    frame = parse["frame_bytes"]
    figures = {
        "ratings": float(parse["rows"]),
        "file_mb": size / 1e6,
        "generate_s": gen_s,
        "parse_s": parse["seconds"],
        "parse_mratings_per_s": parse["rows"] / parse["seconds"] / 1e6,
        "first_load_s": first["seconds"],
        "cached_load_s": cached_s,
        "first_to_cached": first["seconds"] / cached_s,
        "frame_mb": frame / 2**20,
        "parse_peak_mb": parse["peak"] / 2**20,
        "parse_peak_x": parse["peak"] / frame,
        "first_load_peak_x": first["peak"] / frame,
    }
    ok = "[green]met[/]"
    miss = "[red]missed[/]"
    t = Table(title=f"recbench dataset loading: Netflix-Prize format, {parse['rows']:,} ratings")
    t.add_column("measure")
    t.add_column("value", justify="right")
    t.add_column("target", justify="right")
    t.add_row(f"file (generated in {gen_s:.1f} s)", f"{size / 1e6:,.0f} MB", "")
    t.add_row(
        "parse (read_netflix)",
        f"{parse['seconds']:.2f} s ({figures['parse_mratings_per_s']:.1f} M ratings/s)",
        "",
    )
    t.add_row(
        "first load (hash + parse + build + cache write)",
        f"{first['seconds']:.2f} s",
        "",
    )
    t.add_row(
        f"cached load (median of {CACHED_LOADS})",
        f"{cached_s:.3f} s",
        "",
    )
    ratio = figures["first_to_cached"]
    t.add_row(
        "first load / cached load",
        f"{ratio:.1f}x",
        f">= {RATIO_TARGET:g}x {ok if ratio >= RATIO_TARGET else miss}",
    )
    t.add_row("ratings frame in memory", f"{frame / 2**20:,.0f} MiB", "")
    px = figures["parse_peak_x"]
    t.add_row(
        "parse peak memory (RSS growth)",
        f"{parse['peak'] / 2**20:,.0f} MiB = {px:.2f}x frame",
        f"< {MEMORY_TARGET:g}x {ok if px < MEMORY_TARGET else miss}",
    )
    t.add_row(
        "first load peak memory (RSS growth)",
        f"{first['peak'] / 2**20:,.0f} MiB = {figures['first_load_peak_x']:.2f}x frame",
        "",
    )
    t.add_row(
        "dataset",
        f"{first['users']:,} users, {first['items']:,} items, {first['dups']:,} dup pairs",
        "",
    )
    t.caption = (
        "Each step runs in a fresh subprocess; memory = growth of peak RSS across the step "
        "(VmHWM reset via /proc/self/clear_refs), so pyarrow's allocations count. Frame = "
        "canonical user/item int64, rating float32, timestamp int64."
    )
    console.print(t)
    return figures


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ratings", type=int, default=N_RATINGS, help="ratings to generate")
    args = ap.parse_args()
    run(Console(), args.ratings)
