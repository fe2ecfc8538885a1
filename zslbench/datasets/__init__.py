"""The dataset registry: what each dataset name means, in one place.

A dataset is a `DatasetSpec`: its class-list file, the layout that indexes its folder tree, the name
the published numbers use for it, its aliases and a one-line summary. The shipped ones are in
`zslbench.datasets.builtin`; other packages add theirs through the `zslbench.datasets` entry-point
group (an entry point names a `DatasetSpec`, usually the one `register_dataset` returned). Class
lists (`zslbench.text.vocab`), layouts (`zslbench.video.layouts`) and protocols consult this registry,
so this package imports only `zslbench.core`: anyone can use it without an import cycle.

A broken plugin behaves as in the model registry (`zslbench.core.registry`): listing names imports
nothing, and using a plugin whose import fails, or whose entry point names something that is not a
`DatasetSpec` of that name, is one ZslbenchError naming the entry point and its distribution.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from zslbench.core.errors import ZslbenchError
from zslbench.core.paths import data_dir
from zslbench.core.registry import Entry, Registry

# No '/', '\\' or '.', no spaces: a dataset name can never be mistaken for a class-list file path
# (zslbench.text.vocab.looks_like_path), so "name or file" arguments stay unambiguous.
PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+@-]*")


@dataclass(frozen=True)
class OfficialSplits:
    """A dataset's published test splits, numbered 1..count, which the `official` split kind scores
    (zslbench/evaluation/official.py): either each split's test *videos*, listed in files the dataset's
    authors publish and the user keeps in or beside the videos' folder (`files` names their format, a
    reader in zslbench/video/official_splits.py: "ucf101" testlistNN.txt, "hmdb51" <class>_test_splitN.txt),
    or each split's test *classes*, shipped class-list files (`class_lists`, relative paths in zslbench's
    class_lists/ folder). `source` says, in one line, who published them."""

    count: int
    source: str
    files: str | None = None
    class_lists: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.files is None) == (not self.class_lists):
            raise ZslbenchError("official splits give either files or class_lists", "e.g. files='ucf101'")
        if self.class_lists and len(self.class_lists) != self.count:
            raise ZslbenchError(
                f"official splits: {len(self.class_lists)} class lists for {self.count} splits", "one list per split"
            )

    def class_list_path(self, number: int) -> Path:
        """The class-list file of split `number` (1..count)."""
        path = Path(self.class_lists[number - 1]).expanduser()
        return path if path.is_absolute() else data_dir("class_lists") / path


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset name means; plain data, so listing datasets reads no files."""

    name: str
    # A relative path is a file in zslbench's packaged class_lists/ folder (the shipped lists); a
    # plugin gives an absolute one, e.g. Path(__file__).with_name("mydata.txt").
    class_list: str | Path
    summary: str  # one line
    layout: str | None = None  # the `zslbench data index` layout for its folder tree, when one fits
    published_name: str | None = None  # its name in protocols/published/*.yaml, when not `name`
    aliases: tuple[str, ...] = ()  # other names that find it; a dataset's own name wins over an alias
    official_splits: OfficialSplits | None = None  # its published test splits (the `official` split kind)

    def __post_init__(self) -> None:
        if not isinstance(self.aliases, tuple):
            raise ZslbenchError(f"dataset {self.name!r}: aliases must be a tuple", "e.g. aliases=('ucf',)")
        for name in (self.name, *self.aliases):
            if not isinstance(name, str) or not PLAIN_NAME.fullmatch(name):
                raise ZslbenchError(
                    f"dataset name {name!r} is not a plain name",
                    "use letters, digits, '_', '-', '+' or '@' (no '/', '.' or spaces, which would read as a file)",
                )
        if "\n" in self.summary:
            raise ZslbenchError(f"dataset {self.name!r}: the summary must be one line", "shorten it")

    @property
    def class_list_path(self) -> Path:
        """The class-list file: `class_list` if absolute (a plugin's), else that name in the packaged
        class_lists/ folder; not checked to exist."""
        path = Path(self.class_list).expanduser()
        return path if path.is_absolute() else data_dir("class_lists") / path

    @property
    def published(self) -> str:
        """How the published numbers name it."""
        return self.published_name or self.name


