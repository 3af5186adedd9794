"""Data layer: raw files -> Dataset (registry, downloads, parsers, id maps, interactions, cache).

Modules, bottom up: ``idmap``/``model`` (core types), ``text`` (control characters),
``tabular``/``movielens``/``netflix``/``releases`` (release formats as records),
``ratings_file`` (users' CSV/TSV/Parquet files), ``build`` (frame -> Dataset, warnings),
``cache`` (Parquet cache), ``registry`` (built-in specs), ``datadir`` (data directory layout,
locks, manifests, clean-up), ``verification``, ``user_datasets``, ``installing``,
``downloading``, ``loading`` (``--dataset`` -> Dataset), ``summary``, ``preprocess``.
The names below are the public API; import them from ``recbench.data``.
"""

from recbench.data.datadir import (
    InstallReport,
    clean_stale_data_dir,
    default_data_dir,
    not_installed_message,
    read_install_manifest,
)
from recbench.data.downloading import download_dataset
from recbench.data.idmap import IdMap
from recbench.data.installing import import_dataset, remove_dataset
from recbench.data.loading import (
    DEFAULT_DATASET,
    DatasetSpec,
    all_datasets,
    available,
    load_dataset,
    resolve,
)
from recbench.data.model import Dataset, Interactions
from recbench.data.preprocess import Preprocessing
from recbench.data.summary import dataset_summary
from recbench.data.text import strip_control
from recbench.data.user_datasets import USER_FORMATS, add_dataset

__all__ = [
    "DEFAULT_DATASET",
    "USER_FORMATS",
    "Dataset",
    "DatasetSpec",
    "IdMap",
    "InstallReport",
    "Interactions",
    "Preprocessing",
    "add_dataset",
    "all_datasets",
    "available",
    "clean_stale_data_dir",
    "dataset_summary",
    "default_data_dir",
    "download_dataset",
    "import_dataset",
    "load_dataset",
    "not_installed_message",
    "read_install_manifest",
    "remove_dataset",
    "resolve",
    "strip_control",
]
