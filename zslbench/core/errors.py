"""User-facing errors, and the process exit codes the CLI maps results and errors to.

The library raises and returns; only zslbench.cli turns that into an exit code."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

EXIT_OK = 0
EXIT_FAILED = 1  # a check failed or a class list is not compliant
EXIT_BAD_INPUT = 2  # the user gave something we cannot use
EXIT_INTERNAL = 3  # a bug in zslbench: rerun with --debug and report it


_MARK, _SEP = "\x1f", "\x1e"  # ASCII unit and record separators: never typed into a message
_NAMED = re.compile(f"{_MARK}([^{_MARK}{_SEP}]*){_SEP}([^{_MARK}{_SEP}]*){_MARK}")


def named(cli: str, python: str) -> str:
    """A setting named in an error message the way its caller wrote it: `cli` on the command line
    ("--set clips.clip_len=8"), `python` from Python ("override clips.clip_len=8", "sets={...}").

    Text made of it belongs in a ZslbenchError: its `message` and `hint` read the Python form, its
    `cli_message` and `cli_hint` (which the CLI prints) the command-line form."""
    return f"{_MARK}{cli}{_SEP}{python}{_MARK}"


def _said(text: str | None, cli: bool) -> str | None:
    """`text` with each `named` part in one of its two forms."""
    if text is None or _MARK not in text:
        return text
    return _NAMED.sub(lambda found: found.group(1 if cli else 2), text)


class ZslbenchError(Exception):
    """An error caused by input the user can fix; the CLI prints it as one line, no traceback, and
    exits EXIT_BAD_INPUT.

    `message` and `hint` name settings as Python callers give them (`videos_per_class=6`); the CLI
    prints `cli_message` and `cli_hint`, which name the options instead (`--videos-per-class 6`), where
    the text was written with `named`."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = _said(message, cli=False) or ""
        self.hint = _said(hint, cli=False)
        self.cli_message = _said(message, cli=True) or ""
        self.cli_hint = _said(hint, cli=True)
        super().__init__(self.message)

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
