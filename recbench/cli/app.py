"""The `recbench` command: global options, sub-commands, and one-line error handling."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.markup import escape

from recbench.cli import abtest, catalog, models, predict, run, tune
from recbench.cli import report as report_cli
from recbench.cli import runs as runs_cli
from recbench.cli import study as study_cli
from recbench.cli.common import (
    MAX_SEED,
    PIPE_CLOSED,
    State,
    clean_leftovers,
    err,
    os_error_exit,
    silence_stdout,
)
from recbench.data import default_data_dir
from recbench.errors import RecbenchError, UsageError

try:  # typer >= 0.29 vendors click; older releases use the click package
    from typer._click.core import Command, Context
    from typer._click.exceptions import ClickException, NoSuchOption
except ImportError:  # pragma: no cover
    from click import ClickException, Command, Context, NoSuchOption  # type: ignore[no-redef,assignment]

app = typer.Typer(
    name="recbench",
    help="Benchmark recommender-system algorithms on standard datasets under stated protocols.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from recbench.extras import version_text

        typer.echo(version_text())
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    seed: Annotated[int, typer.Option(help="Seed for splits and algorithms.")] = 0,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            envvar="RECBENCH_DATA",
            help="Data directory: downloads, imports, user datasets and the Parquet cache.",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks on errors.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or notes.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """Global options apply to every command."""
    if not 0 <= seed <= MAX_SEED:
        raise UsageError(f"--seed must be a whole number from 0 to {MAX_SEED}, got {seed}")
    where = data_dir if data_dir is not None else default_data_dir()
    ctx.obj = State(seed=seed, data_dir=where, debug=debug, quiet=quiet)
    clean_leftovers(ctx.obj)


catalog.register(app)
run.register(app)
models.register(app)
predict.register(app)
tune.register(app)
abtest.register(app)
study_cli.register(app)
runs_cli.register(app)
report_cli.register(app)


def _literal_help(command: Command) -> None:
    """Help texts are plain text: escape what rich would read as markup and drop
    (``NAME[k=v,...]``, ``NAME[@study=S]``), in every command, sub-command and option."""
    for attr in ("help", "short_help"):
        text = getattr(command, attr, None)
        if text:
            setattr(command, attr, escape(text))
    for param in command.params:
        text = getattr(param, "help", None)
        if text:
            param.help = escape(text)  # type: ignore[attr-defined]
    for sub in getattr(command, "commands", {}).values():
        _literal_help(sub)


def _click_error(exc: ClickException, command: Command, args: list[str]) -> str:
    """One line for an option-parsing error, pointing at the right --help."""
    ctx: Context | None = getattr(exc, "ctx", None)
    if isinstance(exc, NoSuchOption):
        hint = _global_option_hint(exc.option_name, command, args)
        if hint:
            return hint
    where = ""
    if ctx is not None:
        sub = ctx.command_path.partition(" ")[2]
        where = f" (see: recbench {sub} --help)" if sub else " (see: recbench --help)"
    return f"{exc.format_message()}{where}"


def _global_option_hint(name: str, command: Command, args: list[str]) -> str | None:
    """For a global option given after the command: say where it goes, with the fixed line."""
    opt = next((p for p in command.params if name in getattr(p, "opts", ())), None)
    if opt is None:
        return None
    takes_value = not getattr(opt, "is_flag", False)
    moved: list[str] = []
    rest = list(args)
    for i, arg in enumerate(rest):
        if arg == name or arg.startswith(f"{name}="):
            width = 2 if takes_value and arg == name and i + 1 < len(rest) else 1
            moved = rest[i : i + width]
            del rest[i : i + width]
            break
    fixed = " ".join(["recbench", *moved, *rest])
    return f"{name} is a global option and goes before the command: {fixed}"


INTERRUPTED = 130
INTERRUPTED_HINT = (
    "a stored compare or run keeps the cells it finished (the same command resumes it); "
    "nothing else was recorded"
)


def main(argv: list[str] | None = None) -> None:
    """Entry point: exit 0 ok, 1 a --fail-if condition held, 2 bad input (a full or read-only
    disk among them), 3 internal error, 130 interrupted, 141 output pipe closed."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    command = typer.main.get_command(app)
    _literal_help(command)
    try:
        rv = command.main(args=args, prog_name="recbench", standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except ClickException as exc:
        # Usage errors from option parsing: one line, exit 2 (click's convention).
        err.print(f"error: {_click_error(exc, command, args)}", markup=False)
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        # click turns Ctrl-C into Abort. compare and run record each cell as it finishes.
        err.print(f"error: interrupted; {INTERRUPTED_HINT}", markup=False)
        sys.exit(INTERRUPTED)
    except RecbenchError as exc:
        if debug:
            traceback.print_exc()
        err.print(f"error: {exc}", markup=False)
        sys.exit(exc.exit_code)
    except OSError as exc:
        _os_error_exit(exc, debug)
    except Exception as exc:
        raise_internal(exc, debug)
    try:
        sys.stdout.flush()  # a full disk or a closed pipe can first show here
    except OSError as exc:
        _os_error_exit(exc, debug)
    if rv == INTERRUPTED:  # typer turns Ctrl-C inside a command into Exit(130)
        err.print(f"error: interrupted; {INTERRUPTED_HINT}", markup=False)
    sys.exit(rv if isinstance(rv, int) else 0)


def _os_error_exit(exc: OSError, debug: bool) -> NoReturn:
    """A closed output pipe: exit 141 quietly; a full or read-only disk: one line, exit 2."""
    code, message = os_error_exit(exc)
    if code == PIPE_CLOSED:  # the reader went away (``recbench ... | head``)
        silence_stdout()
        sys.exit(code)
    if message is None:
        raise_internal(exc, debug)
    if debug:
        traceback.print_exception(exc)
    err.print(f"error: {message}", markup=False)
    silence_stdout()
    sys.exit(code)


def raise_internal(exc: BaseException, debug: bool) -> NoReturn:
    """A bug: one line and exit 3 (with --debug, the traceback)."""
    if debug:
        raise exc
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    err.print(
        f"error: internal error: {type(exc).__name__}: {msg} (run with --debug for the traceback)",
        markup=False,
    )
    sys.exit(3)
