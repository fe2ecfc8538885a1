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


# The exactness suite: index-coded files in the layouts that broke readers in public bug reports.
X264_B = "keyint=25:min-keyint=25:bframes=3:scenecut=0"
EXACTNESS_FILES = {
    "h264-bframes.mp4": {"codec": "libx264", "params": X264_B},
    "mpeg4-bframes.avi": {"codec": "mpeg4", "bframes": 2},
    "mpeg4.avi": {"codec": "mpeg4"},
    "h264.avi": {"codec": "libx264", "params": X264_B},
    "h264-vfr.mp4": {"codec": "libx264", "params": X264_B, "vfr": True},
    "h264-vfr.mkv": {"codec": "libx264", "params": X264_B, "vfr": True},
    "mpeg4-bframes.mp4": {"codec": "mpeg4", "bframes": 2},
    "h264-rotated.mp4": {"codec": "libx264", "params": X264_B, "rotation": 90},
}
VFR_STEPS_MS = (33, 50, 20, 80)  # frame durations, repeating


def write_coded_video(
    path: Path,
    frames: int,
    codec: str,
    params: str = "",
    bframes: int | None = None,
    vfr: bool = False,
    rotation: int = 0,
    gop: int = 25,
) -> Path:
    """An index-coded video with the given codec and container (by suffix), GOP, B-frames, frame
    timing (constant 30 fps, or variable in milliseconds) and display rotation."""
    from fractions import Fraction

    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=30)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        stream.codec_context.thread_count = 1
        stream.codec_context.gop_size = gop
        if params:
            stream.options = {"x264-params": params}
        if bframes is not None:
            stream.codec_context.max_b_frames = bframes
        if codec == "mpeg4":
            stream.bit_rate = 2_000_000
        if rotation:
            stream.set_display_rotation(rotation)
        if vfr:
            stream.codec_context.time_base = Fraction(1, 1000)
        clock = 0
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(index_frame(i), format="rgb24")
            if vfr:
                frame.pts, frame.time_base = clock, Fraction(1, 1000)
                clock += VFR_STEPS_MS[i % len(VFR_STEPS_MS)]
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def cut_by_stream_copy(source: Path, path: Path, first_frame: int) -> Path:
    """Copy `source`'s packets, shifted so frame `first_frame` starts the video: the packets before
    it stay in the file, and the mp4 edit list hides them (what `ffmpeg -ss T -c copy` writes)."""
    import av

    with av.open(str(source)) as src, av.open(str(path), "w") as dst:
        stream_in = src.streams.video[0]
        stream_out = dst.add_stream_from_template(stream_in)
        step = round(1 / (stream_in.average_rate * stream_in.time_base))
        for packet in src.demux(stream_in):
            if packet.dts is None:
                continue
            packet.pts -= first_frame * step
            packet.dts -= first_frame * step
            packet.stream = stream_out
            dst.mux(packet)
    return path


def sequential_frames(path: Path) -> list[np.ndarray]:
    """Every frame a full sequential decode outputs, RGB at native size, display rotation applied:
    the ground truth every reader must equal bit for bit."""
    import av

    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            turns = round(getattr(frame, "rotation", 0) or 0) % 360 // 90
            frames.append(np.rot90(frame.to_ndarray(format="rgb24"), turns))
    return frames


def write_exactness_suite(folder: Path, frames: int = 120) -> dict[str, Path]:
    """Every file of the exactness suite, plus an edit-list cut of the B-frame mp4."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: write_coded_video(folder / name, frames, **options) for name, options in EXACTNESS_FILES.items()}
    paths["h264-editlist.mp4"] = cut_by_stream_copy(paths["h264-bframes.mp4"], folder / "h264-editlist.mp4", 10)
    return paths
