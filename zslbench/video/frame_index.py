"""The frame index of a video: what a player shows, made once by decoding and kept on disk.

Frame i is the i-th frame a player shows. Packets are not frames: an mp4 cut by stream copy keeps
the packets before the cut (flagged "discard" by its edit list; 30 packets, 20 shown frames), and
open-GOP leading frames are dropped by the decoder. So the index is made by decoding the whole video
once, without colour conversion, and records for every shown frame its presentation timestamp,
which frames are keyframes (where decoding can start), and the display rotation.

The index also decides how the video may be read (`seek`): seeking to the keyframe before a clip and
matching frames by timestamp was exact on every mp4/mkv tried, and wrong on AVI files whose codec
reorders frames (mpeg4 with B-frames, h264-in-AVI: AVI stores no presentation times), so AVI
files, and any file whose timestamps are missing, repeated or out of order, are read by counting
decoded frames from the start.

Indexes are cached under the video's full-content fingerprint and the versions of PyAV, libavformat
and libavcodec, on disk and in this process's memory, so a read never demuxes the file again; the
fingerprint is remembered per (path, inode, size, mtime, ctime) (zslbench.core.hashing).
"""

from __future__ import annotations

import contextlib
import itertools
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from zslbench.core.atomic import write_text
from zslbench.core.files import file_problem
from zslbench.core.hashing import file_fingerprint, sha256_json
from zslbench.core.paths import cache_dir

INDEX_VERSION = 1  # bump when what an index holds, or how it is made, changes
UNTRUSTED_CONTAINERS = ("avi",)  # AVI holds no presentation times; its reordered frames seek wrongly


