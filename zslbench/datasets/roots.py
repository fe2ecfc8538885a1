"""Dataset roots, set once: where each dataset lives, so `train`, `eval` and `extract` need no `--data`.

Three YAML layers, nearest first; for each dataset the nearest layer that names it wins:

- `zslbench.yaml` in the working folder, under the key `datasets:` (a project's roots, kept with it);
- the file `$ZSLBENCH_DATASETS` names (a shared machine's or a CI job's), a mapping of entries;
- `datasets.yaml` in the settings folder (`zslbench.core.paths.config_dir`), a mapping of entries,
  which `zslbench data add` writes.

An entry is `NAME: PATH` or `NAME: {path: PATH, layout: LAYOUT}`. PATH is a manifest CSV or a folder
to index (with LAYOUT, else the dataset's own layout); a relative PATH is relative to the file that
holds it, so a project's file moves with the project. A name need not be registered (a protocol may
name a class-list file's dataset), but `name_warning` flags one close to a registered name. Paths are
checked when a run uses them, so one unmounted disk does not stop runs on the other datasets.

This module reads and writes the files; `zslbench.video.sources` maps a protocol's datasets to paths
(`--data` first, then these roots) and checks layouts against `zslbench.video.layouts`.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zslbench.core.atomic import write_text
from zslbench.core.errors import ZslbenchError, did_you_mean
from zslbench.core.paths import config_dir
from zslbench.core.schema import compose_yaml, located_error
from zslbench.datasets import dataset_names, dataset_spec, is_dataset

PROJECT_FILE = "zslbench.yaml"  # in the working folder; entries under `datasets:`
USER_FILE = "datasets.yaml"  # in config_dir()
ENV = "ZSLBENCH_DATASETS"
ENTRY_KEYS = ("path", "layout")
NAME = re.compile(r"[^\s=]+")  # as `--data NAME=PATH` can say it: no spaces, no '='
EXAMPLE = "e.g. ucf101: /data/ucf101, or ucf101: {path: /data/ucf101, layout: ucf101}"


@dataclass(frozen=True)
class Layer:
    """One file of dataset roots."""

    name: str  # "project", "$ZSLBENCH_DATASETS" or "user"
    path: Path  # absolute
    keyed: bool  # entries under `datasets:` (zslbench.yaml) rather than at the top


@dataclass(frozen=True)
class Root:
    """A configured dataset root: where it points and which file (and line) said so."""

    name: str
    path: Path  # absolute; not checked to exist
    layout: str | None  # None: a manifest, or the dataset's own layout for a folder
    file: Path
    line: int
    layer: str
    overrides: tuple[Root, ...] = ()  # farther layers' entries for the same dataset, which this one hides

    @property
    def where(self) -> str:
        """`file:line` of the entry that configured this root, for messages."""
        return f"{self.file}:{self.line}"

    def describe(self) -> dict[str, Any]:
        """Plain values for `--json`."""
        return {
            "name": self.name,
            "path": str(self.path),
            "layout": self.layout,
            "layer": self.layer,
            "file": str(self.file),
            "line": self.line,
            "overrides": [{k: v for k, v in o.describe().items() if k != "overrides"} for o in self.overrides],
        }


def layers() -> list[Layer]:
    """The files searched, nearest first (whether or not they exist); one file named twice counts once."""
    found = [Layer("project", Path(PROJECT_FILE).absolute(), keyed=True)]
    if os.environ.get(ENV):
        found.append(Layer(f"${ENV}", Path(os.environ[ENV]).expanduser().absolute(), keyed=False))
    found.append(user_layer())
    unique: dict[Path, Layer] = {}
    for layer in found:
        unique.setdefault(layer.path.resolve(), layer)
    return list(unique.values())


def user_layer() -> Layer:
    """The user's own file, which `add_root` writes."""
    return Layer("user", (config_dir() / USER_FILE).absolute(), keyed=False)


def configured_roots() -> dict[str, Root]:
    """Every configured dataset, by name, from the nearest layer that names it (its `overrides` list
    the farther entries it hides). A malformed file is a ZslbenchError naming its file and line."""
    roots: dict[str, Root] = {}
    for layer in layers():
        for name, root in read_layer(layer).items():
            if name in roots:
                nearer = roots[name]
                roots[name] = dataclasses.replace(nearer, overrides=(*nearer.overrides, root))
            else:
                roots[name] = root
    return roots


