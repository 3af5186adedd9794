"""Generate docs/reference/cli.md from the Typer app at build time (run by mkdocs-gen-files).

Walks ``typer.main.get_command(app)``: every command and sub-command with its usage line, help
text and a table of its parameters (names, type, default, help), so the page cannot drift from
the code. Nothing here is copied by hand.
"""

from __future__ import annotations

from typing import Any

import mkdocs_gen_files
import typer

from recbench.cli.app import app


def _cell(text: Any) -> str:
    """A Markdown table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _default(param: Any) -> str:
    if getattr(param, "is_flag", False) and not getattr(param, "secondary_opts", None):
        return ""
    value = getattr(param, "default", None)
    if value is None or value == () or callable(value):
        return ""
    if isinstance(value, (list, tuple)):
        value = ",".join(map(str, value))
    return f"`{value}`"


def _names(param: Any) -> str:
    if getattr(param, "param_type_name", "") == "argument":
        return f"`{(param.metavar or param.name or '').upper()}` (argument)"
    opts = list(param.opts) + list(getattr(param, "secondary_opts", []) or [])
    return ", ".join(f"`{o}`" for o in opts)


def _type(param: Any, ctx: Any) -> str:
    if getattr(param, "is_flag", False):
        return "flag"
    shown = param.display_type(ctx) if callable(getattr(param, "display_type", None)) else ""
    return str(shown or "").strip("<>").lower()


def _command(cmd: Any, path: list[str], out: list[str]) -> None:
    ctx_name = " ".join(path)
    level = "#" * min(len(path) + 1, 4)
    out.append(f"{level} `{ctx_name}`\n")
    ctx = typer.Context(cmd, info_name=ctx_name)
    usage = cmd.collect_usage_pieces(ctx)
    out.append(f"```\nUsage: {ctx_name} {' '.join(usage)}\n```\n")
    if cmd.help:
        out.append(cmd.help.strip() + "\n")
    params = [p for p in cmd.params if p.name not in ("help",) and not getattr(p, "hidden", False)]
    if params:
        out.append("| parameter | type | default | help |\n|---|---|---|---|")
        for p in params:
            help_text = getattr(p, "help", "") or ""
            envvar = getattr(p, "envvar", None)
            if envvar:
                help_text += f" (env `{envvar}`)"
            row = [_names(p), _cell(_type(p, ctx)), _default(p), _cell(help_text)]
            out.append("| " + " | ".join(row) + " |")
        out.append("")
    subs = getattr(cmd, "commands", None)
    if subs:
        for name in sorted(subs):
            sub = subs[name]
            if not getattr(sub, "hidden", False):
                _command(sub, [*path, name], out)


def render() -> str:
    """The whole CLI reference page as Markdown."""
    root = typer.main.get_command(app)
    out = [
        "# CLI reference\n",
        "Generated from the Typer application (`recbench.cli.app`) each time the site is built, "
        "so it always matches `recbench COMMAND --help`. Global options go before the command "
        "(`recbench --seed 1 compare ...`). The task guides show the commands in use.\n",
    ]
    _command(root, ["recbench"], out)
    return "\n".join(out) + "\n"


with mkdocs_gen_files.open("reference/cli.md", "w") as fh:
    fh.write(render())
