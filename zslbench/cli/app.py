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

# --help lists commands in panels, in the order of the work: the rule and the class names, data,
# models and training, scoring and reporting; housekeeping last.
PANELS = {
    "The rule": ("protocols", "embeddings", "classes", "split", "audit"),
    "Data": ("synth", "data"),
    "Models and training": ("models", "weights", "pretrain-images", "train"),
    "Evaluation and reports": ("extract", "eval", "table", "check", "report"),
    "Housekeeping": ("cache",),
}
WORKFLOW = tuple(name for names in PANELS.values() for name in names)
# Options of the long commands, grouped the same way in every command's --help; others stay under "Options".
OPTION_PANELS = {
    "What to run on": ("--protocol", "--set", "--data", "--features", "--dataset", "--classes", "--allow-overlap"),
    "Model": ("--option", "--width", "--dropout", "--init", "--pretrained-on", "--backbone", "--weights"),
    "Schedule": ("--epochs", "--batch-size", "--lr", "--loss", "--seed", "--max-steps", "--resume", "--select-on-test"),
    "Reading videos": ("--workers", "--decoder", "--prefetch", "--pin-memory", "--no-pin-memory"),
    "Hardware": ("--device", "--amp", "--no-amp", "--amp-dtype", "--channels-last"),
    "Failures": ("--failure-budget", "--class-failure-budget"),
}
HELP_OPTIONS = ["-h", "--help"]


class ZslbenchGroup(TyperGroup):
    """The root group. Commands are listed in `PANELS`, in `WORKFLOW` order (others after them); flags show no
    value in --help; and typer's usage errors (an unknown option, a missing argument, a value typer's own
    checks refuse) read like every other error: one line, exit 2."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for name, cmd in self.commands.items():  # each command into its `PANELS` panel of --help
            panel = next((panel for panel, names in PANELS.items() if name in names), None)
            if panel and not isinstance(getattr(cmd, "rich_help_panel", None), str):
                cmd.rich_help_panel = panel
            _group_options(cmd)

    def list_commands(self, ctx: Context) -> list[str]:
        """Command names in `WORKFLOW` order, then any others (e.g. a plugin's) by name."""
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
        """Run the command line and exit with its code. A usage error or an option check's ZslbenchError
        is one line on stderr and exit 2 (another click error: its own exit code), an abort exit 1. With
        `standalone_mode=False`, click's behaviour: errors raised, the result returned."""
        _flags_take_no_value(self)  # typer adds the completion options after __init__
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
            print_error(err.cli_message, err.cli_hint)
            sys.exit(EXIT_BAD_INPUT)
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


def _group_options(command: Any) -> None:
    """Put the options of a command with many (train, eval, extract) into `OPTION_PANELS` panels."""
    for sub in getattr(command, "commands", {}).values():
        _group_options(sub)
    params = [p for p in command.params if getattr(p, "opts", None)]
    if len(params) < 12:  # a short --help reads best as one list
        return
    for param in params:
        panel = next((panel for panel, opts in OPTION_PANELS.items() if set(param.opts) & set(opts)), None)
        if panel and not isinstance(getattr(param, "rich_help_panel", None), str):
            param.rich_help_panel = panel


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
    add_completion=True,  # --install-completion for bash, zsh, fish and PowerShell
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