def read_layer(layer: Layer) -> dict[str, Root]:
    """The entries of one layer's file (none when a project or user file is absent)."""
    if not layer.path.exists():
        if layer.name == f"${ENV}":
            raise ZslbenchError(f"${ENV} names {layer.path}, which does not exist", f"create the file, or unset {ENV}")
        return {}
    text = _read_text(layer.path)
    return {root.name: root for root, _ in _parse(layer, text)}


def name_warning(name: str) -> str | None:
    """A warning when `name` is not a registered dataset but is close to one (a likely typo)."""
    if is_dataset(name):
        return None
    close = did_you_mean(name, dataset_names())
    return f"{name!r} is not a registered dataset.{close}" if close else None


def canonical_name(name: str) -> str:
    """A registered dataset's own name for `name` when it is an alias, else `name`."""
    return dataset_spec(name).name if is_dataset(name) else name


def add_root(name: str, path: Path | str, layout: str | None = None) -> tuple[Root, Root | None]:
    """Set `name`'s root in the user file (created if absent; other entries and comments are kept),
    atomically. Returns (the new entry, the entry it replaced or None). The path must exist; the
    layout is the caller's to check (`zslbench.video.sources.checked_layout`)."""
    name = canonical_name(name.strip())
    if not NAME.fullmatch(name):
        raise ZslbenchError(f"{name!r} is not a dataset name", "no spaces or '=': e.g. zslbench data add ucf101 /data")
    target = Path(os.path.expanduser(str(path))).absolute()
    if not target.exists():
        raise ZslbenchError(f"{target} does not exist", "pass the dataset's folder or its manifest CSV")
    layer = user_layer()
    text = _read_text(layer.path) if layer.path.exists() else ""
    if next((line for line in text.splitlines() if not _blank(line)), "").lstrip().startswith("{"):
        raise ZslbenchError(f"{layer.path} is one {{...}} mapping; data add edits one entry per line", EXAMPLE)
    entries = _parse(layer, text)
    old = next(((root, span) for root, span in entries if root.name == name), None)
    lines = text.splitlines()
    entry = _entry_text(name, os.path.normpath(target), layout, indent=entries[0][1][2] if entries else 0)
    if old is not None:
        start, end, _ = old[1]
        lines[start:end] = [entry]
        line = start + 1
    else:
        lines.append(entry)
        line = len(lines)
    write_text(layer.path, "\n".join(lines) + "\n")
    new = Root(name, Path(os.path.normpath(target)), layout, layer.path, line, layer.name)
    return new, old[0] if old else None


def remove_root(name: str) -> Root:
    """Remove `name`'s entry from the user file (what `add_root` writes; other entries and comments are
    kept), atomically, and return it. ZslbenchError when the user file does not set it, naming the
    nearer file that does when one does (a project's or $ZSLBENCH_DATASETS' entry is edited there)."""
    name = canonical_name(name.strip())
    layer = user_layer()
    text = _read_text(layer.path) if layer.path.exists() else ""
    found = next(((root, span) for root, span in _parse(layer, text) if root.name == name), None)
    if found is None:
        elsewhere = configured_roots().get(name)
        if elsewhere is not None:
            raise ZslbenchError(
                f"{name} is set in {elsewhere.where} ({elsewhere.layer}), not in {layer.path}",
                f"edit {elsewhere.file} to remove it",
            )
        known = sorted(read_layer(layer))
        hint = f"it sets {', '.join(known)}" if known else "it sets no dataset"
        raise ZslbenchError(f"{layer.path} sets no root for {name!r}.{did_you_mean(name, known)}".rstrip("."), hint)
    root, (start, end, _) = found
    lines = text.splitlines()
    del lines[start:end]
    write_text(layer.path, "".join(f"{line}\n" for line in lines))
    return root


def _entry_text(name: str, path: str, layout: str | None, indent: int) -> str:
    """One line of YAML for an entry, quoted where YAML needs it."""
    import yaml

    value: Any = {"path": path, "layout": layout} if layout else path
    flow = yaml.safe_dump({name: value}, default_flow_style=True, sort_keys=False, allow_unicode=True, width=1 << 16)
    return " " * indent + flow.strip()[1:-1]  # `{name: value}` without its braces: a block entry


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        raise ZslbenchError(f"cannot read {path}: {err.strerror or err}", "check the path") from None
    except UnicodeDecodeError:
        raise ZslbenchError(f"{path} is not UTF-8 text", "save the file as UTF-8") from None


