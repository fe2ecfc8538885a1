"""Preparing a manifest's videos once: short side 128, a keyframe every 16 frames, h264 .mp4.

Why: one CPU core decoded 6.3 clips/s of raw Kinetics-like files while an H200 training step eats
hundreds; the exact reader decodes full-size frames from the last keyframe, and x264's default GOP
is 250 frames. A prepared file holds frames already at the protocol's size, and every frame is
at most `keyframe_every - 1` frames after a keyframe (MMAction2 does the same for Kinetics).

What stays: frame i of a prepared file is frame i the exact reader (`Video.iter_frames`) gives of the
source: same count, same order, display rotation applied, at the reader's size for `short_side`.
Timestamps become i / rate (the source's average rate, 30 fps if unknown), so variable-rate timing
is not kept: sampling counts frames, not seconds. What changes: pixels, by the RGB -> yuv420p
conversion and the compression (about 2 grey levels of mean absolute difference at crf 17, measured
in docs/data.md). yuv420p needs even sizes: an odd side loses its last row or column, so a
centred crop of even size takes the same pixels as from the source (one offset, no resampling).

Every output carries its source's full-content fingerprint and the settings key in its `comment` tag;
a run skips an existing output only when both match, so an interrupted run resumes and a changed
source is redone, even one edited in place at the same size.
"""

from __future__ import annotations

import functools
import hashlib
import multiprocessing
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import numpy as np

from zslbench.core.atomic import current_umask
from zslbench.core.errors import ZslbenchError, named
from zslbench.core.files import file_problem
from zslbench.core.hashing import canonical_json, file_fingerprint, sha256_json
from zslbench.video.encode import CODECS, write_video
from zslbench.video.frame_index import DecodeError, load_index, open_stream
from zslbench.video.manifest import Manifest, VideoRecord, read_manifest, write_manifest
from zslbench.video.prepared_folder import (
    OUT,
    SETTINGS_FILE,
    carry_vocabulary,
    claim_folder,
    lexical,
    plan_outputs,
    remove_empty_claim,
    write_record,
)

PREPARE_VERSION = 1  # bump when the same settings can give other pixels
DEFAULT_SHORT_SIDE, DEFAULT_KEYFRAME_EVERY, DEFAULT_CRF = 128, 16, 17
FALLBACK_RATE = Fraction(30)
Status = Literal["prepared", "skipped", "failed"]


@dataclass(frozen=True)
class PreparedVideo:
    """One source video's outcome: `prepared` now, `skipped` (done by an earlier run) or `failed`."""

    source: str
    target: str
    status: Status
    frames: int = 0
    reason: str = ""
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: float = 0.0


@dataclass
class PrepareReport:
    """What one `data prepare` run did: the new manifest (None when nothing was prepared), each video's
    outcome, and the time taken in seconds."""

    manifest_path: Path | None  # the new manifest; None when no video could be prepared
    manifest: Manifest
    source: Path
    settings: dict[str, Any]
    results: list[PreparedVideo] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: Status) -> int:
        """How many videos ended with `status` ("prepared", "skipped" or "failed")."""
        return sum(result.status == status for result in self.results)

    @property
    def failed(self) -> list[PreparedVideo]:
        """The videos that could not be prepared, each with its reason."""
        return [result for result in self.results if result.status == "failed"]

    def summary(self) -> dict[str, Any]:
        """Plain values for `--json`: counts, failures, bytes before and after, frames, seconds, settings."""
        done = [result for result in self.results if result.status != "failed"]
        note = self.manifest.prepared or {}
        return {
            "source": str(self.source),
            "manifest": str(self.manifest_path) if self.manifest_path else None,
            "videos": len(self.results),
            "prepared": self.count("prepared"),
            "skipped": self.count("skipped"),
            "failed": [{"path": r.source, "reason": r.reason} for r in self.failed],
            "records": {"source": note.get("videos", 0), "kept": len(self.manifest)},
            "bytes": {"before": sum(r.bytes_in for r in done), "after": sum(r.bytes_out for r in done)},
            "frames": sum(r.frames for r in done),
            "seconds": round(self.seconds, 2),
            "settings": self.settings,
        }


