"""What a compare/evaluate run's manifest keeps of the command that made it: the equivalent
study file (also what ``--save-study`` writes) and the metrics its table showed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recbench.experiment import AlgoSpec


def study_text(
    command: str, specs: list[AlgoSpec] | None, options: dict[str, Any] | None, seed: int
) -> str | None:
    """The study file equivalent to a compare/evaluate call (paths made absolute), or None
    without the algorithm rows and options."""
    if specs is None or options is None:
        return None
    from recbench.study.save import compare_study

    opts = dict(options)
    ds = opts.get("dataset")
    if ds and ("/" in ds or "." in ds) and Path(ds).exists():
        opts["dataset"] = str(Path(ds).resolve())
    if opts.get("output") is not None:
        opts["output"] = str(Path(opts["output"]).resolve())
    return compare_study(specs, opts, seed, command)


def manifest_extra(text: str | None, options: dict[str, Any] | None) -> dict[str, Any]:
    """The manifest keys a compare/evaluate run adds: ``study`` (text) and ``metrics``."""
    extra: dict[str, Any] = {"study": text} if text else {}
    if options is not None:
        from recbench.render import parse_metrics

        extra["metrics"] = list(parse_metrics(options.get("metrics")))
    return extra
