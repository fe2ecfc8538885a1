"""The root Typer app, its global options, and how the command group presents itself."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer._click import Context  # typer vendors click; its exceptions and Context live here
from typer._click.exceptions import ClickException, NoArgsIsHelpError
from typer.core import TyperGroup

from zslbench import __version__
from zslbench.cli.common import State, print_error
from zslbench.core.errors import EXIT_BAD_INPUT, ZslbenchError

# --help lists commands in the order of the work: pick a protocol, look at the text side, apply the
# rule, get data, choose and train a model, score it, report; housekeeping last.
WORKFLOW = (
    "protocols", "embeddings", "classes", "split", "audit", "synth", "data", "models", "train", "extract", "eval",
    "table", "check", "cache",
)  # fmt: skip
HELP_OPTIONS = ["-h", "--help"]


class ZslbenchGroup(TyperGroup):
    """The root group. Commands are listed in `WORKFLOW` order (others after them, by name); flags show no
    value in --help; and typer's usage errors (an unknown option, a missing argument, a value typer's own
    checks refuse) read like every other error: one line, exit 2."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _flags_take_no_value(self)

    def list_commands(self, ctx: Context) -> list[str]:
        rank = {name: i for i, name in enumerate(WORKFLOW)}
        return sorted(self.commands, key=lambda name: (rank.get(name, len(rank)), name))

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except NoArgsIsHelpError:
            sys.exit(EXIT_BAD_INPUT)  # the help was printed when the error was made
        except ClickException as err:
            print_error(*_usage_error(err))
            sys.exit(err.exit_code)
        except ZslbenchError as err:  # an option's check (zslbench.cli.bounds) refused its value
            if State.debug:
                raise
            print_error(err.message, err.hint)
            sys.exit(err.exit_code)
        except typer.Abort:
            print_error("aborted")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def _usage_error(err: ClickException) -> tuple[str, str]:
    """(message, hint) for a click usage error, worded like zslbench's own errors."""
    message = err.format_message().strip().rstrip(".")
    if message[1:2].islower():
        message = message[0].lower() + message[1:]
    ctx = getattr(err, "ctx", None)
    return message, f"see `{ctx.command_path if ctx else 'zslbench'} --help`"


def _flags_take_no_value(command: Any) -> None:
    """typer's --help shows `<bool>` beside every flag, as if `--json` took a value: show nothing there.
    Recurses into sub-groups; the help option, made on first use, is made now so it is covered too."""
    for param in command.params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    help_option = command.get_help_option(Context(command, help_option_names=HELP_OPTIONS))
    if help_option is not None:
        help_option.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _flags_take_no_value(sub)


app = typer.Typer(
    name="zslbench",
    cls=ZslbenchGroup,
    help="The realistic zero-shot video classification benchmark (Brattoli et al., CVPR 2020).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": HELP_OPTIONS},
)
protocols_app = typer.Typer(help="List, show and validate protocols.", no_args_is_help=True)
app.add_typer(protocols_app, name="protocols")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"zslbench {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    debug: Annotated[bool, typer.Option("--debug", help="Show the full traceback of an error.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Exit codes: 0 ok, 1 a check failed or a class list is not compliant, 2 bad input or a problem of
    this machine (permissions, a full disk, a missing GPU), 3 internal error (a bug: rerun with --debug)."""
    State.debug = debug or bool(os.environ.get("ZSLBENCH_DEBUG"))  # per invocation, not sticky
