"""Where a dataset of the protocol lives, as a manifest or a folder to index: `--data NAME=PATH`
first, then the dataset roots set once (`zslbench.datasets.roots`, `zslbench data add`).

A run scores the manifest's rows of the dataset's classes, each video once. The rest is accounted,
not silently dropped: a row repeating an earlier row's path and label is counted once, and rows whose
label is not a class of the dataset are left out; `IgnoredRows` says how many of each, with examples,
for the result record and a warning line. A manifest with no row of the dataset's classes is an error.
"""

from __future__ import annotations

import difflib
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zslbench.core.errors import ZslbenchError, did_you_mean, named, unknown_name_error
from zslbench.datasets import dataset_spec, is_dataset
from zslbench.datasets.roots import configured_roots, name_warning
from zslbench.text.vocab import ClassList
from zslbench.video.layouts import LAYOUTS, IndexOptions, index_dataset
from zslbench.video.manifest import Manifest, read_manifest

if TYPE_CHECKING:
    from zslbench.video.sampler import ClipSpec


def parse_data_options(items: Iterable[str]) -> dict[str, Path]:
    """`--data NAME=PATH` items as {name: path} (`~` expanded, a later NAME wins).

    Raises ZslbenchError for an item that is not NAME=PATH."""
    sources = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ZslbenchError(
                f"{named(f'--data {item!r}', f'data item {item!r}')} is not NAME=PATH",
                "e.g. "
                + named(
                    "--data ucf101=/data/ucf101 or --data synth-target=target.csv",
                    "data={'ucf101': '/data/ucf101'} or data={'synth-target': 'target.csv'}",
                ),
            )
        sources[name.strip()] = Path(path.strip()).expanduser()
    return sources


@dataclass(frozen=True)
class DataSource:
    """Where a run reads a dataset, and who said so (`--data`, or a roots file and line)."""

    name: str
    path: Path
    layout: str | None = None  # None: a manifest, or the dataset's own layout for a folder
    origin: str = "--data"


def check_data_names(sources: dict[str, Path], datasets: Iterable[str]) -> None:
    """Every `--data NAME` must name one of the run's datasets: a misspelt one would otherwise be
    ignored while the dataset's configured root is read instead (ZslbenchError, with a did-you-mean)."""
    known = list(dict.fromkeys(datasets))
    for name in sources:
        if name not in known:
            raise ZslbenchError(
                f"{named(f'--data {name}=...', f'data[{name!r}]')}: {name!r} is not a dataset of this run."
                f"{did_you_mean(name, known)}",
                f"its datasets: {', '.join(known)}",
            )


def data_source(name: str, sources: dict[str, Path | str]) -> DataSource:
    """Dataset `name`'s data: its `--data` entry (a Path or a str), else its configured root (`zslbench
    data add`). Neither is a one-line ZslbenchError, naming a close configured name as a likely typo."""
    if name in sources:
        return DataSource(name, Path(sources[name]))
    roots = configured_roots()
    if name in roots:
        root = roots[name]
        return DataSource(name, root.path, root.layout, root.where)
    message = f"no data for {name}"
    typos = [other for other, root in roots.items() if _likely_typo(other, name)]
    if typos:
        message += " (" + "; ".join(f"{other!r} is set at {roots[other].where}" for other in typos) + ": a typo?)"
    given = named(f"--data {name}=PATH", f"data={{{name!r}: PATH}}")
    raise ZslbenchError(message, f"pass {given}, or set it once with zslbench data add {name} PATH")


def _likely_typo(configured: str, wanted: str) -> bool:
    """Whether a configured name is an unregistered near-miss of `wanted` (`ucf11` for ucf101)."""
    return name_warning(configured) is not None and bool(difflib.get_close_matches(configured, [wanted], cutoff=0.6))


def default_layout(name: str) -> str:
    """The layout that indexes dataset `name`'s folder when none is configured: `name` itself when
    it is a layout, else its registered spec's, else `folder` (with the class list as vocabulary)."""
    if name in LAYOUTS:
        return name
    if is_dataset(name) and dataset_spec(name).layout:
        return str(dataset_spec(name).layout)
    return "folder"


