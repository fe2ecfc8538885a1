"""One registry for everything pluggable (text embedders now, models later).

Entries are registered eagerly with a decorator or lazily as "module:attr" strings, so listing a
registry never imports heavy modules. Third-party packages add entries through an entry-point
group, scanned once, on first need.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from zslbench.errors import ZslbenchError, unknown_name_error

T = TypeVar("T")


@dataclass
class Entry:
    name: str
    target: Any  # the object, a "module:attr" string, or an importlib.metadata.EntryPoint
    origin: str  # "zslbench" or the distribution that registered it
    info: dict[str, Any] = field(default_factory=dict)
    path: str | None = None  # "module:attr" of the target, when known

    def load(self) -> Any:
        if isinstance(self.target, str):
            module, _, attr = self.target.partition(":")
            self.target = getattr(importlib.import_module(module), attr)
        elif _is_entry_point(self.target):
            self.target = self.target.load()
        return self.target


class Registry(Generic[T]):
    def __init__(self, what: str, entry_point_group: str | None = None) -> None:
        self.what = what
        self.entry_point_group = entry_point_group
        self._entries: dict[str, Entry] = {}
        self._scanned = entry_point_group is None

    def add(
        self, name: str, target: Any, origin: str = "zslbench", target_path: str | None = None, **info: Any
    ) -> None:
        """Register `target` (an object or a lazy "module:attr") under `name`.

        `target_path` ("module:attr" of an object) lets a decorator and the entry point that names
        the same object count as one registration, as happens when loading the entry point runs
        the plugin's decorator.
        """
        existing = self._entries.get(name)
        if existing is not None and target_path and existing.path == target_path:
            if isinstance(existing.target, str) or _is_entry_point(existing.target):
                existing.target = target  # the loaded object replaces its lazy reference
            return
        if existing is not None:
            other = existing.origin
            raise ZslbenchError(
                f"{self.what} name {name!r} is registered twice (by {other} and by {origin})",
                "rename one of them; names must be unique",
            )
        path = target_path or (target if isinstance(target, str) else getattr(target, "value", None))
        self._entries[name] = Entry(name, target, origin, dict(info), path)

    def register(self, name: str, **info: Any) -> Callable[[T], T]:
        """Decorator form of `add`."""

        def decorate(obj: T) -> T:
            self.add(name, obj, **info)
            return obj

        return decorate

    def _scan_entry_points(self) -> None:
        if self._scanned:
            return
        self._scanned = True
        from importlib.metadata import entry_points

        for point in entry_points(group=self.entry_point_group):
            origin = point.dist.name if point.dist else point.value
            self.add(point.name, point, origin=origin, target_path=point.value)

    def entry(self, name: str) -> Entry:
        if name not in self._entries:
            self._scan_entry_points()
        if name not in self._entries:
            raise unknown_name_error(self.what, name, self.names())
        return self._entries[name]

    def get(self, name: str) -> T:
        return self.entry(name).load()

    def names(self) -> list[str]:
        self._scan_entry_points()
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self.names()

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries[name] for name in self.names())


def _is_entry_point(target: Any) -> bool:
    return hasattr(target, "load") and hasattr(target, "group")
