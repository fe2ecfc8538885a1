"""What every command shares: error printing, --json output, list options, consoles."""

from __future__ import annotations

import functools
import json
import sys
import unicodedata
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.segment import Segment

from zslbench.errors import EXIT_INTERNAL, ZslbenchError

if TYPE_CHECKING:
    from zslbench.video.dataset import LoaderOptions

F = TypeVar("F", bound=Callable[..., Any])

# How videos are read and how batches travel: the same options on train, eval and extract.
DecoderOpt = Annotated[
    str, typer.Option("--decoder", help="pyav (exact; seeks where safe), pyav-sequential, or decord (verified only)")
]
PrefetchOpt = Annotated[int, typer.Option("--prefetch", help="Batches each loader worker prepares ahead", min=1)]
PinMemoryOpt = Annotated[
    bool | None, typer.Option("--pin-memory/--no-pin-memory", help="Pinned host memory [default: on with CUDA]")
]

_SHOWN_AS_IS = {"\n", "\t"}


def visible(text: str) -> str:
    """`text` with control characters (ESC, BEL, CR, C1, bidi overrides) written as `\\x1b`-style
    escapes: a class name or path from a file must not move the cursor, retitle the terminal or
    reorder what is shown."""
    if text.isprintable():
        return text
    return "".join(
        ch if ch in _SHOWN_AS_IS or ch.isprintable() or unicodedata.category(ch) == "Zs" else _escape_char(ch)
        for ch in text
    )


def _escape_char(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


class SafeConsole(Console):
    """A rich Console whose printed text cannot control the terminal: every text segment passes
    through `visible`, and `:name:` emoji codes stay as written. rich's own styling is unaffected."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(highlight=False, emoji=False, **kwargs)

    def render(self, renderable: Any, options: Any = None) -> Iterable[Segment]:
        for segment in super().render(renderable, options):
            if segment.control or segment.text.isprintable():
                yield segment
            else:
                yield Segment(visible(segment.text), segment.style)


console = SafeConsole()
err_console = SafeConsole(stderr=True)


class State:
    debug: bool = False  # set by the root callback on every invocation


def command(fn: F) -> F:
    """Turn library errors into one line on stderr and an exit code; --debug re-raises them."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except ZslbenchError as err:
            if State.debug:
                raise
            hint = f" [dim](hint: {_escape(err.hint)})[/dim]" if err.hint else ""
            err_console.print(f"[bold red]error:[/bold red] {_escape(err.message)}{hint}", soft_wrap=True)
            raise typer.Exit(err.exit_code) from None
        except KeyboardInterrupt:
            err_console.print("[bold red]interrupted[/bold red]")
            raise typer.Exit(130) from None
        except Exception as err:  # a bug: short message, full story with --debug
            if State.debug:
                raise
            err_console.print(
                f"[bold red]internal error:[/bold red] {type(err).__name__}: {_escape(str(err))} "
                "[dim](hint: rerun with --debug for the traceback and report it)[/dim]",
                soft_wrap=True,
            )
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper  # type: ignore[return-value]


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def split_list(values: Iterable[str] | None) -> list[str]:
    """Repeated and comma-separated option values, flattened: ['a,b', 'c'] -> ['a', 'b', 'c']."""
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def parse_options(items: Iterable[str] | None) -> dict[str, Any]:
    """KEY=VALUE pairs with YAML values: `--option gamma=0.1 --option top_t=5 --option lam=null`."""
    import yaml

    options = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ZslbenchError(f"--option {item!r} is not KEY=VALUE", "e.g. --option gamma=0.1")
        try:
            options[key.strip()] = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError:
            raise ZslbenchError(
                f"--option {item!r}: {value!r} is not a value", "use a number, true/false or null"
            ) from None
    return options


def loader_options(decoder: str, prefetch: int = 2, pin_memory: bool | None = None) -> LoaderOptions:
    """The options above as the library's `LoaderOptions`; an unknown decoder is a one-line error."""
    from zslbench.video.dataset import LoaderOptions
    from zslbench.video.decode import BACKENDS

    if decoder not in BACKENDS:
        raise ZslbenchError(f"unknown --decoder {decoder!r}", f"choose from {', '.join(BACKENDS)}")
    return LoaderOptions(decoder=decoder, pin_memory=pin_memory, prefetch=prefetch)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def short(fingerprint: str) -> str:
    return fingerprint[:12]
