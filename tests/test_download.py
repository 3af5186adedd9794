"""Downloads and imports against a real HTTP server on 127.0.0.1 serving archives the tests build:
success for every format, wrong checksum, truncated archive, 404, a stalled server, retries,
path traversal, concurrent downloads, interrupted downloads, disk-full and permission errors,
plus the `recbench datasets` commands. Nothing here touches the internet."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

import recbench.data.registry as reg
from recbench.data import archives, datadir, downloading, installing, load_dataset
from recbench.data.registry import BuiltinDataset, get_entry
from recbench.data.sources import builtin_source
from recbench.errors import DataError, UsageError
from tests.helpers import run_cli
from tests.test_ds_fixtures import (
    N_RATINGS,
    N_USERS,
    FileServer,
    evil_zip,
    file_server,
    md5,
    netflix_frame,
    netflix_prize_archive,
    serve,
    sha256,
    symlink_tar,
    write_ml1m,
    write_ml20m,
    write_ml100k,
    zip_dir,
)

__all__ = ["file_server"]  # the fixture, re-exported for pytest

REPO = Path(__file__).resolve().parents[1]
FAST = {"timeout": 5.0, "retries": 0, "backoff": 0.0}


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's own mirror or auto-download settings must not leak into these tests."""
    monkeypatch.delenv("RECBENCH_MIRROR", raising=False)
    monkeypatch.delenv("RECBENCH_AUTO_DOWNLOAD", raising=False)


def one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    msg = str(exc.value)
    assert msg and "\n" not in msg, msg
    return msg


def pinned(name: str, archive: Path | None = None, **kw: object) -> BuiltinDataset:
    """The registry entry of ``name`` pinned to a fixture archive's md5 (members unpinned)."""
    md5sum = md5(archive) if archive is not None else None
    base = {"archive_md5": md5sum, "archive_sha256": None, "members": {}}
    return replace(get_entry(name), **{**base, **kw})  # type: ignore[arg-type]


def use_entries(monkeypatch: pytest.MonkeyPatch, *entries: BuiltinDataset) -> None:
    """Make the registry hand out these entries (for the CLI and load_dataset)."""
    real = reg._entries()
    patched = {**real, **{e.name: e for e in entries}}
    monkeypatch.setattr(reg, "_entries", lambda: patched)


def leftovers(data: Path) -> list[str]:
    """Partial files or staging directories an attempt left behind."""
    found = []
    for sub in ("datasets", "downloads"):
        d = data / sub
        if d.is_dir():
            found += [p.name for p in d.iterdir() if p.name.startswith(".")]
    return found


def ml100k_zip(tmp: Path) -> Path:
    return zip_dir(write_ml100k(tmp / "src100k"), tmp / "ml-100k.zip", "ml-100k")


# --- success, every format ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "build", "n_items"),
    [
        ("ml-100k", lambda t: ml100k_zip(t), 5),
        ("ml-1m", lambda t: zip_dir(write_ml1m(t / "s"), t / "ml-1m.zip", "ml-1m"), 5),
        (
            "ml-10m",
            lambda t: zip_dir(
                write_ml1m(t / "s", users=False, tags=True, half=True),
                t / "ml-10m.zip",
                "ml-10M100K",
            ),
            5,
        ),
        ("ml-20m", lambda t: zip_dir(write_ml20m(t / "s"), t / "ml-20m.zip", "ml-20m"), 5),
    ],
)
def test_download_every_movielens_format(
    tmp_path: Path, monkeypatch, file_server: FileServer, name, build, n_items
) -> None:  # type: ignore[no-untyped-def]
    archive = build(tmp_path)
    mirror = serve(file_server, archive)
    entry = pinned(name, archive)
    use_entries(monkeypatch, entry)
    data = tmp_path / "data"
    with pytest.raises(DataError, match=f"recbench datasets download {name}"):
        load_dataset(name, data_dir=data)  # never downloads implicitly
    report = downloading.download_dataset(name, data, mirror=mirror, **FAST)
    assert report.action == "downloaded"
    assert report.verified and report.verification["method"] == "archive checksum"
    assert report.origin == f"{mirror}/{archive.name}"
    ds = load_dataset(name, data_dir=data)
    assert (len(ds.interactions), ds.n_users, ds.n_items) == (N_RATINGS, N_USERS, n_items)
    assert ds.source["kind"] == "downloaded" and ds.source["verification"] == "verified"
    assert leftovers(data) == []
    again = downloading.download_dataset(name, data, mirror=mirror, **FAST)
    assert again.action == "already installed"
    assert file_server.count(archive.name) == 1