MAX_SHORT_SIDE = 1080  # preparing shrinks videos; the protocols read at 128


def validate_settings(short_side: int, keyframe_every: int, crf: int) -> None:
    """Raise a ZslbenchError (one line, exit 2) for a setting that cannot work."""
    if short_side < 16 or short_side > MAX_SHORT_SIDE or short_side % 2:
        given = named(f"--short-side {short_side}", f"short_side={short_side}")
        raise ZslbenchError(
            f"{given} must be an even number in 16..{MAX_SHORT_SIDE}",
            f"yuv420p needs even sizes; the protocols read at 128 (e.g. {named('--short-side 128', 'short_side=128')})",
        )
    if keyframe_every < 1:
        raise ZslbenchError(
            f"{named(f'--keyframe-every {keyframe_every}', f'keyframe_every={keyframe_every}')} must be >= 1",
            f"e.g. {named('--keyframe-every 16', 'keyframe_every=16')} (a clip)",
        )
    if not 0 <= crf <= 51:
        raise ZslbenchError(
            f"{named(f'--crf {crf}', f'crf={crf}')} is outside 0..51",
            f"lower is closer to the source; e.g. {named('--crf 17', 'crf=17')}",
        )


def x264_params(keyframe_every: int) -> str:
    """A keyframe (IDR) exactly every `keyframe_every` frames, no B-frames (cheaper to decode), and
    CODECS' mbtree=0, which makes x264's output byte-reproducible."""
    fixed = f"keyint={keyframe_every}:min-keyint={keyframe_every}:scenecut=0:bframes=0"
    return f"{CODECS['.mp4'][1]['x264-params']}:{fixed}"


def prepare_settings(
    short_side: int = DEFAULT_SHORT_SIDE, keyframe_every: int = DEFAULT_KEYFRAME_EVERY, crf: int = DEFAULT_CRF
) -> dict[str, Any]:
    """Everything that decides the prepared pixels, besides the encoder's versions."""
    validate_settings(short_side, keyframe_every, crf)
    return {
        "version": PREPARE_VERSION,
        "short_side": short_side,
        "keyframe_every": keyframe_every,
        "codec": "libx264",
        "crf": crf,
        "x264_params": x264_params(keyframe_every),
        "pix_fmt": "yuv420p",
        "container": "mp4",
        "odd_size": "last row or column dropped",
        "rate": f"source average rate, {FALLBACK_RATE} if unknown",
    }


@functools.cache
def encoder_identity() -> dict[str, str | None]:
    """The libraries that make prepared pixels: PyAV, libavcodec, libswscale and x264's build.

    A folder prepared under other versions is refused (`claim_folder`), not silently re-made: its
    files are the data earlier results were computed on, re-making them takes hours, and a folder
    must not mix two encodings that no one identity describes."""
    from zslbench.core.versions import pick

    return {**pick("av", "libavcodec", "libswscale"), "libx264": _x264_version()}


def _x264_version() -> str:
    """x264 writes its version into the stream (an SEI message); PyAV does not report it otherwise."""
    import io

    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="h264") as container:
        stream = container.add_stream("libx264", rate=1)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    found = re.search(rb"x264 - core (\d+)( r\d+ [0-9a-f]+)?", buffer.getvalue())
    return f"core {found[1].decode()}{(found[2] or b'').decode()}" if found else "unknown"


def settings_key(settings: dict[str, Any]) -> str:
    """Names settings plus encoder: an output made under another key is made again."""
    return sha256_json({"settings": settings, "encoder": encoder_identity()})[:16]


