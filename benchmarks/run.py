"""recbench speed benchmarks against reference implementations, side by side, in one run.

Run with ``make bench`` (which exports OPENBLAS_NUM_THREADS=1) or directly:

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/run.py

Sections:

1. SVD top-10 over the full catalogue (recbench ``evaluate``) vs Surprise per-pair ``predict``
   (how Surprise users build top-N lists: ``build_anti_testset()`` + ``algo.test()``). Surprise is
   timed on a seeded sample of test users and extrapolated linearly to all of them.
2. ALS ranking evaluation (recbench ``evaluate``) vs ``implicit.evaluation.ranking_metrics_at_k``.
3. Dataset load: first parse (and cache write) vs cached Parquet load.
4. Fit time and top-10 for all users over the full catalogue, for every registered algorithm.
5. kNN rating predictors (basic / means / baseline) vs Surprise's KNN classes on the same folds.
6. Netflix-Prize-format parse of 10M generated ratings, first parse vs cached load, peak memory.
7. ANN (HNSW) recall@10 against exact search and queries per second, two-tower and synthetic.
8. Intervals + significance tests vs the compare they annotate (``rigour_bench.py``).

Data: ml-100k from ``<repo>/../shared/datasets/ml-100k/u.data`` (override with
``RECBENCH_ML100K``); when it is absent every section falls back to the bundled
``ml-latest-small``. Every figure is printed, nothing is asserted: the exit status is 0 unless
something crashes.
"""

from __future__ import annotations

import heapq
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from rich.console import Console
from rich.table import Table

from recbench.algorithms import plugins
from recbench.algorithms.surprise_mf import inner_to_dense, surprise_trainset
from recbench.data.loading import DatasetSpec, load_dataset
from recbench.data.model import Dataset
from recbench.evaluation import EvalConfig, evaluate
from recbench.split import Split, make_split, parse_split

SEED = 0
SPLIT = "holdout:0.2"
K = 10
SURPRISE_SAMPLE_USERS = 100
REPEATS = 3
#: seconds of training for each torch model in section 4 (max_seconds; the fit stops at the
#: first validation past it and keeps its best epoch)
TRAIN_BUDGET_S = 120.0
CACHED_LOADS = 5

SVD_TARGET = 50.0  # Surprise time / recbench time
ALS_TARGET = 1 / 1.5  # implicit time / recbench time: recbench no slower than 1.5x implicit

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ML100K = REPO.parent / "shared" / "datasets" / "ml-100k" / "u.data"
ML100K_COLUMNS = "user,item,rating,timestamp"
ML100K_SEP = "\\t"  # backslash-t; the loader decodes it

console = Console(width=None if sys.stdout.isatty() else 110, highlight=False)


