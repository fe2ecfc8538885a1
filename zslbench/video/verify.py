"""Verifying a decoder backend on a dataset: its frames against the exact reader's, video by video.

decord 0.6 returned wrong frames on some kinds of file and not on others, and on a real 1080p AVI
not even the same frames from one run to the next (docs/data.md), so it is used only on a manifest
where it was compared with the exact reader and agreed. For each checked video the backend reads,
each time through a fresh reader as the dataset does:
- the protocol's test positions (25 clips of 16 frames) in one read;
- `TRAIN_READS` seeded training clips, one read each;
- tail probes, each several times, with one decoder thread and with decord's automatic threads: an
  earlier frame, then the last frames (the pattern that returned stale frames; on the real test.avi
  it failed 10 of 10 times with one thread and 1-3 of 10 with automatic threads).

Frames are compared at native size: there decord's right frames were bit-identical to the exact
reader's (largest difference 0 on every file measured), while its wrong frames differed somewhere by
26 grey levels or more, even a stale frame of a nearly still video (mean difference 0.17). So a frame
is wrong when any pixel differs by more than `MAX_PIXEL_DIFF`. Scaled frames would hide that: decord
scales differently (mean differences up to 0.45, pixels up to 28 apart at short side 128).

Each video is checked in a child process with a time limit (decord2 hung on a B-frame AVI): a child
that does not answer in time is killed, the video is reported as timed out, and a fresh child takes
the next video. The backend opens each file before the exact reader looks at it, so a file the backend
hangs on is caught whatever the exact reader thinks of it.

The verdict is kept per (manifest file content, backend identity incl. decord's version), with each
checked video's full-content fingerprint. A refusal stands until a refused video's file or the
manifest changes: a later passing run does not overturn it, since decord's errors come and go.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

import numpy as np

from zslbench.core.atomic import write_text
from zslbench.core.errors import ZslbenchError, named, unknown_name_error
from zslbench.core.files import file_problem
from zslbench.core.hashing import file_fingerprint, sha256_json
from zslbench.core.paths import cache_dir
from zslbench.video.decode import BACKENDS, Video, decoder_identity
from zslbench.video.frame_index import DecodeError, load_index
from zslbench.video.manifest import Manifest, read_manifest
from zslbench.video.sampler import ClipSampler, ClipSpec

VERIFY_VERSION = 1  # bump when the reads or the rule change: older verdicts stop counting
EXACT_BACKENDS = ("pyav", "pyav-sequential")  # the reference readers: nothing to verify
MAX_PIXEL_DIFF = 2  # grey levels; right frames measured 0, wrong ones 26 or more
TRAIN_READS = 4
TAIL_THREADS = (1, 0, 1, 0)  # each tail probe once per entry: decord's threads (0: its default, automatic)
SHOWN_WRONG = 5  # first wrong frame numbers kept per video
READ_BYTES = 128 << 20  # native RGB frames per backend read (a 1080p test read is split)
EXACT_BYTES = 256 << 20  # exact frames held at once; above this the exact reader reads per group
STARTUP_S = 120.0  # a child that cannot even import is an installation problem
STATUSES = ("ok", "mismatched", "failed", "timed out", "unreadable")
REFUSING = ("mismatched", "failed", "timed out")
UNREADABLE = "unreadable"  # the exact reader cannot read it either: the same under every backend

# how hints name the exact reader and a verification, on the command line and from Python
EXACT_READER = named("--decoder pyav", "LoaderOptions(decoder='pyav')")
VERIFY_DECORD = named("--verify-decoder decord", "verify_decoder(manifest, 'decord')")


@dataclass(frozen=True)
class VideoVerdict:
    """One video: "ok", "mismatched" (frames that are not the asked frame), "failed" (the backend
    cannot read what the exact reader can), "timed out", or "unreadable" (by the exact reader too)."""

    path: str
    status: str
    reason: str = ""
    frames: int = 0  # frames compared
    wrong: int = 0
    first_wrong: tuple[int, ...] = ()
    max_diff: int = 0  # the largest pixel difference on any compared frame
    fingerprint: str = ""
    size: int = -1
    mtime_ns: int = -1
    seconds: float = 0.0


@dataclass(frozen=True)
class DecoderVerification:
    """A run over a manifest; `earlier`: refusals of earlier runs on the same, unchanged files."""

    manifest: str
    backend: str
    identity: dict[str, Any]
    videos: int  # in the manifest
    sample: int | None
    seed: int
    timeout: float
    results: tuple[VideoVerdict, ...]
    earlier: tuple[VideoVerdict, ...] = ()
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def refused(self) -> list[VideoVerdict]:
        """Videos that bar the backend (mismatched, failed or timed out), in this run or earlier runs."""
        return [v for v in (*self.results, *self.earlier) if v.status in REFUSING]

    @property
    def verified(self) -> bool:
        """Whether the backend may be used: no refusal, and at least one video read right."""
        return not self.refused and any(v.status == "ok" for v in self.results)

    def count(self, status: str) -> int:
        """How many videos of this run ended with `status` (one of STATUSES)."""
        return sum(v.status == status for v in self.results)

    def to_json(self) -> str:
        """The verification as compact JSON, tagged with VERIFY_VERSION, for the cache."""
        return json.dumps({"version": VERIFY_VERSION, **asdict(self)}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> DecoderVerification:
        """The verification `to_json` wrote; ValueError for another VERIFY_VERSION."""
        data = json.loads(text)
        if data.pop("version", None) != VERIFY_VERSION:
            raise ValueError("another verification version")
        for name in ("results", "earlier"):
            data[name] = tuple(VideoVerdict(**{**v, "first_wrong": tuple(v["first_wrong"])}) for v in data[name])
        return cls(**data)


def verify_decoder(
    manifest: Manifest | Path | str,
    backend: str = "decord",
    sample: int | None = None,
    seed: int = 0,
    timeout: float = 60.0,
    workers: int = 0,
    progress: Callable[[VideoVerdict], None] | None = None,
) -> DecoderVerification:
    """Compare `backend` with the exact reader on every video (or a seeded `sample` of them), keep the
    verdict for `require_verified`, and return it. `workers`: child processes at once (0: one)."""
    loaded = _load(manifest)
    check_backend(backend)
    check_options(sample, timeout)
    positions = sample_positions(len(loaded), sample, seed)
    tasks = [(position, os.path.normpath(loaded.records[position].path)) for position in positions]
    verdicts = _run_children(tasks, backend, seed, timeout, max(1, workers), progress)
    run = DecoderVerification(
        str(loaded.path),
        backend,
        decoder_identity(backend),
        len(loaded),
        sample,
        seed,
        timeout,
        tuple(verdicts[position] for position in positions),
    )
    return _save(run, verdict_file(loaded.path, backend))


def require_verified(manifest: Manifest | Path | str, backend: str) -> None:
    """Raise ZslbenchError unless `backend` passed verification on this manifest, with these files."""
    if backend in EXACT_BACKENDS:
        return
    loaded = _load(manifest)
    check_backend(backend)
    hint = f"run `zslbench data check {loaded.path} --verify-decoder {backend}` first"
    try:
        run = DecoderVerification.from_json(verdict_file(loaded.path, backend).read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError, KeyError):
        raise ZslbenchError(
            f"the {backend} decoder has not been verified on {loaded.path} (not since it or the manifest changed)",
            hint,
        ) from None
    if not run.verified and not run.refused:
        raise ZslbenchError(f"no video of {loaded.path} could be read to verify the {backend} decoder", hint)
    if not run.verified:
        bad = run.refused
        listed = "; ".join(f"{Path(v.path).name}: {describe(v)}" for v in bad[:3])
        more = f"; and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise ZslbenchError(
            f"the {backend} decoder was refused for {loaded.path}: {len(bad)} videos ({listed}{more})",
            f"read it with the exact reader ({EXACT_READER}), or drop those videos from the manifest and verify again",
        )
    changed = [v.path for v in run.results if _changed(v)]
    if changed:
        more = f" and {len(changed) - 1} more" if len(changed) > 1 else ""
        raise ZslbenchError(f"{changed[0]}{more} changed since the {backend} decoder was verified on it", hint)


def describe(verdict: VideoVerdict) -> str:
    """One line: what went wrong with a video."""
    if verdict.status == "mismatched":
        first = ", ".join(map(str, verdict.first_wrong))
        return f"{verdict.wrong} of {verdict.frames} frames wrong (first: {first})"
    if verdict.status == "timed out" or not verdict.reason:
        return verdict.reason or verdict.status
    return f"{verdict.status}: {verdict.reason}"


def check_backend(backend: str) -> None:
    """A backend that needs verifying and can be imported; ZslbenchError otherwise."""
    if backend in EXACT_BACKENDS:
        message = f"{backend} is the exact reference reader and needs no verification"
        raise ZslbenchError(message, f"verify decord: {VERIFY_DECORD}")
    if backend not in BACKENDS:
        raise unknown_name_error("decoder", backend, [name for name in BACKENDS if name not in EXACT_BACKENDS])
    _reader_class(backend).import_backend()  # ZslbenchError with the install hint when it is missing


def check_options(sample: int | None, timeout: float) -> None:
    """ZslbenchError for a sample or time limit that cannot be used."""
    if sample is not None and sample < 1:
        raise ZslbenchError(
            f"{named(f'--sample {sample}', f'sample={sample}')}: at least one video must be checked",
            f"e.g. {named('--sample 200', 'sample=200')}",
        )
    if not timeout > 0:
        raise ZslbenchError(
            f"{named(f'--timeout {timeout:g}', f'timeout={timeout:g}')}: the time limit must be positive",
            f"e.g. {named('--timeout 120', 'timeout=120')}",
        )


def verdict_file(manifest_path: Path | str | None, backend: str) -> Path:
    """Where the verdict for this manifest file's content and this backend's identity is kept."""
    path = Path(manifest_path or "")
    identity = decoder_identity(backend)
    key = sha256_json(
        {"manifest": [str(path.resolve()), file_fingerprint(path)], "backend": identity, "verify": VERIFY_VERSION}
    )
    return cache_dir("decoder_checks") / f"{key[:32]}.json"


def sample_positions(videos: int, sample: int | None, seed: int) -> list[int]:
    """Manifest positions to check, in manifest order: all, or a seeded sample without repeats."""
    if sample is None or sample >= videos:
        return list(range(videos))
    return sorted(np.random.default_rng(seed).choice(videos, sample, replace=False).tolist())


def read_groups(n_frames: int, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """(frame numbers, decoder threads) of each backend read: test positions and training clips as the
    dataset reads them (one thread), then tail probes with one thread and with decord's default."""
    spec, last, middle = ClipSpec(), n_frames - 1, n_frames // 2
    groups = [ClipSampler(spec, "test").indices(n_frames)]
    groups += [ClipSampler(spec, "train").indices(n_frames, rng) for _ in range(TRAIN_READS)]
    reads = [(np.unique(group), 1) for group in groups]
    probes = [[0, last], [middle, last], [middle, last - 1, last], [last - 9, last]]
    return reads + [(np.unique(np.clip(probe, 0, last)), threads) for probe in probes for threads in TAIL_THREADS]