def checked_layout(name: str, path: Path, layout: str | None) -> str | None:
    """`layout` checked for `path` (for `zslbench data add`): a folder's layout, given or its
    default, must be registered; a file is a manifest, or a `csv` layout's path,label file."""
    if path.is_file():
        if layout not in (None, "csv"):
            raise ZslbenchError(
                f"{path} is a file; {named(f'--layout {layout}', f'layout={layout!r}')} indexes a folder",
                f"drop {named('--layout', 'layout')} for a manifest",
            )
        return layout
    chosen = layout or default_layout(name)
    if chosen not in LAYOUTS:
        raise unknown_name_error("layout", chosen, LAYOUTS.names())
    if chosen == "csv":
        raise ZslbenchError(f"{path} is a folder; the csv layout reads a file", "pass the CSV file")
    return layout


EXAMPLES = 5  # paths or labels an IgnoredRows description shows of each kind


@dataclass(frozen=True)
class IgnoredRows:
    """Manifest rows a run leaves out, and why."""

    dataset: str
    duplicates: tuple[str, ...] = ()  # path of every row repeating an earlier row (same path and label)
    foreign: dict[str, int] = field(default_factory=dict)  # label not among the dataset's classes -> rows
    foreign_paths: tuple[str, ...] = ()  # the first few of those rows' paths

    @property
    def rows(self) -> int:
        """All rows left out: duplicates plus rows whose label is not a class of the dataset."""
        return len(self.duplicates) + sum(self.foreign.values())

    def describe(self) -> dict[str, Any]:
        """For the result record's `data.ignored`: counts and a few examples of each reason."""
        common = sorted(self.foreign.items(), key=lambda item: (-item[1], item[0]))
        return {
            "rows": self.rows,
            "duplicate_rows": {"rows": len(self.duplicates), "examples": list(self.duplicates[:EXAMPLES])},
            "labels_not_in_dataset": {
                "rows": sum(self.foreign.values()),
                "labels": len(self.foreign),
                "examples": [{"label": label, "rows": rows} for label, rows in common[:EXAMPLES]],
                "paths": list(self.foreign_paths[:EXAMPLES]),
            },
        }


def ignored_warnings(described: dict[str, Any] | None, dataset: str = "the dataset") -> list[str]:
    """One warning line per reason in an `IgnoredRows.describe()` (nothing when no row was left out)."""
    if not described:
        return []
    lines = []
    duplicates = described["duplicate_rows"]
    if duplicates["rows"]:
        lines.append(
            f"{_rows(duplicates['rows'])} repeat an earlier row's path and label, counted once: "
            + "; ".join(duplicates["examples"])
            + (" ..." if duplicates["rows"] > len(duplicates["examples"]) else "")
        )
    foreign = described["labels_not_in_dataset"]
    if foreign["rows"]:
        shown = ", ".join(f"{e['label']!r} ({e['rows']})" for e in foreign["examples"])
        more = (
            f" and {foreign['labels'] - len(foreign['examples'])} more"
            if foreign["labels"] > len(foreign["examples"])
            else ""
        )
        lines.append(f"{_rows(foreign['rows'])} with labels that are not classes of {dataset}, left out: {shown}{more}")
    return lines


def _rows(count: int) -> str:
    return "1 manifest row" if count == 1 else f"{count} manifest rows"


@dataclass(frozen=True)
class DatasetVideos:
    """The videos a run reads (`manifest`) and the rows it left out (`ignored`)."""

    manifest: Manifest
    ignored: IgnoredRows


def dataset_videos(
    class_list: ClassList, sources: dict[str, Path], decoder: str = "pyav", clips: ClipSpec | None = None
) -> Manifest:
    """The videos of `class_list`'s dataset, each once (see `select_videos`, which also says which
    rows were left out)."""
    return select_videos(class_list, sources, decoder, clips).manifest


