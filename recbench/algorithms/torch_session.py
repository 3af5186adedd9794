"""Seeded, deterministic torch for one fit, restored afterwards (every torch model uses it).

torch is imported inside methods only, so importing this module stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recbench.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    import torch


def pick_device(name: str) -> torch.device:
    """The torch device for ``auto`` / ``cpu`` / ``cuda``; ``cuda`` without a CUDA device is a
    usage error (one line), not a failure deep inside the first tensor move."""
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("device=cuda asked for, but torch sees no CUDA device (use auto or cpu)")
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


class TorchSession:
    """Seeded, deterministic torch settings for one fit, restored afterwards.

    The global RNG is forked (so a fit neither reads nor disturbs the caller's torch seed),
    deterministic algorithms are switched on for CPU fits, and the CPU thread count is
    optionally pinned.
    """

    def __init__(self, seed: int, num_threads: int, device: torch.device | None = None) -> None:
        self.seed, self.num_threads, self.device = seed, num_threads, device

    def __enter__(self) -> TorchSession:
        import torch

        if self.device is None:
            self.device = torch.device("cpu")
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        self._fork = torch.random.fork_rng(devices=devices)
        self._fork.__enter__()
        torch.manual_seed(self.seed)
        self._det = torch.are_deterministic_algorithms_enabled()
        self._det_warn = torch.is_deterministic_algorithms_warn_only_enabled()
        if self.device.type == "cpu":  # CUDA fits are not promised to be bit-reproducible
            torch.use_deterministic_algorithms(True)
        self._threads = torch.get_num_threads()
        if self.num_threads:
            torch.set_num_threads(self.num_threads)
        return self

    def __exit__(self, *exc: object) -> None:
        import torch

        torch.set_num_threads(self._threads)
        torch.use_deterministic_algorithms(self._det, warn_only=self._det_warn)
        self._fork.__exit__(None, None, None)
