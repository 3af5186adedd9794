"""What a study's ``[output]`` asks for, checked and placed: ``fail_if`` conditions, output
files (one per dataset x split group when several), and the cells a dry run lists."""

from __future__ import annotations

from pathlib import Path

from recbench.errors import RecbenchError
from recbench.failif import FailIf, parse_fail_if
from recbench.render.outputs import check_output
from recbench.study.plan import Plan
from recbench.study.runner import StudyRun


def fail_if_conditions(plan: Plan) -> list[FailIf]:
    """The study's ``fail_if`` conditions, parsed before any work (errors name the line)."""
    sf = plan.source
    conds = []
    for j, text in enumerate(sf.study.output.fail_if):
        try:
            conds += parse_fail_if([text], plan.eval.ks)
        except RecbenchError as exc:
            raise sf.error(("output", "fail_if", j), str(exc)) from None
    return conds


def check_outputs(plan: Plan) -> None:
    """Before any work: every output file's directory exists and accepts files."""
    sf = plan.source
    out = sf.study.output
    named: list[tuple[tuple[str | int, ...], str]] = [
        (("output", "files", j), name) for j, name in enumerate(out.files)
    ]
    if out.report:
        named.append((("output", "report"), out.report))
    for loc, name in named:
        try:
            check_output(sf.resolve_path(name))
        except RecbenchError as exc:
            raise sf.error(loc, str(exc)) from None


def dry_run_lines(plan: Plan) -> list[str]:
    """What a run would do: every cell, and their count."""
    cells = plan.cells()
    lines = []
    for c in cells:
        ds = plan.datasets[c.dataset].spec.dataset
        fold = f" fold {c.fold + 1}/{c.n_folds}" if c.n_folds > 1 else ""
        lines.append(f"{ds}  {c.split}{fold}  seed {c.seed}  {c.algorithm.label}")
    n_d, n_s, n_a = len(plan.datasets), len(plan.splits), len(plan.algorithms)
    lines.append(
        f"{len(cells)} cells = {n_d} dataset(s) x {n_s} split(s) x folds x "
        f"{len(plan.seeds)} repeat(s) x {n_a} algorithm row(s)"
    )
    return lines


def group_path(path: Path, run: StudyRun, index: int) -> Path:
    """Where output file ``path`` is written for group ``index`` (tagged when several)."""
    if len(run.groups) == 1:
        return path
    g = run.groups[index]
    tag = f"{g.dataset.name}-{g.split}".replace(":", "-").replace("/", "-")
    return path.with_name(f"{path.stem}-{index + 1}-{tag}{path.suffix}")