def _parse(layer: Layer, text: str) -> list[tuple[Root, tuple[int, int, int]]]:
    """Each entry of a layer's text with its lines [start, end) and the key's indentation."""
    if all(_blank(line) for line in text.splitlines()):
        return []  # empty, or only comments: no entries
    entries = _entries_node(compose_yaml(layer.path, text), layer)
    if entries is None:
        return []
    lines = text.splitlines()
    found: list[tuple[Root, tuple[int, int, int]]] = []
    for key_node, value_node in entries.value:
        root = _entry(key_node, value_node, layer)
        earlier = next((r for r, _ in found if r.name == root.name), None)
        if earlier is not None:
            raise located_error(key_node, f"dataset {root.name!r} is set twice (also line {earlier.line})", "keep one")
        end = value_node.end_mark.line + (1 if value_node.end_mark.column else 0)
        while end > key_node.start_mark.line + 1 and _blank(lines[end - 1]):
            end -= 1  # comments and blank lines after an entry belong to the next one
        found.append((root, (key_node.start_mark.line, end, key_node.start_mark.column)))
    return found


def _blank(line: str) -> bool:
    return not line.strip() or line.lstrip().startswith("#")


def _entries_node(node: Any, layer: Layer) -> Any:
    """The mapping node of entries (None when `datasets:` is empty); ZslbenchError for another shape."""
    import yaml

    if not isinstance(node, yaml.MappingNode):
        what = "a mapping with the key datasets:" if layer.keyed else "a mapping of dataset names to paths"
        raise located_error(node, f"the file must be {what}", EXAMPLE)
    if not layer.keyed:
        for key_node, value_node in node.value:
            if getattr(key_node, "value", None) == "datasets" and isinstance(value_node, yaml.MappingNode):
                raise located_error(key_node, f"{layer.path.name} lists its entries at the top", "drop `datasets:`")
        return node
    value = None
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if key != "datasets":
            close = did_you_mean(str(key), ["datasets"])
            raise located_error(key_node, f"unknown key {key!r}.{close}", "this file holds datasets: NAME: PATH")
        if value is not None:
            raise located_error(key_node, "key 'datasets' appears twice", "keep one of them")
        value = value_node
    if value is None or (isinstance(value, yaml.ScalarNode) and value.tag.endswith(":null")):
        return None
    if not isinstance(value, yaml.MappingNode):
        raise located_error(value, "datasets must be a mapping of dataset names to paths", EXAMPLE)
    return value


def _entry(key_node: Any, value_node: Any, layer: Layer) -> Root:
    """One entry as a Root; its path is relative to the file that holds it."""
    import yaml

    if not isinstance(key_node, yaml.ScalarNode) or not NAME.fullmatch(key_node.value.strip()):
        shown = key_node.value if isinstance(key_node, yaml.ScalarNode) else "a " + key_node.id
        raise located_error(key_node, f"{shown!r} is not a dataset name (no spaces or '=')", EXAMPLE)
    name = canonical_name(key_node.value.strip())
    fields = _entry_fields(name, value_node)
    path = Path(os.path.expanduser(fields["path"]))
    path = Path(os.path.normpath(path if path.is_absolute() else layer.path.parent / path))
    return Root(name, path, fields.get("layout"), layer.path, key_node.start_mark.line + 1, layer.name)


def _entry_fields(name: str, node: Any) -> dict[str, str]:
    """{path, layout?} of an entry's value: a path, or a mapping with `path` and maybe `layout`."""
    import yaml

    if isinstance(node, yaml.MappingNode):
        fields = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key not in ENTRY_KEYS:
                close = did_you_mean(str(key), ENTRY_KEYS)
                raise located_error(key_node, f"{name}: unknown key {key!r}.{close}", "allowed keys: path, layout")
            fields[key] = _text(value_node, f"{name}.{key} must be {'a path' if key == 'path' else 'a layout name'}")
        if "path" not in fields:
            raise located_error(node, f"{name} has no path", EXAMPLE)
        return fields
    return {"path": _text(node, f"{name} must be a path or {{path: PATH, layout: LAYOUT}}")}


def _text(node: Any, problem: str) -> str:
    """A scalar's text as written (`2020` stays a folder name, not a number); `problem` if it is none."""
    import yaml

    if not isinstance(node, yaml.ScalarNode) or node.tag.endswith(":null") or not node.value.strip():
        raise located_error(node, problem, EXAMPLE)
    return node.value.strip()
