"""``--fail-if`` conditions: parsed against the K list computed, checked on a result.

A condition is ``[ALGO:]METRIC[@K] OP VALUE`` on the mean over folds, or ``[ALGO:]METRIC[@K]
worse|better``: significantly worse / better than the baseline after correction. Used by
``compare``, ``evaluate`` and a study's ``fail_if``; nothing here prints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from recbench.errors import UsageError
from recbench.experiment import ExperimentResult, fold_summary
from recbench.metrics import METRIC_ALIASES, METRICS


@dataclass(frozen=True)
class FailIf:
    """One --fail-if condition: [ALGO:]METRIC[@K] OP VALUE, or [ALGO:]METRIC[@K] worse|better
    (significantly worse / better than --baseline after correction)."""

    text: str
    algorithm: str | None
    metric: str
    k: int | None
    op: str
    value: float

    def key(self) -> str:
        return self.metric if self.k is None else f"{self.metric}@{self.k}"

    @property
    def significance(self) -> bool:
        return self.op in ("worse", "better")

    def triggered(self, actual: float) -> bool:
        return {
            "<": actual < self.value,
            "<=": actual <= self.value,
            ">": actual > self.value,
            ">=": actual >= self.value,
        }[self.op]


_FAIL_RE = re.compile(
    r"^\s*(?:(?P<algo>[^:]+?)\s*:)?\s*(?P<metric>[A-Za-z]+)\s*(?:@\s*(?P<k>\d+))?"
    r"\s*(?:(?P<op><=|>=|<|>)\s*(?P<val>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
    r"|\s(?P<sig>worse|better))\s*$",
    re.IGNORECASE,
)


def parse_fail_if(texts: list[str] | None, ks: tuple[int, ...]) -> list[FailIf]:
    """Parse every --fail-if against the metrics and the K list computed."""
    conds = []
    for text in texts or []:
        m = _FAIL_RE.match(text)
        if not m:
            raise UsageError(
                f"--fail-if '{text}' is not METRIC[@K] OP VALUE or [ALGO:]METRIC[@K] worse|better, "
                "e.g. 'ndcg@10<0.30', 'svd:rmse>0.95' or 'als:ndcg@10 worse'"
            )
        metric = m["metric"].lower()
        metric = METRIC_ALIASES.get(metric, metric)
        if metric not in METRICS:
            raise UsageError(f"--fail-if '{text}': unknown metric '{m['metric']}'")
        kind = METRICS[metric].kind
        k = int(m["k"]) if m["k"] else None
        if kind != "rating" and k is None:
            raise UsageError(f"--fail-if '{text}': {metric} needs @K, e.g. {metric}@{ks[0]}")
        if kind == "rating" and k is not None:
            raise UsageError(f"--fail-if '{text}': {metric} takes no @K")
        if k is not None and k not in ks:
            raise UsageError(
                f"--fail-if '{text}': K={k} is not computed (--k {','.join(map(str, ks))})"
            )
        if m["sig"]:
            conds.append(FailIf(text.strip(), m["algo"], metric, k, m["sig"].lower(), float("nan")))
            continue
        conds.append(FailIf(text.strip(), m["algo"], metric, k, m["op"], float(m["val"])))
    return conds


def check_fail_if(res: ExperimentResult, conds: list[FailIf]) -> list[str]:
    """Messages for every (condition, algorithm) that holds, on means over folds."""
    if not conds:
        return []
    summ = fold_summary(res.results)
    msgs = []
    algos = list(dict.fromkeys(res.results["algorithm"]))
    for c in conds:
        if c.algorithm and c.algorithm not in algos:
            raise UsageError(f"--fail-if '{c.text}': '{c.algorithm}' was not run")
        if c.significance:
            msgs += _significance_failures(res, c)
            continue
        sel = summ[summ["metric"] == c.metric]
        sel = sel[sel["k"].isna()] if c.k is None else sel[sel["k"] == c.k]
        if c.algorithm:
            sel = sel[sel["algorithm"] == c.algorithm]
        if not len(sel):
            raise UsageError(f"--fail-if '{c.text}': no algorithm run produces {c.key()}")
        for r in sel.itertuples():
            if c.triggered(float(r.mean)):
                msgs.append(f"{c.text}: {r.algorithm} {c.key()} = {r.mean:.4f}")
    return msgs


def _significance_failures(res: ExperimentResult, c: FailIf) -> list[str]:
    """--fail-if 'ALGO:METRIC@K worse|better': the comparisons with that verdict."""
    comps = res.stats.comparisons if res.stats is not None else {}
    msgs = []
    for (algo, key), comp in comps.items():
        if key == c.key() and (c.algorithm is None or algo == c.algorithm) and comp.verdict == c.op:
            msgs.append(
                f"{c.text}: {algo} {key} is significantly {c.op} than {comp.baseline} "
                f"(mean difference {comp.result.mean_diff:+.4f}, "
                f"adjusted p = {comp.p_adjusted:.2g})"
            )
    return msgs


def cap(conds: list[FailIf], n_items: int) -> list[FailIf]:
    """The conditions with K capped at the catalogue size, as the run caps its K list."""
    return [replace(c, k=min(c.k, n_items)) if c.k is not None else c for c in conds]