def check_video(path: str, backend: str, seed: list[int], threads: int = 0) -> VideoVerdict:
    """Compare `backend`'s frames with the exact reader's on one video (run in a child process)."""
    start = time.perf_counter()
    state = _state(path)

    def verdict(status: str, reason: str = "", **numbers: Any) -> VideoVerdict:
        return VideoVerdict(path, status, reason, **numbers, **state, seconds=round(time.perf_counter() - start, 3))

    reader_class = _reader_class(backend)
    backend_error = None
    try:  # first, so that a file the backend hangs on is caught before the exact reader refuses it
        reader_class.probe(path)
    except DecodeError as err:
        backend_error = err.reason
    try:
        index = load_index(path, threads)
    except DecodeError as err:
        return verdict(UNREADABLE, err.reason)
    if backend_error:
        return verdict("failed", backend_error)
    width, height = index.display_size
    frame_bytes = width * height * 3
    groups = read_groups(index.frames, np.random.default_rng(seed))
    per_read = max(1, READ_BYTES // frame_bytes)
    frames = wrong = max_diff = 0
    first_wrong: set[int] = set()
    exact = _ExactFrames(Video(path, None, threads, index), np.unique(np.concatenate([g for g, _ in groups])))
    try:
        exact.preload(frame_bytes)
        for group, backend_threads in groups:
            for chunk in np.array_split(group, -(-len(group) // per_read)):
                theirs = reader_class(path, None, index, threads=backend_threads).read(chunk)
                ours = exact.read(chunk)
                diffs = (np.maximum(theirs, ours) - np.minimum(theirs, ours)).reshape(len(chunk), -1).max(axis=1)
                bad = chunk[diffs > MAX_PIXEL_DIFF]
                frames, wrong, max_diff = frames + len(chunk), wrong + len(bad), max(max_diff, int(diffs.max()))
                first_wrong.update(bad.tolist())
    except DecodeError as err:
        status = UNREADABLE if exact.failed else "failed"
        return verdict(status, err.reason, frames=frames, wrong=wrong, max_diff=max_diff)
    shown = tuple(sorted(first_wrong)[:SHOWN_WRONG])
    status = "mismatched" if wrong else "ok"
    return verdict(status, frames=frames, wrong=wrong, first_wrong=shown, max_diff=max_diff)


class _ExactFrames:
    """The exact reader's native frames for the asked numbers: read once when they fit in memory."""

    def __init__(self, video: Video, wanted: np.ndarray) -> None:
        self.video, self.numbers, self.frames, self.failed = video, wanted, None, False

    def preload(self, frame_bytes: int) -> None:
        if len(self.numbers) * frame_bytes <= EXACT_BYTES:
            self.frames = self._read(self.numbers)

    def read(self, chunk: np.ndarray) -> np.ndarray:
        if self.frames is None:
            return self._read(chunk)
        return self.frames[np.searchsorted(self.numbers, chunk)]

    def _read(self, numbers: np.ndarray) -> np.ndarray:
        try:
            return self.video.read(numbers)
        except DecodeError:
            self.failed = True
            raise


def _reader_class(backend: str) -> Any:
    from zslbench.video.decord_reader import DecordVideo

    return {"decord": DecordVideo}[backend]


def _file_state(path: Path | str) -> tuple[str, int, int]:
    """(full-content fingerprint, size, mtime_ns), without opening what is not a regular file (a pipe
    would block); size and mtime are kept for people reading a verdict, only the fingerprint decides."""
    try:
        info = os.stat(path)
    except OSError:
        return "missing", -1, -1
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file", -1, -1
    try:
        return file_fingerprint(path), info.st_size, info.st_mtime_ns
    except OSError:
        return "unreadable", -1, -1


def _changed(verdict: VideoVerdict) -> bool:
    """Whether a checked file's content differs from what was checked. Size and mtime are not enough (a
    file rewritten in place can keep both); the fingerprint is remembered per stat, so an unchanged
    file is not read again."""
    return _file_state(verdict.path)[0] != verdict.fingerprint


def _load(manifest: Manifest | Path | str) -> Manifest:
    loaded = manifest if isinstance(manifest, Manifest) else read_manifest(manifest)
    if loaded.path is None:
        raise ZslbenchError(
            "a decoder other than pyav needs a manifest file verified for it, not a dataset folder",
            "write one with `zslbench data index`, verify it with `zslbench data check MANIFEST --verify-decoder "
            "decord` and pass the manifest",
        )
    return loaded


def _save(run: DecoderVerification, file: Path) -> DecoderVerification:
    """Write the run's verdict atomically, keeping earlier refusals of files that have not changed."""
    try:
        old = DecoderVerification.from_json(file.read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError, KeyError):
        old = None
    if old is not None:
        again = {v.path for v in run.results if v.status in REFUSING}
        standing = {v.path: v for v in old.refused if v.path not in again and not _changed(v)}
        run = replace(run, earlier=tuple(standing.values()))
    write_text(file, run.to_json())
    return run


class _Child:
    """A checking process (a fresh interpreter, so no script's main module is re-run): tasks go to its
    stdin and verdicts come back on its stdout, one JSON line each."""

    def __init__(self, backend: str) -> None:
        code = f"from zslbench.video.verify import _serve; _serve({backend!r})"
        self.process = subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # decoder log lines would break the parent's progress bar
            text=True,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.tasks, self.verdicts = self.process.stdin, self.process.stdout

    def fileno(self) -> int:
        return self.verdicts.fileno()

    def ready(self) -> None:
        """Wait for the child's imports, so that they do not count against the first video's time."""
        if not wait([self], STARTUP_S) or self.verdicts.readline().strip() != "ready":
            self.kill()
            raise ZslbenchError(f"a checking process did not start in {STARTUP_S:g} s", "check the installation")

    def send(self, task: list[Any]) -> None:
        self.tasks.write(json.dumps(task) + "\n")
        self.tasks.flush()

    def receive(self) -> VideoVerdict | None:
        """The verdict it sent, or None when it died."""
        line = self.verdicts.readline()
        if not line:
            return None
        data = json.loads(line)
        return VideoVerdict(**{**data, "first_wrong": tuple(data["first_wrong"])})

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        self._close_pipes()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.tasks.close()  # end of input: the child returns
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._close_pipes()

    def _close_pipes(self) -> None:
        for pipe in (self.tasks, self.verdicts):
            with contextlib.suppress(OSError):
                pipe.close()


def _serve(backend: str) -> None:
    """A child's loop: check each video named on stdin until stdin ends; answer on stdout."""
    import av  # noqa: F401  (imported before the clock starts)

    answers = os.fdopen(os.dup(1), "w")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # only verdicts go to the parent, nothing a library prints
    _reader_class(backend).import_backend()
    answers.write("ready\n")
    answers.flush()
    for line in sys.stdin:
        task = json.loads(line)
        try:
            result = check_video(*task)
        except Exception as err:  # a verdict, not a dead child: the run goes on
            result = VideoVerdict(task[0], "failed", f"{type(err).__name__}: {err}"[:300])
        answers.write(json.dumps(asdict(result)) + "\n")
        answers.flush()


def _run_children(
    tasks: list[tuple[int, str]],
    backend: str,
    seed: int,
    timeout: float,
    workers: int,
    progress: Callable[[VideoVerdict], None] | None,
) -> dict[int, VideoVerdict]:
    """Check every (position, path) in child processes, at most `timeout` seconds each."""
    threads = 0 if workers == 1 else 1
    pending, results = deque(tasks), {}
    idle = [_Child(backend) for _ in range(min(workers, len(tasks)))]
    busy: dict[_Child, tuple[int, str, float]] = {}

    def done(position: int, verdict: VideoVerdict) -> None:
        results[position] = verdict
        if progress:
            progress(verdict)

    try:
        for child in idle:
            child.ready()
        while pending or busy:
            while pending and len(busy) < workers:
                if not idle:
                    idle.append(_Child(backend))
                    idle[-1].ready()
                position, path = pending.popleft()
                if _file_state(path)[0] == "not a regular file":  # opening a pipe would block any reader
                    done(position, VideoVerdict(path, UNREADABLE, file_problem(path) or "not a regular file"))
                    continue
                child = idle.pop()
                child.send([path, backend, [seed, position], threads])
                busy[child] = (position, path, time.monotonic())
            if not busy:
                continue
            first_deadline = min(started for *_, started in busy.values()) + timeout
            for child in wait(list(busy), timeout=max(0.0, first_deadline - time.monotonic())):
                position, path, _ = busy.pop(child)
                verdict = child.receive()
                if verdict is None:
                    code = child.process.wait()
                    child.kill()
                    reason = f"the checking process died (exit code {code})"
                    verdict = VideoVerdict(path, "failed", reason, **_state(path))
                else:
                    idle.append(child)
                done(position, verdict)
            for child, (position, path, started) in list(busy.items()):
                if time.monotonic() - started >= timeout:
                    del busy[child]
                    child.kill()
                    reason = f"timed out after {timeout:g} s"
                    done(position, VideoVerdict(path, "timed out", reason, **_state(path), seconds=timeout))
    finally:
        for child in busy:  # interrupted mid-check
            child.kill()
        for child in idle:
            child.close()
    return results


def _state(path: str) -> dict[str, Any]:
    return dict(zip(("fingerprint", "size", "mtime_ns"), _file_state(path), strict=True))
