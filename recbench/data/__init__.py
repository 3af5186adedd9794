"""Data layer: raw files -> Dataset (registry, downloads, parsers, id maps, interactions, cache)."""

from recbench.data.idmap import IdMap
from recbench.data.loading import (
    DEFAULT_DATASET,
    DatasetSpec,
    all_datasets,
    available,
    default_data_dir,
    load_dataset,
)
from recbench.data.model import Dataset, Interactions
from recbench.data.preprocess import Preprocessing

__all__ = [
    "DEFAULT_DATASET",
    "Dataset",
    "DatasetSpec",
    "IdMap",
    "Interactions",
    "Preprocessing",
    "all_datasets",
    "available",
    "default_data_dir",
    "load_dataset",
]
