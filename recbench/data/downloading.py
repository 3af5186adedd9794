"""Downloading registry datasets: fetch the official archive (or a mirror's), verify, install.

Downloads use pooch's HTTP downloader with retries and exponential backoff for transient
failures; the archive is fetched into a temporary directory under ``<data_dir>/downloads`` and
deleted once installed (:func:`recbench.data.installing.install_copy`). Library code never
prints: progress goes to a tqdm-like ``progress`` object and stage messages to ``on_stage``.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from recbench.atomic import staging_dir
from recbench.data.datadir import (
    LOCK_TIMEOUT,
    InstallReport,
    ProgressBar,
    Stage,
    clean_leftovers,
    io_errors,
    lock,
    read_install_manifest,
    report_from_manifest,
    require,
)
from recbench.data.installing import install_copy
from recbench.data.registry import MIRROR_ENV, BuiltinDataset, get_entry, not_installed_message
from recbench.errors import DataError

DEFAULT_TIMEOUT = 60.0
DEFAULT_RETRIES = 3


def _fetch(
    url: str,
    dest: Path,
    *,
    timeout: float,
    retries: int,
    backoff: float,
    progress: ProgressBar | None,
) -> None:
    """Download ``url`` into ``dest`` with pooch, retrying transient failures.

    404-like answers fail at once; timeouts, dropped connections and 5xx answers are retried
    ``retries`` times with exponential backoff. ``dest`` may hold a partial file afterwards:
    the caller deletes it.
    """
    local = _local_path(url)
    if local is not None:
        _copy_with_progress(local, dest, progress)
        return
    pooch = require("pooch")
    requests = require("requests")

    downloader = pooch.HTTPDownloader(
        progressbar=progress if progress is not None else False,
        timeout=timeout,
        chunk_size=1 << 16,
    )
    last = ""
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
            if progress is not None:
                progress.reset()
        try:
            downloader(url, str(dest), None)
            return
        except requests.HTTPError as exc:
            code = exc.response.status_code if exc.response is not None else 0
            reason = exc.response.reason if exc.response is not None else ""
            last = f"HTTP {code} {reason}".strip()
            if code < 500 and code != 429:
                raise DataError(f"download of {url} failed: {last}") from None
        except requests.Timeout:
            last = f"timed out (no data for {timeout:g} s)"
        except requests.ConnectionError as exc:
            last = f"connection failed ({_reason(exc)})"
        except requests.exceptions.ChunkedEncodingError as exc:
            last = f"the connection closed before the download finished ({_reason(exc)})"
        except requests.RequestException as exc:
            last = _reason(exc)
    tries = f"{retries + 1} attempts" if retries else "1 attempt"
    raise DataError(f"download of {url} failed: {last} ({tries}); try again or use --mirror")


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    m = re.search(r"IncompleteRead\(([^)]*)\)", text)
    if m:
        return f"incomplete read: {m.group(1)}"
    return text[:160] or type(exc).__name__


def _local_path(url: str) -> Path | None:
    if url.startswith("file://"):
        return Path(url[len("file://") :])
    if "://" not in url:
        return Path(url).expanduser()
    return None


def _copy_with_progress(src: Path, dest: Path, progress: ProgressBar | None) -> None:
    if not src.is_file():
        raise DataError(f"mirror file not found: {src}")
    if progress is not None:
        progress.total = src.stat().st_size
    with src.open("rb") as fin, dest.open("wb") as fout:
        while block := fin.read(1 << 20):
            fout.write(block)
            if progress is not None:
                progress.update(len(block))
    if progress is not None:
        progress.close()


def _fetch_files(
    files: tuple[str, ...],
    base: str,
    work: Path,
    progress: ProgressBar | None,
    on_stage: Stage | None,
    fetch: dict[str, float],
) -> Path:
    """Fetch each of ``files`` from ``<base>/<file>`` into a directory under ``work``; the
    directory (what :func:`install_copy` then verifies and installs)."""
    root = work / "files"
    root.mkdir()
    for name in files:
        url = f"{base}/{name}"
        if on_stage:
            on_stage(f"downloading {url}")
        part = root / (name + ".part")
        _fetch(
            url,
            part,
            timeout=fetch["timeout"],
            retries=int(fetch["retries"]),
            backoff=fetch["backoff"],
            progress=progress,
        )
        os.replace(part, root / name)
    return root


def resolve_mirror(mirror: str | None) -> str | None:
    """``--mirror`` wins over ``$RECBENCH_MIRROR``; empty means none."""
    return mirror or os.environ.get(MIRROR_ENV) or None


def download_dataset(
    name: str,
    data_dir: Path,
    *,
    mirror: str | None = None,
    progress: ProgressBar | None = None,
    on_stage: Stage | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    backoff: float = 1.0,
    force: bool = False,
    entry: BuiltinDataset | None = None,
    lock_timeout: float = LOCK_TIMEOUT,
) -> InstallReport:
    """Download, verify and install a registry dataset into ``data_dir``.

    ``mirror`` (or ``$RECBENCH_MIRROR``) replaces the registry's base URL: the archive is
    fetched from ``MIRROR/<archive>``; a local directory works too. An installed copy is kept
    unless ``force``. ``entry`` overrides the registry entry (tests, private registries).
    """
    entry = entry or get_entry(name)
    data_dir = Path(data_dir)
    if entry.bundled:
        return InstallReport(name, "bundled", notes=["ships with recbench; nothing to download"])
    mirror = resolve_mirror(mirror)
    urls = entry.download_urls(mirror)
    if not urls:
        raise DataError(not_installed_message(name))
    with lock(data_dir, name, lock_timeout):
        manifest = read_install_manifest(data_dir, name)
        if manifest is not None and not force:
            report = report_from_manifest(name, "already installed", data_dir, manifest)
            report.notes.append("use --force to download it again")
            return report
        clean_leftovers(data_dir, name)
        downloads = data_dir / "downloads"
        archive_name = entry.archive or urls[0].rstrip("/").rsplit("/", 1)[-1]
        errors: list[str] = []
        for url in urls:
            try:
                with (
                    io_errors(f"downloading {name} into {downloads}"),
                    staging_dir(downloads / name) as work,
                ):
                    fetch = {"timeout": timeout, "retries": retries, "backoff": backoff}
                    if entry.files:
                        copy = _fetch_files(entry.files, url, work, progress, on_stage, fetch)
                    else:
                        copy = work / archive_name
                        if on_stage:
                            on_stage(f"downloading {url}")
                        _fetch(
                            url,
                            work / (archive_name + ".part"),
                            timeout=timeout,
                            retries=retries,
                            backoff=backoff,
                            progress=progress,
                        )
                        os.replace(work / (archive_name + ".part"), copy)
                    try:
                        return install_copy(
                            entry,
                            data_dir,
                            copy,
                            action="downloaded",
                            origin=url,
                            is_archive=not entry.files,
                            on_stage=on_stage,
                        )
                    except DataError as exc:
                        raise DataError(f"{exc}; the download from {url} was deleted") from None
            except DataError as exc:
                errors.append(str(exc))
                if len(urls) == 1:
                    raise
        raise DataError(f"{name}: every download location failed; last: {errors[-1]}")
