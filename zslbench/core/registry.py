"""One registry for everything pluggable (text embedders, models, dataset layouts).

Entries are registered eagerly with a decorator or lazily as "module:attr" strings, so listing a
registry never imports heavy modules. A registry whose built-ins live in another module names it
(`builtins`); every lookup imports it first, so `build_model(...)` or `"e2e_r3d" in MODELS` as the
first call of a process sees the built-ins. Third-party packages add entries through an entry-point
group, scanned once, on first need.

A broken plugin must not take the registry down for everyone: an entry point that clashes with a
registered name is left out and kept in `problems()`, and one whose import raises is a ZslbenchError
naming the entry point and its distribution when (and only when) that name is used. Listings load
each entry on its own and report the ones that fail.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from zslbench.core.errors import ZslbenchError, named, unknown_name_error

T = TypeVar("T")


@dataclass
class Entry:
    """One registered name: its target (object, lazy "module:attr" or entry point), who registered it and its info."""

    name: str
    target: Any  # the object, a "module:attr" string, or an importlib.metadata.EntryPoint
    origin: str  # "zslbench" or the distribution that registered it
    info: dict[str, Any] = field(default_factory=dict)
    path: str | None = None  # "module:attr" of the target, when known
    what: str = "entry"  # the registry's word for its entries, for messages
    claimed: Any = None  # an object a decorator registered under this name before the entry point loaded

    @property
    def is_plugin(self) -> bool:
        """Whether a third-party package (entry point or decorator outside zslbench) registered this entry."""
        return _is_entry_point(self.target) or (self.origin != "zslbench" and self.path is not None)

    def load(self) -> Any:
        """The registered object, imported on first use and kept.

        A plugin's entry point that fails to import, or whose object differs from the one a decorator
        registered under the same name, raises ZslbenchError naming the plugin and its distribution."""
        if isinstance(self.target, str):
            module, _, attr = self.target.partition(":")
            self.target = getattr(importlib.import_module(module), attr)
        elif _is_entry_point(self.target):
            self.target = self._load_entry_point(self.target)
        return self.target

    def _load_entry_point(self, point: Any) -> Any:
        """The entry point's object; any failure is one ZslbenchError naming the plugin."""
        try:
            loaded = point.load()
        except ZslbenchError as err:  # e.g. its decorator clashed with a registered name
            said = named(err.cli_message, err.message)  # the CLI still names its options
            raise ZslbenchError(f"{self.describe()} cannot be loaded: {said}", self.fix_hint()) from None
        except Exception as err:  # a plugin's import may raise anything; report it, do not crash
            raise ZslbenchError(
                f"{self.describe()} cannot be loaded: {type(err).__name__}: {_first_line(err)}", self.fix_hint()
            ) from None
        if self.claimed is not None and self.claimed is not loaded:
            raise ZslbenchError(
                f"{self.what} name {self.name!r} is registered twice (by {self.origin}'s entry point "
                f"{self.path} and by {_where(self.claimed)})",
                "rename one of them; names must be unique",
            )
        return loaded

    def describe(self) -> str:
        """How a user finds this entry: 'model plugin 'x' (x = pkg:attr, from dist)'."""
        if self.is_plugin:
            return f"{self.what} plugin {self.name!r} ({self.name} = {self.path}, from {self.origin})"
        return f"{self.what} {self.name!r}"

    def fix_hint(self) -> str:
        """The hint for an entry that fails to load: fix the plugin, or report a built-in's failure."""
        return f"fix or uninstall {self.origin}" if self.is_plugin else "rerun with --debug and report it"


