"""Shared test helpers: run the CLI in-process, build tiny datasets, find shared data."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recbench.data.idmap import IdMap
from recbench.data.model import Dataset, Interactions

REPO = Path(__file__).resolve().parent.parent
ML100K = REPO.parent / "shared" / "datasets" / "ml-100k" / "u.data"


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def flat(self) -> str:
        """stdout with all whitespace runs collapsed (tables wrap at the console width)."""
        return " ".join(self.out.split())


def run_cli(args: list[str], capsys, data_dir: Path | None = None) -> CliResult:  # type: ignore[no-untyped-def]
    """Run `recbench ARGS` in this process; return exit code, stdout and stderr."""
    from recbench.cli.app import main

    capsys.readouterr()
    old = os.environ.get("RECBENCH_DATA")
    if data_dir is not None:
        os.environ["RECBENCH_DATA"] = str(data_dir)
    try:
        try:
            main(args)
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
    finally:
        if data_dir is not None:
            if old is None:
                os.environ.pop("RECBENCH_DATA", None)
            else:
                os.environ["RECBENCH_DATA"] = old
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)


def make_dataset(
    users: list[int] | np.ndarray,
    items: list[int] | np.ndarray,
    ratings: list[float] | np.ndarray | None = None,
    timestamps: list[int] | np.ndarray | None = None,
    n_users: int | None = None,
    n_items: int | None = None,
    name: str = "synthetic",
) -> Dataset:
    """A Dataset whose raw ids equal dense indices (0..n-1)."""
    u = np.asarray(users, dtype=np.int32)
    i = np.asarray(items, dtype=np.int32)
    nu = n_users if n_users is not None else int(u.max()) + 1
    ni = n_items if n_items is not None else int(i.max()) + 1
    r = None if ratings is None else np.asarray(ratings, dtype=np.float32)
    t = None if timestamps is None else np.asarray(timestamps, dtype=np.int64)
    inter = Interactions(u, i, r, t, IdMap(np.arange(nu)), IdMap(np.arange(ni)))
    scale = None if r is None else (float(r.min()), float(r.max()))
    return Dataset(name, inter, rating_scale=scale, checksum=f"{name}-checksum")


def checkerboard(n_users: int = 40, n_items: int = 30, seed: int = 0) -> Dataset:
    """Two user groups, each liking only its own half of the items (known right answers).

    Each user rated all but a few items of their own half (5 stars); the unrated own-half items
    are what a good recommender must put first.
    """
    rng = np.random.default_rng(seed)
    us, its, rs = [], [], []
    half = n_items // 2
    for u in range(n_users):
        own = np.arange(half) if u % 2 == 0 else np.arange(half, n_items)
        chosen = rng.choice(own, size=half - 3, replace=False)
        for it in chosen:
            us.append(u)
            its.append(int(it))
            rs.append(5.0 if rng.random() < 0.8 else 4.0)
    ds = make_dataset(us, its, rs, n_users=n_users, n_items=n_items, name="checkerboard")
    return with_group_features(ds, half)


def with_group_features(ds: Dataset, half: int) -> Dataset:
    """Item features matching the two groups: genre 'alpha' below ``half``, 'beta' above."""
    from dataclasses import replace

    import pandas as pd

    n = ds.n_items
    feats = pd.DataFrame(
        {
            "title": [f"Item {i} ({1990 + i % 3})" for i in range(n)],
            "year": pd.array([1990 + i % 3 for i in range(n)], dtype="Int64"),
            "genres": ["alpha" if i < half else "beta" for i in range(n)],
            "tags": ["" for _ in range(n)],
            "title_words": [f"item {i}" for i in range(n)],
        }
    )
    return replace(ds, item_features=feats)


def surprise_estimates(algo, users, items) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Surprise's own per-pair predictions (raw ids are recbench's dense indices)."""
    return np.array([algo.predict(int(u), int(i)).est for u, i in zip(users, items, strict=True)])
