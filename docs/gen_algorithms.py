"""Generate docs/reference/algorithm-table.md from the plugin registry at build time.

Reads ``recbench.algorithms.plugins`` (the ``recbench.algorithms`` entry points): every
registered algorithm's name, family, tasks, parameters with defaults and help, search space,
source, extra and description with its citation (the class docstring), as `recbench algorithms`
sees them.
"""

from __future__ import annotations

import inspect

import mkdocs_gen_files

from recbench.algorithms import plugins
from recbench.algorithms.space import describe_space


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def render() -> str:
    """The algorithm table page as Markdown."""
    rows = plugins.describe_all()
    out = [
        "# Algorithm table\n",
        "Generated from the plugin registry (`recbench.algorithms.plugins.describe_all()`, the "
        "`recbench.algorithms` entry points) each time the site is built: the same rows as "
        "`recbench algorithms`. A third-party plugin installed in the build environment would "
        "appear here too. Descriptions and references of the built-in algorithms, with measured "
        "figures, are on the [Algorithms](algorithms.md) page.\n",
        "| name | family | tasks | source | extra | description |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        cls = plugins.load(r.name)
        extra = f"`{cls.extra}`" if cls.extra else "—"
        out.append(
            f"| [`{r.name}`](#{r.name}) | {r.family} | {', '.join(r.tasks)} | {_cell(r.source)} | "
            f"{extra} | {_cell(r.description)} |"
        )
    out.append("")
    for r in rows:
        cls = plugins.load(r.name)
        out.append(f"## `{r.name}` {{#{r.name}}}\n")
        doc = inspect.getdoc(cls) or ""
        first = doc.split("\n\n")[0]
        out.append(f"{_cell(r.description)}. Class `{cls.__module__}.{cls.__qualname__}`.\n")
        if first:
            out.append(f"> {_cell(first)}\n")
        space = describe_space(cls.search_space)
        fields = cls.Config.model_fields
        if fields:
            out.append("| parameter | default | search space | help |\n|---|---|---|---|")
            for name, field in fields.items():
                default = "—" if field.is_required() else f"`{field.default!r}`"
                rng = _cell(space.get(name, "")) or "—"
                out.append(f"| `{name}` | {default} | {rng} | {_cell(field.description or '')} |")
            out.append("")
        else:
            out.append("No parameters.\n")
    return "\n".join(out) + "\n"


with mkdocs_gen_files.open("reference/algorithm-table.md", "w") as fh:
    fh.write(render())
