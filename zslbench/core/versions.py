"""Which library versions can move a pixel, a vector or a number: the one place that answers.

Caches put the versions that can change what they hold into their keys (a decoder's frames, a
model's embeddings, a text model's vectors), and result records carry all of them. PyAV 12 and
PyAV 18 scale the same frame to short side 128 up to 89 grey levels apart (another swscale), so a
cache made under one must never serve the other.

Versions come from package metadata, so asking imports neither torch nor decord; only the FFmpeg
libraries need PyAV imported (they are compiled into it). A missing package is None.
"""

from __future__ import annotations

import functools
import platform
from importlib.metadata import PackageNotFoundError, packages_distributions, version
from importlib.util import find_spec

from zslbench import __version__

# module -> distributions that install it, most likely first (forks publish fastText under other names)
PACKAGES: dict[str, tuple[str, ...]] = {
    "numpy": ("numpy",),
    "torch": ("torch",),
    "av": ("av",),
    "decord": ("decord", "decord2"),
    "fasttext": ("fasttext", "fasttext-wheel", "fasttext-numpy2-wheel", "fasttext-numpy2"),
    "sentence_transformers": ("sentence-transformers",),
    "transformers": ("transformers",),
    "blake3": ("blake3",),
    "lemminflect": ("lemminflect",),
}
FFMPEG_LIBRARIES = ("libavcodec", "libavformat", "libavutil", "libswscale")


def library_versions() -> dict[str, str | None]:
    """zslbench, Python, every package in PACKAGES and PyAV's FFmpeg libraries (None: not installed)."""
    return pick("zslbench", "python", *PACKAGES, *FFMPEG_LIBRARIES)


def pick(*names: str) -> dict[str, str | None]:
    """The versions of `names` (keys of `library_versions`, or any module a plugin names), for a cache
    key. Only what is asked is looked up: the FFmpeg libraries import PyAV, which a split never needs."""
    return {name: _version_of(name) for name in names}


@functools.cache
def _version_of(name: str) -> str | None:
    if name == "zslbench":
        return __version__
    if name == "python":
        return platform.python_version()
    if name in FFMPEG_LIBRARIES:
        return ffmpeg_versions()[name]
    return module_version(name)


def module_version(module: str) -> str | None:
    """The installed version of the package that provides `module`, naming the distribution when it is
    another name (a fork of fastText is not fastText); None when the module is not installed."""
    for distribution in PACKAGES.get(module, (module,)):
        try:
            found = version(distribution)
        except PackageNotFoundError:
            continue
        return found if _canonical(distribution) == _canonical(module) else f"{found} ({distribution})"
    if find_spec(module) is None:
        return None
    distributions = packages_distributions().get(module, [])  # an unlisted fork: slower, but rare
    for distribution in distributions:
        return f"{version(distribution)} ({distribution})"
    return "unknown"


def _canonical(name: str) -> str:
    """A distribution name as PEP 503 compares it: `sentence-transformers` is `sentence_transformers`."""
    return name.lower().replace("-", "_").replace(".", "_")


@functools.cache
def ffmpeg_versions() -> dict[str, str | None]:
    """The FFmpeg libraries PyAV was built with (they decode, demux and scale every frame)."""
    try:
        import av
    except ImportError:
        return dict.fromkeys(FFMPEG_LIBRARIES)
    return {name: ".".join(map(str, av.library_versions[name])) for name in FFMPEG_LIBRARIES}


__all__ = ["FFMPEG_LIBRARIES", "PACKAGES", "ffmpeg_versions", "library_versions", "module_version", "pick"]
