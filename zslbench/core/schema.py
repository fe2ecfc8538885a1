"""A small validator for YAML files that names the file, line and field of every mistake.

Used for protocols and the published-number registry. A schema is a tree of `Section` (a mapping
with known keys), `ListOf` and `Field` (a scalar); validation returns plain Python values with
defaults filled in.

Validation works on composed YAML nodes, so documents can be combined before they are checked
(`merge_nodes` for a protocol's `include:`, `apply_override` for `--set key=value`) and every error
still names where its value was written: `file:line` for a file, `--set key=value` for an override.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zslbench.core.errors import ZslbenchError, did_you_mean

MISSING: Any = object()
_STR_TAG = "tag:yaml.org,2002:str"
_SCIENTIFIC = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")  # 5e-2, 1.5E3
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


class SchemaError(ZslbenchError):
    """A mistake in a YAML file, located as `file:line`."""


@dataclass
class Field:
    """A scalar in a schema: its type, default (`MISSING`: required), allowed `choices` or [min, max] range.

    `doc` describes it for generated documentation; `nullable` makes `null` a valid value."""

    type: type
    default: Any = MISSING
    choices: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None
    doc: str = ""
    nullable: bool = False  # `null` is a value

    @property
    def required(self) -> bool:
        """Whether the field must be written (it has no default)."""
        return self.default is MISSING

    def describe(self) -> str:
        """What the field accepts, for messages: e.g. "a number in [0.0, 2.0]" or "one of a, b"."""
        text = _TYPE_NAMES[self.type]
        if self.choices:
            text = "one of " + ", ".join(map(str, self.choices))
        elif self.min is not None and self.max is not None:
            text += f" in [{self.min}, {self.max}]"
        elif self.min is not None:
            text += f" >= {self.min}"
        return text


@dataclass
class ListOf:
    """A YAML list whose items all follow `item`, with at least `min_items` of them."""

    item: Field | Section
    default: Any = MISSING
    min_items: int = 0
    doc: str = ""

    @property
    def required(self) -> bool:
        """Whether the list must be written (it has no default)."""
        return self.default is MISSING


@dataclass
class Section:
    """A YAML mapping with known keys, each with its own schema; an unknown key is a SchemaError."""

    fields: dict[str, Field | ListOf | Section]
    required: bool = False
    doc: str = ""
    default: Any = field(default=MISSING, init=False)


Schema = Field | ListOf | Section


@dataclass(frozen=True)
class CommandLine:
    """Where a value given on the command line came from, in place of a YAML mark: errors about it
    name `name` (e.g. `--set clips.clip_len=eight`) instead of `file:line`."""

    name: str
    line: None = None


def load_yaml(path: Path, schema: Section, text: str | None = None) -> dict[str, Any]:
    """Parse and validate a YAML file against `schema`; every error names `path:line`."""
    return validate(compose_yaml(path, text), schema)


def compose_yaml(path: Path, text: str | None = None) -> Any:
    """A YAML file as its root node (a `yaml.Node`), each mark naming `path`; not yet validated.

    Raises ZslbenchError for an unreadable file, SchemaError for a syntax error or an empty file."""
    import yaml

    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise ZslbenchError(f"cannot read {path}: {err.strerror}", "check the path") from None
        except UnicodeDecodeError:
            raise ZslbenchError(f"{path} is not UTF-8 text", "save the file as UTF-8") from None
    loader = yaml.SafeLoader(text)
    loader.name = str(path)  # every mark, hence every error, names the file its node was written in
    try:
        node = loader.get_single_node()
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise SchemaError(f"{path}:{line}: YAML syntax error: {problem}", "check indentation and quoting") from None
    finally:
        loader.dispose()
    if node is None:
        raise SchemaError(f"{path}:1: the file is empty", "see protocols/ for complete examples")
    return node


def validate(node: Any, schema: Section, also_known: tuple[str, ...] = ()) -> dict[str, Any]:
    """A composed document checked against `schema`, as plain values with defaults filled in.

    `also_known`: top-level keys the caller handles itself (and has removed), offered as did-you-mean
    for a misspelt top-level key. Raises SchemaError naming where the offending value was written."""
    import yaml

    return _Validator(yaml.SafeLoader(""), also_known).section(node, schema, "")


def located_error(node: Any, message: str, hint: str) -> SchemaError:
    """An error about `node`, prefixed with where it was written (`file:line`, or `--set k=v`)."""
    mark = node.start_mark
    where = mark.name if mark.line is None else f"{mark.name}:{mark.line + 1}"
    return SchemaError(f"{where}: {message}", hint)


def merge_nodes(base: Any, over: Any) -> Any:
    """`over` laid on `base`: mappings merge key by key, recursively; anything else in `over`
    (a list, a scalar, a mapping over a non-mapping) replaces what `base` has. Nodes keep their marks,
    so a value is still reported where it was written; a key written twice in either stays twice."""
    import yaml

    if not (isinstance(base, yaml.MappingNode) and isinstance(over, yaml.MappingNode)):
        return over
    pairs = list(base.value)
    merged: set[Any] = set()
    for key_node, value_node in over.value:
        key = _key(key_node)
        index = next((i for i, (k, _) in enumerate(pairs) if key is not None and _key(k) == key), None)
        if index is None or key in merged:
            pairs.append((key_node, value_node))
        else:
            pairs[index] = (key_node, merge_nodes(pairs[index][1], value_node))
            merged.add(key)
    return yaml.MappingNode(over.tag, pairs, over.start_mark, over.end_mark, over.flow_style)


def pop_key(node: Any, key: str) -> tuple[Any, Any] | None:
    """Remove top-level `key` from a composed mapping: its (key node, value node), or None if absent
    (or if `node` is not a mapping, which validation reports). Raises SchemaError if written twice."""
    import yaml

    if not isinstance(node, yaml.MappingNode):
        return None
    found = [pair for pair in node.value if _key(pair[0]) == (_STR_TAG, key)]
    if len(found) > 1:
        raise located_error(found[1][0], f"key {key!r} appears twice", "keep one of them")
    node.value = [pair for pair in node.value if _key(pair[0]) != (_STR_TAG, key)]
    return found[0] if found else None


def apply_override(root: Any, item: str, schema: Section, option: str = "--set") -> str:
    """Set one `dotted.key=value` (the value a YAML scalar or flow list/mapping, as `yaml.safe_load`
    reads it) in `root`, a composed document that validated against `schema`; returns the dotted key.

    A mapping value merges into the section it names. Validate `root` again afterwards: a bad value is
    then reported as `{option} {item}: ...`. Raises SchemaError now for a malformed item or a key
    `schema` does not have (with a did-you-mean)."""
    import yaml

    text, sep, value = item.partition("=")
    dotted = text.strip()
    parts = dotted.split(".")
    if not sep or not all(parts):
        raise SchemaError(f"{option} {item!r} is not KEY=VALUE", f"e.g. {option} clips.clip_len=8")
    origin = CommandLine(f"{option} {item}")
    try:
        value_node = yaml.compose(value, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        raise SchemaError(
            f"{origin.name}: {value.strip()!r} is not a YAML value", "quote text with ':' or '#'; write lists as [a, b]"
        ) from None
    value_node = _relabel(value_node or yaml.ScalarNode("tag:yaml.org,2002:null", ""), origin)
    _set_path(root, schema, parts, value_node, origin)
    return dotted


def _set_path(node: Any, section: Section, parts: list[str], value: Any, origin: CommandLine) -> None:
    """Put `value` at `parts` under mapping `node`, creating the sections on the way that `node` lacks."""
    import yaml

    for depth, part in enumerate(parts):
        where, name = ".".join(parts[:depth]), ".".join(parts[: depth + 1])
        if part not in section.fields:
            message = f"unknown key {part!r}{' in ' + where if where else ''}.{did_you_mean(part, section.fields)}"
            raise SchemaError(f"{origin.name}: {message}", _allowed(section))
        sub = section.fields[part]
        last = depth == len(parts) - 1
        if not last and not isinstance(sub, Section):
            raise SchemaError(f"{origin.name}: {name} is {_describe(sub)}, not a section", f"set {name} itself")
        index = next((i for i, (key, _) in enumerate(node.value) if _key(key) == (_STR_TAG, part)), None)
        old = node.value[index][1] if index is not None else None
        if last:
            new = merge_nodes(old, value) if old is not None else value
        elif isinstance(old, yaml.MappingNode):
            new = old
        else:  # a section the document leaves to its defaults (or got wrong): the override starts it
            new = _relabel(yaml.MappingNode("tag:yaml.org,2002:map", []), origin)
        if index is None:
            node.value.append((_relabel(yaml.ScalarNode(_STR_TAG, part), origin), new))
        else:
            node.value[index] = (node.value[index][0], new)
        section, node = sub, new  # type: ignore[assignment]


def _key(node: Any) -> Any:
    """A mapping key node's identity for merging: (tag, text) of a scalar; None for other keys."""
    import yaml

    return (node.tag, node.value) if isinstance(node, yaml.ScalarNode) else None


