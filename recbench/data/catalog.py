"""What ``recbench datasets info`` describes: a dataset's summary (loaded from the cache when
possible) with how it was installed, or for a registry dataset not here yet, its registry entry
and how to get it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recbench.data.datadir import read_install_manifest
from recbench.data.loading import DatasetSpec, load_dataset, resolve
from recbench.data.registry import get_entry, not_installed_message, registry
from recbench.data.summary import dataset_summary


def dataset_info(name: str, data_dir: Path) -> dict[str, Any]:
    """The description of ``name`` (a registry name, one of yours, or a ratings file)."""
    known = name in registry()
    if known:
        entry = get_entry(name)
        if not entry.bundled and read_install_manifest(data_dir, name) is None:
            doc = {**entry.to_dict(), "status": "not installed"}
            doc["get_it"] = not_installed_message(name)
            return doc
    spec = resolve(DatasetSpec(name), data_dir)
    doc = dataset_summary(load_dataset(spec, data_dir))
    manifest = read_install_manifest(data_dir, name) if known else None
    if manifest is not None:
        doc["installed"] = {
            "action": manifest.get("action"),
            "origin": manifest.get("origin"),
            "when": manifest.get("installed"),
            "verification": manifest.get("verification"),
        }
    return doc
