"""A small validator for YAML files that names the file, line and field of every mistake.

Used for protocols and the published-number registry. A schema is a tree of `Section` (a mapping
with known keys), `ListOf` and `Field` (a scalar); validation returns plain Python values with
defaults filled in.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zslbench.core.errors import ZslbenchError, did_you_mean

MISSING: Any = object()
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


class SchemaError(ZslbenchError):
    """A mistake in a YAML file, located as `file:line`."""


@dataclass
class Field:
    type: type
    default: Any = MISSING
    choices: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None
    doc: str = ""
    nullable: bool = False  # `null` is a value

    @property
    def required(self) -> bool:
        return self.default is MISSING

    def describe(self) -> str:
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
    item: Field | Section
    default: Any = MISSING
    min_items: int = 0
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is MISSING


@dataclass
class Section:
    fields: dict[str, Field | ListOf | Section]
    required: bool = False
    doc: str = ""
    default: Any = field(default=MISSING, init=False)


Schema = Field | ListOf | Section


def load_yaml(path: Path, schema: Section, text: str | None = None) -> dict[str, Any]:
    """Parse and validate a YAML file against `schema`; every error names `path:line`."""
    import yaml

    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise ZslbenchError(f"cannot read {path}: {err.strerror}", "check the path") from None
        except UnicodeDecodeError:
            raise ZslbenchError(f"{path} is not UTF-8 text", "save the file as UTF-8") from None
    loader = yaml.SafeLoader(text)
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
    return _Validator(path, loader).section(node, schema, "")


@dataclass
class _Validator:
    path: Path
    loader: Any

    def fail(self, node, message: str, hint: str) -> SchemaError:
        return SchemaError(f"{self.path}:{node.start_mark.line + 1}: {message}", hint)

    def value(self, node, schema: Schema, where: str) -> Any:
        if isinstance(schema, Section):
            return self.section(node, schema, where)
        if isinstance(schema, ListOf):
            return self.list(node, schema, where)
        return self.scalar(node, schema, where)

    def section(self, node, schema: Section, where: str) -> dict[str, Any]:
        import yaml

        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{where or 'the file'} must be a mapping of keys to values", _allowed(schema))
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.loader.construct_object(key_node)
            name = f"{where}.{key}" if where else str(key)
            if key not in schema.fields:
                message = (
                    f"unknown key {key!r}{' in ' + where if where else ''}.{did_you_mean(str(key), schema.fields)}"
                )
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
        value = self.loader.construct_object(node)
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
