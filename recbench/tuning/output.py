"""``recbench tune``'s output: the JSON document for scripts, and the rich tables (top trials,
the best configuration tested once) with their notes."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from recbench.metrics import METRICS
from recbench.tuning.search import TuneResult


def _fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _fmt_params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_fmt_value(v)}" for k, v in params.items())


def tune_json(r: TuneResult) -> dict[str, Any]:
    """The tune as a JSON document for scripts."""
    key = r.spec.objective.key
    return {
        "algorithm": r.spec.algorithm,
        "dataset": r.dataset,
        "protocol": r.protocol,
        "validation": r.val_protocol,
        "metric": key,
        "direction": r.spec.objective.direction,
        "seed": r.spec.seed,
        "study": r.study,
        "trials": len([t for t in r.trials if t.state != "interrupted"]),
        "resumed_from": r.resumed,
        "interrupted": r.interrupted,
        "pruned": sum(t.state == "pruned" for t in r.trials),
        "pruning": r.pruning,
        "space": {k: d.describe() for k, d in r.spec.space.items()},
        "fixed": r.spec.fixed,
        "best_trial": r.best.number,
        "best_params": r.best.params,
        "params": r.params,
        "validation_value": r.best.value,
        "test": r.test,
        "default_test": r.default_test,
        "importances": r.importances,
        "seconds": round(r.seconds, 3),
        "trial_log": [t.__dict__ for t in r.trials],
    }


def tune_report(r: TuneResult, top: int) -> list[Table | str]:
    key = r.spec.objective.key
    done = [t for t in r.trials if t.state == "complete" and t.value is not None]
    done.sort(key=lambda t: (-(t.value or 0.0) if r.spec.objective.higher_is_better else
                             (t.value or 0.0), t.number))  # fmt: skip
    names = list(r.spec.space)
    t = Table(title=f"recbench tune · {r.spec.algorithm} · {r.dataset} · top trials by "
                    f"validation {key}")  # fmt: skip
    t.add_column("trial", justify="right")
    t.add_column(f"val {key}", justify="right")
    for n in names:
        t.add_column(n, justify="right")
    t.add_column("s", justify="right")
    # then the pruned trials that got furthest (their value is partial: not ranked with these)
    pruned = [x for x in r.trials if x.state == "pruned"]
    pruned.sort(key=lambda x: (-(x.pruned_at or 0), x.number))
    for tr in [*done[:top], *pruned[:top]]:
        value = f"{tr.value:.4f}" if tr.state == "complete" else f"pruned, step {tr.pruned_at}"
        row = [str(tr.number), value]
        row += [escape(_fmt_value(tr.params.get(n, ""))) for n in names]
        row.append(f"{tr.seconds:.1f}" if tr.seconds is not None else "")
        t.add_row(*row, style="bold" if tr.number == r.best.number else None)
    failed = [x for x in r.trials if x.state == "failed"]
    notes = [
        f"Search: {sum(x.state != 'interrupted' for x in r.trials)} trials "
        f"(seeded TPE, seed {r.spec.seed})"
        + (f", {r.resumed} of them from earlier runs of study '{r.study}'" if r.resumed else "")
        + (f", {r.interrupted} left running by a killed run and rerun" if r.interrupted else "")
        + (f", {len(pruned)} pruned by {r.pruning}" if pruned else "")
        + (f", {len(failed)} failed ({failed[0].error})" if failed else "")
        + f"; {r.seconds:.0f} s in all.",
        f"Validation: {r.val_protocol}, cut from the training part only "
        f"({r.n_train:,} ratings fitted, {r.n_validation:,} scored); the test part is not seen.",
        f"Test: {r.protocol}; used once, for the best configuration refitted on the whole "
        "training part.",
    ]
    parts: list[Table | str] = [t, *(escape(line) for line in notes)]
    kind = METRICS[r.spec.objective.name].kind
    shown = [m for m in r.test if METRICS[m.partition("@")[0]].kind == kind]
    s = Table(title=f"{r.spec.algorithm}: best configuration, tested once")
    s.add_column("configuration")
    s.add_column(f"val {_label(key)}", justify="right")
    for m in shown:
        s.add_column(f"test {_label(m)}", justify="right")
    s.add_row(
        f"tuned (trial {r.best.number})",
        f"{r.best.value:.4f}",
        *(f"{r.test[m]:.4f}" for m in shown),
        style="bold",
    )
    if r.default_test is not None:
        nan = float("nan")
        s.add_row("defaults", "", *(f"{r.default_test.get(m, nan):.4f}" for m in shown))
    parts.append(s)
    parts.append(f"Chosen parameters: {escape(_fmt_params(r.params))}")
    if r.spec.fixed:
        parts.append(f"Fixed (not searched): {escape(_fmt_params(r.spec.fixed))}")
    if r.importances:
        imp = ", ".join(f"{k} {v:.2f}" for k, v in r.importances.items())
        parts.append(f"Parameter importances (Optuna PED-ANOVA): {escape(imp)}")
    return parts


def _label(key: str) -> str:
    name, at, k = key.partition("@")
    info = METRICS.get(name)
    return f"{info.label if info else name}{at}{k}"
