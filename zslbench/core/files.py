"""Why a path cannot be a video file, in one line, found without opening it.

A named pipe in a dataset made `eval` hang: opening a FIFO blocks until a writer comes. So every route
that reads a listed video (index, check, prepare, train, eval, extract, decoder verification) asks
`file_problem` first; it only stats, and names the kind of file it found instead of "not found".
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def kind_of(mode: int) -> str:
    """'a folder', 'a named pipe', ... for a stat mode that is not a regular file's."""
    return next((name for test, name in _KINDS if test(mode)), "a special file")


def file_problem(path: Path | str, allow_empty: bool = False) -> str | None:
    """None for a regular, non-empty file; else why it is not one, e.g. 'not a regular file (a
    named pipe)', 'file not found', 'broken symbolic link', 'empty file (0 bytes)'."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return "broken symbolic link (its target does not exist)" if os.path.islink(path) else "file not found"
    except OSError as err:
        return f"cannot stat: {err.strerror or err}"
    if not stat.S_ISREG(info.st_mode):
        return f"not a regular file ({kind_of(info.st_mode)})"
    if info.st_size == 0 and not allow_empty:
        return "empty file (0 bytes)"
    return None


def not_regular(mode: int, path: Path | str) -> OSError:
    """The error for a path whose stat `mode` is not a regular file's, naming its kind: a folder
    gives IsADirectoryError (as a plain read would), anything else EINVAL."""
    if stat.S_ISDIR(mode):
        return IsADirectoryError(errno.EISDIR, f"not a regular file ({kind_of(mode)})", str(path))
    return OSError(errno.EINVAL, f"not a regular file ({kind_of(mode)})", str(path))


def open_regular(path: Path | str) -> int:
    """A read-only descriptor of a regular file; `not_regular`'s error for a pipe, folder or device.

    Opened without blocking and checked on the open descriptor, so a pipe (even one swapped in after
    a check) never hangs the caller.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise not_regular(mode, path)
    return fd


def read_regular_bytes(path: Path | str) -> bytes:
    """A file's bytes, through `open_regular`."""
    with os.fdopen(open_regular(path), "rb") as handle:
        return handle.read()


__all__ = ["file_problem", "kind_of", "not_regular", "open_regular", "read_regular_bytes"]