def prepare_video(
    source: Path | str,
    target: Path | str,
    short_side: int = DEFAULT_SHORT_SIDE,
    keyframe_every: int = DEFAULT_KEYFRAME_EVERY,
    crf: int = DEFAULT_CRF,
    threads: int = 0,
    metadata: dict[str, str] | None = None,
) -> int:
    """Re-encode `source` to `target` (.mp4) and return the frames written; raises DecodeError.

    The file is written beside `target` under a temporary name, checked (frame count, keyframes),
    synced and renamed, so `target` exists only complete; the temporary file never outlives a failure.
    """
    from zslbench.video.decode import Video

    validate_settings(short_side, keyframe_every, crf)
    source, target = Path(source), Path(target)
    video = Video(source, short_side, threads=threads)
    rate = _source_rate(source)
    written = 0

    def frames() -> Iterator[np.ndarray]:
        nonlocal written
        for frame in video.iter_frames():
            written += 1
            yield frame[: frame.shape[0] // 2 * 2, : frame.shape[1] // 2 * 2]

    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".tmp.mp4", dir=target.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        options = {"crf": str(crf), "x264-params": x264_params(keyframe_every)}
        write_video(temporary, frames(), fps=rate, options=options, metadata=metadata)
        index = load_index(temporary, threads=1)  # also caches the output's index for training
        if index.frames != written or index.keyframes != tuple(range(0, written, keyframe_every)):
            raise DecodeError(source, f"the re-encoded file shows {index.frames} of {written} frames written")
        with open(temporary, "rb") as done:
            os.chmod(done.fileno(), 0o666 & ~current_umask())  # mkstemp makes 0600
            os.fsync(done.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return written


def _source_rate(source: Path) -> Fraction:
    container, stream = open_stream(source)
    with container:
        rate = stream.average_rate
    if not rate or not 0 < rate <= 1000:
        return FALLBACK_RATE
    return Fraction(rate).limit_denominator(1001)


@dataclass(frozen=True)
class _Job:
    source: str
    target: str
    short_side: int
    keyframe_every: int
    crf: int
    key: str
    threads: int


def _prepare_one(job: _Job) -> PreparedVideo:
    """Skip an output made from this very file under these settings; else prepare it. Never raises
    for a bad video: the outcome says why it failed."""
    import av

    started = time.perf_counter()
    source, target = Path(job.source), Path(job.target)
    try:
        problem = file_problem(source)  # a named pipe would block the hash and the decoder
        if problem:
            raise DecodeError(source, problem)
        stamp = canonical_json({"zslbench_prepare": job.key, "source": file_fingerprint(source)})
        status: Status = "skipped"
        frames = _done_before(target, stamp)
        if frames is None:
            status = "prepared"
            frames = prepare_video(
                source, target, job.short_side, job.keyframe_every, job.crf, job.threads, {"comment": stamp}
            )
        sizes = source.stat().st_size, target.stat().st_size
    except DecodeError as err:
        return PreparedVideo(job.source, job.target, "failed", reason=err.reason)
    except (av.FFmpegError, OSError, ValueError) as err:
        reason = f"{type(err).__name__}: {err}"
        return PreparedVideo(job.source, job.target, "failed", reason=reason)
    elapsed = time.perf_counter() - started
    return PreparedVideo(job.source, job.target, status, frames, "", sizes[0], sizes[1], elapsed)


def _done_before(target: Path, stamp: str) -> int | None:
    """The frames of an earlier output made from this source under these settings, else None."""
    import av

    if not target.is_file():
        return None
    try:
        with av.open(str(target)) as container:
            if container.metadata.get("comment") != stamp:
                return None
        return load_index(target, threads=1).frames
    except (av.FFmpegError, OSError, DecodeError):
        return None


def prepare_manifest(
    manifest: Manifest | Path | str,
    out_dir: Path | str,
    short_side: int = DEFAULT_SHORT_SIDE,
    keyframe_every: int = DEFAULT_KEYFRAME_EVERY,
    workers: int = 0,
    progress: Callable[[PreparedVideo], None] | None = None,
    crf: int = DEFAULT_CRF,
) -> PrepareReport:
    """Prepare every video of `manifest` into `out_dir` and write `out_dir/<manifest stem>.csv`.

    Same labels, splits and vocabulary; a video that fails is listed with its reason and left out of
    the new manifest, whose `# prepared:` note records the source manifest's sha256, the settings,
    the encoder and how many records were left out. `workers` > 0 prepares in parallel processes.
    """
    started = time.perf_counter()
    if workers < 0:
        raise ZslbenchError(
            f"{named(f'--workers {workers}', f'workers={workers}')} must be >= 0",
            f"0 prepares in this process; e.g. {named('--workers 8', 'workers=8')}",
        )
    settings = prepare_settings(short_side, keyframe_every, crf)
    loaded = manifest if isinstance(manifest, Manifest) else read_manifest(manifest)
    if loaded.path is None:
        raise ValueError("the manifest has no file: read it with read_manifest")
    out_dir = Path(out_dir)  # as given, for messages and the report; outputs are planned absolute
    if lexical(out_dir) == lexical(loaded.path.parent):
        raise ZslbenchError(
            f"{OUT} {out_dir} is the manifest's own folder",
            "prepare into a new folder, e.g. " + named("--out prepared", "out_dir='prepared'"),
        )
    outputs = plan_outputs(loaded, out_dir)
    fresh = not (out_dir / SETTINGS_FILE).exists()
    recorded = claim_folder(out_dir, settings, encoder_identity())
    key = settings_key(settings)
    threads = 1 if workers else 0
    jobs = [_Job(str(s), str(t), short_side, keyframe_every, crf, key, threads) for s, t in outputs.items()]
    results = _run(jobs, workers, progress)

    done = {lexical(r.source): Path(r.target) for r in results if r.status != "failed"}
    kept = tuple(
        VideoRecord(done[lexical(r.path)], r.label, r.split) for r in loaded.records if lexical(r.path) in done
    )
    source_sha = hashlib.sha256(loaded.path.read_bytes()).hexdigest()
    source_note: dict[str, Any] = {"manifest": loaded.path.name, "sha256": source_sha}
    if loaded.prepared:  # prepared again: say what the source was
        source_note["prepared"] = loaded.prepared
    note = {
        "version": PREPARE_VERSION,
        "source": source_note,
        "videos": len(loaded),
        "left_out": len(loaded) - len(kept),
        "settings": settings,
        "encoder": encoder_identity(),
    }
    vocabulary = carry_vocabulary(loaded.vocabulary, loaded.path.parent, out_dir)
    path = out_dir / f"{loaded.path.stem}.csv"
    new = Manifest(kept, vocabulary, path, {**loaded.notes, "prepared": canonical_json(note)})
    if kept:
        write_manifest(new, path)
    else:  # a manifest of no videos is unreadable; the report says why each failed
        path.unlink(missing_ok=True)
    recorded["manifests"][path.name] = {
        "source": str(lexical(loaded.path)),
        "sha256": source_sha,
        "videos": len(loaded),
        "kept": len(kept),
        "failed": [{"path": r.source, "reason": r.reason} for r in results if r.status == "failed"],
    }
    if kept or not fresh:
        write_record(out_dir, recorded)
    else:  # nothing prepared into a new folder: leave no folder claimed for settings that produced nothing
        remove_empty_claim(out_dir)
    elapsed = time.perf_counter() - started
    return PrepareReport(path if kept else None, new, loaded.path, settings, results, elapsed)


def _run(jobs: list[_Job], workers: int, progress: Callable[[PreparedVideo], None] | None) -> list[PreparedVideo]:
    """Outcomes in job order; progress is called as each video finishes."""
    results: list[PreparedVideo | None] = [None] * len(jobs)
    if workers > 0:
        # Forkserver, not fork: workers start clean instead of inheriting this process's decoder state
        # (swscale's slice threads do not survive a fork; a forked child that touched them hung).
        context = multiprocessing.get_context("forkserver")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = {pool.submit(_prepare_one, job): number for number, job in enumerate(jobs)}
            for future in as_completed(futures):
                result = results[futures[future]] = future.result()
                if progress:
                    progress(result)
    else:
        for number, job in enumerate(jobs):
            result = results[number] = _prepare_one(job)
            if progress:
                progress(result)
    return [result for result in results if result is not None]


__all__ = [
    "DEFAULT_CRF",
    "DEFAULT_KEYFRAME_EVERY",
    "DEFAULT_SHORT_SIDE",
    "PrepareReport",
    "PreparedVideo",
    "encoder_identity",
    "plan_outputs",
    "prepare_manifest",
    "prepare_settings",
    "prepare_video",
    "validate_settings",
]
