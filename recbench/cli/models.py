"""`recbench fit` and `recommend`: save a fitted model directory, serve top-N from one."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from recbench import serving
from recbench.algorithms import plugins
from recbench.cli.common import get_dataset, info, model_split, out, state, status
from recbench.cli.options import (
    ColumnsOpt,
    DatasetOpt,
    ImplicitOpt,
    MinItemOpt,
    MinUserOpt,
    ParamOpt,
    SepOpt,
    table_or_json,
)
from recbench.data import DatasetSpec, Preprocessing
from recbench.data.loading import DEFAULT_DATASET
from recbench.errors import UsageError
from recbench.persistence import check_model_target, load_model, model_manifest, save_model
from recbench.render.recommendations import plain, recommendation_doc, recommendation_table
from recbench.rows import parse_algos
from recbench.split import make_split, parse_split, split_help


def fit(
    ctx: typer.Context,
    algo: Annotated[str, typer.Argument(help="Algorithm name (see `recbench algorithms`).")],
    dataset: DatasetOpt = DEFAULT_DATASET,
    columns: ColumnsOpt = None,
    sep: SepOpt = None,
    split: Annotated[str, typer.Option("--split", help=split_help())] = "holdout:0.2",
    fold: Annotated[int, typer.Option(help="Which fold's training part (1-based), for kfold.")] = 1,
    param: ParamOpt = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Model directory (default: models/ALGO).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace an existing model directory (never anything else).")
    ] = False,
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
    st = state(ctx)
    split_spec = parse_split(split)
    if not 1 <= fold <= split_spec.n_folds:
        raise UsageError(f"--fold must be between 1 and {split_spec.n_folds} for split '{split}'")
    (spec,) = parse_algos(algo, param, st.data_dir)
    target = out_dir or Path("models") / algo
    check_model_target(target, overwrite)  # before any work
    prep = Preprocessing(min_user_ratings, min_item_ratings, implicit_threshold)
    ds, dspec = get_dataset(st, DatasetSpec(dataset, columns, sep), prep)
    sp = make_split(ds, split_spec, st.seed, fold - 1)
    model = plugins.make(spec.name, spec.params, seed=st.seed)
    n_train = len(sp.train.interactions)
    with status(st, f"fitting {algo} on {n_train:,} ratings"):
        t0 = time.perf_counter()
        model.fit(sp.train)
        fit_seconds = time.perf_counter() - t0
    manifest = model_manifest(
        algo, ds, dspec, prep, split_spec, fold - 1, st.seed, fit_seconds, n_train
    )
    index = None
    if ann:
        with status(st, "building the ANN index"):
            index = serving.build_index(model, algo, st.seed)
        manifest["ann"] = {"backend": "hnsw", "items": index.size}
    save_model(model, algo, dict(spec.params), target, manifest, overwrite=overwrite, ann=index)
    info(
        st,
        f"saved {algo} to {target} (fitted in {fit_seconds:.2f} s on {n_train:,} ratings of "
        f"{ds.name}, split {split_spec})",
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
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
) -> None:
    """Top-N items for one user from a saved model, with titles; seen items are excluded."""
    st = state(ctx)
    if n <= 0:
        raise UsageError(f"-n must be positive, got {n}")
    fmt = table_or_json(fmt, "recommend")
    if (user is None) == (history is None):
        raise UsageError("give exactly one of --user ID or --history ID,ID,...")
    fitted, config, manifest = load_model(model)
    algorithm = str(config["algorithm"])
    ds, split_obj, _, _ = model_split(st, model, manifest, None)
    index = None if exact else serving.load_index(model)
    seen, idx, who = serving.seen_items(fitted, algorithm, ds, split_obj, user, history, model)
    recs = serving.recommend(fitted, seen, min(n, ds.n_items), user=idx, index=index)
    if recs.approximate:
        who += " (approximate: HNSW index)"
    names = serving.name_items(ds, recs.items)
    reasons = serving.explain(fitted, recs, ds, algorithm) if explain else None
    if fmt == "json":
        doc = recommendation_doc(user, history, algorithm, recs, names, reasons)
        typer.echo(json.dumps(doc, indent=2, default=plain))
        return
    out.print(recommendation_table(algorithm, who, recs, names, reasons))


def register(app: typer.Typer) -> None:
    app.command()(fit)
    app.command()(recommend)
