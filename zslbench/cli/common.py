"""What every command shares: error printing, --json output, the shared options and their defaults in
--help, list options, consoles."""

from __future__ import annotations

import errno
import functools
import json
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console, ConsoleDimensions
from rich.segment import Segment

from zslbench.cli.bounds import bounded
from zslbench.core.bounds import PREFETCH, WORKERS
from zslbench.core.errors import EXIT_BAD_INPUT, EXIT_INTERNAL, ZslbenchError

if TYPE_CHECKING:
    from zslbench.video.dataset import LoaderOptions

F = TypeVar("F", bound=Callable[..., Any])

# How videos are read and how batches travel: the same options on train, eval and extract.
DecoderOpt = Annotated[
    str, typer.Option("--decoder", help="pyav (exact; seeks where safe), pyav-sequential, or decord (verified only)")
]
PrefetchOpt = Annotated[
    int, bounded(PREFETCH, "--prefetch", help="Batches each loader worker prepares ahead", kind="int")
]
PinMemoryOpt = Annotated[
    bool | None,
    typer.Option("--pin-memory/--no-pin-memory", help="Pinned host memory", show_default="on with CUDA"),
]
# One protocol setting changed for this run: every command that takes --protocol; `load_protocol(p, sets)`.
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Override one protocol setting, e.g. clips.clip_len=8 (repeatable); "
        "recorded in the protocol's fingerprint",
    ),
]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]


# One spelling, one meaning per option, on every command (tests/test_option_vocabulary.py): --out/-o what a
# command writes, --weights/-w weights, --workers/-j processes, --name the label of results, --id a zoo
# entry's id. Old spellings live on for a version as deprecated aliases (zslbench.cli.aliases).
def workers_option(help: str) -> Any:
    """--workers/-j: processes beside this one (0: the work is done here), in WORKERS' range."""
    return bounded(WORKERS, "--workers", "-j", help=help, kind="int")


def protocol_option(default: str | None = None) -> Any:
    """--protocol/-p, completed from the shipped protocols; `default`: what --help says a command uses
    without it [default: the default protocol's name]."""
    return typer.Option(
        "--protocol",
        "-p",
        help="Protocol name or YAML file",
        show_default=default if default is not None else LazyText("the default protocol", default_protocol_name),
        autocompletion=complete_protocols,
    )


class LazyText(str):
    """A `show_default` text made only when --help is drawn: typer formats it with an f-string, which
    calls `__format__`. A default read from the default protocol then costs nothing at start-up (loading
    a protocol imports numpy, which the CLI's start-up must not); the str value is the fallback."""

    make: Callable[[], str]

    def __new__(cls, fallback: str, make: Callable[[], str]) -> LazyText:
        text = super().__new__(cls, fallback)
        text.make = make
        return text

    def __str__(self) -> str:
        return self.make()

    def __format__(self, spec: str) -> str:
        return format(self.make(), spec)


def from_protocol(key: str, note: str = "") -> LazyText:
    """`show_default` of an option whose default is a protocol setting (`key`, dotted: "train.epochs"):
    `the protocol's: 150 in brattoli2020-k700-ucf-hmdb`, read from the default protocol; `note` follows."""
    return LazyText("the protocol's" + note, lambda: _protocol_setting(key) + note)


def default_protocol_name() -> str:
    """The protocol commands use when none is given, imported only when asked (for --help's default)."""
    from zslbench.protocol.spec import DEFAULT_PROTOCOL

    return DEFAULT_PROTOCOL


@functools.cache
def _protocol_setting(key: str) -> str:
    from zslbench.protocol.spec import load_protocol

    try:
        protocol = load_protocol(None)
        value = functools.reduce(lambda node, part: node[part], key.split("."), protocol.data)
    except (ZslbenchError, KeyError):  # a broken install still draws its --help
        return "the protocol's"
    shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return f"the protocol's: {shown} in {protocol.name}"


