"""The results store: runs, manifests, tidy metric rows and per-user values as Parquet under the
data directory (see :mod:`recbench.store.runs` for the layout)."""

from __future__ import annotations

from recbench.store.runs import SCHEMA, RunInfo, RunWriter, Store, new_run_id

__all__ = ["SCHEMA", "RunInfo", "RunWriter", "Store", "new_run_id"]
