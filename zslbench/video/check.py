"""Verifying a manifest: every file present, openable, with frames, and decodable at both ends."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from zslbench.video.decode import DecodeError, Video, probe
from zslbench.video.manifest import Manifest, VideoRecord


@dataclass(frozen=True)
class VideoCheck:
    """One video's check result: `ok`, its frame count and display size (pixels) and codec, or `reason`."""

    path: str
    label: str
    ok: bool
    frames: int = 0
    width: int = 0
    height: int = 0
    codec: str = ""
    reason: str = ""


def check_video(record: VideoRecord) -> VideoCheck:
    """Index every shown frame and read the first and the last (a truncated file fails on the way)."""
    try:
        index = probe(record.path)  # decodes every frame once, and caches the index
        video = Video(record.path, short_side=min(32, index.width, index.height), threads=1, index=index)
        video.read(np.array([0, video.num_frames - 1]))
    except DecodeError as err:
        return VideoCheck(str(record.path), record.label, False, reason=err.reason)
    width, height = index.display_size
    return VideoCheck(str(record.path), record.label, True, video.num_frames, width, height, index.codec)


def check_manifest(
    manifest: Manifest, workers: int = 0, progress: Callable[[VideoCheck], None] | None = None
) -> list[VideoCheck]:
    """Check every video, in manifest order; `workers` > 0 checks them in parallel processes."""
    results: list[VideoCheck] = []
    if workers > 0:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for result in pool.map(check_video, manifest.records, chunksize=8):
                results.append(result)
                if progress:
                    progress(result)
    else:
        for record in manifest.records:
            results.append(check_video(record))
            if progress:
                progress(results[-1])
    return results
