"""Sampling + decoding speed: zslbench against the reference's naive OpenCV reader and decord.

For every video and the same sampled indices (the default protocol: 1 training clip of 16 frames,
or 25 test clips of 16 frames; short side 128), three readers produce RGB frames:
- zslbench: `Video(path, 128).read(indices)` (frame-exact sequential decode, scaled while converting);
- naive: OpenCV `VideoCapture.read()` of every frame up to the last needed one, then `cv2.resize`
  of the needed ones (the reference implementation's reader);
- decord: `VideoReader(path, width, height).get_batch(indices)` (the floor the issue names).
It also counts the frames decord returns that are not the requested frame (mean absolute
difference > 2 from zslbench's sequential decode of the same index, at native size), at the sampled
indices and in a tail probe: an earlier frame, then one of the last three.

Needs the bench extra: pip install -e ".[bench]". Usage: python benchmarks/decode.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from zslbench.video.decode import Video, scaled_size
from zslbench.video.sampler import ClipSampler, ClipSpec
from zslbench.video.synth import make_synth

REAL = Path(__file__).resolve().parents[2] / "shared" / "real_videos"
SPEC = ClipSpec()


def naive_read(path: Path, indices: np.ndarray, size: tuple[int, int]) -> list[np.ndarray]:
    import cv2

    wanted = set(indices.ravel().tolist())
    capture = cv2.VideoCapture(str(path))
    frames, index = {}, 0
    while index <= indices.max():
        ok, frame = capture.read()
        if not ok:
            break
        if index in wanted:
            frames[index] = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), size, interpolation=cv2.INTER_LINEAR)
        index += 1
    capture.release()
    return [frames[i] for i in indices.ravel()]


def decord_read(path: Path, indices: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    import decord

    width, height = size or (-1, -1)
    reader = decord.VideoReader(str(path), width=width, height=height)
    unique, inverse = np.unique(indices.ravel(), return_inverse=True)
    return reader.get_batch(unique.tolist()).asnumpy()[inverse]


def sampled(videos: list[Path], mode: str) -> list[tuple[Path, np.ndarray, tuple[int, int]]]:
    jobs = []
    for number, path in enumerate(videos):
        video = Video(path)
        rng = np.random.default_rng(number)
        indices = ClipSampler(SPEC, mode).indices(video.num_frames, rng)
        jobs.append((path, indices, scaled_size(*video.index.display_size, SPEC.short_side)))
    return jobs


def seconds(read, jobs, repeats: int) -> float:
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for path, indices, size in jobs:
            read(path, indices, size)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def decord_wrong_frames(jobs) -> tuple[int, int]:
    """Frames decord gets wrong at the sampled indices, and in a tail probe per video: an earlier
    frame, then one of the last three (the pattern that failed on real AVI files)."""
    wrong = total = 0
    for path, indices, _ in jobs:
        n = Video(path).num_frames
        probes = [indices.ravel()] + [np.array([first, last]) for first in (0, n // 2) for last in range(n - 3, n)]
        for wanted in probes:
            ours = Video(path).read(wanted).astype(np.int16)
            try:
                theirs = decord_read(path, wanted, None).astype(np.int16)
                mistakes = sum(np.abs(a - b).mean() > 2 for a, b in zip(ours, theirs, strict=True))
            except Exception:
                mistakes = wanted.size
            wrong += int(mistakes)
            total += wanted.size
    return wrong, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        synth = make_synth(Path(tmp) / "synth", n_classes=16, videos_per_class=6, seed=0)
        sets = {"synthetic (96 videos, 80x64, 24 frames)": sorted((synth.root).rglob("*.[ma][pv][4i]"))}
        if REAL.is_dir():
            real = sorted(p for p in REAL.iterdir() if p.suffix in (".mp4", ".avi"))
            sets["real clips (6 videos, 240p-1080p, 72-300 frames)"] = real
        rows = []
        for name, videos in sets.items():
            for mode, label in (("train", "train: 1 clip x 16"), ("test", "test: 25 clips x 16")):
                jobs = sampled(videos, mode)
                ours = seconds(lambda p, i, s: Video(p, SPEC.short_side).read(i), jobs, args.repeats)
                naive = seconds(naive_read, jobs, args.repeats)
                floor = seconds(decord_read, jobs, args.repeats)
                wrong, total = decord_wrong_frames(jobs)
                rows.append(
                    (
                        name,
                        label,
                        len(jobs) / ours,
                        len(jobs) / naive,
                        len(jobs) / floor,
                        naive / ours,
                        ours / floor,
                        f"{wrong}/{total}",
                    )
                )
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"machine: {machine}, median of {args.repeats} runs")
    print(
        "| videos | sampling | zslbench videos/s | naive OpenCV videos/s | decord videos/s "
        "| speed-up vs naive | time vs decord | decord wrong frames |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, label, ours, naive, floor, speedup, vs_floor, wrong in rows:
        cells = f"{ours:.1f} | {naive:.1f} | {floor:.1f} | {speedup:.2f}x | {vs_floor:.2f}x | {wrong}"
        print(f"| {name} | {label} | {cells} |")


if __name__ == "__main__":
    main()
