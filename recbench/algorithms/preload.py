"""What a worker process imports ahead of time, read from the plugin table.

The fork server (:mod:`recbench.forkserver`) imports this module once; importing it imports
every registered algorithm that needs no optional extra (``Recommender.extra is None``: no
torch, whose import takes longer than most runs' cells) together with the modules it
``requires``, so workers fork with them loaded. A new algorithm is preloaded by registering it:
there is no second list to keep. An algorithm that fails to load is skipped here; running it
reports the error.
"""

from __future__ import annotations

import importlib

from recbench.algorithms import plugins


def worker_modules() -> list[str]:
    """Modules of the registered extra-free algorithms and their requirements, in table order."""
    mods: dict[str, None] = {}
    for ep in plugins.entries().values():
        try:
            cls = ep.load()
        except Exception:  # a broken plugin must not stop the fork server
            continue
        if getattr(cls, "extra", None) is not None:
            continue
        mods[cls.__module__] = None
        mods.update(dict.fromkeys(getattr(cls, "requires", ())))
    return list(mods)


def preload() -> None:
    """Import :func:`worker_modules`; a missing one is skipped (as the fork server does)."""
    for name in worker_modules():
        try:
            importlib.import_module(name)
        except Exception:
            continue


preload()
