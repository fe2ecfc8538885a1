"""User-facing errors, and the process exit codes the CLI maps results and errors to.

The library raises and returns; only zslbench.cli turns that into an exit code."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

EXIT_OK = 0
EXIT_FAILED = 1  # a check failed or a class list is not compliant
EXIT_BAD_INPUT = 2  # the user gave something we cannot use
EXIT_INTERNAL = 3  # a bug in zslbench: rerun with --debug and report it


class ZslbenchError(Exception):
    """An error caused by input the user can fix; the CLI prints it as one line, no traceback, and
    exits EXIT_BAD_INPUT."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A ' Did you mean ...?' suffix naming the closest choices, or '' when none is close."""
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.6)
    if not close:
        return ""
    return " Did you mean " + " or ".join(repr(c) for c in close) + "?"


def unknown_name_error(what: str, name: str, choices: Iterable[str], hint: str | None = None) -> ZslbenchError:
    """The standard error for a name that is not in a registry or list."""
    choices = sorted(choices)
    message = f"unknown {what} {name!r}.{did_you_mean(name, choices)}"
    return ZslbenchError(message, hint or f"known {what}s: {', '.join(choices)}")
