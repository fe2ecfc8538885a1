"""Peak memory of one test item under the reference's resize (`clips.resize: torch_bilinear`).

The reference decoded every wanted frame at full size and resized the stack. zslbench's exact reader
resizes frames as it keeps them, 16 at a time (`Video.read(indices, transform)`), so a 1080p video
never holds all its full-size frames. This script compares the two, side by side in one run, on one
test item with 25 clips of 16 frames at the reference's positions. Each measurement runs in a fresh
process: peak resident memory (ru_maxrss) after the read, less that process's peak before it (torch
imported, the frame index loaded), so torch's own temporaries count too.

Usage: python benchmarks/reference_resize_memory.py [VIDEO ...]   (default: ../shared/real_videos/*)
"""

from __future__ import annotations

import functools
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from zslbench.video.decode import Video
from zslbench.video.sampler import ClipSampler, ClipSpec
from zslbench.video.transforms import resize_like_reference

SPEC = ClipSpec(test_position="reference", resize="torch_bilinear", resize_rounding="floor")
MODES = ("stack", "as read")


def measure(mode: str, path: str) -> dict[str, float]:
    """In this process: read one test item the `mode` way; MiB added to the peak, and seconds."""
    video = Video(path)
    indices = ClipSampler(SPEC, "test").indices(video.num_frames)
    resize = functools.partial(resize_like_reference, short_side=SPEC.short_side, rounding=SPEC.resize_rounding)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    frames = resize(video.read(indices)) if mode == "stack" else video.read(indices, resize)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"mib": (peak - before) / 1024, "seconds": seconds, "shape": list(frames.shape)}


def main() -> None:
    if sys.argv[1:2] == ["--one"]:
        print(json.dumps(measure(sys.argv[2], sys.argv[3])))
        return
    shared = Path(__file__).resolve().parents[2] / "shared" / "real_videos"
    videos = [Path(p) for p in sys.argv[1:]] or sorted(p for p in shared.glob("*") if p.suffix in (".mp4", ".avi"))
    print("| video | size | frames | stack then resize (MiB, s) | resize as read (MiB, s) |")
    print("|---|---|---:|---:|---:|")
    for path in videos:
        cells = []
        for mode in MODES:
            done = subprocess.run(
                [sys.executable, __file__, "--one", mode, str(path)], capture_output=True, text=True, check=True
            )
            result = json.loads(done.stdout)
            cells.append(f"{result['mib']:.0f}, {result['seconds']:.2f}")
        video = Video(path)
        width, height = video.size
        print(f"| {path.name} | {width}x{height} | {video.num_frames} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
