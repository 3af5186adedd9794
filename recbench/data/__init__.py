"""Data layer: raw files -> Dataset (registry, downloads, parsers, id maps, interactions, cache).

Modules, bottom up: ``idmap``/``model`` (core types), ``text`` (control characters),
``formats`` (the one reader table), ``tabular``/``movielens``/``netflix``/``ratings_file``/
``item_features`` (the readers), ``build`` (frame -> Dataset, warnings), ``cache`` (Parquet
cache), ``registry`` (built-in specs), ``datadir`` (data directory layout, locks, manifests,
clean-up), ``verification``, ``user_datasets``, ``installing``, ``downloading``, ``sources``
(the steps of the loading line), ``loading`` (``--dataset`` -> Dataset along that line),
``summary``, ``preprocess``.
The names below are the public API; import them from ``recbench.data``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: public name -> the module that defines it; imported on first use (PEP 562), so that
#: importing one data module (the registry, say) does not import every reader with it
_PUBLIC = {
    "DEFAULT_DATASET": "recbench.data.loading",
    "Dataset": "recbench.data.model",
    "DatasetSpec": "recbench.data.loading",
    "IdMap": "recbench.data.idmap",
    "InstallReport": "recbench.data.datadir",
    "Interactions": "recbench.data.model",
    "Preprocessing": "recbench.data.preprocess",
    "Sequences": "recbench.data.model",
    "Source": "recbench.data.sources",
    "USER_FORMATS": "recbench.data.user_datasets",
    "add_dataset": "recbench.data.loading",
    "all_datasets": "recbench.data.loading",
    "available": "recbench.data.loading",
    "clean_stale_data_dir": "recbench.data.datadir",
    "dataset_summary": "recbench.data.summary",
    "default_data_dir": "recbench.data.datadir",
    "download_dataset": "recbench.data.downloading",
    "import_dataset": "recbench.data.installing",
    "load_dataset": "recbench.data.loading",
    "not_installed_message": "recbench.data.registry",
    "read_install_manifest": "recbench.data.datadir",
    "remove_dataset": "recbench.data.installing",
    "resolve": "recbench.data.loading",
    "resolve_source": "recbench.data.sources",
    "strip_control": "recbench.data.text",
}

if TYPE_CHECKING:
    from recbench.data.datadir import (
        InstallReport,
        clean_stale_data_dir,
        default_data_dir,
        read_install_manifest,
    )
    from recbench.data.downloading import download_dataset
    from recbench.data.idmap import IdMap
    from recbench.data.installing import import_dataset, remove_dataset
    from recbench.data.loading import (
        DEFAULT_DATASET,
        DatasetSpec,
        add_dataset,
        all_datasets,
        available,
        load_dataset,
        resolve,
    )
    from recbench.data.model import Dataset, Interactions, Sequences
    from recbench.data.preprocess import Preprocessing
    from recbench.data.registry import not_installed_message
    from recbench.data.sources import Source, resolve_source
    from recbench.data.summary import dataset_summary
    from recbench.data.text import strip_control
    from recbench.data.user_datasets import USER_FORMATS


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'recbench.data' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_DATASET",
    "USER_FORMATS",
    "Dataset",
    "DatasetSpec",
    "IdMap",
    "InstallReport",
    "Interactions",
    "Preprocessing",
    "Sequences",
    "Source",
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
    "resolve_source",
    "strip_control",
]
