"""Class vocabularies: the registered datasets' label lists and user class-list files.

Wherever zslbench takes a dataset name it also takes a path to a text file of class names, one per
line (`#` comments, blank lines, a UTF-8 BOM and CRLF endings are tolerated; duplicates are
dropped and reported). Which names are datasets, and where their lists live, is the dataset
registry's (zslbench.datasets): the shipped ones and any a plugin registers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import overload

from zslbench.core.errors import ZslbenchError, did_you_mean
from zslbench.core.files import read_regular_bytes
from zslbench.core.hashing import sha256_text
from zslbench.datasets import DatasetSpec, dataset_names, dataset_spec, is_dataset


class DatasetNames(Sequence[str]):
    """The registered dataset names, sorted, read from the registry at each use, so a dataset that a
    plugin (or a test) registers is a name wherever `ref in DATASETS` tells a name from a file.
    `in` also accepts an alias; iterating gives the names only."""

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return tuple(dataset_names())[index]

    def __len__(self) -> int:
        return len(dataset_names())

    def __iter__(self) -> Iterator[str]:
        return iter(dataset_names())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and is_dataset(name)

    def __repr__(self) -> str:
        return f"DatasetNames({', '.join(self)})"


DATASETS = DatasetNames()


@dataclass(frozen=True)
class ClassList:
    """An ordered list of unique class names and where it came from."""

    name: str  # dataset name, or the file's stem
    classes: tuple[str, ...]
    source: str  # "builtin" (a registered dataset, named by its name) or the file path
    duplicates: tuple[str, ...] = ()

    @property
    def builtin(self) -> bool:
        """Whether this is a registered dataset's list (stored by name, not by file path)."""
        return self.source == "builtin"

    @cached_property
    def sha256(self) -> str:
        """Hash of the names, independent of file encoding details (BOM, CRLF, comments)."""
        return sha256_text("\n".join(self.classes))

    def __len__(self) -> int:
        return len(self.classes)


def parse_class_names(text: str, origin: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(unique names in file order, names seen more than once)."""
    names: list[str] = []
    seen: set[str] = set()
    duplicates: list[str] = []
    for line in text.lstrip("\ufeff").splitlines():
        name = line.strip()
        if not name or name.startswith("#"):
            continue
        if name in seen:
            if name not in duplicates:
                duplicates.append(name)
            continue
        seen.add(name)
        names.append(name)
    if not names:
        raise ZslbenchError(
            f"class list {origin} is empty", "write one class name per line; lines starting with # are comments"
        )
    return tuple(names), tuple(duplicates)


def read_class_file(path: Path) -> ClassList:
    """A class-list file (one name per line, `#` comments, blank lines skipped) named after its stem.

    Duplicate names are kept once and listed in `duplicates`. Raises ZslbenchError for an unreadable,
    non-UTF-8 or empty file."""
    classes, duplicates = parse_class_names(read_class_text(path), str(path))
    return ClassList(path.stem, classes, str(path), duplicates)


def read_class_text(path: Path) -> str:
    """A class-list file's text, or a one-line ZslbenchError saying why it cannot be read."""
    try:
        data = read_regular_bytes(path)  # a named pipe would block a plain read forever
    except IsADirectoryError:
        raise ZslbenchError(
            f"{path} is a folder, not a class-list file", "pass a .txt file, one class per line"
        ) from None
    except OSError as err:
        raise ZslbenchError(
            f"cannot read class list {path}: {err.strerror}", "check the path and its permissions"
        ) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ZslbenchError(
            f"class list {path} is not UTF-8 text (byte {err.start})", "save the file as UTF-8, one class per line"
        ) from None


def dataset_classes(spec: DatasetSpec) -> ClassList:
    """A registered dataset's class list. Its source is "builtin" (referred to by name, as manifests
    and protocols store it), and its name is the spec's, also when it was found by an alias."""
    classes, duplicates = parse_class_names(read_class_text(spec.class_list_path), spec.name)
    return ClassList(spec.name, classes, "builtin", duplicates)


def load_class_list(name_or_path: str | Path, base_dir: Path | str | None = None) -> ClassList:
    """A registered dataset's classes by name (e.g. 'ucf101'), or a class-list file.

    Relative paths are resolved against `base_dir` (a protocol file's folder) when given.
    """
    text = str(name_or_path)
    if is_dataset(text):
        return dataset_classes(dataset_spec(text))
    path = Path(text).expanduser()
    if base_dir is not None and not path.is_absolute():
        path = Path(base_dir) / path
    if path.exists():
        return read_class_file(path)
    if looks_like_path(text):
        start = (
            "the protocol file's folder" if base_dir is not None and not Path(text).is_absolute() else "where you run"
        )
        raise ZslbenchError(f"class-list file {path} does not exist", f"check the path (relative to {start})")
    names = dataset_names()
    raise ZslbenchError(
        f"unknown dataset {text!r} and no such file.{did_you_mean(text, names)}",
        f"datasets: {', '.join(names)}; or pass a text file with one class name per line",
    )


def looks_like_path(text: str) -> bool:
    """Whether `text` reads as a file path, not a dataset name: a slash or backslash, or a dot in its last part."""
    return "/" in text or "\\" in text or "." in Path(text).name
