"""Algorithm rows of a comparison from text: ``--algos a,b[k=v],c[@study=S]`` and ``--param``.

Each row is an :class:`recbench.experiment.AlgoSpec`, its parameters validated (and typed) by
the algorithm's config before any work; ``NAME[@study=S]`` takes a stored study's best
parameters (:mod:`recbench.tuning.reuse`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recbench.algorithms import plugins
from recbench.errors import UsageError
from recbench.experiment import AlgoSpec

if TYPE_CHECKING:
    from recbench.tuning.reuse import StoredBest

_ALGO_RE = re.compile(r"\s*([A-Za-z0-9_.\-]+)\s*(?:\[(.*)\])?\s*", re.S)


#: the bracket key naming a stored study whose best parameters an entry reuses
STUDY_KEY = "@study"


def split_algo_list(text: str) -> list[tuple[str, dict[str, str], str | None, str | None]]:
    """``a,b[k=v,k2=v2],b[@study=S]`` -> [(name, params, variant, study), ...] (commas inside
    [] kept); ``study`` is the stored study named by ``@study=NAME``, if any."""
    parts: list[str] = []
    depth, cur = 0, ""
    for ch in text:
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if depth < 0:
            raise UsageError(f"--algos '{text}': ']' without '['")
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if depth:
        raise UsageError(f"--algos '{text}': '[' without ']'")
    parts.append(cur)
    found = []
    for part in parts:
        if not part.strip():
            continue
        m = _ALGO_RE.fullmatch(part)
        if not m:
            raise UsageError(f"--algos: cannot read '{part.strip()}' (use NAME or NAME[k=v,...])")
        name, inner = m.group(1), m.group(2)
        params: dict[str, str] = {}
        variant = None
        study = None
        if inner is not None:
            pairs = [p for p in re.split(r"[,;]", inner) if p.strip()]
            for p in [p for p in pairs if p.strip().startswith("@")]:
                key, eq, value = p.strip().partition("=")
                if key.strip() != STUDY_KEY or not eq or not value.strip():
                    raise UsageError(
                        f"--algos: cannot read '{p.strip()}' in '{part.strip()}' "
                        f"(the one @-key is {STUDY_KEY}=NAME)"
                    )
                if study is not None:
                    raise UsageError(f"--algos: '{part.strip()}' names {STUDY_KEY} twice")
                study = value.strip()
                pairs.remove(p)
            params = plugins.parse_params(pairs)
            variant = ",".join(
                ([f"{STUDY_KEY}={study}"] if study else [])
                + [f"{k}={v}" for k, v in params.items()]
            )
        found.append((name, params, variant, study))
    return found


def parse_algos(
    text: str | None,
    param_pairs: list[str] | None,
    data_dir: Path | None = None,
    studies: dict[str, StoredBest] | None = None,
) -> list[AlgoSpec]:
    """``--algos`` plus ``--param [algo.]name=value`` -> validated AlgoSpecs.

    Entries are ``name`` or ``name[k=v,...]`` (a labelled configuration; several of one
    algorithm may share a table). A bare ``--param name=value`` applies to every selected
    algorithm that has that parameter (an error when none has it); ``algo.name=value`` targets
    the entries of one algorithm. ``name[@study=S]`` takes the best parameters of the stored
    study ``S`` under ``data_dir`` (see :mod:`recbench.tuning.reuse`), recorded in ``studies``
    by row label when given. Precedence, lowest first: ``--param``, the study's parameters,
    values written inside the brackets.
    """
    entries: list[tuple[str, dict[str, str], str | None, str | None]] = []
    if text is None:
        for n in plugins.entries():
            try:
                cls = plugins.load(n)
            except UsageError:
                continue
            if not cls.missing_requirements():
                entries.append((n, {}, None, None))
    else:
        entries = split_algo_list(text)
        if not entries:
            raise UsageError("--algos is empty")
    names = list(dict.fromkeys(n for n, _, _, _ in entries))
    classes = {n: plugins.load(n) for n in names}
    for n, cls in classes.items():
        plugins.ensure_available(n, cls)
    shared: dict[str, dict[str, Any]] = {n: {} for n in names}
    for key, value in plugins.parse_params(param_pairs).items():
        algo, dot, pname = key.rpartition(".")
        if dot:
            if algo not in shared:
                raise UsageError(
                    f"--param {key}: '{algo}' is not among --algos ({', '.join(names)})"
                )
            shared[algo][pname] = value
            continue
        takers = [n for n, cls in classes.items() if pname in cls.Config.model_fields]
        if not takers:
            raise UsageError(
                f"unknown parameter '{pname}': none of {', '.join(names)} has it "
                "(see `recbench algorithms`)"
            )
        for n in takers:
            shared[n][pname] = value
    specs: list[AlgoSpec] = []
    for n, own, variant, study in entries:
        best = None
        if study is not None:
            if data_dir is None:
                raise UsageError(f"--algos '{n}[{variant}]': {STUDY_KEY} is not available here")
            from recbench.tuning.reuse import stored_best

            best = stored_best(data_dir, study, n)
        params = {**shared[n], **(best.params if best else {}), **own}
        config = plugins.make_config(n, classes[n], params)  # validates, naming the parameter
        typed = {k: getattr(config, k) for k in params}  # "10" -> 10 in results and manifests
        specs.append(AlgoSpec(n, typed, variant))
        if best is not None and studies is not None:
            studies[specs[-1].label] = best
    labels = [s.label for s in specs]
    dup = sorted({lab for lab in labels if labels.count(lab) > 1})
    if dup:
        raise UsageError(f"--algos lists '{dup[0]}' twice")
    return specs
