"""Peak memory of one test item under the reference's resize (`clips.resize: torch_bilinear`).

The reference decoded every wanted frame at full size and resized the stack. zslbench's exact reader
resizes each frame as it keeps it (`Video.read(indices, transform)`), so a 1080p video never holds
its full-size frames. This script compares the two, side by side in one run, on one test item with 25
clips of 16 frames at the reference's positions (peak bytes traced by tracemalloc: numpy's and
torch's CPU buffers both report to it).

Usage: python benchmarks/reference_resize_memory.py [VIDEO ...]   (default: ../shared/real_videos/*)
"""

from __future__ import annotations

import functools
import sys
import time
import tracemalloc
from pathlib import Path

from zslbench.video.decode import Video
from zslbench.video.sampler import ClipSampler, ClipSpec
from zslbench.video.transforms import resize_like_reference

SPEC = ClipSpec(test_position="reference", resize="torch_bilinear", resize_rounding="floor")


def peak(read) -> tuple[float, float]:
    """(peak MiB traced while `read()` runs, seconds)."""
    tracemalloc.start()
    started = time.perf_counter()
    read()
    seconds = time.perf_counter() - started
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return top / 2**20, seconds


def main() -> None:
    shared = Path(__file__).resolve().parents[2] / "shared" / "real_videos"
    videos = [Path(p) for p in sys.argv[1:]] or sorted(p for p in shared.glob("*") if p.suffix in (".mp4", ".avi"))
    resize = functools.partial(resize_like_reference, short_side=SPEC.short_side, rounding=SPEC.resize_rounding)
    print("| video | size | frames | stack then resize (MiB, s) | resize per frame (MiB, s) |")
    print("|---|---|---:|---:|---:|")
    for path in videos:
        video = Video(path)
        indices = ClipSampler(SPEC, "test").indices(video.num_frames)
        stacked = peak(lambda: resize(video.read(indices)))  # noqa: B023 - called at once
        per_frame = peak(lambda: video.read(indices, resize))  # noqa: B023
        width, height = video.size
        print(
            f"| {path.name} | {width}x{height} | {video.num_frames} | {stacked[0]:.0f}, {stacked[1]:.2f} "
            f"| {per_frame[0]:.0f}, {per_frame[1]:.2f} |"
        )


if __name__ == "__main__":
    main()
