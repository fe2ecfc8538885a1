"""Reading sampled frames exactly: the exact PyAV reader, by keyframe seek or by counting.

Frame i is the i-th frame a player shows (see `frame_index`). With a video whose timestamps are
trusted, a read seeks to the keyframe before each run of wanted frames and decodes forward, matching
frames by presentation time against the index; otherwise (AVI, untrusted timestamps) it decodes from
the start and counts. Both are bit-identical to a full sequential decode on the exactness suite
(tests/test_exactness.py). Should a seek ever land past a wanted frame, that video is read again by
counting, and the read says so (`Video.fallbacks`).

Frames are converted to RGB (and scaled so the shorter side is `short_side`) only when they are kept,
by one scaler per process, then rotated as the display matrix says. decord 0.6 returned stale
frames for AVI files after a seek (../shared/real_videos/test.avi, frame 163 after frame 100), so it
is offered only behind a verification (`zslbench data check --verify-decoder decord`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from zslbench.video.frame_index import DecodeError, FrameIndex, load_index, open_stream

DECODER_VERSION = 2  # bump when a reader's output for the same file can change
DEFAULT_BACKEND = "pyav"
SKIP_MARGIN = 16  # frames before a wanted one where non-reference frames are decoded again
BACKENDS = {
    "pyav": "exact: keyframe seek where timestamps are trusted, counting elsewhere (the default)",
    "pyav-sequential": "exact: every video decoded from the start, frames counted (the reference)",
    "decord": "decord 0.6, only on a manifest that passed `zslbench data check --verify-decoder decord`",
}

__all__ = ["BACKENDS", "DecodeError", "FrameIndex", "Video", "decoder_identity", "probe", "scaled_size"]


def decoder_identity(backend: str = DEFAULT_BACKEND) -> dict[str, Any]:
    """What names a reader's output exactly: backend, reader version and the libraries that make pixels
    (PyAV and its FFmpeg: PyAV 12 and 18 scaled one frame up to 89 grey levels apart; decord bundles its own)."""
    from zslbench.core.versions import FFMPEG_LIBRARIES, pick

    identity: dict[str, Any] = {"backend": backend, "version": DECODER_VERSION, **pick("av", *FFMPEG_LIBRARIES)}
    if backend == "decord":
        identity.update(pick("decord"))
    return identity


def probe(path: Path | str) -> FrameIndex:
    """The video's frame index (size, codec, shown frames, rotation); raises DecodeError."""
    return load_index(path)


def scaled_size(width: int, height: int, short_side: int, rounding: str = "round") -> tuple[int, int]:
    """(width, height) with the shorter side equal to `short_side`, aspect ratio kept; each side
    rounded (320x240 -> 171x128), or with `rounding="floor"` floored as the reference's torch 1.2
    `Resize` sized its output: floor(side x scale) in double precision (-> 170x128)."""
    scale = short_side / min(width, height)
    whole = math.floor if rounding == "floor" else round
    return max(1, whole(width * scale)), max(1, whole(height * scale))


_scalers: dict[int, Any] = {}


def _scaler():
    """One scaler per process: a new one per read cost 28% of the throughput on small files. It runs
    on the calling thread (`threads=1` in `_convert`): swscale's own slice threads outlive a read, and a
    forked loader worker that touched (or freed) its parent's scaler waited for them forever."""
    pid = os.getpid()
    if pid not in _scalers:
        from av.video.reformatter import VideoReformatter

        _scalers[pid] = VideoReformatter()
    return _scalers[pid]


class _Transformed:
    """Where a read keeps its frames when they are transformed: `[i] = frame` collects frame i, and
    every `group` frames (and at `finish`) the transform maps the collected [n, H, W, 3] to [n, ...],
    stored in `array`, so only one group is held at full size."""

    def __init__(self, count: int, transform: Callable[[np.ndarray], np.ndarray], group: int) -> None:
        self.count, self.transform, self.group = count, transform, group
        self.array = np.empty((0,), np.uint8)
        self.pending: list[tuple[int, np.ndarray]] = []

    def __setitem__(self, i: int, frame: np.ndarray) -> None:
        self.pending.append((i, frame))
        if len(self.pending) == self.group:
            self._flush()

    def finish(self) -> np.ndarray:
        self._flush()
        return self.array

    def _flush(self) -> None:
        if not self.pending:
            return
        rows, frames = zip(*self.pending, strict=True)
        values = self.transform(np.stack(frames))
        if self.array.ndim == 1:  # the first group: now the shape is known
            self.array = np.empty((self.count, *values.shape[1:]), values.dtype)
        self.array[list(rows)] = values
        self.pending = []


class _Mismatch(Exception):
    """A seek did not bring the wanted frame: read the video by counting instead."""


