"""Users' own datasets: ``recbench datasets add NAME FILE``, then ``--dataset NAME`` everywhere.

Registrations live in ``<data_dir>/user-datasets.json`` as :class:`UserDataset` records that
point at the user's files (read where they are, never copied) and say how to read them. The list
is written atomically under a lock. Loading one is the same line as every other dataset
(:mod:`recbench.data.loading`); registering one (:func:`recbench.data.loading.add_dataset`)
loads it once.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from recbench.atomic import atomic_write_text
from recbench.data.datadir import io_errors, lock
from recbench.data.registry import registry
from recbench.errors import DataError, UsageError

#: Sequence and given-split formats a user dataset can name (as in the reader table,
#: :data:`recbench.data.formats.FORMATS`).
SEQUENCE_AND_SPLIT_FORMATS = (
    "sasrec",
    "s3rec",
    "recbole",
    "amazon",
    "lightgcn",
    "recbole-split",
    "ncf",
    "given-tables",
)
#: Formats of users' own datasets (``recbench datasets add --format``).
USER_FORMATS = ("csv", "tsv", "parquet", "netflix", *SEQUENCE_AND_SPLIT_FORMATS)
USER_REGISTRY = "user-datasets.json"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


@dataclass(frozen=True)
class UserDataset:
    """A dataset a user registered with ``recbench datasets add``: their files, how to read them."""

    name: str
    path: str
    format: str
    columns: str | None = None
    sep: str | None = None
    item_features: str | None = None
    #: a given split of tables (``--train/--valid/--test``): the other parts' files by part
    #: (``path`` is the training file)
    parts: dict[str, str] | None = None
    added: str = ""
    #: ratings, users and items as loaded when added, with the files' stamp then (see
    #: :func:`counts_now`); None in lists written before counts were kept
    counts: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["kind"] = "user"
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> UserDataset:
        keep = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in keep})


def check_user_name(name: str) -> None:
    """A user dataset name must not shadow a built-in one or look like a file path."""
    if not _NAME.fullmatch(name):
        raise UsageError(
            f"dataset name '{name}' must be 1-64 letters, digits, '-' or '_' "
            "(no dots or slashes: those mean file paths)"
        )
    if name in registry():
        raise UsageError(f"'{name}' is a built-in dataset; choose another name")


def _user_registry_path(data_dir: Path) -> Path:
    return Path(data_dir) / USER_REGISTRY


def user_datasets(data_dir: Path | None) -> dict[str, UserDataset]:
    """The user's registered datasets in ``data_dir`` (empty when none or no data dir)."""
    if data_dir is None:
        return {}
    path = _user_registry_path(data_dir)
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        items = raw["datasets"]
        return {name: UserDataset.from_dict({**d, "name": name}) for name, d in items.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DataError(f"{path} is not a readable recbench user-dataset list ({exc})") from None


def _write_user_registry(data_dir: Path, items: dict[str, UserDataset]) -> None:
    path = _user_registry_path(data_dir)
    doc = {
        "format": 1,
        "datasets": {
            n: {k: v for k, v in asdict(d).items() if k != "name"} for n, d in sorted(items.items())
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(doc, indent=1))


def save_user_dataset(data_dir: Path, ds: UserDataset) -> None:
    """Add or replace one user dataset in ``<data_dir>/user-datasets.json`` (atomic write)."""
    with io_errors(f"writing {_user_registry_path(data_dir)}"), lock(data_dir, "user-datasets"):
        items = user_datasets(data_dir)
        items[ds.name] = ds
        _write_user_registry(data_dir, items)


def delete_user_dataset(data_dir: Path, name: str) -> bool:
    """Forget one user dataset (their files are left alone); False when it was not registered."""
    with io_errors(f"writing {_user_registry_path(data_dir)}"), lock(data_dir, "user-datasets"):
        items = user_datasets(data_dir)
        if name not in items:
            return False
        del items[name]
        _write_user_registry(data_dir, items)
    return True


def files_stamp(record: UserDataset) -> list[list[int]] | None:
    """Size and modification time of a user dataset's files (None when one is missing): what
    tells whether the counts recorded when it was added still hold."""
    paths = [Path(record.path)] + ([Path(record.item_features)] if record.item_features else [])
    paths += [Path(f) for _, f in sorted((record.parts or {}).items())]
    if paths[0].is_dir():  # a split's or a release's directory: its files, not its entry list
        paths += sorted(p for p in paths[0].iterdir() if p.is_file())
    try:
        stats = [p.stat() for p in paths]
    except OSError:
        return None
    return [[st.st_size, st.st_mtime_ns] for st in stats]


def counts_now(record: UserDataset) -> dict[str, int] | None:
    """The ratings, users and items recorded when ``record`` was added, while its files are
    unchanged since (same size and mtime); None when unknown or the files changed."""
    counts = record.counts
    if not isinstance(counts, dict) or counts.get("stamp") != files_stamp(record):
        return None
    try:
        return {key: int(counts[key]) for key in ("ratings", "users", "items")}
    except (KeyError, TypeError, ValueError):
        return None
