"""Read-only nested data: dicts and lists that refuse to change, for values a fingerprint describes.

A `Protocol` is fingerprinted once; if its data could change in place, the fingerprint would name
content the object no longer has. `freeze` copies plain data (dicts, lists, tuples, scalars) into
`FrozenDict` and `FrozenList`, subclasses of dict and list, so everything that reads them (json,
equality, `isinstance(x, dict)`, YAML dumping) works as before, while every mutating method raises
TypeError. `copy.deepcopy` and `thaw` give plain, mutable copies to change and re-freeze.
"""

from __future__ import annotations

import functools
from typing import Any, NoReturn


def _refuse(self: Any, *args: Any, **kwargs: Any) -> NoReturn:
    raise TypeError(f"{type(self).__name__} is read-only: change a copy (copy.deepcopy gives a plain one)")


class FrozenDict(dict):  # type: ignore[type-arg]
    """A dict whose items cannot be set, deleted or updated (TypeError); hashable it is not."""

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _refuse

    def __copy__(self) -> dict[Any, Any]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[Any, Any]:
        return thaw(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (dict(self),))


class FrozenList(list):  # type: ignore[type-arg]
    """A list whose items cannot be set, added, removed or reordered (TypeError)."""

    __setitem__ = __delitem__ = append = extend = insert = pop = remove = clear = sort = reverse = _refuse
    __iadd__ = __imul__ = _refuse

    def __copy__(self) -> list[Any]:
        return list(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        return thaw(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenList, (list(self),))


def freeze(value: Any) -> Any:
    """A read-only deep copy of plain data: dicts become FrozenDict, lists and tuples FrozenList."""
    _dump_as_plain_yaml()
    if isinstance(value, dict):
        return FrozenDict({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return FrozenList(freeze(item) for item in value)
    return value


def thaw(value: Any) -> Any:
    """A plain, mutable deep copy of data (frozen or not): dicts and lists all the way down."""
    if isinstance(value, dict):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, list):
        return [thaw(item) for item in value]
    return value


@functools.cache
def _dump_as_plain_yaml() -> None:
    """yaml.safe_dump looks representers up by exact type: frozen data dumps as the plain data it holds.
    Registered on first `freeze`, so importing this module does not import yaml."""
    import yaml

    for dumper in (yaml.SafeDumper, yaml.Dumper):
        dumper.add_representer(FrozenDict, yaml.representer.SafeRepresenter.represent_dict)
        dumper.add_representer(FrozenList, yaml.representer.SafeRepresenter.represent_list)