def _relabel(node: Any, origin: CommandLine) -> Any:
    """`node` and everything under it marked as coming from `origin`."""
    import yaml

    node.start_mark = node.end_mark = origin
    children: list[Any] = []
    if isinstance(node, yaml.SequenceNode):
        children = node.value
    elif isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    for child in children:
        _relabel(child, origin)
    return node


@dataclass
class _Validator:
    loader: Any  # constructs scalars from nodes
    also_known: tuple[str, ...] = ()

    def fail(self, node, message: str, hint: str) -> SchemaError:
        return located_error(node, message, hint)

    def value(self, node, schema: Schema, where: str) -> Any:
        if isinstance(schema, Section):
            return self.section(node, schema, where)
        if isinstance(schema, ListOf):
            return self.list(node, schema, where)
        return self.scalar(node, schema, where)

    def construct(self, node, where: str) -> Any:
        """A scalar's value; a tag or merge key (`<<`) plain YAML values do not have is a SchemaError."""
        import yaml

        try:
            return self.loader.construct_object(node)
        except yaml.YAMLError as err:
            problem = getattr(err, "problem", None) or str(err).splitlines()[0]
            raise self.fail(
                node, f"{where}: {problem}", "write plain values: no merge keys (<<) or YAML tags"
            ) from None

    def section(self, node, schema: Section, where: str) -> dict[str, Any]:
        import yaml

        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{where or 'the file'} must be a mapping of keys to values", _allowed(schema))
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct(key_node, where or "the file")
            name = f"{where}.{key}" if where else str(key)
            if key not in schema.fields:
                known = [*schema.fields, *(self.also_known if not where else ())]
                message = f"unknown key {key!r}{' in ' + where if where else ''}.{did_you_mean(str(key), known)}"
                raise self.fail(key_node, message, _allowed(schema))
            if key in out:
                raise self.fail(key_node, f"key {name!r} appears twice", "keep one of them")
            out[key] = self.value(value_node, schema.fields[key], name)
        for key, sub in schema.fields.items():
            if key in out:
                continue
            name = f"{where}.{key}" if where else key
            if isinstance(sub, Section):
                if sub.required:
                    raise self.fail(node, f"missing section {name!r}", _allowed(sub))
                out[key] = self.section_defaults(sub, name, node)
            elif sub.required:
                raise self.fail(node, f"missing required key {name!r}", f"{name} must be {_describe(sub)}")
            else:
                out[key] = _default(sub)
        return out

    def section_defaults(self, schema: Section, where: str, node) -> dict[str, Any]:
        out = {}
        for key, sub in schema.fields.items():
            if isinstance(sub, Section):
                out[key] = self.section_defaults(sub, f"{where}.{key}", node)
            elif sub.required:
                raise self.fail(node, f"missing required key {where}.{key}", f"add section {where!r}")
            else:
                out[key] = _default(sub)
        return out

    def list(self, node, schema: ListOf, where: str) -> list[Any]:
        import yaml

        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, f"{where} must be a list", f"e.g. {where.rsplit('.', 1)[-1]}: [a, b]")
        if len(node.value) < schema.min_items:
            raise self.fail(
                node, f"{where} needs at least {schema.min_items} item(s)", f"items: {_describe(schema.item)}"
            )
        return [self.value(item, schema.item, f"{where}[{i}]") for i, item in enumerate(node.value)]

    def scalar(self, node, schema: Field, where: str) -> Any:
        import yaml

        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, f"{where} must be {schema.describe()}", f"write a single value for {where}")
        value = self.construct(node, where)
        if schema.type is float and isinstance(value, str) and _SCIENTIFIC.fullmatch(value.strip()):
            value = float(value)  # YAML 1.1 reads 5e-2 (no dot) as text; --threshold 5e-2 is a number too
        if value is None and schema.nullable:
            return None
        if schema.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if schema.type is float and isinstance(value, float):
            value += 0.0  # -0.0 -> 0.0: one value, one fingerprint
        ok = isinstance(value, schema.type) and not (schema.type is not bool and isinstance(value, bool))
        if ok and schema.type is float:
            ok = math.isfinite(value)  # .nan and .inf are YAML floats, never settings
        if ok and schema.choices is not None:
            ok = value in schema.choices
        if ok and schema.min is not None:
            ok = value >= schema.min
        if ok and schema.max is not None:
            ok = value <= schema.max
        if not ok:
            hint = f"{where}: {schema.doc}" if schema.doc else f"fix {where}"
            raise self.fail(node, f"{where} must be {schema.describe()}, got {value!r}", hint)
        return value


def _default(schema: Field | ListOf) -> Any:
    """A fresh copy of a default, so no two loaded files share (and could mutate) one value."""
    value = copy.deepcopy(schema.default)
    return list(value) if isinstance(value, tuple) else value


def _describe(schema: Schema) -> str:
    if isinstance(schema, Field):
        return schema.describe()
    if isinstance(schema, ListOf):
        return f"a list of {_describe(schema.item)}"
    return "a mapping"


def _allowed(schema: Section) -> str:
    return "allowed keys: " + ", ".join(schema.fields)
