"""`recbench compare`, `evaluate`, `fit` and `recommend`: thin wrappers over the library."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import scipy.sparse as sp
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from recbench.algorithms import plugins
from recbench.algorithms.base import mask_seen, top_k
from recbench.cli.common import (
    FORMAT_BY_SUFFIX,
    FailIf,
    State,
    err,
    get_dataset,
    info,
    out,
    parse_algos,
    parse_fail_if,
    parse_ks,
    progress_bar,
    state,
    status,
    write_atomic,
)
from recbench.data import DatasetSpec, IdMap
from recbench.data.loading import DEFAULT_DATASET
from recbench.data.preprocess import Preprocessing
from recbench.errors import ModelDirError, UsageError
from recbench.evaluation import EvalConfig
from recbench.experiment import (
    AlgoSpec,
    ExperimentResult,
    run_experiment,
    single_result,
    summarise,
)
from recbench.metrics import METRICS
from recbench.persistence import ANN_FILE, load_model, save_model
from recbench.render import FORMATS, parse_metrics, render_text, rich_table, segment_table
from recbench.split import make_split, parse_split

DatasetOpt = Annotated[
    str,
    typer.Option("--dataset", "-d", help="Registry name or path to a CSV/TSV/Parquet file."),
]
ColumnsOpt = Annotated[
    str | None,
    typer.Option(help="Column roles in file order, e.g. user,item,rating,timestamp (- skips)."),
]
SepOpt = Annotated[str | None, typer.Option(help="Field separator, e.g. ',' or '\\t'.")]
SplitOpt = Annotated[
    str,
    typer.Option(
        "--split",
        help="holdout:F, user-holdout:F, kfold:N, temporal:F, last:N (F in (0,1)).",
    ),
]
KOpt = Annotated[str, typer.Option("--k", help="Cut-offs for ranking metrics, e.g. 5,10,20.")]
ParamOpt = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="[ALGO.]NAME=VALUE; repeatable."),
]
ThresholdOpt = Annotated[
    float | None,
    typer.Option(help="Held-out ratings >= this are relevant (default: all held-out ones)."),
]
FormatOpt = Annotated[
    str | None,
    typer.Option("--format", "-f", help="table, json, csv, markdown or latex."),
]
OutputOpt = Annotated[Path | None, typer.Option("--output", "-o", help="Write results here.")]
FailIfOpt = Annotated[
    list[str] | None,
    typer.Option("--fail-if", help="Exit 1 when e.g. 'ndcg@10<0.30' holds; repeatable."),
]
MetricsOpt = Annotated[
    str | None,
    typer.Option(
        help="Metrics to show: comma list of rmse,mae,precision,recall,ndcg,map,mrr,"
        "hitrate, or 'all'."
    ),
]
MinUserOpt = Annotated[
    int, typer.Option(help="Keep users (and items) of the iterated k-core: >= N ratings.")
]
MinItemOpt = Annotated[int, typer.Option(help="Items need >= N ratings (iterated with users).")]
ImplicitOpt = Annotated[
    float | None,
    typer.Option(help="Keep ratings >= T as implicit feedback (rating values dropped)."),
]
SegmentOpt = Annotated[
    bool,
    typer.Option(
        "--by-segment", help="Also show metrics by user history length and warm/cold items."
    ),
]
MemoryOpt = Annotated[int, typer.Option(help="Memory budget in MB for one batch of user scores.")]


def _prepare(
    ks: str,
    threshold: float | None,
    memory_mb: int,
    fmt: str | None,
    output: Path | None,
    metrics: str | None,
    fail_if: list[str] | None,
) -> tuple[EvalConfig, str, tuple[str, ...], list[FailIf]]:
    """Validate the options compare and evaluate share, before any work is done."""
    cfg = EvalConfig(ks=parse_ks(ks), relevance_threshold=threshold, memory_mb=memory_mb)
    return cfg, _check_format(fmt, output), _check_metrics(metrics), parse_fail_if(fail_if, cfg.ks)


def _check_format(fmt: str | None, output: Path | None) -> str:
    if fmt is None:
        fmt = FORMAT_BY_SUFFIX.get(output.suffix.lower(), "table") if output else "table"
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise UsageError(f"unknown --format '{fmt}' (use {', '.join(FORMATS)})")
    return fmt


def _check_metrics(spec: str | None) -> tuple[str, ...]:
    metrics = parse_metrics(spec)
    for m in metrics:
        if m not in METRICS:
            raise UsageError(f"unknown metric '{m}' in --metrics (use {', '.join(METRICS)})")
    return metrics


def _emit(
    st: State,
    res: ExperimentResult,
    fmt: str,
    output: Path | None,
    metrics: tuple[str, ...],
    fail_if: list[FailIf],
    by_segment: bool = False,
) -> None:
    """Print/write results, then apply --fail-if (exit 1 naming what failed)."""
    table = rich_table(res, metrics)
    if output is not None:
        if fmt == "table":
            buf = Console(file=io.StringIO(), width=200, highlight=False, no_color=True)
            buf.print(table)
            text = buf.file.getvalue()  # type: ignore[attr-defined]
        else:
            text = render_text(res, fmt, metrics)
        write_atomic(output, text)
        if not st.quiet:
            out.print(table)
        info(st, f"wrote {fmt} results to {output}")
    elif fmt == "table":
        out.print(table)
        if by_segment:
            out.print(segment_table(res, metrics))
    else:
        typer.echo(render_text(res, fmt, metrics), nl=False)
    failures = check_fail_if(res, fail_if)
    if failures:
        for line in failures:
            err.print(f"fail-if {line}")
        raise typer.Exit(1)


def check_fail_if(res: ExperimentResult, conds: list[FailIf]) -> list[str]:
    """Messages for every (condition, algorithm) that holds, on means over folds."""
    if not conds:
        return []
    summ = summarise(res.results)
    msgs = []
    algos = list(dict.fromkeys(res.results["algorithm"]))
    for c in conds:
        if c.algorithm and c.algorithm not in algos:
            raise UsageError(f"--fail-if '{c.text}': '{c.algorithm}' was not run")
        sel = summ[summ["metric"] == c.metric]
        sel = sel[sel["k"].isna()] if c.k is None else sel[sel["k"] == c.k]
        if c.algorithm:
            sel = sel[sel["algorithm"] == c.algorithm]
        if not len(sel):
            raise UsageError(f"--fail-if '{c.text}': no algorithm run produces {c.key()}")
        for r in sel.itertuples():
            if c.triggered(float(r.mean)):
                msgs.append(f"{c.text}: {r.algorithm} {c.key()} = {r.mean:.4f}")
    return msgs


def compare(
    ctx: typer.Context,
    algos: Annotated[
        str | None,
        typer.Option("--algos", "-a", help="Comma list of algorithms (default: all available)."),
    ] = None,
    dataset: DatasetOpt = DEFAULT_DATASET,
    columns: ColumnsOpt = None,
    sep: SepOpt = None,
    split: SplitOpt = "holdout:0.2",
    k: KOpt = "10",
    param: ParamOpt = None,
    relevance_threshold: ThresholdOpt = None,
    metrics: MetricsOpt = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    fail_if: FailIfOpt = None,
    by_segment: SegmentOpt = False,
    min_user_ratings: MinUserOpt = 0,
    min_item_ratings: MinItemOpt = 0,
    implicit_threshold: ImplicitOpt = None,
    memory_mb: MemoryOpt = 256,
) -> None:
    """Fit and evaluate several algorithms on one dataset and split; print a comparison table."""
    st = state(ctx)
    cfg, fmt, shown, conds = _prepare(
        k, relevance_threshold, memory_mb, fmt, output, metrics, fail_if
    )
    split_spec = parse_split(split)
    if split_spec.kind == "none":
        raise UsageError("compare needs a split with test data (not 'none')")
    specs = parse_algos(algos, param)
    prep = Preprocessing(min_user_ratings, min_item_ratings, implicit_threshold)
    ds, _ = get_dataset(st, DatasetSpec(dataset, columns, sep), prep)
    if algos is None:  # the default set: every available algorithm that suits this dataset
        kept = []
        for spec in specs:
            reason = plugins.load(spec.name).unsuitable(ds)
            if reason:
                info(st, f"skipping {spec.name}: it {reason}, and {ds.name} has none")
            else:
                kept.append(spec)
        specs = kept
    with progress_bar(st, len(specs) * split_spec.n_folds) as on_event:
        res = run_experiment(ds, split_spec, specs, st.seed, cfg, on_event)
    _emit(st, res, fmt, output, shown, conds, by_segment)


def evaluate(
    ctx: typer.Context,
    model: Annotated[Path | None, typer.Option("--model", "-m", help="A model directory.")] = None,
    algo: Annotated[str | None, typer.Option("--algo", help="Fit this algorithm instead.")] = None,
    dataset: DatasetOpt = DEFAULT_DATASET,
    columns: ColumnsOpt = None,
    sep: SepOpt = None,
    split: Annotated[
        str | None,
        typer.Option(
            "--split",
            help="Split for --algo (default holdout:0.2); a model's own "
            "split comes from its manifest.",
        ),
    ] = None,
    k: KOpt = "10",
    param: ParamOpt = None,
    relevance_threshold: ThresholdOpt = None,
    metrics: MetricsOpt = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    fail_if: FailIfOpt = None,
    by_segment: SegmentOpt = False,
    min_user_ratings: MinUserOpt = 0,
    min_item_ratings: MinItemOpt = 0,
    implicit_threshold: ImplicitOpt = None,
    memory_mb: MemoryOpt = 256,
) -> None:
    """Evaluate a saved model on the split it was fitted on, or fit and evaluate one algorithm."""
    st = state(ctx)
    if (model is None) == (algo is None):
        raise UsageError("give exactly one of --model DIR or --algo NAME")
    cfg, fmt, shown, conds = _prepare(
        k, relevance_threshold, memory_mb, fmt, output, metrics, fail_if
    )
    if algo is not None:
        split_spec = parse_split(split or "holdout:0.2")
        if split_spec.kind == "none":
            raise UsageError("evaluate needs a split with test data (not 'none')")
        specs = parse_algos(algo, param)
        prep = Preprocessing(min_user_ratings, min_item_ratings, implicit_threshold)
        ds, _ = get_dataset(st, DatasetSpec(dataset, columns, sep), prep)
        with progress_bar(st, split_spec.n_folds) as on_event:
            res = run_experiment(ds, split_spec, specs, st.seed, cfg, on_event)
        _emit(st, res, fmt, output, shown, conds, by_segment)
        return
    assert model is not None
    if param:
        raise UsageError("--param applies to --algo; a saved model keeps its parameters")
    if min_user_ratings or min_item_ratings or implicit_threshold is not None:
        raise UsageError("a saved model keeps the preprocessing recorded in its manifest")
    fitted, config, manifest = load_model(model)
    ds, split_obj, split_spec, seed = _model_split(st, model, manifest, split)
    if split_spec.kind == "none":
        raise UsageError(f"model {model} was fitted on all ratings (split 'none'): no test data")
    from recbench.evaluation import evaluate as run_eval

    with status(st, "evaluating"):
        result = run_eval(fitted, split_obj, cfg)
    res = single_result(
        ds,
        split_obj,
        split_spec,
        config["algorithm"],
        config.get("params") or {},
        result,
        float(manifest.get("fit_seconds", 0.0)),
        seed,
        cfg,
    )
    _emit(st, res, fmt, output, shown, conds, by_segment)


def _model_split(st: State, model: Path, manifest: dict[str, Any], split: str | None):  # type: ignore[no-untyped-def]
    """The dataset and split a model was fitted on, checked against its manifest."""
    try:
        spec = DatasetSpec.from_dict(manifest["dataset"])
        split_spec = parse_split(manifest["split"])
        fold = int(manifest.get("fold", 0))
        seed = int(manifest["seed"])
        checksum = manifest["dataset_checksum"]
    except (KeyError, TypeError, ValueError, UsageError) as exc:
        raise ModelDirError(f"{model}/manifest.json is incomplete or invalid ({exc})") from None
    if split is not None and str(parse_split(split)) != str(split_spec):
        raise UsageError(
            f"model {model} was fitted on split '{split_spec}'; it is evaluated on that split "
            f"(drop --split, or fit again with --split {split})"
        )
    try:
        prep = Preprocessing.from_dict(manifest.get("preprocessing"))
    except (TypeError, ValueError, UsageError) as exc:
        raise ModelDirError(f"{model}/manifest.json has invalid preprocessing ({exc})") from None
    ds, _ = get_dataset(st, spec, prep)
    if ds.checksum != checksum:
        raise ModelDirError(
            f"dataset {spec.dataset} has changed since model {model} was fitted "
            "(checksum differs); fit the model again"
        )
    return ds, make_split(ds, split_spec, seed, fold), split_spec, seed


def fit(
    ctx: typer.Context,
    algo: Annotated[str, typer.Argument(help="Algorithm name (see `recbench algorithms`).")],
    dataset: DatasetOpt = DEFAULT_DATASET,
    columns: ColumnsOpt = None,
    sep: SepOpt = None,
    split: Annotated[
        str, typer.Option("--split", help="Split to fit on; 'none' fits on all ratings.")
    ] = "holdout:0.2",
    fold: Annotated[int, typer.Option(help="Which fold's training part (1-based), for kfold.")] = 1,
    param: ParamOpt = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Model directory (default: models/ALGO).")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing model directory.")] = False,
    ann: Annotated[
        bool,
        typer.Option(
            "--ann", help="Also build an HNSW index so recommend retrieves approximately."
        ),
    ] = False,
    min_user_ratings: MinUserOpt = 0,
    min_item_ratings: MinItemOpt = 0,
    implicit_threshold: ImplicitOpt = None,
) -> None:
    """Fit one algorithm and save it as a model directory (config, arrays, manifest)."""
    import time

    st = state(ctx)
    split_spec = parse_split(split)
    if not 1 <= fold <= split_spec.n_folds:
        raise UsageError(f"--fold must be between 1 and {split_spec.n_folds} for split '{split}'")
    (spec,) = parse_algos(algo, param)
    target = out_dir or Path("models") / algo
    prep = Preprocessing(min_user_ratings, min_item_ratings, implicit_threshold)
    ds, dspec = get_dataset(st, DatasetSpec(dataset, columns, sep), prep)
    sp = make_split(ds, split_spec, st.seed, fold - 1)
    model = plugins.make(spec.name, spec.params, seed=st.seed)
    with status(st, f"fitting {algo} on {len(sp.train.interactions):,} ratings"):
        t0 = time.perf_counter()
        model.fit(sp.train)
        fit_seconds = time.perf_counter() - t0
    manifest = {
        "algorithm": algo,
        "dataset": dspec.to_dict(),
        "dataset_name": ds.name,
        "dataset_checksum": ds.checksum,
        "preprocessing": prep.to_dict(),
        "split": str(split_spec),
        "fold": fold - 1,
        "seed": st.seed,
        "fit_seconds": fit_seconds,
        "n_users": ds.n_users,
        "n_items": ds.n_items,
        "n_train": len(sp.train.interactions),
    }
    index = None
    if ann:
        from recbench.algorithms.ann import AnnIndex

        if model.query_vectors(np.zeros(1, np.int64)) is None:
            raise UsageError("--ann needs a model that scores by inner product (two-tower, als)")
        with status(st, "building the ANN index"):
            index = AnnIndex(seed=st.seed).build(model.item_embeddings())
        manifest["ann"] = {"backend": "hnsw", "items": index.size}
    save_model(model, algo, dict(spec.params), target, manifest, overwrite=overwrite, ann=index)
    info(
        st,
        f"saved {algo} to {target} (fitted in {fit_seconds:.2f} s on "
        f"{len(sp.train.interactions):,} ratings of {ds.name}, split {split_spec})",
    )


def recommend(
    ctx: typer.Context,
    model: Annotated[Path, typer.Option("--model", "-m", help="A model directory.")],
    user: Annotated[
        str | None, typer.Option("--user", "-u", help="Raw user id, as in the dataset.")
    ] = None,
    history: Annotated[
        str | None,
        typer.Option(
            "--history",
            help="A new user's items, e.g. 1,50,260 (raw ids; ID:RATING to give ratings).",
        ),
    ] = None,
    n: Annotated[int, typer.Option("-n", "--n", help="How many items.")] = 10,
    exact: Annotated[
        bool, typer.Option("--exact", help="Score the whole catalogue even if an index exists.")
    ] = False,
    explain: Annotated[
        bool, typer.Option("--explain", help="Give each item the model's reason for it.")
    ] = False,
    fmt: FormatOpt = None,
) -> None:
    """Top-N items for one user from a saved model, with titles; seen items are excluded."""
    st = state(ctx)
    if n <= 0:
        raise UsageError(f"-n must be positive, got {n}")
    fmt = (fmt or "table").lower()
    if fmt not in ("table", "json"):
        raise UsageError("recommend supports --format table or json")
    if (user is None) == (history is None):
        raise UsageError("give exactly one of --user ID or --history ID,ID,...")
    fitted, config, manifest = load_model(model)
    ds, split_obj, _, _ = _model_split(st, model, manifest, None)
    index_path = model / ANN_FILE
    use_ann = index_path.exists() and not exact
    approximate = False
    if history is not None:
        row = _history_row(history, ds, fitted, config["algorithm"])
        seen = row
        idx = 0
        query = fitted.history_vectors(row) if use_ann else None
        if query is not None:
            items, scores = _ann_top(index_path, query, row, n)
            approximate = True
        else:
            scores_all = np.asarray(fitted.score_history(row), dtype=np.float32)
            mask_seen(scores_all, row, np.array([0]))
            items, scores = top_k(scores_all, n)
        who = "a new user"
    else:
        users = ds.interactions.users
        idx = int(users.index([user])[0])
        if idx < 0:
            raise UsageError(f"user '{user}' is not in dataset {ds.name}")
        seen = split_obj.train.interactions.csr("rating")
        if seen.indptr[idx + 1] == seen.indptr[idx]:
            raise UsageError(
                f"user '{user}' has no training ratings in model {model}'s split; "
                "give their items with --history instead"
            )
        query = fitted.query_vectors(np.array([idx])) if use_ann else None
        if query is not None:
            items, scores = _ann_top(index_path, query, seen[[idx]], n)
            approximate = True
        else:
            items, scores = fitted.recommend(np.array([idx]), n, exclude=seen)
        who = f"user {user}"
    if approximate:
        who += " (approximate: HNSW index)"
    items, scores = items[0], scores[0]
    keep = np.isfinite(scores)
    items, scores = items[keep], scores[keep]
    raw = ds.interactions.items.raw(items)
    feats = ds.item_features
    all_titles = feats["title"].to_numpy() if feats is not None and "title" in feats else None
    titles = all_titles[items] if all_titles is not None else None
    reasons = None
    if explain:
        found = fitted.explain(seen[[idx]], items)
        if found is None:
            raise UsageError(f"{config['algorithm']} gives no explanations")
        reasons = [_name_items(r, ds.interactions.items, all_titles) for r in found]
    genres = feats["genres"].to_numpy()[items] if feats is not None and "genres" in feats else None
    if fmt == "json":
        recs = [
            {
                "rank": r + 1,
                "item": raw[r].item() if hasattr(raw[r], "item") else raw[r],
                "title": None if titles is None else str(titles[r]),
                "score": float(scores[r]),
                **({"reason": reasons[r]} if reasons is not None else {}),
            }
            for r in range(len(items))
        ]
        doc = {
            "user": user,
            "history": history,
            "algorithm": config["algorithm"],
            "approximate": approximate,
            "items": recs,
        }
        typer.echo(json.dumps(doc, indent=2))
        return
    t = Table(title=f"{config['algorithm']} · top {len(items)} for {who}")
    t.add_column("#", justify="right")
    t.add_column("item", justify="right")
    if titles is not None:
        t.add_column("title")
    if genres is not None:
        t.add_column("genres", style="dim")
    t.add_column("score", justify="right")
    if reasons is not None:
        t.add_column("why")
    for r in range(len(items)):
        row = [str(r + 1), str(raw[r])]
        if titles is not None:
            row.append(str(titles[r]))
        if genres is not None:
            row.append(str(genres[r]))
        row.append(f"{scores[r]:.4f}")
        if reasons is not None:
            row.append(reasons[r])
        t.add_row(*(escape(c) for c in row))
    out.print(t)


def _ann_top(
    path: Path, query: np.ndarray, seen: sp.csr_array, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Top-n by the saved ANN index, over-fetching by the number of seen items to drop them."""
    from recbench.algorithms.ann import AnnIndex

    try:
        index = AnnIndex.load(path)
    except (OSError, RuntimeError, ValueError) as exc:
        raise ModelDirError(f"{path} is corrupt ({exc}); rerun fit --ann or use --exact") from None
    ids, scores = index.query(query, n + seen.nnz)
    keep = ~np.isin(ids[0], seen.indices)
    return ids[:, keep][:, :n], scores[:, keep][:, :n]


