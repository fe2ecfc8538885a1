"""Atomic file writes: a reader sees the old file or the new one, never half of one; and files that
belong together (a kept-class list and its report) are all replaced, or none is."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_open(path: Path | str, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file beside `path`; rename it over `path` only if the block succeeds.

    An OSError (full disk, read-only folder) names `path`, not the hidden temporary file."""
    path = Path(path)
    with _naming(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    binary = "b" in mode
    try:
        with _naming(path):
            with os.fdopen(fd, mode, encoding=None if binary else encoding) as handle:
                yield handle
                handle.flush()
                os.chmod(handle.fileno(), 0o666 & ~current_umask())  # mkstemp makes 0600; a new file obeys the umask
                os.fsync(handle.fileno())
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _naming(path: Path) -> Iterator[None]:
    """Re-raise an OSError about one of `path`'s temporary files, or about no file (a write that found
    the disk full), as one about `path`: same errno, so the same subclass (PermissionError, ...)."""
    try:
        yield
    except OSError as err:
        named = err.filename if isinstance(err.filename, (str, bytes, os.PathLike)) else None
        ours = named is None or Path(os.fsdecode(named)).name.startswith(f".{path.name}.")
        if not ours:
            raise  # about another path, e.g. a parent folder that cannot be made
        raise OSError(err.errno, err.strerror or str(err), str(path)) from err


def current_umask() -> int:
    """The process's umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: Path | str, text: str) -> None:
    """Replace `path` with UTF-8 `text` atomically (see `atomic_open`); OSError names `path`."""
    with atomic_open(path, "w") as handle:
        handle.write(text)


def write_bytes(path: Path | str, data: bytes) -> None:
    """Replace `path` with `data` atomically (see `atomic_open`); OSError names `path`."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def write_files(contents: Mapping[Path | str, str | bytes]) -> None:
    """Write several files that belong together: every new file is written in full beside its target
    first, then all are renamed into place. If anything fails, each target is back to what it was
    (its old content, or absent, with any folder made for it removed), so a reader never pairs a new
    file with an old or missing partner."""
    made: list[Path] = []  # folders this call created, parents first
    staged: list[tuple[Path, str]] = []  # (target, temporary file holding the new content)
    replaced: list[tuple[Path, str | None]] = []  # (target, a copy of its old content, or None if it had none)
    try:
        for target, content in contents.items():
            target = Path(target)
            made += _make_parents(target.parent)
            with _naming(target):
                staged.append((target, _stage(target, content)))
        for target, tmp in staged:
            with _naming(target):
                replaced.append((target, _keep_old(target)))
                os.replace(tmp, target)
    except BaseException:
        for target, old in reversed(replaced):
            with contextlib.suppress(OSError):
                if old is None:
                    target.unlink(missing_ok=True)
                else:
                    os.replace(old, target)
        for _, tmp in staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    for _, old in replaced:
        if old is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(old)


def _make_parents(folder: Path) -> list[Path]:
    """Create `folder` and its missing parents; the ones created, outermost first."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()][::-1]
    folder.mkdir(parents=True, exist_ok=True)
    return missing


def _stage(target: Path, content: str | bytes) -> str:
    """A complete, synced temporary copy of `content` beside `target`; its path."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content.encode("utf-8") if isinstance(content, str) else content)
            handle.flush()
            os.chmod(handle.fileno(), 0o666 & ~current_umask())
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return tmp


def _keep_old(target: Path) -> str | None:
    """A second name for `target`'s current content (restored if a later rename fails), or None if it has none."""
    if not target.exists():
        return None
    backup = str(target.parent / f".{target.name}.{secrets.token_hex(6)}.old")
    try:
        os.link(target, backup)  # instant, and the old content stays where readers look
    except OSError:
        shutil.copy2(target, backup)  # a file system without hard links
    return backup