class Registry(Generic[T]):
    """Named entries of one kind (`what`: "model", "embedder", ...), built-ins and plugins alike.

    Built-ins are imported on first lookup; entry points of `entry_point_group` are scanned once, on
    first need. A clashing plugin is left out and listed by `problems()` (see the module docstring)."""

    def __init__(self, what: str, entry_point_group: str | None = None, builtins: str | None = None) -> None:
        """`builtins`: a module whose import registers the built-in entries (imported on first lookup)."""
        self.what = what
        self.entry_point_group = entry_point_group
        self._builtins = builtins
        self._entries: dict[str, Entry] = {}
        self._problems: dict[str, str] = {}  # entry-point name -> why it was left out (one line)
        self._scanned = entry_point_group is None

    def add(
        self, name: str, target: Any, origin: str = "zslbench", target_path: str | None = None, **info: Any
    ) -> None:
        """Register `target` (an object or a lazy "module:attr") under `name`.

        `target_path` ("module:attr" of an object) lets a decorator and the entry point that names
        the same object count as one registration, as happens when loading the entry point runs
        the plugin's decorator (also when the entry point names a re-export of the object).
        """
        existing = self._entries.get(name)
        if existing is not None and self._same(existing, target, target_path):
            return
        if existing is not None:
            other = existing.origin
            raise ZslbenchError(
                f"{self.what} name {name!r} is registered twice (by {other} and by {origin})",
                "rename one of them; names must be unique",
            )
        path = target_path or (target if isinstance(target, str) else getattr(target, "value", None))
        self._entries[name] = Entry(name, target, origin, dict(info), path, self.what)

    def _same(self, existing: Entry, target: Any, target_path: str | None) -> bool:
        """Whether registering `target` again under `existing`'s name is the same registration."""
        lazy = isinstance(existing.target, str) or _is_entry_point(existing.target)
        if target_path and existing.path == target_path:
            if lazy and not _is_entry_point(target):
                existing.target = target  # the loaded object replaces its lazy reference
            return True
        if _is_entry_point(existing.target) and not _is_entry_point(target) and not isinstance(target, str):
            existing.claimed = target  # checked against the entry point's object when it loads
            return True
        if _is_entry_point(target) and not lazy and target.module in sys.modules:
            try:  # the plugin was imported before the scan: same object means same registration
                return target.load() is existing.target
            except Exception:
                return False
        return False

    def register(self, name: str, **info: Any) -> Callable[[T], T]:
        """Decorator form of `add`."""

        def decorate(obj: T) -> T:
            self.add(name, obj, **info)
            return obj

        return decorate

    def _load_builtins(self) -> None:
        if self._builtins is None:
            return
        module, self._builtins = self._builtins, None  # set first: the module's decorators call `add`
        try:
            importlib.import_module(module)
        except BaseException:
            self._builtins = module
            raise

    def _scan_entry_points(self) -> None:
        if self._scanned:
            return
        self._scanned = True
        from importlib.metadata import entry_points

        for point in entry_points(group=self.entry_point_group):
            origin = point.dist.name if point.dist else point.value
            try:
                self.add(point.name, point, origin=origin, target_path=point.value)
            except ZslbenchError as err:  # a clash leaves this plugin out, not the whole registry
                self._problems[point.name] = (
                    f"{self.what} plugin {point.name!r} ({point.name} = {point.value}, from {origin}) "
                    f"is left out: {err.message}"
                )

    def entry(self, name: str) -> Entry:
        """The `Entry` registered as `name` (not yet loaded).

        Raises ZslbenchError for an unknown name (with a did-you-mean and the known names) or for a
        plugin left out because its name clashed."""
        self._load_builtins()
        if name not in self._entries:
            self._scan_entry_points()
        if name not in self._entries:
            if name in self._problems:
                raise ZslbenchError(self._problems[name], "rename or uninstall one of the plugins")
            raise unknown_name_error(self.what, name, self.names())
        return self._entries[name]

    def get(self, name: str) -> T:
        """The object registered as `name`, loaded; ZslbenchError as in `entry` and `Entry.load`."""
        return self.entry(name).load()

    def names(self) -> list[str]:
        """Every registered name, sorted: built-ins and scanned plugins (clashing plugins left out)."""
        self._load_builtins()
        self._scan_entry_points()
        return sorted(self._entries)

    def problems(self) -> list[str]:
        """One line per plugin entry point left out of the registry (e.g. its name clashes)."""
        self.names()
        return [self._problems[name] for name in sorted(self._problems)]

    def __contains__(self, name: str) -> bool:
        return name in self.names()

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries[name] for name in self.names())


def _is_entry_point(target: Any) -> bool:
    return hasattr(target, "load") and hasattr(target, "group")


def _first_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0][:300] if lines else "(no message)"


def _where(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', type(obj).__name__)}"
