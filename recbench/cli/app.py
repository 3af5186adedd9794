"""The `recbench` command: global options, sub-commands, and one-line error handling."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer

from recbench import __version__
from recbench.cli import catalog, run
from recbench.cli.common import State, err
from recbench.errors import RecbenchError

try:  # typer >= 0.29 vendors click; older releases use the click package
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover
    from click import ClickException  # type: ignore[no-redef]

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
        typer.echo(f"recbench {__version__}")
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
    ctx.obj = State(seed=seed, data_dir=data_dir, debug=debug, quiet=quiet)


catalog.register(app)
run.register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point: exit 0 ok, 1 a --fail-if condition held, 2 bad input, 3 internal error."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    command = typer.main.get_command(app)
    try:
        rv = command.main(args=args, prog_name="recbench", standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except ClickException as exc:
        # Usage errors from option parsing: one line, exit 2 (click's convention).
        where = (
            f" (see: recbench {exc.ctx.command_path.partition(' ')[2]} --help)".replace(
                "recbench  --help", "recbench --help"
            )
            if getattr(exc, "ctx", None) is not None
            else ""
        )
        err.print(f"error: {exc.format_message()}{where}", markup=False)
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("error: aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        err.print("error: interrupted; nothing was written")
        sys.exit(130)
    except RecbenchError as exc:
        if debug:
            traceback.print_exc()
        err.print(f"error: {exc}", markup=False)
        sys.exit(exc.exit_code)
    except Exception as exc:
        if debug:
            raise
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        err.print(
            f"error: internal error: {type(exc).__name__}: {msg} (run with --debug for the "
            "traceback)",
            markup=False,
        )
        sys.exit(3)
    sys.exit(rv if isinstance(rv, int) else 0)
