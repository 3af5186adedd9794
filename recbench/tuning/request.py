"""``recbench tune``'s options as a :class:`TuneSpec`: the algorithm checked and installed, its
fixed parameters validated, the search space (with a ``--space`` file's changes), the trial
budget and the pruning asked for, all before any data is read."""

from __future__ import annotations

from pathlib import Path

from recbench.algorithms import plugins
from recbench.tuning.problem import load_space_file, parse_objective, resolve_space
from recbench.tuning.pruning import prune_spec
from recbench.tuning.search import TuneSpec


def tune_spec(
    algo: str,
    param: list[str] | None,
    space: Path | None,
    metric: str,
    trials: int | None,
    timeout: float | None,
    jobs: int,
    seed: int,
    relevance_threshold: float | None,
    memory_mb: int,
    prune: bool | None = None,
    prune_startup: int | None = None,
    prune_warmup: int | None = None,
) -> TuneSpec:
    """The tune asked for; 20 trials unless ``trials`` or ``timeout`` says otherwise."""
    objective = parse_objective(metric)
    cls = plugins.load(algo)
    plugins.ensure_available(algo, cls)
    raw = plugins.parse_params(param)
    config = plugins.make_config(algo, cls, raw)
    fixed = {k: getattr(config, k) for k in raw}
    override = load_space_file(space) if space is not None else None
    dims, fixed = resolve_space(algo, cls, override, fixed)
    return TuneSpec(
        algo,
        dims,
        fixed,
        objective,
        n_trials=trials if trials is not None or timeout is not None else 20,
        timeout=timeout,
        jobs=jobs,
        seed=seed,
        relevance_threshold=relevance_threshold,
        memory_mb=memory_mb,
        prune=prune_spec(algo, cls.reports_epochs, prune, prune_startup, prune_warmup),
    )