def select_videos(
    class_list: ClassList, sources: dict[str, Path], decoder: str = "pyav", clips: ClipSpec | None = None
) -> DatasetVideos:
    """The videos of `class_list`'s dataset (`--data`, else its configured root: `data_source`): a
    manifest CSV, or a folder indexed with its layout (see `read_source`); rows of other labels and
    repeated rows are left out and accounted in `ignored`.

    A decoder that is not exact (decord) is allowed only on a manifest verified for it
    (`zslbench data check --verify-decoder`); raises ZslbenchError otherwise. So is a prepared
    manifest that `clips` would read scaled twice: prepared at another short side, or read under a
    resize other than the decoder's with rounded sizes (the reference's needs the original frames).
    A manifest with no row of the dataset's classes is a ZslbenchError naming the labels it has."""
    source = data_source(class_list.name, sources)
    path = source.path
    manifest = read_source(class_list, source)
    if manifest.prepared and clips is not None:
        _check_prepared(path, manifest.prepared["settings"]["short_side"], clips)
    if decoder == "decord":
        from zslbench.video.verify import require_verified

        require_verified(manifest, decoder)
    classes = set(class_list.classes)
    foreign = Counter(record.label for record in manifest.records if record.label not in classes)
    if foreign.total() == len(manifest):
        labels = ", ".join(repr(label) for label, _ in foreign.most_common(3))
        raise ZslbenchError(
            f"{path} has no videos of the {len(class_list)} {class_list.name} classes "
            f"(its {len(manifest)} rows are labelled {labels}{', ...' if len(foreign) > 3 else ''})",
            f"check the path and that its labels are {class_list.name}'s class names",
        )
    kept, seen, duplicates, foreign_paths = [], set(), [], []
    for record in manifest.records:
        if record.label not in classes:
            foreign_paths.append(str(record.path))
            continue
        key = (os.path.normpath(record.path), record.label)
        if key in seen:
            duplicates.append(str(record.path))
            continue
        seen.add(key)
        kept.append(record)
    ignored = IgnoredRows(class_list.name, tuple(duplicates), dict(foreign), tuple(foreign_paths[:EXAMPLES]))
    return DatasetVideos(Manifest(tuple(kept), manifest.vocabulary, manifest.path, manifest.notes), ignored)


def _check_prepared(path: Path, prepared_at: int, clips: ClipSpec) -> None:
    """A prepared manifest's frames were scaled (rounded sizes) once already: refuse to scale them again."""
    if (clips.resize, clips.resize_rounding) != ("decoder", "round"):
        raise ZslbenchError(
            f"{path} is a prepared manifest (frames already scaled to short side {prepared_at}); the protocol "
            f"resizes with clips.resize {clips.resize}, clips.resize_rounding {clips.resize_rounding}",
            "pass the original videos' folder or manifest, not the prepared one",
        )
    if prepared_at != clips.short_side:
        raise ZslbenchError(
            f"{path} was prepared at short side {prepared_at}, the protocol reads {clips.short_side}",
            "prepare the source manifest again with "
            + named(f"--short-side {clips.short_side}", f"short_side={clips.short_side}"),
        )


def read_source(class_list: ClassList, source: DataSource) -> Manifest:
    """A source's rows: a manifest CSV as written, or a folder indexed with the configured layout,
    else the dataset's own (`default_layout`). A configured root that is gone, or names an unknown
    layout, is a ZslbenchError naming the file and line that set it."""
    path, layout = source.path, source.layout
    configured = source.origin != "--data"
    if configured and not path.exists():
        raise ZslbenchError(
            f"{path} does not exist (the {source.name} root set at {source.origin})",
            f"fix or remove that entry (zslbench data list), or pass "
            f"{named(f'--data {source.name}=PATH', f'data={{{source.name!r}: PATH}}')}",
        )
    if layout is not None and layout not in LAYOUTS:
        close = did_you_mean(layout, LAYOUTS.names())
        raise ZslbenchError(
            f"{source.origin}: unknown layout {layout!r} for {source.name}.{close}",
            f"known layouts: {', '.join(LAYOUTS.names())}",
        )
    if path.is_file() and layout is None:
        return read_manifest(path)
    layout = layout or default_layout(class_list.name)
    vocabulary = class_list.name if class_list.builtin else class_list.source
    options = IndexOptions(classes=vocabulary) if layout in ("folder", "csv") else IndexOptions()
    return index_dataset(layout, path, options).manifest