class Video:
    """A video whose frames come out `short_side` high (or wide, if portrait); None: native size.

    `sequential=True` reads by counting even where seeking is trusted (the reference reader);
    `rounding`: how the long side is made whole (see `scaled_size`).
    """

    def __init__(
        self,
        path: Path | str,
        short_side: int | None = None,
        threads: int = 0,
        index: FrameIndex | None = None,
        sequential: bool = False,
        rounding: str = "round",
    ) -> None:
        self.path = Path(path)
        self.threads = threads
        self.index = index or load_index(self.path, threads)
        self.num_frames = self.index.frames
        self.mode = "sequential" if sequential else self.index.mode
        self.fallbacks = 0
        coded = (self.index.width, self.index.height)
        self._coded_size = scaled_size(*coded, short_side, rounding) if short_side else coded
        self._turns = self.index.rotation // 90
        self.size = self._coded_size[::-1] if self._turns % 2 else self._coded_size

    def read(
        self, indices: np.ndarray, transform: Callable[[np.ndarray], np.ndarray] | None = None, group: int = 16
    ) -> np.ndarray:
        """uint8 RGB frames [*indices.shape, H, W, 3]; each distinct index is decoded once. `transform`
        maps the decoded frames [n, H, W, 3] to [n, ...], `group` at a time as they are kept (the
        result is the stack of its outputs), so a video read at full size never holds all its
        full-size frames (`clips.resize: torch_bilinear`)."""
        unique, inverse = np.unique(np.asarray(indices).ravel(), return_inverse=True)
        if unique.size and (unique[0] < 0 or unique[-1] >= self.num_frames):
            raise DecodeError(self.path, f"frame {unique[-1]} asked of a video with {self.num_frames} frames")
        width, height = self.size
        if transform is None:
            frames = np.empty((len(unique), height, width, 3), np.uint8)
        else:
            frames = _Transformed(len(unique), transform, group)
        self._read_into(unique, frames)
        kept = frames if transform is None else frames.finish()
        return kept[inverse].reshape(*np.shape(indices), *kept.shape[1:])

    def _read_into(self, unique: np.ndarray, frames: Any) -> None:
        if self.mode == "seek":
            try:
                self._read_seeking(unique, frames)
            except _Mismatch:
                self.fallbacks += 1
                self._read_counting(unique, frames)
        else:
            self._read_counting(unique, frames)

    def iter_frames(self) -> Iterator[np.ndarray]:
        """Every shown frame in order, uint8 RGB [H, W, 3] (for re-encoding)."""
        import av

        container, stream = open_stream(self.path, self.threads)
        count = 0
        with container:
            try:
                for frame in container.decode(stream):
                    count += 1
                    yield self._convert(frame)
            except av.FFmpegError as err:
                raise DecodeError(self.path, f"decoding failed after {count} frames ({type(err).__name__})") from None
        if count < self.num_frames:
            raise DecodeError(self.path, f"the video ended after {count} of {self.num_frames} frames")

    def _convert(self, frame) -> np.ndarray:
        rgb = _scaler().reformat(frame, *self._coded_size, "rgb24", threads=1).to_ndarray()
        return np.rot90(rgb, self._turns) if self._turns else rgb

    def _read_counting(self, unique: np.ndarray, out: np.ndarray) -> None:
        import av

        kept, decoded = 0, 0
        container, stream = open_stream(self.path, self.threads)
        try:
            with container:
                for decoded, frame in enumerate(container.decode(stream), start=1):
                    if kept < len(unique) and decoded - 1 == unique[kept]:
                        out[kept] = self._convert(frame)
                        kept += 1
                    if kept == len(unique):
                        break
        except av.FFmpegError as err:
            raise DecodeError(self.path, f"decoding failed after {decoded} frames ({type(err).__name__})") from None
        if kept < len(unique):
            raise DecodeError(self.path, f"the video ended after {decoded} frames; frame {unique[kept]} was asked")

    def _read_seeking(self, unique: np.ndarray, out: np.ndarray) -> None:
        """Seek to the keyframe before each wanted frame unless decoding on gets there sooner."""
        import av

        frame_of = {pts: number for number, pts in enumerate(self.index.pts)}
        container, stream = open_stream(self.path, self.threads)
        try:
            with container:
                frames, position = None, -1  # the decoder's output and the last shown frame it gave
                for kept, target in enumerate(unique.tolist()):
                    key = self.index.keyframe_before(target)
                    if frames is None or (key is not None and key > position + 1):
                        if key not in (None, 0) or frames is not None:
                            container.seek(self.index.pts[key or 0], stream=stream, backward=True, any_frame=False)
                        frames, position = container.decode(stream), -1
                    position = self._decode_to(frames, frame_of, target, out, kept, stream.codec_context)
        except av.FFmpegError as err:
            raise DecodeError(self.path, f"decoding failed near frame {unique[0]} ({type(err).__name__})") from None

    def _decode_to(self, frames, frame_of: dict[int, int], target: int, out: np.ndarray, kept: int, codec) -> int:
        """Decode on to `target`. Far from it, frames no other frame refers to are not decoded at all
        (they are shown before the target, so never wanted); a skip that reached the target would show
        as a missed frame, and the video would be read by counting."""
        skipping = False
        for frame in frames:
            number = frame_of.get(frame.pts) if frame.pts is not None else None
            if number is None:
                if frame.pts is None:
                    raise _Mismatch
                continue  # not a shown frame (a leading frame after the seek)
            far = target - number > SKIP_MARGIN + max(self.threads, 1)
            if far != skipping:
                codec.skip_frame, skipping = ("NONREF" if far else "DEFAULT"), far
            if number > target:
                raise _Mismatch
            if number == target:
                out[kept] = self._convert(frame)
                return number
        raise _Mismatch
