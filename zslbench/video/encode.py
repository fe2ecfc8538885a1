"""Writing real encoded videos with PyAV (synthetic data, tests, benchmarks)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction
from pathlib import Path

import numpy as np

# suffix -> (PyAV codec, options); both decode frame-exactly with decord. With x264's macroblock-tree
# rate control, encoding the same frames again gave another file about once in 100 (4 distinct files
# in 300 encodes; 1 with mbtree=0), so the synthetic benchmark was not byte-reproducible.
CODECS = {".mp4": ("libx264", {"crf": "18", "x264-params": "mbtree=0"}), ".avi": ("mpeg4", {})}
BIT_RATE = {"mpeg4": 2_000_000}  # mpeg4 ignores crf; without a rate it encodes at 200 kb/s


def write_video(
    path: Path | str,
    frames: Iterable[np.ndarray],
    fps: int | Fraction = 12,
    options: Mapping[str, str] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Encode RGB uint8 frames [H, W, 3] (even H and W) as h264 .mp4 or mpeg4 .avi, by suffix.

    Frame i gets timestamp i / fps. `options` replace the codec's defaults (CODECS) key by key;
    `metadata` goes into the container's tags (mp4: `comment`, `title`, ...).
    """
    import av

    path = Path(path)
    codec, defaults = CODECS[path.suffix.lower()]
    options = {**defaults, **(options or {})}
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        container.metadata.update(metadata or {})
        stream = None
        for frame in frames:
            if stream is None:
                stream = container.add_stream(codec, rate=fps)
                stream.height, stream.width = frame.shape[:2]
                stream.pix_fmt = "yuv420p"
                stream.options = dict(options)
                stream.codec_context.thread_count = 1  # x264 with threads is not bit-for-bit repeatable
                if codec in BIT_RATE:
                    stream.bit_rate = BIT_RATE[codec]
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        if stream is None:
            raise ValueError("no frames to write")
        for packet in stream.encode():
            container.mux(packet)
    return path
