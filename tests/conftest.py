"""Fixtures shared by the test modules: the checkerboard and ml-latest-small with its split."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from recbench.data.model import Dataset
from recbench.split import Split

from .helpers import checkerboard


@pytest.fixture(scope="session", autouse=True)
def _private_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep every test's caches and results store out of the user's data directory.

    Tests that need their own directory still set ``RECBENCH_DATA`` or pass ``--data-dir``.
    """
    old = os.environ.get("RECBENCH_DATA")
    os.environ["RECBENCH_DATA"] = str(tmp_path_factory.mktemp("recbench-data"))
    yield
    if old is None:
        os.environ.pop("RECBENCH_DATA", None)
    else:
        os.environ["RECBENCH_DATA"] = old


@pytest.fixture(scope="session")
def board() -> Dataset:
    """The 40 x 30 two-group checkerboard (see :func:`tests.helpers.checkerboard`)."""
    return checkerboard()


@pytest.fixture(scope="session")
def ml_small() -> Dataset:
    """The bundled ml-latest-small (no download)."""
    from recbench.data import load_dataset

    return load_dataset("ml-latest-small")


@pytest.fixture(scope="session")
def ml_split(ml_small: Dataset) -> Split:
    """ml-latest-small under ``holdout:0.2``, seed 0."""
    from recbench.split import make_split, parse_split

    return make_split(ml_small, parse_split("holdout:0.2"), seed=0)