class DecodeError(Exception):
    """A video that cannot be read; `reason` is one line for reports."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclass(frozen=True)
class FrameIndex:
    """Every shown frame of one video stream, in display order.

    `width` x `height` is the coded size (before rotation); `rotation` is the display matrix's
    counter-clockwise rotation in degrees (0, 90, 180 or 270); `pts` are in units of `time_base`.
    """

    width: int
    height: int
    codec: str
    container: str
    time_base: str
    pts: tuple[int, ...]
    keyframes: tuple[int, ...]
    rotation: int
    seek: bool
    why: str  # why the video is read by seeking, or why by counting

    @property
    def frames(self) -> int:
        """The number of shown frames (what frame numbers count)."""
        return len(self.pts)

    @property
    def mode(self) -> str:
        """ "seek" (keyframe seek, frames matched by timestamp) or "sequential" (counted from the start)."""
        return "seek" if self.seek else "sequential"

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) as shown, after rotation."""
        return (self.height, self.width) if self.rotation in (90, 270) else (self.width, self.height)

    def keyframe_before(self, frame: int) -> int | None:
        """The last keyframe at or before `frame`; None when decoding must start at the file's start."""
        from bisect import bisect_right

        position = bisect_right(self.keyframes, frame)
        return self.keyframes[position - 1] if position else None

    def to_json(self) -> str:
        """The index as compact JSON, tagged with INDEX_VERSION, for the disk cache."""
        return json.dumps({"version": INDEX_VERSION, **asdict(self)}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> FrameIndex:
        """The index `to_json` wrote; ValueError for another INDEX_VERSION (the cache then rebuilds it)."""
        data = json.loads(text)
        if data.pop("version", None) != INDEX_VERSION:
            raise ValueError("another index version")
        data["pts"], data["keyframes"] = tuple(data["pts"]), tuple(data["keyframes"])
        return cls(**data)


def open_stream(path: Path, threads: int = 0):
    """(container, first video stream) after the checks that give a broken file its own reason.
    `threads`: 0 lets FFmpeg choose (frame threads), 1 decodes on the calling thread."""
    import av

    problem = file_problem(path)  # a pipe would block av.open: refused by its kind, before opening
    if problem:
        raise DecodeError(path, problem)
    try:
        container = av.open(str(path))
    except av.FFmpegError as err:
        raise DecodeError(path, f"not a readable video ({type(err).__name__})") from None
    if not container.streams.video:
        container.close()
        raise DecodeError(path, "no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO" if threads != 1 else "SLICE"
    stream.thread_count = threads
    return container, stream


def build_index(path: Path | str, threads: int = 0) -> FrameIndex:
    """Decode every frame once (no conversion) and record what a player shows. Raises DecodeError."""
    import av

    path = Path(path)
    container, stream = open_stream(path, threads)
    pts: list[int | None] = []
    keyframes: list[int] = []
    rotation = 0
    with container:
        width, height, codec = stream.codec_context.width, stream.codec_context.height, stream.codec_context.name
        try:
            for frame in container.decode(stream):
                if frame.key_frame:
                    keyframes.append(len(pts))
                if not pts:
                    rotation = round(getattr(frame, "rotation", 0) or 0) % 360
                    width, height = frame.width, frame.height
                pts.append(frame.pts)
        except av.FFmpegError as err:
            raise DecodeError(path, f"decoding failed after {len(pts)} frames ({type(err).__name__})") from None
        container_name = container.format.name
        time_base = str(stream.time_base)
    if width <= 0 or height <= 0:
        raise DecodeError(path, "the video stream has no frame size")
    if not pts:
        raise DecodeError(path, "the video has no frames")
    seek, why = _seek_verdict(container_name, pts)
    if rotation % 90:
        raise DecodeError(path, f"display rotation {rotation} degrees is not a multiple of 90")
    clean = tuple(int(p) if p is not None else -1 for p in pts)
    return FrameIndex(width, height, codec, container_name, time_base, clean, tuple(keyframes), rotation, seek, why)


def _seek_verdict(container: str, pts: list[int | None]) -> tuple[bool, str]:
    """Whether timestamps can find frames after a seek, and why (recorded with the index)."""
    if any(name in UNTRUSTED_CONTAINERS for name in container.split(",")):
        return False, f"{container} container: no presentation times, frames are counted"
    if any(p is None for p in pts):
        return False, "frames without timestamps: frames are counted"
    if any(b <= a for a, b in itertools.pairwise(pts)):
        return False, "timestamps repeat or go back: frames are counted"
    return True, "presentation timestamps are unique and increasing"


_memo: dict[str, FrameIndex] = {}  # cache key (content fingerprint + versions) -> index


def load_index(path: Path | str, threads: int = 0) -> FrameIndex:
    """The index of `path`: from this process's memory, the on-disk cache, or `build_index`.

    Both are keyed by the file's full-content fingerprint, which is itself remembered per stat (with
    the ctime), so a video rewritten in place gets a new index even within one process."""
    path = Path(path)
    problem = file_problem(path)
    if problem:
        raise DecodeError(path, problem)
    try:
        key = _cache_key(path)
    except OSError as err:
        raise DecodeError(path, f"cannot read it ({err.strerror or err})") from None
    if key in _memo:
        return _memo[key]
    cached = cache_dir("frame_index") / key[:2] / f"{key[:32]}.json"
    try:
        index = FrameIndex.from_json(cached.read_text())
    except (OSError, ValueError, TypeError, KeyError):
        index = build_index(path, threads)
        with contextlib.suppress(OSError):  # a read-only cache only costs speed
            write_text(cached, index.to_json())
    _memo[key] = index
    return index


def _cache_key(path: Path) -> str:
    """The video's content and what turns it into an index: the demuxer and decoder versions."""
    from zslbench.core.versions import pick

    return sha256_json(
        {"video": file_fingerprint(path), "index": INDEX_VERSION, **pick("av", "libavcodec", "libavformat")}
    )


def clear_memo() -> None:
    """Forget indexes remembered in this process (tests that read an index back from disk)."""
    _memo.clear()


__all__ = ["DecodeError", "FrameIndex", "build_index", "clear_memo", "load_index", "open_stream"]
