"""Write the study file equivalent to a ``recbench compare`` command (``--save-study``)."""

from __future__ import annotations

import json
import re
from typing import Any

from recbench.experiment import AlgoSpec

_BARE = re.compile(r"^[A-Za-z0-9_\-]+$")


def _key(name: str) -> str:
    return name if _BARE.match(name) else json.dumps(name)


def toml_value(value: Any) -> str:
    """A TOML literal for the plain values a study holds."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value))


def compare_study(
    algorithms: list[AlgoSpec],
    options: dict[str, Any],
    seed: int,
    command: str = "compare",
) -> str:
    """TOML text of a study that reruns ``recbench compare`` with these options.

    ``options`` holds compare's keyword arguments (``dataset``, ``columns``, ``sep``, ``split``,
    ``k``, ``metrics``, ``relevance_threshold``, ``fmt``, ``output``, ``fail_if``,
    ``by_segment``, ``min_user_ratings``, ``min_item_ratings``, ``implicit_threshold``,
    ``memory_mb``, ``tune_trials``, ``tune_metric``, ``workers``, ``scheduler``); None values
    are left out.
    """
    o = {k: v for k, v in options.items() if v is not None}
    lines = [f"# written by `recbench {command} --save-study`; run it with `recbench run FILE`"]
    lines.append(f"seed = {seed}")
    ds: dict[str, Any] = {"name": str(o.get("dataset", "ml-latest-small"))}
    for key in ("columns", "sep", "implicit_threshold"):
        if key in o:
            ds[key] = o[key]
    for key in ("min_user_ratings", "min_item_ratings"):
        if o.get(key):
            ds[key] = int(o[key])
    lines.append(f"splits = [{toml_value(str(o.get('split', 'holdout:0.2')))}]")
    ks = [int(x) for x in str(o.get("k", "10")).split(",") if x.strip()]
    lines.append(f"k = {toml_value(ks)}")
    if "metrics" in o:
        metrics = [m.strip() for m in str(o["metrics"]).split(",") if m.strip()]
        lines.append(f"metrics = {toml_value(metrics)}")
    if "relevance_threshold" in o:
        lines.append(f"relevance_threshold = {toml_value(float(o['relevance_threshold']))}")
    if o.get("memory_mb", 256) != 256:
        lines.append(f"memory_mb = {int(o['memory_mb'])}")
    if o.get("repeats", 1) != 1:
        lines.append(f"repeats = {int(o['repeats'])}")
    if o.get("ci") is False:
        lines.append("ci = false")
    if o.get("baseline"):
        lines.append(f"baseline = {toml_value(str(o['baseline']))}")
        for key in ("test", "correction"):
            if key in o:
                lines.append(f"{key} = {toml_value(str(o[key]))}")
        if "alpha" in o:
            lines.append(f"alpha = {toml_value(float(o['alpha']))}")
    if o.get("tune_trials"):
        lines.append(f"tune = {int(o['tune_trials'])}")
        if "tune_metric" in o:
            lines.append(f"tune_metric = {toml_value(str(o['tune_metric']))}")
    if "workers" in o:
        lines.append(f"workers = {int(o['workers'])}")
    if "scheduler" in o:
        lines.append(f"scheduler = {toml_value(str(o['scheduler']))}")
    lines += ["", "[[datasets]]"]
    lines += [f"{_key(k)} = {toml_value(v)}" for k, v in ds.items()]
    for spec in algorithms:
        lines += ["", "[[algorithms]]", f"name = {toml_value(spec.name)}"]
        if spec.variant:
            lines.append(f"variant = {toml_value(spec.variant)}")
        if spec.params:
            # a list-valued parameter is written as a one-point grid so it is not read as a grid
            params = {k: [v] if isinstance(v, (list, tuple)) else v for k, v in spec.params.items()}
            lines.append(f"params = {toml_value(params)}")
    out: list[str] = []
    if "fmt" in o:
        out.append(f"format = {toml_value(str(o['fmt']))}")
    if "output" in o:
        out.append(f"files = {toml_value([str(o['output'])])}")
    if o.get("fail_if"):
        out.append(f"fail_if = {toml_value(list(o['fail_if']))}")
    if o.get("by_segment"):
        out.append("by_segment = true")
    if out:
        lines += ["", "[output]", *out]
    return "\n".join(lines) + "\n"


def study_toml(study: dict[str, Any]) -> str:
    """TOML text of a study given as a dict (the Python API's ``run({...})``), so that errors
    can still point at a line of it."""
    lines: list[str] = []
    tables = ("datasets", "algorithms")
    for key, value in study.items():
        if key in tables or key == "output" or (isinstance(value, dict) and key != "params"):
            continue
        lines.append(f"{_key(key)} = {toml_value(value)}")
    if isinstance(study.get("params"), dict):
        lines = [x for x in lines if not x.startswith("params =")]
        lines.append(f"params = {toml_value(study['params'])}")
    for name in tables:
        entries = study.get(name)
        if entries is None:
            continue
        if not isinstance(entries, list) or not entries:
            lines.append(f"{name} = {toml_value(entries)}")
            continue
        if name == "datasets" and all(isinstance(e, str) for e in entries):
            lines.append(f"datasets = {toml_value(entries)}")
            continue
        for entry in entries:
            lines += ["", f"[[{name}]]"]
            if isinstance(entry, dict):
                lines += [f"{_key(k)} = {toml_value(v)}" for k, v in entry.items()]
            else:
                lines.append(f"name = {toml_value(entry)}")
    output = study.get("output")
    if isinstance(output, dict):
        lines += ["", "[output]", *(f"{_key(k)} = {toml_value(v)}" for k, v in output.items())]
    elif output is not None:
        lines.append(f"output = {toml_value(output)}")
    return "\n".join(lines) + "\n"
