"""`recbench predict`: one (user, item) rating from a saved rating model (logic in serving)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table

from recbench import serving
from recbench.cli.common import info, model_split, out, state
from recbench.cli.options import table_or_json
from recbench.persistence import load_model


def predict(
    ctx: typer.Context,
    model: Annotated[Path, typer.Option("--model", "-m", help="A model directory.")],
    user: Annotated[str, typer.Option("--user", "-u", help="Raw user id, as in the dataset.")],
    item: Annotated[str, typer.Option("--item", "-i", help="Raw item id, as in the dataset.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
) -> None:
    """The rating a saved rating model (svd, baseline...) predicts USER gives ITEM."""
    st = state(ctx)
    fmt = table_or_json(fmt, "predict")
    fitted, config, manifest = load_model(model)
    algorithm = str(config["algorithm"])
    serving.require_rating_model(fitted, algorithm)  # before loading the dataset
    ds, split_obj, _, _ = model_split(st, model, manifest, None)
    p = serving.predict_rating(fitted, algorithm, ds, split_obj.train.interactions, user, item)
    item_index = ds.interactions.items.index([item])
    names = serving.name_items(ds, np.asarray(item_index, dtype=np.int64))
    title = None if names.titles is None else names.titles[0]
    if fmt == "json":
        doc = {
            "user": p.user,
            "item": p.item,
            "title": title,
            "algorithm": algorithm,
            "rating": p.rating,
            "training_rating": p.training_rating,
            "fallback": p.fallback,
        }
        typer.echo(json.dumps(doc, indent=2, default=str))
        return
    t = Table(title=escape(serving.printable(f"{algorithm} · predicted rating")))
    t.add_column("user", justify="right")
    t.add_column("item", justify="right")
    if title is not None:
        t.add_column("title")
    t.add_column("rating", justify="right")
    row = [str(p.user), str(p.item), *([title] if title is not None else []), f"{p.rating:.4f}"]
    t.add_row(*(escape(serving.printable(c)) for c in row))
    out.print(t)
    if p.training_rating is not None:
        info(st, f"note: user {p.user} rated item {p.item} {p.training_rating:g} in training")
    if p.fallback:
        info(
            st,
            f"note: user {p.user} or item {p.item} has no training rating; this is the model's "
            "fallback estimate",
        )


def register(app: typer.Typer) -> None:
    app.command()(predict)
