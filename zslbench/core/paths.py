"""Where zslbench finds its packaged data and keeps its caches.

`protocols/` and `class_lists/` live at the top of a checkout. A wheel carries them inside the
package as `zslbench/_data/<name>` (see pyproject's force-include), so both layouts are searched.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # zslbench/


def data_dir(name: str) -> Path:
    """The packaged data folder `name` ('protocols' or 'class_lists') of this installation."""
    for candidate in (PACKAGE_DIR / "_data" / name, PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"zslbench's {name}/ folder is missing; reinstall zslbench")


def config_dir() -> Path:
    """The per-user settings folder: $ZSLBENCH_CONFIG, else the platform's (platformdirs: ~/.config/zslbench
    or $XDG_CONFIG_HOME/zslbench on Linux, ~/Library/Application Support/zslbench on macOS)."""
    root = os.environ.get("ZSLBENCH_CONFIG")
    return Path(root) if root else Path(platformdirs.user_config_dir("zslbench", appauthor=False))


def user_data_dir(kind: str) -> Path:
    """A per-user data folder for `kind` (weights the user keeps): under $ZSLBENCH_DATA, else the
    platform's (platformdirs: ~/.local/share/zslbench on Linux, ~/Library/Application Support/zslbench
    on macOS). Unlike the cache, nothing here is rebuilt if deleted."""
    root = os.environ.get("ZSLBENCH_DATA")
    return (Path(root) if root else Path(platformdirs.user_data_dir("zslbench", appauthor=False))) / kind


def cache_dir(kind: str) -> Path:
    """A per-user cache folder for `kind`: under $ZSLBENCH_CACHE, else the platform's (platformdirs:
    ~/.cache/zslbench or $XDG_CACHE_HOME/zslbench on Linux, ~/Library/Caches/zslbench on macOS)."""
    root = os.environ.get("ZSLBENCH_CACHE")
    return (Path(root) if root else Path(platformdirs.user_cache_dir("zslbench", appauthor=False))) / kind


_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.@+")
MAX_COMPONENT = 200  # bytes: below every common file system's 255


def optional_path(value: Path | str | None) -> Path | None:
    """A path given as text (from Python) or a Path, as a Path; None stays None."""
    return None if value is None else Path(value)


def path_component(name: str) -> str:
    """`name` as one file or folder name that cannot leave its parent, one-to-one.

    Letters, digits and `-_.@+` stay; every other character (a separator, `%`, a space, a control
    character) becomes `%XX` per UTF-8 byte, as in a URL, and so does a leading dot: `a/b`, `a_b`,
    `..` and `.` stay distinct (`a%2Fb`, `a_b`, `%2E%2E`, `%2E`) and none is hidden or climbs up.
    A name longer than MAX_COMPONENT bytes keeps its start and gains a hash of the whole.
    Raises ValueError for an empty name.
    """
    if not name:
        raise ValueError("an empty name cannot name a file")
    out = "".join(c if c in _PLAIN else "".join(f"%{b:02X}" for b in c.encode("utf-8")) for c in name)
    if out.startswith("."):
        out = "%2E" + out[1:]
    if len(out) > MAX_COMPONENT:
        import hashlib

        out = out[: MAX_COMPONENT - 17] + "~" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:16]
    return out
