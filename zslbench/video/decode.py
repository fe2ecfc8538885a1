"""Reading sampled frames exactly: decode in order, keep the frames the sampler names.

Frame i is the i-th frame the decoder outputs, counted from the start; frames are converted to RGB
(and scaled so the shorter side is `short_side`) only when they are kept, and decoding stops after
the last one needed. We measured decord 0.6 returning a wrong frame (a stale earlier one) for the
last frames of AVI files after a seek (../shared/real_videos/test.avi, frame 163 after frame 100),
the container layout of UCF101 and HMDB51; counting decoded frames cannot make that mistake.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

DECODER = "pyav-sequential-v1"  # named in cache keys and result records


class DecodeError(Exception):
    """A video that cannot be read; `reason` is one line for reports."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    codec: str
    frames: int  # counted from the container's packets, without decoding


def probe(path: Path | str) -> VideoInfo:
    """Frame size, codec and frame count from the container, reading packets but decoding nothing."""
    import av

    path = Path(path)
    if not path.is_file():
        raise DecodeError(path, "file not found")
    if path.stat().st_size == 0:
        raise DecodeError(path, "empty file (0 bytes)")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DecodeError(path, "no video stream")
            stream = container.streams.video[0]
            frames = sum(1 for packet in container.demux(stream) if packet.size)
            info = VideoInfo(stream.codec_context.width, stream.codec_context.height, stream.codec_context.name, frames)
    except av.FFmpegError as err:
        raise DecodeError(path, f"not a readable video ({type(err).__name__})") from None
    if info.width <= 0 or info.height <= 0:
        raise DecodeError(path, "the video stream has no frame size")
    if info.frames == 0:
        raise DecodeError(path, "the video has no frames")
    return info


def scaled_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(width, height) with the shorter side equal to `short_side`, aspect ratio kept."""
    scale = short_side / min(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


class Video:
    """A video whose frames come out `short_side` high (or wide, if portrait); None: native size."""

    def __init__(
        self, path: Path | str, short_side: int | None = None, threads: int = 0, info: VideoInfo | None = None
    ) -> None:
        self.path = Path(path)
        self.threads = threads
        self.info = info or probe(self.path)
        self.num_frames = self.info.frames
        native = (self.info.width, self.info.height)
        self.size = scaled_size(*native, short_side) if short_side else native

    def read(self, indices: np.ndarray) -> np.ndarray:
        """uint8 RGB frames [*indices.shape, H, W, 3]; each distinct index is decoded once."""
        import av
        from av.video.reformatter import VideoReformatter

        unique, inverse = np.unique(np.asarray(indices).ravel(), return_inverse=True)
        if unique.size and (unique[0] < 0 or unique[-1] >= self.num_frames):
            raise DecodeError(self.path, f"frame {unique[-1]} asked of a video with {self.num_frames} frames")
        width, height = self.size
        frames = np.empty((len(unique), height, width, 3), np.uint8)
        kept, decoded = 0, 0
        reformatter = VideoReformatter()  # one scaler for all frames: per-frame ones cost 3x
        try:
            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO" if self.threads != 1 else "SLICE"
                stream.thread_count = self.threads
                for decoded, frame in enumerate(container.decode(stream), start=1):
                    if kept < len(unique) and decoded - 1 == unique[kept]:
                        frames[kept] = reformatter.reformat(frame, width, height, "rgb24").to_ndarray()
                        kept += 1
                    if kept == len(unique):
                        break
        except av.FFmpegError as err:
            raise DecodeError(self.path, f"decoding failed after {decoded} frames ({type(err).__name__})") from None
        if kept < len(unique):
            raise DecodeError(self.path, f"the video ended after {decoded} frames; frame {unique[kept]} was asked")
        return frames[inverse].reshape(*np.shape(indices), height, width, 3)