def complete_protocols(incomplete: str) -> list[str]:
    """Shell completion for --protocol: the shipped protocol names (a YAML path completes as a file)."""
    from zslbench.protocol.spec import shipped_protocols

    return [name for name in shipped_protocols() if name.startswith(incomplete)]


def complete_models(incomplete: str) -> list[str]:
    """Shell completion for --model: the registered models, plugins included."""
    from zslbench.models import all_model_specs

    return [spec.name for spec in all_model_specs(lambda problem: None) if spec.name.startswith(incomplete)]


def with_sets(protocol: str | None, sets: list[str] | None) -> Any:
    """The --protocol reference, loaded with its --set overrides when there are any.

    Without --protocol a checkpoint's own protocol (and the --set it was trained with) is reloaded from
    the checkpoint, so --set alone would be ambiguous; it is refused."""
    if not sets:
        return protocol
    if protocol is None:
        raise ZslbenchError(
            "--set needs --protocol here",
            "a checkpoint's protocol and its --set overrides are reloaded from it; name the protocol to change it",
        )
    from zslbench.protocol.spec import load_protocol

    return load_protocol(protocol, sets=tuple(sets))


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


PIPE_WIDTH = 1000  # the width output gets when it is not shown on a terminal


class SafeConsole(Console):
    """A rich Console whose printed text cannot control the terminal: every text segment passes
    through `visible`, and `:name:` emoji codes stay as written. rich's own styling is unaffected.

    Output that is not going to a terminal (a pipe, a file, a CI log) is laid out PIPE_WIDTH wide,
    whatever COLUMNS says: a table then takes its natural width and no value in it is cut to `…` or
    broken over lines, and no path or message is wrapped; a terminal gets its own width."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(highlight=False, emoji=False, **kwargs)
        if "width" not in kwargs:
            self._width = None  # rich froze $COLUMNS at import; read it (or the terminal) at each print

    @property
    def size(self) -> ConsoleDimensions:
        """The terminal's size; when not a terminal (and no width was set), at least PIPE_WIDTH wide."""
        size = super().size
        if self.is_terminal or self._width is not None:
            return size
        return ConsoleDimensions(max(size.width, PIPE_WIDTH), size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        """Fix the size (width, height) in characters, as rich's own setter does."""
        self._width, self._height = new_size

    def render(self, renderable: Any, options: Any = None) -> Iterable[Segment]:
        """rich's segments, each text with characters that are not printable shown escaped (`visible`)."""
        for segment in super().render(renderable, options):
            if segment.control or segment.text.isprintable():
                yield segment
            else:
                yield Segment(visible(segment.text), segment.style)


console = SafeConsole()
err_console = SafeConsole(stderr=True)


class State:
    """Global options of the current invocation: `debug` (--debug or $ZSLBENCH_DEBUG) shows tracebacks."""

    debug: bool = False  # set by the root callback on every invocation


def command(fn: F) -> F:
    """Turn library errors into one line on stderr and an exit code; --debug re-raises them.

    Bad input (`ZslbenchError`) and the user's environment (a read-only folder, a full disk: see
    `environment_error`) exit 2; anything else is a bug in zslbench and exits 3."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except ZslbenchError as err:
            if State.debug:
                raise
            print_error(err.cli_message, err.cli_hint)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except KeyboardInterrupt:
            err_console.print("[bold red]interrupted[/bold red]")
            raise typer.Exit(130) from None
        except OSError as err:
            if err.errno == errno.EPIPE:
                raise  # stdout was closed (`| head`): typer exits quietly
            known = environment_error(err)
            if known is None or State.debug:
                _internal(err)
                raise  # only reached with --debug
            print_error(*known)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except Exception as err:  # a bug: short message, full story with --debug
            _internal(err)
            raise  # only reached with --debug

    return wrapper  # type: ignore[return-value]


def _internal(err: Exception) -> None:
    """Report a bug in one line and exit 3; with --debug return, so the caller re-raises with the traceback."""
    if State.debug:
        return
    err_console.print(
        f"[bold red]internal error:[/bold red] {type(err).__name__}: {_escape(str(err))} "
        "[dim](hint: rerun with --debug for the traceback and report it)[/dim]",
        soft_wrap=True,
    )
    raise typer.Exit(EXIT_INTERNAL) from None


def print_error(message: str, hint: str | None = None) -> None:
    """The one line every error is: `error: <what> (hint: <how to fix it>)` on stderr."""
    shown = f" [dim](hint: {_escape(hint)})[/dim]" if hint else ""
    err_console.print(f"[bold red]error:[/bold red] {_escape(message)}{shown}", soft_wrap=True)


_PATH_CHECK = "check the permissions of this path and its folders, or choose another path"
_WHERE = "--out, or $ZSLBENCH_CACHE for the caches"
_SPACE = f"free some space, or write to another disk (e.g. with {_WHERE})"
# errno -> (what happened, hint). Each is about the user's machine, not about zslbench's code.
_ENVIRONMENT: dict[int, tuple[str, str]] = {
    errno.EACCES: ("permission denied", _PATH_CHECK),
    errno.EPERM: ("operation not permitted", _PATH_CHECK),
    errno.EROFS: ("read-only file system", f"write to a writable folder instead (e.g. with {_WHERE})"),
    errno.ENOSPC: ("no space left on the device", _SPACE),
    errno.EDQUOT: ("disk quota exceeded", _SPACE),
    errno.EFBIG: ("file too large", "a file size limit (ulimit -f) or the file system's limit was reached"),
    errno.ENAMETOOLONG: ("file name too long", "use a shorter path or name"),
    errno.EISDIR: ("is a folder, not a file", "give the path of a file"),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "check the path"),
    errno.EEXIST: ("already exists (as a file, where a folder is needed?)", "remove it or choose another path"),
    errno.ELOOP: ("too many levels of symbolic links", "check the links along the path"),
    errno.EMFILE: ("too many open files", "raise the limit (ulimit -n) or use fewer --workers"),
    errno.ENFILE: ("too many open files on this system", "close other programs or use fewer --workers"),
    errno.EIO: ("input/output error", "the disk or network file system failed; check it and retry"),
}
# These can only come from the machine, even when the error names no file (a write() that found the disk full).
_WITHOUT_PATH = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EMFILE, errno.ENFILE, errno.EIO}


def environment_error(err: OSError) -> tuple[str, str] | None:
    """(message, hint) for an OSError that the user's environment caused: permissions, a read-only or
    full disk, a name too long, a path through a file; None for anything else (kept as a bug, exit 3:
    e.g. a missing file, which the library reports itself when it is the user's)."""
    known = _ENVIRONMENT.get(err.errno) if err.errno is not None else None
    if known is None or (err.filename is None and err.errno not in _WITHOUT_PATH):
        return None
    what, hint = known
    return (f"{err.filename}: {what}" if err.filename is not None else what), hint


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
    """`data` as indented UTF-8 JSON on stdout (the `--json` output), flushed at once."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()  # a full disk or a closed pipe is reported now, by `command`, not at interpreter exit


def short(fingerprint: str) -> str:
    """The first 12 hex digits of a fingerprint, for human-readable output (`--json` has it whole)."""
    return fingerprint[:12]


_LONG_HEX = re.compile(r"[0-9a-f]{20,}")


def short_id(identity: str) -> str:
    """An embedder id for people: each long hash cut to 16 hex digits (the full id is in --json and
    in every record), so the line fits a terminal."""
    return _LONG_HEX.sub(lambda match: match.group(0)[:16], identity)


OptionOpt = Annotated[
    list[str] | None, typer.Option("--option", help="KEY=VALUE: a model option (zslbench models show NAME)")
]
ImageTextOpt = Annotated[
    str | None,
    typer.Option(
        "--image-text",
        help="A video-text model's image-text pretraining, as text (e.g. 'OpenAI CLIP, 400M web image-text pairs'), "
        "or none",
    ),
]
FinetunedOnOpt = Annotated[
    str | None,
    typer.Option("--finetuned-on", help="A video-text model's video fine-tuning classes: dataset, class list, or none"),
]