def test_download_netflix_through_a_mirror(tmp_path: Path, monkeypatch, file_server) -> None:  # type: ignore[no-untyped-def]
    archive = netflix_prize_archive(tmp_path)
    entry = pinned("netflix", archive)
    use_entries(monkeypatch, entry)
    data = tmp_path / "data"
    with pytest.raises(DataError, match="no public download"):
        downloading.download_dataset("netflix", data, **FAST)
    monkeypatch.setenv("RECBENCH_MIRROR", serve(file_server, archive))
    report = downloading.download_dataset("netflix", data, **FAST)
    assert report.verified
    installed = datadir.installed_dir(data, "netflix")
    assert (installed / "training_set.tar").is_file()  # kept whole, parsed streaming
    ds = load_dataset("netflix", data_dir=data)
    assert len(ds.interactions) == len(netflix_frame())
    assert ds.item_features is not None
    assert "Alien Hunter, The Sequel, Part 2" in set(ds.item_features["title"])


def test_members_verify_a_repackaged_archive(tmp_path: Path, file_server) -> None:  # type: ignore[no-untyped-def]
    """The archive md5 differs (a mirror re-zipped it) but every pinned member matches."""
    src = write_ml100k(tmp_path / "src")
    archive = zip_dir(src, tmp_path / "ml-100k.zip", "ml-100k")
    members = {m: sha256(src / m) for m in ("u.data", "u.item", "u.user")}
    entry = pinned("ml-100k", archive, archive_md5="0" * 32, members=members)
    report = downloading.download_dataset(
        "ml-100k", tmp_path / "d", mirror=serve(file_server, archive), entry=entry, **FAST
    )
    v = report.verification
    assert v is not None and v["status"] == "verified"
    assert v["method"] == "pinned member checksums"
    assert any("not the published" in c for c in v["checked"])


def test_unpinned_download_is_accepted_but_reported(tmp_path: Path, file_server) -> None:  # type: ignore[no-untyped-def]
    archive = zip_dir(write_ml20m(tmp_path / "s"), tmp_path / "ml-latest.zip", "ml-latest")
    entry = pinned("ml-latest", None)
    report = downloading.download_dataset(
        "ml-latest", tmp_path / "d", mirror=serve(file_server, archive), entry=entry, **FAST
    )
    assert report.verification is not None and report.verification["status"] == "unverified"
    assert any("pins no checksum" in u for u in report.verification["unverified"])
    assert any(sha256(archive) in u for u in report.verification["unverified"])


def test_internal_checksums_txt_is_checked(tmp_path: Path, file_server) -> None:  # type: ignore[no-untyped-def]
    src = write_ml20m(tmp_path / "s")
    (src / "checksums.txt").write_text(f"{md5(src / 'ratings.csv')}  ratings.csv\n")
    good = zip_dir(src, tmp_path / "ml-32m.zip", "ml-32m")
    entry = pinned("ml-32m", None)
    report = downloading.download_dataset(
        "ml-32m", tmp_path / "d", mirror=serve(file_server, good), entry=entry, **FAST
    )
    assert report.verification is not None
    assert any("checksums.txt" in c for c in report.verification["checked"])
    (src / "checksums.txt").write_text(f"{'0' * 32}  ratings.csv\n")
    (tmp_path / "bad").mkdir()
    bad = zip_dir(src, tmp_path / "bad" / "ml-32m.zip", "ml-32m")
    with pytest.raises(DataError) as exc:
        downloading.download_dataset(
            "ml-32m", tmp_path / "d2", mirror=serve(file_server, bad), entry=entry, **FAST
        )
    assert "checksums.txt" in one_line(exc)


