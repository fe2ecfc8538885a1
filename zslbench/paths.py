"""Where zslbench finds its packaged data and keeps its caches.

`protocols/` and `class_lists/` live at the top of a checkout. A wheel carries them inside the
package as `zslbench/_data/<name>` (see pyproject's force-include), so both layouts are searched.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """The packaged data folder `name` ('protocols' or 'class_lists') of this installation."""
    for candidate in (PACKAGE_DIR / "_data" / name, PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"zslbench's {name}/ folder is missing; reinstall zslbench")


def cache_dir(kind: str) -> Path:
    """A per-user cache folder for `kind` ($ZSLBENCH_CACHE, else $XDG_CACHE_HOME or ~/.cache)."""
    root = os.environ.get("ZSLBENCH_CACHE")
    base = Path(root) if root else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "zslbench"
    return base / kind
