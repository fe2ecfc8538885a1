"""Old option spellings that still work for one version, read as the new one with a warning.

A command whose option was renamed declares `@app.command(context_settings=renamed({"--results": "--out"}))`.
The old spelling is never an option of its own: it lives in click's token normalisation, which maps each
option token before the parser matches it. So --help cannot show it, `-w` can stay deprecated for --workers
on `train` while it means --weights on `eval`, and `--results=DIR` and `-w4` work as before. Each old
spelling prints one line on stderr per run: `warning: --results is deprecated; use --out`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from typer._click.globals import get_current_context  # typer vendors click; the context of the command parsed

from zslbench.cli.bounds import option_name
from zslbench.cli.common import err_console

WARNED = "zslbench.deprecated"  # the key in the click context's meta: the old spellings already warned about


def renamed(renames: dict[str, str]) -> dict[str, Any]:
    """`context_settings` for a command with renamed options: {old spelling: new spelling}, e.g.
    {"--results": "--out", "-w": "-j"}. Click keeps a token's prefix, so a long name maps to a long
    name and a short one to a short one (ValueError otherwise: a mistake in the declaration)."""
    table: dict[str, tuple[str, str, str]] = {}
    for old, new in renames.items():
        old_prefix, old_name = _split(old)
        new_prefix, new_name = _split(new)
        if old_prefix != new_prefix:
            raise ValueError(f"{old} -> {new}: a renamed option keeps its prefix ({old_prefix!r})")
        table[old_name] = (new_name, old, new)
    return {"token_normalize_func": _normalizer(table)}


def _normalizer(table: dict[str, tuple[str, str, str]]) -> Callable[[str], str]:
    def normalize(name: str) -> str:
        found = table.get(name)
        if found is None:
            return name
        warn_once(*found[1:])
        return found[0]

    return normalize


def warn_once(old: str, new: str) -> None:
    """`warning: OLD is deprecated; use NEW` on stderr, once per run of a command (the parser may look at
    a token twice, first as a long option); nothing while the shell completes a command line."""
    ctx = get_current_context(silent=True)
    if ctx is not None:
        if ctx.resilient_parsing:
            return
        warned = ctx.meta.setdefault(WARNED, set())
        if old in warned:
            return
        warned.add(old)
    err_console.print(Text(f"warning: {old} is deprecated; use {_described(new, ctx)}", style="yellow"), soft_wrap=True)


def _described(new: str, ctx: Any) -> str:
    """A new short spelling with its long name beside it: `-j (--workers)`."""
    if new.startswith("--") or ctx is None:
        return new
    param = next((p for p in ctx.command.params if new in (getattr(p, "opts", None) or ())), None)
    return f"{new} ({option_name(param)})" if param is not None else new


def _split(spelling: str) -> tuple[str, str]:
    """('--', 'results') or ('-', 'w'): how click splits an option's prefix from its name."""
    prefix = "--" if spelling.startswith("--") else "-" if spelling.startswith("-") else ""
    if not prefix or len(spelling) == len(prefix):
        raise ValueError(f"{spelling!r} is not an option spelling")
    return prefix, spelling[len(prefix) :]