def test_local_directory_mirror(tmp_path: Path) -> None:
    archive = ml100k_zip(tmp_path)
    report = downloading.download_dataset(
        "ml-100k", tmp_path / "d", mirror=str(tmp_path), entry=pinned("ml-100k", archive), **FAST
    )
    assert report.verified


# --- failures ----------------------------------------------------------------------------------


def test_wrong_checksum_is_removed(tmp_path: Path, file_server) -> None:  # type: ignore[no-untyped-def]
    archive = ml100k_zip(tmp_path)
    entry = pinned("ml-100k", archive, archive_md5="0" * 32)
    data = tmp_path / "data"
    with pytest.raises(DataError) as exc:
        downloading.download_dataset(
            "ml-100k", data, mirror=serve(file_server, archive), entry=entry, **FAST
        )
    msg = one_line(exc)
    assert "failed verification" in msg and "md5" in msg and "was deleted" in msg
    assert datadir.read_install_manifest(data, "ml-100k") is None
    assert not datadir.installed_dir(data, "ml-100k").exists()
    assert leftovers(data) == []


def test_truncated_download_never_counts(tmp_path: Path, file_server) -> None:  # type: ignore[no-untyped-def]
    archive = ml100k_zip(tmp_path)
    entry = pinned("ml-100k", archive)
    data = tmp_path / "data"
    mirror = serve(file_server, archive, mode="truncate")
    with pytest.raises(DataError) as exc:
        downloading.download_dataset("ml-100k", data, mirror=mirror, entry=entry, **FAST)
    assert "closed before the download finished" in one_line(exc)
    assert datadir.read_install_manifest(data, "ml-100k") is None and leftovers(data) == []


def test_truncated_archive_served_whole(tmp_path: Path, file_server) -> None:  # type: ignore[no-untyped-def]
    """A server that serves a cut archive with a matching length: checksum or zip check fails."""
    archive = ml100k_zip(tmp_path)
    cut = tmp_path / "cut" / "ml-100k.zip"
    cut.parent.mkdir()
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size * 2 // 3])
    mirror = serve(file_server, cut)
    data = tmp_path / "data"
    with pytest.raises(DataError) as exc:
        downloading.download_dataset(
            "ml-100k", data, mirror=mirror, entry=pinned("ml-100k", archive)
        )
    assert "failed verification" in one_line(exc)
    with pytest.raises(DataError) as exc:  # nothing pinned: the archive itself is unreadable
        downloading.download_dataset("ml-100k", data, mirror=mirror, entry=pinned("ml-100k", None))
    assert "corrupt or truncated" in one_line(exc) or "not a zip or tar" in one_line(exc)
    assert leftovers(data) == []


def test_404_fails_at_once(tmp_path: Path, file_server) -> None:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    with pytest.raises(DataError) as exc:
        downloading.download_dataset(
            "ml-100k",
            tmp_path / "d",
            mirror=file_server.url,
            entry=pinned("ml-100k", None),
            retries=3,
            backoff=5.0,
        )
    assert "HTTP 404" in one_line(exc)
    assert time.monotonic() - start < 3  # no retries with a 5 s backoff
    assert file_server.count("ml-100k.zip") == 1


def test_stalled_server_times_out(tmp_path: Path, file_server) -> None:  # type: ignore[no-untyped-def]
    archive = ml100k_zip(tmp_path)
    mirror = serve(file_server, archive, mode="stall")
    start = time.monotonic()
    with pytest.raises(DataError) as exc:
        downloading.download_dataset(
            "ml-100k",
            tmp_path / "d",
            mirror=mirror,
            entry=pinned("ml-100k", archive),
            timeout=1.0,
            retries=0,
        )
    assert "timed out" in one_line(exc)
    assert time.monotonic() - start < 2.9  # the handler sleeps 3 s
    assert leftovers(tmp_path / "d") == []


