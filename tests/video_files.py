"""Real encoded test videos: frames that carry their own index, empty and broken files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zslbench.video.encode import write_video

BITS = 8


def index_frame(index: int, width: int = 96, height: int = 64) -> np.ndarray:
    """A frame whose 8 horizontal bars spell `index` in binary (white = 1), robust to compression."""
    frame = np.zeros((height, width, 3), np.uint8)
    bar = height // BITS
    for bit in range(BITS):
        if (index >> bit) & 1:
            frame[bit * bar : (bit + 1) * bar] = 255
    return frame


def read_index(frame: np.ndarray) -> int:
    """The index an `index_frame` carries, read back from a decoded (maybe resized) frame."""
    bar = frame.shape[0] / BITS
    rows = [frame[int((bit + 0.5) * bar)].mean() for bit in range(BITS)]
    return sum(1 << bit for bit, value in enumerate(rows) if value > 127)


def write_index_video(path: Path, frames: int, width: int = 96, height: int = 64) -> Path:
    return write_video(path, (index_frame(i, width, height) for i in range(frames)))


def write_empty_video(path: Path) -> Path:
    """A container with a video stream and not one frame."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=12)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        container.start_encoding()
    return path