# -- helpers ---------------------------------------------------------------------------------------
def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def best_of(n: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    """Fastest of ``n`` runs, and the result of the last one."""
    best, out = float("inf"), None
    for _ in range(n):
        t, out = timed(fn)
        best = min(best, t)
    return best, out


def fmt_s(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def verdict(ok: bool) -> str:
    return "[bold green]PASS[/]" if ok else "[bold red]MISS[/]"


def pkg_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def timing_table(title: str) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold")
    for col in ("measure", "recbench", "reference", "ratio (ref/recbench)", "target", "result"):
        table.add_column(col, justify="left" if col == "measure" else "right")
    return table


@dataclass(frozen=True)
class Data:
    """The benchmark dataset and how it was loaded."""

    dataset: Dataset
    spec: DatasetSpec | str
    label: str
    is_ml100k: bool


def locate_ml100k() -> Path:
    env = os.environ.get("RECBENCH_ML100K")
    return Path(env).expanduser() if env else DEFAULT_ML100K


def load_data() -> Data:
    path = locate_ml100k()
    if path.is_file():
        spec = DatasetSpec(str(path), ML100K_COLUMNS, ML100K_SEP)
        return Data(load_dataset(spec), spec, f"ml-100k ({path})", True)
    console.print(
        f"[bold yellow]ml-100k not found at {path}[/] (set RECBENCH_ML100K to its u.data). "
        "[bold yellow]Falling back to the bundled ml-latest-small for EVERY section.[/]"
    )
    return Data(load_dataset("ml-latest-small"), "ml-latest-small", "ml-latest-small", False)


def header(data: Data, split: Split) -> None:
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        affinity = os.cpu_count() or 0
    info = Table(title="recbench benchmarks", title_justify="left", title_style="bold")
    info.add_column("item")
    info.add_column("value")
    rows = [
        ("machine", f"{platform.platform()} / {platform.processor() or platform.machine()}"),
        ("cores", f"{os.cpu_count()} logical, {affinity} usable by this process"),
        ("OPENBLAS_NUM_THREADS", os.environ.get("OPENBLAS_NUM_THREADS", "(unset)")),
        ("python", platform.python_version()),
        ("numpy", np.__version__),
        ("scikit-surprise", pkg_version("scikit-surprise")),
        ("implicit", pkg_version("implicit")),
        ("recbench", pkg_version("recbench")),
        ("dataset", f"{data.label}: {data.dataset.describe()}"),
        (
            "split",
            f"{SPLIT}, seed {SEED}: {len(split.train.interactions):,} train / "
            f"{len(split.test):,} test ratings",
        ),
    ]
    for key, value in rows:
        info.add_row(key, value)
    console.print(info)


def train_items_per_user(split: Split) -> sp.csr_array:
    return split.train.interactions.csr("binary")


# -- section 1: SVD top-10 vs Surprise per-pair predict --------------------------------------------
def surprise_top_k(
    algo: Any, users: np.ndarray, seen: sp.csr_array, n_items: int, clip: bool
) -> tuple[list[list[int]], list[list[float]], int]:
    """Surprise's way: predict every (user, unrated item) pair, one call each, keep the top K.

    Raw ids are recbench's dense indices (see ``surprise_trainset``); the candidates are every
    catalogue item the user did not rate in training, as recbench ranks them.
    """
    tops: list[list[int]] = []
    ests: list[list[float]] = []
    n_pred = 0
    all_items = range(n_items)
    for u in users.tolist():
        rated = set(seen.indices[seen.indptr[u] : seen.indptr[u + 1]].tolist())
        preds = [(algo.predict(u, i, clip=clip).est, i) for i in all_items if i not in rated]
        n_pred += len(preds)
        best = heapq.nlargest(K, preds, key=lambda p: p[0])
        tops.append([i for _, i in best])
        ests.append([e for e, _ in best])
    return tops, ests, n_pred


def section_svd(data: Data, split: Split) -> None:
    import surprise

    console.rule("[bold]1. SVD top-10 over the full catalogue vs Surprise per-pair predict")
    n_items = split.test.n_items
    fit_s, model = timed(lambda: plugins.make("svd", seed=SEED).fit(split.train))
    cfg = EvalConfig(ks=(K,))
    rb_s, result = best_of(REPEATS, lambda: evaluate(model, split, cfg))
    n_users = result.n_ranked_users

    # Reference: the same learned model, fitted by Surprise itself with the same defaults/seed.
    trainset = surprise_trainset(split.train)
    algo = surprise.SVD(random_state=SEED)
    ref_fit_s, _ = timed(lambda: algo.fit(trainset))
    u_map, i_map = inner_to_dense(trainset, model.n_users_, model.n_items_)
    same_model = (
        np.array_equal(algo.pu, model.pu_[u_map])
        and np.array_equal(algo.qi, model.qi_[i_map])
        and np.array_equal(algo.bu, model.bu_[u_map])
        and np.array_equal(algo.bi, model.bi_[i_map])
    )
    max_diff = float(np.abs(algo.pu - model.pu_[u_map]).max())

    seen = train_items_per_user(split)
    # the users evaluate() ranks: a held-out rating and at least one training rating
    test_users = np.unique(split.test.user)
    ranked = test_users[np.diff(seen.indptr)[test_users] > 0].astype(np.int64)
    if len(ranked) != n_users:
        console.print(
            f"[red]warning: {len(ranked)} ranked users here, evaluate ranked {n_users}[/]"
        )
    rng = np.random.default_rng(SEED)
    sample = np.sort(
        rng.choice(ranked, size=min(SURPRISE_SAMPLE_USERS, len(ranked)), replace=False)
    )
    ref_sample_s, (ref_tops, ref_ests, n_pred) = timed(
        lambda: surprise_top_k(algo, sample, seen, n_items, clip=True)
    )
    ref_s = ref_sample_s * n_users / len(sample)
    ratio = ref_s / rb_s

    # Agreement on the sampled users (untimed). Surprise's default predict clips estimates to the
    # rating scale, which creates ties at the top; compare exact sets against unclipped estimates
    # and, for the clipped (default) lists, check recbench's list is a valid top-10 under ties.
    rb_idx, _ = model.recommend(sample, K, exclude=seen)
    raw_tops, _, _ = surprise_top_k(algo, sample, seen, n_items, clip=False)
    same_unclipped = np.mean(
        [set(a.tolist()) == set(b) for a, b in zip(rb_idx, raw_tops, strict=True)]
    )
    same_clipped = np.mean(
        [set(a.tolist()) == set(b) for a, b in zip(rb_idx, ref_tops, strict=True)]
    )
    tie_ok = []
    n_tied_users = 0
    for u, rb_list, ref_e in zip(sample.tolist(), rb_idx, ref_ests, strict=True):
        rb_e = [algo.predict(u, int(i)).est for i in rb_list]
        tie_ok.append(min(rb_e) >= ref_e[-1] - 1e-9)
        n_tied_users += ref_e[-1] >= algo.trainset.rating_scale[1]
    tie_valid = float(np.mean(tie_ok))

    table = timing_table(f"SVD top-{K} for every test user ({data.label})")
    table.add_row(
        f"top-{K} + metrics, {n_users:,} users x {n_items:,} items",
        fmt_s(rb_s),
        fmt_s(ref_s) + " *",
        f"{ratio:,.0f}x faster",
        f">= {SVD_TARGET:.0f}x",
        verdict(ratio >= SVD_TARGET),
    )
    console.print(table)
    console.print(
        f"recbench: evaluate(svd, EvalConfig(ks=({K},))), best of {REPEATS} "
        f"(ndcg@{K} {result.metrics[f'ndcg@{K}']:.4f}). "
        f"Fit: recbench {fmt_s(fit_s)}, Surprise {fmt_s(ref_fit_s)} (not in the ratio)."
    )
    console.print(
        f"* Surprise EXTRAPOLATED: timed on a seeded sample of {len(sample)} of {n_users:,} "
        f"test users ({fmt_s(ref_sample_s)}, {n_pred:,} predict() calls, "
        f"{n_pred / ref_sample_s:,.0f} predictions/s), scaled linearly by users."
    )
    console.print(
        f"Same learned model: {'yes' if same_model else 'NO'} (Surprise SVD refitted with "
        f"random_state={SEED}; max |pu diff| {max_diff:.3g})."
    )
    console.print(
        f"Top-{K} agreement on the {len(sample)} sampled users: identical sets vs unclipped "
        f"Surprise estimates {same_unclipped:.3f}; vs Surprise's default clipped predict "
        f"{same_clipped:.3f} ({n_tied_users} users have >= {K} items tied at the scale "
        f"maximum); recbench list is a valid clipped top-{K} (ties allowed) {tie_valid:.3f}."
    )


# -- section 2: ALS evaluation vs implicit.evaluation.ranking_metrics_at_k -------------------------
def section_als(data: Data, split: Split) -> None:
    from implicit.evaluation import ranking_metrics_at_k
    from threadpoolctl import threadpool_limits

    console.rule("[bold]2. ALS ranking evaluation vs implicit.evaluation.ranking_metrics_at_k")
    fit_s, model = timed(lambda: plugins.make("als", seed=SEED).fit(split.train))
    cfg = EvalConfig(ks=(K,))
    rb_s, result = best_of(REPEATS, lambda: evaluate(model, split, cfg))

    train_csr = sp.csr_matrix(split.train.interactions.csr("binary"))
    test_csr = sp.csr_matrix(split.test.csr("binary"))
    imodel = model.to_implicit()
    default_threads = imodel.num_threads
    # recommend() in implicit's batched evaluator uses the model's own thread count (0 = all
    # cores), not ranking_metrics_at_k's num_threads; pin it so both sides run on one core.
    imodel.num_threads = 1

    def reference() -> dict[str, float]:
        with threadpool_limits(1, "blas"):
            return ranking_metrics_at_k(
                imodel, train_csr, test_csr, K=K, show_progress=False, num_threads=1
            )

    ref_s, ref = best_of(REPEATS, reference)
    ratio = ref_s / rb_s

    n_test_users = int((np.diff(test_csr.indptr) > 0).sum())
    table = timing_table(f"ALS ranking evaluation at K={K} ({data.label})")
    table.add_row(
        f"evaluate, {result.n_ranked_users:,} users x {split.test.n_items:,} items",
        fmt_s(rb_s),
        fmt_s(ref_s),
        f"{ratio:.2f}x",
        f">= {ALS_TARGET:.3f}x",
        verdict(ratio >= ALS_TARGET),
    )
    console.print(table)

    metrics = Table(title=f"ALS metrics at K={K}", title_justify="left", title_style="bold")
    for col in ("metric", "recbench", "implicit", "abs diff"):
        metrics.add_column(col, justify="left" if col == "metric" else "right")
    for name in ("ndcg", "map"):
        a, b = result.metrics[f"{name}@{K}"], float(ref[name])
        metrics.add_row(f"{name}@{K}", f"{a:.6f}", f"{b:.6f}", f"{abs(a - b):.2e}")
    metrics.add_row("users scored", f"{result.n_ranked_users:,}", f"{n_test_users:,}", "")
    console.print(metrics)
    console.print(
        f"Both best of {REPEATS}; ALS fit {fmt_s(fit_s)} (not in the ratio). implicit called "
        f"under threadpool_limits(1, 'blas') with num_threads=1 and model.num_threads=1 "
        f"(to_implicit() default was {default_threads})."
    )
    if result.n_cold_users:
        console.print(
            f"recbench skipped {result.n_cold_users} test users without training ratings; "
            "implicit scores them (their lists are arbitrary), so the means can differ."
        )
    else:
        console.print("Every test user has training ratings, so both score the same users.")


# -- section 3: dataset load, first parse vs cached Parquet ----------------------------------------
def section_load(data: Data) -> None:
    console.rule("[bold]3. Dataset load: first parse vs cached Parquet load")
    specs: list[tuple[str, DatasetSpec | str]] = []
    if data.is_ml100k:
        specs.append(("ml-100k (u.data, TSV)", data.spec))
    specs.append(("ml-latest-small (bundled CSV)", "ml-latest-small"))
    table = Table(
        title="load_dataset(spec, data_dir=fresh temporary directory)",
        title_justify="left",
        title_style="bold",
    )
    for col in (
        "dataset",
        "first load (parse + cache write)",
        f"cached (median of {CACHED_LOADS})",
        "ratio (first/cached)",
        "target",
        "result",
    ):
        table.add_column(col, justify="left" if col == "dataset" else "right")
    for label, spec in specs:
        with tempfile.TemporaryDirectory() as tmp:
            cache_dir = Path(tmp)
            first_s, first = timed(lambda s=spec, c=cache_dir: load_dataset(s, data_dir=c))
            times = []
            for _ in range(CACHED_LOADS):
                t, again = timed(lambda s=spec, c=cache_dir: load_dataset(s, data_dir=c))
                times.append(t)
            cached_s = statistics.median(times)
            same = len(again.interactions) == len(first.interactions)
        ratio = first_s / cached_s
        table.add_row(
            label + ("" if same else " [red](cached copy differs!)[/]"),
            fmt_s(first_s),
            fmt_s(cached_s),
            f"{ratio:.2f}x",
            "cached load faster",
            verdict(ratio > 1.0),
        )
    console.print(table)


def section_knn(data: Data) -> None:
    """kNN rating predictors vs Surprise's KNN classes, fit + predict on the same 5 folds."""
    import surprise

    from recbench.split import make_splits

    console.rule("5. kNN rating prediction vs Surprise KNNBasic / KNNWithMeans / KNNBaseline")
    folds = list(make_splits(data.dataset, parse_split("kfold:5"), SEED))
    table = timing_table(f"user-based kNN, msd, k=40, 5 folds ({data.label})")
    table.add_column("RMSE recbench / Surprise", justify="right")
    classes = {
        "basic": surprise.KNNBasic,
        "means": surprise.KNNWithMeans,
        "baseline": surprise.KNNBaseline,
    }
    for predictor, cls in classes.items():
        ours_t = ref_t = 0.0
        ours_err: list[np.ndarray] = []
        ref_err: list[np.ndarray] = []
        for split in folds:
            test = split.test
            t0 = time.perf_counter()
            model = plugins.make("user-knn", {"predictor": predictor}, seed=SEED).fit(split.train)
            pred = model.predict(test.user, test.item)
            ours_t += time.perf_counter() - t0
            ours_err.append(pred - test.rating)
            t0 = time.perf_counter()
            algo = cls(sim_options={"name": "msd", "user_based": True}, verbose=False)
            algo.fit(surprise_trainset(split.train))
            preds = algo.test(
                list(zip(test.user.tolist(), test.item.tolist(), test.rating.tolist(), strict=True))
            )
            ref_t += time.perf_counter() - t0
            ref_err.append(np.array([p.est - p.r_ui for p in preds]))
        rmse_ours = float(np.sqrt(np.mean(np.concatenate(ours_err) ** 2)))
        rmse_ref = float(np.sqrt(np.mean(np.concatenate(ref_err) ** 2)))
        ratio = ours_t / ref_t
        table.add_row(
            f"KNN {predictor}",
            fmt_s(ours_t),
            fmt_s(ref_t),
            f"{1 / ratio:.1f}x faster ({ratio:.2f}x the time)",
            "<= 0.5x the time, equal RMSE",
            verdict(ratio <= 0.5 and abs(rmse_ours - rmse_ref) < 1e-4),
            f"{rmse_ours:.4f} / {rmse_ref:.4f}",
        )
    console.print(table)


def section_every_algorithm(data: Data, split: Split) -> None:
    """Fit time and top-10 scoring time for all users, for every registered algorithm."""
    from recbench.errors import RecbenchError

    console.rule(f"4. Top-{K} for every user, every registered algorithm")
    if data.is_ml100k:
        # Content-based and hybrid models need ml-100k's item features (u.item): import the
        # directory into a throw-away data dir so the registry parser reads them.
        from recbench.data import import_dataset

        with tempfile.TemporaryDirectory(prefix="recbench-bench-") as tmp:
            import_dataset("ml-100k", locate_ml100k().parent, Path(tmp))
            featured = load_dataset("ml-100k", data_dir=Path(tmp))
        data = Data(featured, "ml-100k", "ml-100k with item and user features", True)
        split = make_split(featured, parse_split(SPLIT), SEED)
    table = Table(
        title=f"fit + top-{K} over the full catalogue for all users ({data.label})",
        title_justify="left",
        title_style="bold",
    )
    for col in ("algorithm", "fit", f"top-{K} all users", "users/s", "NDCG@10", "note"):
        table.add_column(col, justify="left" if col in ("algorithm", "note") else "right")
    users = np.flatnonzero(split.train.interactions.user_counts() > 0)
    seen = split.train.interactions.csr("binary")
    for name in plugins.names():
        cls = plugins.load(name)
        # the torch models that train for a long time get one stated budget each (noted)
        capped = "max_seconds" in cls.Config.model_fields
        try:
            model = plugins.make(name, {"max_seconds": TRAIN_BUDGET_S} if capped else {}, SEED)
            fit_s, _ = timed(lambda m=model: m.fit(split.train))
        except RecbenchError as exc:
            table.add_row(name, "—", "—", "—", "—", f"skipped: {exc}")
            continue
        cfg = EvalConfig(ks=(K,))
        batch = cfg.users_per_batch(model.n_items_)

        def all_top_k(m=model, batch=batch) -> None:  # type: ignore[no-untyped-def]
            for start in range(0, len(users), batch):
                m.recommend(users[start : start + batch], K, exclude=seen)

        rec_s, _ = best_of(REPEATS, all_top_k)
        ndcg = evaluate(model, split, cfg).metrics.get(f"ndcg@{K}", float("nan"))
        note = f"training capped at {TRAIN_BUDGET_S:.0f} s" if capped else ""
        table.add_row(
            name, fmt_s(fit_s), fmt_s(rec_s), f"{len(users) / rec_s:,.0f}", f"{ndcg:.4f}", note
        )
    console.print(table)


def main() -> int:
    t0 = time.perf_counter()
    data = load_data()
    split = make_split(data.dataset, parse_split(SPLIT), SEED)
    header(data, split)
    section_svd(data, split)
    section_als(data, split)
    section_load(data)
    section_every_algorithm(data, split)
    section_knn(data)
    console.rule("6. Netflix-Prize format: parse 10M ratings, cached load, peak memory")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import datasets_bench

    datasets_bench.run(console)
    console.rule("7. Two-tower ANN retrieval (hnswlib) vs exact search")
    import ann_bench

    ann_bench.run(console)
    console.rule("8. Intervals and significance tests vs the compare they annotate")
    import rigour_bench

    rigour_bench.run(console, data.dataset, SEED)
    console.rule("9. Next-item: SASRec epoch time and time to best validation vs RecBole 1.2")
    import seq_bench

    # one seed of SASRec-CE on S3-Rec's LastFM (skipped with a note when the file is absent);
    # `make bench-seq` runs every model, three seeds, and Amazon Games
    seq_bench.main(["--datasets", "lastfm", "--models", "sasrec-ce", "--seeds", "1"])
    console.print(f"\nTotal benchmark time {fmt_s(time.perf_counter() - t0)}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