class Recorder:
    """A tqdm-like progress object that records what pooch and the downloader tell it."""

    def __init__(self) -> None:
        self.total: int | float | None = None
        self.n = 0
        self.resets = 0
        self.closed = 0

    def update(self, n: int) -> None:
        self.n += n

    def reset(self) -> None:
        self.resets += 1
        self.n = 0

    def close(self) -> None:
        self.closed += 1


def test_transient_failure_is_retried_with_progress(tmp_path: Path, file_server) -> None:  # type: ignore[no-untyped-def]
    archive = ml100k_zip(tmp_path)
    mirror = serve(file_server, archive, mode="fail-once")
    bar = Recorder()
    stages: list[str] = []
    report = downloading.download_dataset(
        "ml-100k",
        tmp_path / "d",
        mirror=mirror,
        entry=pinned("ml-100k", archive),
        progress=bar,
        on_stage=stages.append,
        timeout=5.0,
        retries=2,
        backoff=0.0,
    )
    assert report.verified
    assert file_server.count("ml-100k.zip") == 2
    assert bar.total == archive.stat().st_size and bar.n == bar.total and bar.closed == 1
    assert any(s.startswith("downloading") for s in stages)
    assert any(s.startswith("extracting") for s in stages)


def test_path_traversal_member_is_refused(tmp_path: Path, file_server) -> None:  # type: ignore[no-untyped-def]
    evil = evil_zip(tmp_path / "ml-100k.zip", write_ml100k(tmp_path / "good"))
    data = tmp_path / "deep" / "data"
    with pytest.raises(DataError) as exc:
        downloading.download_dataset(
            "ml-100k", data, mirror=serve(file_server, evil), entry=pinned("ml-100k", evil), **FAST
        )
    msg = one_line(exc)
    assert "'../../evil.txt'" in msg and "refused" in msg
    assert not list(tmp_path.rglob("evil.txt"))
    assert leftovers(data) == [] and datadir.read_install_manifest(data, "ml-100k") is None
    link = symlink_tar(tmp_path / "ml-100k.tar.gz", tmp_path / "good")
    with pytest.raises(DataError, match="is a link"):
        installing.import_dataset("ml-100k", link, data, entry=pinned("ml-100k", None))


def test_unsafe_names_are_all_caught(tmp_path: Path) -> None:
    for name in ("/abs/path", "a/../../b", "..\\..\\win", "C:/x", ""):
        assert archives._unsafe_reason(name) is not None, name
    for name in ("ml-100k/u.data", "a/b..c/d", "./x"):
        assert archives._unsafe_reason(name) is None, name


CHILD = """
import sys
from dataclasses import replace
from pathlib import Path
from recbench.data import downloading
from recbench.data.registry import get_entry
md5sum, mirror, data = sys.argv[1:4]
entry = replace(get_entry("ml-100k"), archive_md5=md5sum, members={})
report = downloading.download_dataset("ml-100k", Path(data), mirror=mirror, entry=entry, retries=0)
print(report.action)
"""


