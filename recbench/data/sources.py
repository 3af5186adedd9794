"""The steps of the loading line, each a function that never calls back into an earlier one.

``resolve_source(spec) -> Source`` (which dataset, where, which reader: the registry and the
user's datasets are looked up once, here), ``ensure_local(source)`` (verify a bundled copy,
check or download an installed one, check a user's files; records what the files hold),
``fingerprint(source)`` (the one cache-key recipe), ``read_source(source)`` (the one reader
table, :data:`recbench.data.formats.FORMATS`) and ``build_source`` (``build_dataset`` with the
source's metadata). :func:`recbench.data.loading.load_dataset` runs them in this order, with
the Parquet cache (:mod:`recbench.data.cache`) between fingerprint and read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from recbench.data import cache
from recbench.data.build import build_dataset
from recbench.data.datadir import (
    ProgressBar,
    check_installed,
    default_data_dir,
    installed_dir,
    read_install_manifest,
)
from recbench.data.downloading import download_dataset
from recbench.data.formats import FORMAT_VERSION, ReadOptions, detect_format, get_format
from recbench.data.item_features import read_item_features
from recbench.data.model import Dataset
from recbench.data.netflix import looks_like_netflix, netflix_sources
from recbench.data.ratings_file import (
    PARSER_VERSION,
    absolute_path,
    check_ratings_path,
    decode_sep,
    parse_columns,
)
from recbench.data.registry import (
    BuiltinDataset,
    datasets_root,
    entries,
    not_installed_message,
)
from recbench.data.tabular import Parsed
from recbench.data.user_datasets import SEQUENCE_AND_SPLIT_FORMATS, UserDataset, user_datasets
from recbench.errors import DataError, RecbenchError, UsageError, suggest

DEFAULT_DATASET = "ml-latest-small"
#: Directories with more files than this are fingerprinted by file stats, not content hashes.
MAX_HASHED_FILES = 64
#: user dataset formats (``datasets add --format``) -> the reader table's format (the
#: sequence and given-split formats are named as in the table)
USER_READERS = {
    "csv": "csv",
    "tsv": "tsv",
    "parquet": "parquet",
    "netflix": "netflix-ratings",
    **{f: f for f in SEQUENCE_AND_SPLIT_FORMATS},
}
#: reader-table formats read as rating tables (``--columns`` / ``--sep`` apply)
TABLE_FORMATS = ("csv", "tsv", "parquet", "table", "given-tables")

SourceKind = Literal["bundled", "installed", "user", "file"]


@dataclass(frozen=True)
class DatasetSpec:
    """How to load a dataset; recorded in model manifests so runs can be reproduced."""

    dataset: str = DEFAULT_DATASET
    columns: str | None = None
    sep: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "columns": self.columns, "sep": self.sep}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatasetSpec:
        return cls(dataset=d["dataset"], columns=d.get("columns"), sep=d.get("sep"))


@dataclass(frozen=True)
class Source:
    """Where a dataset's data is and how to read it.

    ``kind``: ``bundled`` (inside the package), ``installed`` (downloaded or imported into the
    data directory), ``user`` (registered with ``datasets add``) or ``file`` (a path).
    ``format`` names a record of the reader table; ``spec`` is the spec to record (a file path
    made absolute). ``contents`` is filled by :func:`ensure_local`: one ``label:sha256`` part
    per source file, what :func:`fingerprint` keys the cache by.
    """

    name: str
    kind: SourceKind
    path: Path
    format: str
    spec: DatasetSpec
    options: ReadOptions = field(default_factory=ReadOptions)
    builtin: BuiltinDataset | None = None
    item_features: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)
    contents: tuple[str, ...] = ()


# --- 1. resolve --------------------------------------------------------------------------------


def looks_like_path(name: str) -> bool:
    """Names with a separator or a dot are paths (user dataset names can have neither)."""
    return os.sep in name or "/" in name or "." in Path(name).name


def resolve_source(spec: DatasetSpec | str, data_dir: Path | None = None) -> Source:
    """The source ``spec`` names: a built-in dataset, a user dataset (registered in
    ``data_dir``, else :func:`default_data_dir`) or a file path, in that order of lookup.

    A registered name wins over a same-named file in the working directory (``./NAME`` is the
    file). Options that do not apply are a UsageError; a missing file a DataError; an unknown
    name a UsageError naming close matches.
    """
    if isinstance(spec, str):
        spec = DatasetSpec(spec)
    name = spec.dataset
    builtin = entries().get(name)
    if builtin is not None:
        if spec.columns or spec.sep:
            raise UsageError("--columns and --sep apply to files, not to registry datasets")
        return builtin_source(builtin, data_dir)
    users: dict[str, UserDataset] = {}
    if not looks_like_path(name):
        users = user_datasets(data_dir if data_dir is not None else default_data_dir())
        if name in users:
            if spec.columns or spec.sep:
                raise UsageError(
                    f"--columns and --sep apply to files; '{name}' is a registered "
                    "dataset (re-add it with `recbench datasets add --force` to change them)"
                )
            return user_source(users[name])
    path = Path(name).expanduser()
    if path.exists() or path.is_symlink():
        return _file_source(absolute_path(path), spec)
    if looks_like_path(name):
        raise DataError(f"ratings file not found: {absolute_path(path)}")
    names = sorted({*entries(), *users})
    raise UsageError(
        f"unknown dataset '{name}'{suggest(name, names)} "
        f"(available: {', '.join(names)}; or give a path to a CSV/TSV/Parquet file)"
    )


def builtin_source(entry: BuiltinDataset, data_dir: Path | None = None) -> Source:
    """The source of a built-in dataset: inside the package, or installed in ``data_dir``."""
    spec = DatasetSpec(entry.name)
    if entry.bundled:
        root = datasets_root() / entry.name
        info: dict[str, Any] = {"kind": "bundled", "path": str(root)}
        return Source(entry.name, "bundled", root, entry.format, spec, builtin=entry, info=info)
    root = installed_dir(data_dir if data_dir is not None else default_data_dir(), entry.name)
    return Source(entry.name, "installed", root, entry.format, spec, builtin=entry)


def user_source(record: UserDataset) -> Source:
    """The source of a dataset registered with ``recbench datasets add``."""
    path = Path(record.path)
    parts = tuple(sorted((record.parts or {}).items()))
    options = ReadOptions(parse_columns(record.columns), decode_sep(record.sep), parts)
    feats = Path(record.item_features) if record.item_features else None
    info = {"kind": "user", "path": str(path), "format": record.format}
    spec = DatasetSpec(record.name)
    fmt = USER_READERS[record.format]
    return Source(record.name, "user", path, fmt, spec, options, item_features=feats, info=info)


def _file_source(path: Path, spec: DatasetSpec) -> Source:
    fmt = detect_format(path)
    if fmt is not None:
        if spec.columns or spec.sep:
            what = get_format(fmt).summary.split(":")[0]
            raise UsageError(f"{path} is a {what}; --columns and --sep do not apply")
        info = {"kind": "file", "path": str(path.resolve()), "format": fmt}
        return Source(path.name, "file", path, fmt, DatasetSpec(str(path)), info=info)
    check_ratings_path(path)
    netflix = looks_like_netflix(path)
    if netflix and (spec.columns or spec.sep):
        raise UsageError(f"{path} is in Netflix-Prize format; --columns and --sep do not apply")
    options = ReadOptions(parse_columns(spec.columns), decode_sep(spec.sep))
    fmt = "netflix-ratings" if netflix else "table"
    resolved = DatasetSpec(str(path), spec.columns, spec.sep)
    info = {"kind": "file", "path": str(path.resolve())}
    return Source(path.name, "file", path, fmt, resolved, options, info=info)


#: the split a command uses when none is given: a held-out share of rows, or the dataset's own
DEFAULT_SPLIT = "holdout:0.2"
#: the split of a source in a sequence format (SASRec pairs, S3-Rec lines) when none is given
SEQUENCE_SPLIT = "leave-one-out"
#: how ``--split`` help states the defaults of :func:`default_split`
SPLIT_DEFAULT_HELP = (
    f" Default: given for data that comes with its own split, {SEQUENCE_SPLIT} for sequence "
    f"files (SASRec, S3-Rec), else {DEFAULT_SPLIT}."
)


def default_split(spec: DatasetSpec | str, data_dir: Path | None = None) -> str:
    """``given`` for a dataset that comes with its own train/test split (a registry entry
    marked ``split = "given"``, or a source in a split format: LightGCN, RecBole benchmark,
    NCF, tables named with ``--train/--test``), :data:`SEQUENCE_SPLIT` for a sequence format
    (SASRec, S3-Rec), else :data:`DEFAULT_SPLIT`. A spec that does
    not resolve gets the usual default (loading then says what is wrong)."""
    try:
        source = resolve_source(spec, data_dir)
    except RecbenchError:
        return DEFAULT_SPLIT
    given = source.builtin is not None and source.builtin.split == "given"
    fmt = get_format(source.format)
    if given or fmt.split:
        return "given"
    return SEQUENCE_SPLIT if fmt.sequence else DEFAULT_SPLIT


# --- 2. ensure local ---------------------------------------------------------------------------


def ensure_local(
    source: Source,
    data_dir: Path | None = None,
    *,
    download: bool = False,
    progress: ProgressBar | None = None,
) -> Source:
    """The source with its files present and checked, and ``contents`` recorded.

    Bundled files must match their pinned sha256s. A registry dataset that is not installed is
    a DataError naming the command that gets it, unless ``download`` allows fetching it now
    (``progress`` receives the download's progress). A user's files must still exist; their
    sha256s are remembered in ``data_dir`` by file stat (:func:`cache.file_sha256`).
    """
    if source.kind == "bundled":
        return replace(source, contents=tuple(_bundled_sums(source)))
    if source.kind == "installed":
        return _installed(source, data_dir, download, progress)
    if source.kind == "user":
        _check_user_files(source)
    parts = _content_key(source, data_dir)
    info = dict(source.info)
    if source.kind == "file":
        info["sha256"] = parts[0]
    if source.item_features is not None:
        parts.append("features=" + cache.file_sha256(source.item_features, data_dir))
    return replace(source, contents=tuple(parts), info=info)


def _bundled_sums(source: Source) -> list[str]:
    """``member:sha256`` of a bundled dataset's files, each checked against the registry."""
    assert source.builtin is not None
    name, root, sums = source.name, source.path, []
    for member, expected in source.builtin.members.items():
        path = root / member
        if not path.exists():
            raise DataError(f"bundled dataset {name}: {member} is missing from {root}")
        got = cache.sha256_file(path)
        if got != expected:
            raise DataError(
                f"bundled dataset {name}: {member} fails its checksum "
                f"(sha256 {got[:12]}…, expected {expected[:12]}…); reinstall recbench"
            )
        sums.append(f"{member}:{got}")
    return sums


def _installed(
    source: Source, data_dir: Path | None, download: bool, progress: ProgressBar | None
) -> Source:
    """A downloaded or imported registry dataset, fetched now when allowed."""
    assert source.builtin is not None
    name, data_dir = source.name, data_dir if data_dir is not None else default_data_dir()
    if read_install_manifest(data_dir, name) is None:
        if not download:
            raise DataError(not_installed_message(name))
        download_dataset(name, data_dir, progress=progress)
    manifest = check_installed(data_dir, name, source.builtin.get_verb)
    verification = manifest.get("verification") or {}
    info = {
        "kind": manifest.get("action", "installed"),
        "path": str(source.path),
        "origin": manifest.get("origin", ""),
        "verification": verification.get("status", "unverified"),
    }
    sums = [f"{rel}:{f['sha256']}" for rel, f in sorted(manifest["files"].items())]
    return replace(source, info=info, contents=tuple(sums))


def _check_user_files(source: Source) -> None:
    path, name, netflix = source.path, source.name, source.format == "netflix-ratings"
    for file in (path, *(Path(f) for _, f in source.options.parts)):
        if not file.exists() and not file.is_symlink():
            raise DataError(
                f"user dataset '{name}': {file} no longer exists; re-register it with "
                f"`recbench datasets add {name} PATH --force` or `recbench datasets remove`"
            )
    if netflix and not path.is_dir():
        check_ratings_path(path, archives_ok=True)
    elif source.format in TABLE_FORMATS:
        check_ratings_path(path)
    if source.item_features is not None and not source.item_features.is_file():
        raise DataError(f"user dataset '{name}': {source.item_features} no longer exists")


def _content_key(source: Source, data_dir: Path | None) -> list[str]:
    """Content parts of a user's file or directory: sha256s (of every file a multi-file
    format reads), or stats for big directories."""
    path = source.path
    files = get_format(source.format).source_files(path, source.options)
    if files is not None:
        return [f"{f.name}:{cache.file_sha256(f, data_dir)}" for f in files]
    if path.is_file():
        return [cache.file_sha256(path, data_dir)]
    files = netflix_sources(path)
    if len(files) <= MAX_HASHED_FILES:
        return [f"{f.name}:{cache.file_sha256(f, data_dir)}" for f in files]
    stats = [f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files]
    return ["stats", cache.combined_key(stats)]


# --- 3. fingerprint ----------------------------------------------------------------------------


def fingerprint(source: Source) -> str:
    """The cache key of a local source: the one recipe for every kind of source.

    It covers the dataset's name and kind, what its files hold, the reader and its options,
    the parser version and :data:`FORMAT_VERSION`, so a change to any of them is a new key.
    """
    if not source.contents:
        raise ValueError(f"fingerprint of {source.name}: run ensure_local first")
    opts = source.options
    return cache.combined_key(
        [
            f"dataset={source.name}",
            f"source={source.kind}",
            *source.contents,
            f"format={source.format}",
            f"columns={opts.columns}",
            f"sep={opts.sep!r}",
            f"parser={PARSER_VERSION}",
            f"format-version={FORMAT_VERSION}",
        ]
    )


# --- 4. read and build -------------------------------------------------------------------------


def read_source(source: Source) -> Parsed:
    """Parse a local source with its format's reader (plus a user's item features file)."""
    parsed = get_format(source.format).read(source.path, source.options)
    if source.item_features is not None:
        parsed.item_features = read_item_features(source.item_features, source.format)
    return parsed


def build_source(source: Source, parsed: Parsed, key: str) -> Dataset:
    """The Dataset of a parsed source, with its metadata; ``key`` becomes its checksum."""
    entry = source.builtin
    return build_dataset(
        source.name,
        parsed.ratings,
        item_features=parsed.item_features,
        user_features=parsed.user_features,
        checksum=key,
        rating_scale=entry.rating_scale if entry else None,
        license=entry.license if entry else "",
        citation=entry.citation if entry else "",
        source={**source.info, **parsed.info},
        dedup=get_format(source.format).dedup,
    )


__all__ = [
    "DEFAULT_DATASET",
    "DEFAULT_SPLIT",
    "DatasetSpec",
    "Source",
    "build_source",
    "builtin_source",
    "default_split",
    "ensure_local",
    "fingerprint",
    "read_source",
    "resolve_source",
    "user_source",
]
