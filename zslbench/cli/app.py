"""The root Typer app and its global options."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from zslbench import __version__
from zslbench.cli.common import State

app = typer.Typer(
    name="zslbench",
    help="The realistic zero-shot video classification benchmark (Brattoli et al., CVPR 2020).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
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
    """Exit codes: 0 ok, 1 a check failed or a class list is not compliant, 2 bad input, 3 internal error."""
    State.debug = debug or bool(os.environ.get("ZSLBENCH_DEBUG"))  # per invocation, not sticky
