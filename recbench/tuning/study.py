"""Where a tune's trials live: an Optuna journal file, shared by the worker processes.

A named study is kept as ``DATA/studies/NAME.journal`` so a tune that crashes or is killed
continues from its completed trials when rerun with the same ``--study``. Locks are
``filelock`` locks (released by the OS when their holder dies, so ``kill -9`` leaves none held):
``NAME.lock`` is held by the one tune using the study, ``NAME.ask.lock`` serialises the
"count the trials, then ask for the next one" step of the worker processes.
"""

from __future__ import annotations

import contextlib
import json
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recbench.errors import UsageError

if TYPE_CHECKING:
    import optuna

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
#: user attribute marking a trial whose process died while it ran
INTERRUPTED = "interrupted"
#: user attribute with the message of a trial that raised
ERROR = "error"


def check_study_name(name: str) -> str:
    if not _NAME_RE.fullmatch(name):
        raise UsageError(
            f"--study '{name}': use letters, digits, '.', '_' and '-' (at most 100 characters)"
        )
    return name


@dataclass(frozen=True)
class StudyFiles:
    """The journal and lock files of one study."""

    journal: Path
    name: str

    @property
    def lock(self) -> Path:
        return self.journal.with_suffix(".lock")

    @property
    def ask_lock(self) -> Path:
        return self.journal.with_suffix(".ask.lock")


def study_files(data_dir: Path, name: str) -> StudyFiles:
    return StudyFiles(Path(data_dir) / "studies" / f"{check_study_name(name)}.journal", name)


@contextlib.contextmanager
def temporary_study() -> Iterator[StudyFiles]:
    """An unnamed study in a temporary directory, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="recbench-tune-") as tmp:
        yield StudyFiles(Path(tmp) / "study.journal", "recbench-tune")


class _FileLock:
    """Optuna's journal lock interface over ``filelock`` (freed when the holder dies)."""

    def __init__(self, path: Path) -> None:
        import filelock

        self._lock = filelock.FileLock(str(path))

    def acquire(self) -> bool:
        self._lock.acquire()
        return True

    def release(self) -> None:
        self._lock.release()


def open_storage(files: StudyFiles) -> optuna.storages.BaseStorage:
    """The study's journal storage (created when missing)."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    files.journal.parent.mkdir(parents=True, exist_ok=True)
    lock = _FileLock(files.journal.with_suffix(".journal.lock"))
    backend = JournalFileBackend(str(files.journal), lock_obj=lock)  # type: ignore[arg-type]
    return JournalStorage(backend)


@contextlib.contextmanager
def hold(files: StudyFiles) -> Iterator[None]:
    """Hold the study for one tune; a second tune on the same study is refused."""
    import filelock

    files.journal.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(files.lock))
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        raise UsageError(
            f"study '{files.name}' is in use by another tune ({files.lock}); "
            "wait for it or use another --study"
        ) from None
    try:
        yield
    finally:
        lock.release()


def repair_journal(files: StudyFiles) -> bool:
    """Drop a half-written last line left by a process killed mid-write (holder only)."""
    path = files.journal
    if not path.exists():
        return False
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return False
    with open(path, "r+b") as fh:
        fh.truncate(data.rfind(b"\n") + 1)
    return True


def fail_interrupted(study: optuna.Study) -> int:
    """Mark trials left RUNNING by a dead process as failed (interrupted); returns how many.

    Only called while holding the study, so no live process is running them.
    """
    from optuna.trial import TrialState

    storage = study._storage
    n = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        storage.set_trial_user_attr(t._trial_id, INTERRUPTED, True)
        storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        n += 1
    return n


def check_identity(study: optuna.Study, identity: dict[str, Any], name: str) -> None:
    """Refuse to resume a study created for another algorithm, dataset, split or metric."""
    stored = study.user_attrs.get("recbench")
    if stored is None:
        study.set_user_attr("recbench", identity)
        return
    for key, value in identity.items():
        old = stored.get(key)
        if json.dumps(old, sort_keys=True) != json.dumps(value, sort_keys=True):
            raise UsageError(
                f"study '{name}' was created with {key} {_short(old)}, not {_short(value)}; "
                "rerun with the original settings or use another --study"
            )


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return f"'{text}'" if len(text) <= 80 else f"'{text[:77]}...'"
