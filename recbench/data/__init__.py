"""Data layer: raw files -> Dataset (registry, parsers, id maps, interactions, cache)."""

from recbench.data.idmap import IdMap
from recbench.data.loading import DEFAULT_DATASET, DatasetSpec, default_data_dir, load_dataset
from recbench.data.model import Dataset, Interactions

__all__ = [
    "DEFAULT_DATASET",
    "Dataset",
    "DatasetSpec",
    "IdMap",
    "Interactions",
    "default_data_dir",
    "load_dataset",
]