def _history_row(text: str, ds, model, algorithm: str) -> sp.csr_array:  # type: ignore[no-untyped-def]
    """``--history 1,50:4.5,260`` -> a (1 x n_items) ratings row (rating default: scale max)."""
    if not model.cold_users:
        raise UsageError(
            f"{algorithm} cannot score a user unseen in training from a history "
            "(content, item-knn, ease and two-tower can)"
        )
    ids, ratings = [], []
    top = float(ds.rating_scale[1]) if ds.rating_scale else 1.0
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        raw, _, value = part.partition(":")
        ids.append(raw.strip())
        try:
            ratings.append(float(value) if value else top)
        except ValueError:
            raise UsageError(f"--history: rating '{value}' of item {raw} is not a number") from None
    if not ids:
        raise UsageError("--history is empty")
    idx = ds.interactions.items.index(ids)
    unknown = [i for i, j in zip(ids, idx, strict=True) if j < 0]
    if unknown:
        raise UsageError(f"--history: item '{unknown[0]}' is not in dataset {ds.name}")
    row = sp.csr_array(
        (np.asarray(ratings, np.float32), (np.zeros(len(idx), np.int64), idx)),
        shape=(1, ds.n_items),
    )
    row.sum_duplicates()
    return row


_ITEM_REF = re.compile(r"\{item:(\d+)\}")


def _name_items(reason: str, items: IdMap, titles: np.ndarray | None) -> str:
    """Replace ``{item:N}`` (a dense index) in a model's reason by the item's title or id."""

    def name(m: re.Match[str]) -> str:
        i = int(m.group(1))
        return f'"{titles[i]}"' if titles is not None else f"item {items.raw([i])[0]}"

    return _ITEM_REF.sub(name, reason)


def register(app: typer.Typer) -> None:
    app.command()(compare)
    app.command()(evaluate)
    app.command()(fit)
    app.command()(recommend)


__all__ = ["AlgoSpec", "register"]