DATASET_SPECS: Registry[DatasetSpec] = Registry(
    "dataset", entry_point_group="zslbench.datasets", builtins="zslbench.datasets.builtin"
)


def register_dataset(
    name: str,
    *,
    class_list: str | Path,
    summary: str,
    layout: str | None = None,
    published_name: str | None = None,
    aliases: Iterable[str] = (),
    origin: str | None = None,
    official_splits: OfficialSplits | None = None,
) -> DatasetSpec:
    """Register a dataset and return its spec (point a `zslbench.datasets` entry point at it).

    `origin` names the registering package in clash messages; by default the caller's top package.
    """
    spec = DatasetSpec(name, class_list, summary, layout, published_name, tuple(aliases), official_splits)
    if origin is None:
        origin = sys._getframe(1).f_globals.get("__name__", "?").split(".")[0]
    DATASET_SPECS.add(name, spec, origin=origin)
    return spec


def dataset_names() -> list[str]:
    """Every registered dataset name (not aliases), sorted; imports no plugin."""
    return DATASET_SPECS.names()


def is_dataset(name: str) -> bool:
    """Whether `name` names a registered dataset (or an alias of one) rather than a file."""
    if not PLAIN_NAME.fullmatch(name):
        return False
    return name in DATASET_SPECS.names() or _alias_target(name) is not None


def dataset_spec(name: str) -> DatasetSpec:
    """The spec a dataset name or alias means. An unknown name is a ZslbenchError with suggestions; a
    plugin that fails to load, or names something else, is a ZslbenchError naming the plugin."""
    if name not in DATASET_SPECS.names() and PLAIN_NAME.fullmatch(name):
        name = _alias_target(name) or name
    return _checked(DATASET_SPECS.entry(name))


def all_dataset_specs(on_problem: Callable[[str], None] | None = None) -> list[DatasetSpec]:
    """Every dataset that loads. A broken plugin is left out and reported, one line each, to
    `on_problem` (default: a RuntimeWarning), as `zslbench.models.all_model_specs` does."""
    report = on_problem or _warn
    for problem in DATASET_SPECS.problems():
        report(problem)
    specs = []
    for entry in DATASET_SPECS:
        try:
            specs.append(_checked(entry))
        except ZslbenchError as err:
            report(err.message)
    return specs


def _checked(entry: Entry) -> DatasetSpec:
    spec = entry.load()
    if not isinstance(spec, DatasetSpec) or spec.name != entry.name:
        what = f"registered as {spec.name!r}" if isinstance(spec, DatasetSpec) else f"of type {type(spec).__name__}"
        raise ZslbenchError(
            f"{entry.describe()} is not a dataset spec registered under that name (it is {what})",
            f"the entry point must name a DatasetSpec called {entry.name!r}; {entry.fix_hint()}",
        )
    return spec


def _alias_target(alias: str) -> str | None:
    """The dataset `alias` is an alias of; loads the registered specs (plugins that fail are skipped
    here and reported when used by name)."""
    owners = []
    for entry in DATASET_SPECS:
        try:
            spec = _checked(entry)
        except ZslbenchError:
            continue
        if alias in spec.aliases:
            owners.append(spec.name)
    if len(owners) > 1:
        raise ZslbenchError(
            f"dataset alias {alias!r} is claimed by {' and '.join(owners)}", "use one of the dataset names"
        )
    return owners[0] if owners else None


def _warn(problem: str) -> None:
    warnings.warn(problem, RuntimeWarning, stacklevel=3)


__all__ = [
    "DATASET_SPECS",
    "DatasetSpec",
    "OfficialSplits",
    "all_dataset_specs",
    "dataset_names",
    "dataset_spec",
    "is_dataset",
    "register_dataset",
]