def test_two_processes_download_one_verified_copy(tmp_path: Path, file_server) -> None:  # type: ignore[no-untyped-def]
    archive = ml100k_zip(tmp_path)
    mirror = serve(file_server, archive, mode="slow")  # ~1 s, so the two overlap
    data = tmp_path / "data"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = [sys.executable, "-c", CHILD, md5(archive), mirror, str(data)]
    procs = [
        subprocess.Popen(
            args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e for _, e in results]
    assert sorted(o.strip() for o, _ in results) == ["already installed", "downloaded"]
    assert file_server.count("ml-100k.zip") == 1
    assert datadir.check_installed(data, "ml-100k")["verification"]["status"] == "verified"
    assert leftovers(data) == []


def test_interrupted_download_leaves_nothing_usable(
    tmp_path: Path, monkeypatch, file_server
) -> None:  # type: ignore[no-untyped-def]
    archive = ml100k_zip(tmp_path)
    entry = pinned("ml-100k", archive)
    use_entries(monkeypatch, entry)
    data = tmp_path / "data"

    def interrupted(url: str, dest: Path, **kw: object) -> None:
        dest.write_bytes(archive.read_bytes()[:1000])
        raise KeyboardInterrupt

    monkeypatch.setattr(downloading, "_fetch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        downloading.download_dataset("ml-100k", data, mirror=serve(file_server, archive), **FAST)
    assert leftovers(data) == []
    # A process killed mid-install leaves a staging dir and a manifest-less copy: neither counts.
    (data / "datasets" / ".ml-100k.rbtmp-tmp-999999999-0badc0de" / "final").mkdir(parents=True)
    shutil.copytree(tmp_path / "src100k", data / "datasets" / "ml-100k")
    with pytest.raises(DataError, match="not downloaded yet"):
        load_dataset("ml-100k", data_dir=data)
    monkeypatch.undo()
    use_entries(monkeypatch, entry)
    assert downloading.download_dataset("ml-100k", data, mirror=file_server.url, **FAST).verified
    assert leftovers(data) == []
    assert len(load_dataset("ml-100k", data_dir=data).interactions) == N_RATINGS


def test_installed_files_are_checked_at_load(tmp_path: Path, monkeypatch) -> None:
    entry = pinned("ml-1m", None)
    use_entries(monkeypatch, entry)
    data = tmp_path / "data"
    installing.import_dataset("ml-1m", write_ml1m(tmp_path / "src"), data)
    path = datadir.installed_dir(data, "ml-1m") / "ratings.dat"
    path.write_text(path.read_text().replace("::4::", "::1::"))
    with pytest.raises(DataError, match="changed after installation"):
        load_dataset("ml-1m", data_dir=data)
    path.unlink()
    with pytest.raises(DataError, match="incomplete"):
        load_dataset("ml-1m", data_dir=data)


def test_disk_full_is_one_line(tmp_path: Path, monkeypatch) -> None:
    archive = ml100k_zip(tmp_path)

    def full(*args: object, **kw: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(archives.shutil, "copyfileobj", full)
    data = tmp_path / "data"
    with pytest.raises(DataError) as exc:
        installing.import_dataset("ml-100k", archive, data, entry=pinned("ml-100k", archive))
    assert "no space left on device" in one_line(exc)
    assert leftovers(data) == [] and datadir.read_install_manifest(data, "ml-100k") is None
    monkeypatch.undo()

    def full_while_downloading(url: str, dest: Path, **kw: object) -> None:
        with dest.open("wb") as fh:
            fh.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device", str(dest))

    monkeypatch.setattr(downloading, "_fetch", full_while_downloading)
    with pytest.raises(DataError) as exc:
        downloading.download_dataset(
            "ml-100k", data, mirror="http://127.0.0.1:9", entry=pinned("ml-100k", archive)
        )
    assert "no space left on device while downloading ml-100k" in one_line(exc)
    assert leftovers(data) == []
    monkeypatch.undo()
    tiny = SimpleNamespace(total=10, used=0, free=10)
    monkeypatch.setattr(archives.shutil, "disk_usage", lambda p: tiny)
    with pytest.raises(DataError, match="not enough disk space"):
        installing.import_dataset("ml-100k", archive, data, entry=pinned("ml-100k", archive))


def test_permission_denied_is_one_line(tmp_path: Path, monkeypatch) -> None:
    archive = ml100k_zip(tmp_path)

    def denied(*args: object, **kw: object) -> str:
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "data"))

    monkeypatch.setattr(installing, "staging_dir", denied)
    with pytest.raises(DataError) as exc:
        installing.import_dataset(
            "ml-100k", archive, tmp_path / "data", entry=pinned("ml-100k", archive)
        )
    msg = one_line(exc)
    assert "permission denied" in msg and "--data-dir" in msg


def test_auto_download_is_explicit(tmp_path: Path, monkeypatch, file_server) -> None:  # type: ignore[no-untyped-def]
    archive = ml100k_zip(tmp_path)
    use_entries(monkeypatch, pinned("ml-100k", archive))
    monkeypatch.setenv("RECBENCH_MIRROR", serve(file_server, archive))
    data = tmp_path / "data"
    with pytest.raises(DataError, match="not downloaded yet"):
        load_dataset("ml-100k", data_dir=data)
    assert len(load_dataset("ml-100k", data_dir=data, download=True).interactions) == N_RATINGS
    other = tmp_path / "other"
    monkeypatch.setenv("RECBENCH_AUTO_DOWNLOAD", "1")
    assert len(load_dataset("ml-100k", data_dir=other).interactions) == N_RATINGS
    assert file_server.count("ml-100k.zip") == 2


# --- import ------------------------------------------------------------------------------------


def test_import_archive_or_directory(tmp_path: Path) -> None:
    src = write_ml100k(tmp_path / "src")
    archive = zip_dir(src, tmp_path / "ml-100k.zip", "ml-100k")
    members = {m: sha256(src / m) for m in ("u.data", "u.item")}
    entry = pinned("ml-100k", archive, members=members)
    a = installing.import_dataset("ml-100k", archive, tmp_path / "a", entry=entry)
    assert a.verification is not None and a.verification["method"] == "archive checksum"
    b = installing.import_dataset("ml-100k", tmp_path, tmp_path / "b", entry=entry)  # finds src/
    assert b.verification is not None and b.verification["method"] == "pinned member checksums"
    assert any("u.user" in u for u in b.verification["unverified"])
    c = installing.import_dataset("ml-100k", tmp_path, tmp_path / "b", entry=entry)
    assert c.action == "already installed"
    (src / "u.item").write_text("tampered")
    with pytest.raises(DataError) as exc:
        installing.import_dataset("ml-100k", src, tmp_path / "c", entry=entry)
    assert "u.item does not match its pinned sha256" in one_line(exc)
    assert (src / "u.item").read_text() == "tampered"  # the user's files are left alone


def test_import_errors(tmp_path: Path) -> None:
    entry = pinned("ml-1m", None)
    with pytest.raises(DataError, match="does not exist"):
        installing.import_dataset("ml-1m", tmp_path / "nope", tmp_path / "d", entry=entry)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no ml-1m data"):
        installing.import_dataset("ml-1m", tmp_path / "empty", tmp_path / "d", entry=entry)
    partial = write_ml1m(tmp_path / "partial")
    (partial / "movies.dat").unlink()
    with pytest.raises(DataError, match=r"movies\.dat is missing"):
        installing.import_dataset("ml-1m", partial, tmp_path / "d", entry=entry)
    text = tmp_path / "ratings.csv"
    text.write_text("user,item\n1,2\n")
    with pytest.raises(DataError, match="datasets add"):
        installing.import_dataset("ml-1m", text, tmp_path / "d", entry=entry)
    with pytest.raises(UsageError, match="ships with recbench"):
        installing.import_dataset("ml-latest-small", tmp_path, tmp_path / "d")


def test_import_netflix_layouts(tmp_path: Path) -> None:
    from tests.test_ds_fixtures import tar_dir, write_netflix_combined, write_netflix_training_set

    entry = pinned("netflix", None)
    want = len(netflix_frame())
    root = write_netflix_training_set(tmp_path / "orig")
    tar = tar_dir(root / "training_set", tmp_path / "training_set.tar", "training_set", mode="w")
    sources = [netflix_prize_archive(tmp_path), root, tar, write_netflix_combined(tmp_path / "k")]
    for k, src in enumerate(sources):
        data = tmp_path / f"d{k}"
        report = installing.import_dataset("netflix", src, data, entry=entry)
        assert report.verification is not None
        assert report.verification["status"] == "unverified"
        ds = load_dataset(builtin_source(entry, data), data)
        assert len(ds.interactions) == want, src


# --- the `recbench datasets` commands ----------------------------------------------------------


def test_cli_download_info_list_remove(tmp_path: Path, monkeypatch, capsys, file_server) -> None:  # type: ignore[no-untyped-def]
    archive = ml100k_zip(tmp_path)
    use_entries(monkeypatch, pinned("ml-100k", archive))
    data = tmp_path / "data"
    mirror = serve(file_server, archive)
    res = run_cli(["datasets", "download", "ml-100k", "--mirror", mirror], capsys, data)
    assert res.code == 0, res.err
    assert "verification: verified (archive checksum)" in res.err
    res = run_cli(["datasets", "list", "-f", "json"], capsys, data)
    rows = {r["name"]: r for r in json.loads(res.out)}
    assert rows["ml-100k"]["status"] == "downloaded" and rows["ml-100k"]["available"]
    assert rows["ml-1m"]["status"] == "not downloaded"
    assert rows["netflix"]["status"] == "import needed"
    assert rows["ml-latest-small"]["status"] == "bundled"
    table = run_cli(["datasets"], capsys, data)
    assert "downloaded" in table.flat and "not downloaded" in table.flat
    info = run_cli(["datasets", "info", "ml-100k", "-f", "json"], capsys, data)
    doc = json.loads(info.out)
    assert doc["ratings"] == N_RATINGS and doc["user_features"] == [
        "age",
        "gender",
        "occupation",
        "zip",
    ]
    assert doc["installed"]["verification"]["status"] == "verified"
    assert doc["time_span"]["first"] == "1997-12-04"
    text = run_cli(["datasets", "info", "ml-100k"], capsys, data)
    assert "rating histogram" in text.flat and "age, gender, occupation, zip" in text.flat
    res = run_cli(
        ["-q", "compare", "-d", "ml-100k", "--algos", "popularity", "--k", "2"], capsys, data
    )
    assert res.code == 0, res.err
    res = run_cli(["datasets", "remove", "ml-100k"], capsys, data)
    assert res.code == 0 and "removed" in res.err
    assert datadir.read_install_manifest(data, "ml-100k") is None
    res = run_cli(["compare", "-d", "ml-100k"], capsys, data)
    assert res.code == 2 and "recbench datasets download ml-100k" in res.err


def test_cli_info_of_a_dataset_not_here(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    res = run_cli(["datasets", "info", "netflix", "-f", "json"], capsys, tmp_path)
    doc = json.loads(res.out)
    assert doc["status"] == "not installed" and "datasets import netflix" in doc["get_it"]
    res = run_cli(["datasets", "info", "ml-25m"], capsys, tmp_path)
    assert res.code == 0 and "25,000,095" in res.flat


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["datasets", "download", "ml-1"], "did you mean"),
        (["datasets", "download", "netflix"], "no public download"),
        (["datasets", "download", "ml-100k", "--timeout", "0"], "--timeout must be positive"),
        (["datasets", "import", "ml-1m", "/nonexistent/x"], "does not exist"),
        (["datasets", "remove", "ml-latest-small"], "cannot be removed"),
        (["datasets", "remove", "ml-1m"], "nothing to remove"),
        (["datasets", "remove", "mine"], "unknown dataset 'mine'"),
        (["datasets", "list", "-f", "xml"], "unknown --format 'xml'"),
    ],
)
def test_cli_errors_are_one_line_exit_2(capsys, tmp_path: Path, args, needle) -> None:  # type: ignore[no-untyped-def]
    res = run_cli(args, capsys, tmp_path)
    assert res.code == 2, (res.out, res.err)
    lines = [ln for ln in res.err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], res.err


def test_cli_download_bundled_is_a_no_op(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    res = run_cli(["datasets", "download", "ml-latest-small"], capsys, tmp_path)
    assert res.code == 0 and "nothing to download" in res.err


def test_cli_import_real_ml100k(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.test_ds_fixtures import SHARED_ML100K

    if not (SHARED_ML100K / "u.data").exists():
        pytest.skip("../shared/datasets/ml-100k is absent")
    res = run_cli(["datasets", "import", "ml-100k", str(SHARED_ML100K)], capsys, tmp_path)
    assert res.code == 0
    assert "verified (pinned member checksums)" in res.err
    assert "not verified: not covered by a pinned checksum: README, u.info" in res.err
