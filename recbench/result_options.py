"""The result options ``compare`` and ``evaluate`` share (K, metrics, relevance, sampled
candidates, repeat targets, output format and file, ``--fail-if``), validated in one place before
any work is done."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from recbench.candidates import CandidateSpec, install
from recbench.errors import UsageError
from recbench.evaluation import EvalConfig
from recbench.failif import parse_fail_if
from recbench.metrics import BEYOND_NAMES
from recbench.render import FORMAT_BY_SUFFIX, check_metrics, output_format
from recbench.render.outputs import check_output

#: the largest K accepted (item indices are int32)
MAX_K = 2**31 - 1


def parse_ks(text: str) -> tuple[int, ...]:
    """``5,10,20`` -> (5, 10, 20): whole numbers from 1 to :data:`MAX_K`, duplicates dropped."""
    ks: list[int] = []
    for part in text.split(","):
        part = part.strip()
        try:
            k = int(part)
        except ValueError:
            raise UsageError(
                f"--k expects whole numbers like 10 or 5,10,20, got '{part}'"
            ) from None
        if k <= 0:
            raise UsageError(f"--k must be positive, got {k}")
        if k > MAX_K:
            raise UsageError(f"--k {k} is too large (at most {MAX_K:,})")
        if k not in ks:
            ks.append(k)
    return tuple(ks)


def result_format(fmt: str | None, output: Path | None) -> str:
    """The results format: --format, else the --output suffix, else table."""
    if fmt is None:
        return FORMAT_BY_SUFFIX.get(output.suffix.lower(), "table") if output else "table"
    return output_format(fmt).name


class ResultOptions:
    """The options compare and evaluate share, validated before any work is done."""

    def __init__(
        self,
        ks: str,
        threshold: float | None,
        memory_mb: int,
        fmt: str | None,
        output: Path | None,
        metrics: str | None,
        fail_if: list[str] | None,
        candidates: CandidateSpec | None = None,
        repeat_targets: bool = False,
    ) -> None:
        self.metrics = check_metrics(metrics)
        beyond = tuple(m for m in self.metrics if m in BEYOND_NAMES)
        self.eval = EvalConfig(
            ks=parse_ks(ks),
            relevance_threshold=threshold,
            memory_mb=memory_mb,
            beyond=beyond,
            candidates=candidates,
            exclude_history=not repeat_targets,
        )
        #: removes the sampled metrics from the tables again (call when the command ends)
        self.undo: Callable[[], None] = lambda: None
        if candidates is not None:  # sampled twins of the ranking metrics, beside them
            self.metrics, self.undo = install(candidates, self.metrics)
        self.fmt = result_format(fmt, output)
        self.output = check_output(output)
        self.fail_if = parse_fail_if(fail_if, self.eval.ks)
