"""Loader throughput per core: zslbench's readers against the naive OpenCV reader, decord and the decode floor.

Files are generated into a temp folder, deterministically (textured, moving content, realistic in size):
- Kinetics-like: 340x256 h264 mp4, 300 frames at 30 fps, B-frames, a keyframe every 2 s or every 10 s;
- UCF101-like: 320x240 mpeg4 AVI, 180 frames at 25 fps, B-frames, one keyframe (as xvid writes);
- each prepared by `zslbench.video.prepare.prepare_video` (short side 128, a keyframe every 16 frames).
Preparing makes the source's keyframe interval irrelevant, so the two Kinetics-like groups share one
prepared group (made from the 10 s files).

Each reader loads the same items as a loader worker does, `VideoClipDataset(...)[i]` (uint8 cropped clips),
for training sampling (1 clip x 16 frames at a random position, seeded) and test sampling (25 clips x 16
frames, spread): zslbench "pyav" (keyframe seek where timestamps are trusted, counting elsewhere),
"pyav-sequential" (the reference's way), "decord" (through `DecordVideo`, or decord's VideoReader directly
where that reader is missing), the naive OpenCV reader of benchmarks/decode.py (every frame decoded to the
last needed one) and the decode floor: PyAV decoding only the frames from the keyframe before each clip to
its end, without colour conversion. Per core: this process is pinned to one CPU, torch and OpenCV use one
thread, PyAV decodes with one thread (decord's own threads share the one CPU); frame indexes are built (and
timed) before the readers are.

With CUDA, it also times the R(2+1)D-18 train step at batch 22 (fp16 autocast; bf16 + channels_last_3d)
and the data-wait share of a training loop fed by cores-1 loader workers from prepared files.

Needs the bench extra: pip install -e ".[bench]". Usage: python benchmarks/pipeline.py [--quick] [--repeats 3]
[--files 16] [--draws 3] [--out FILE] [--gpu-only] (--gpu-only: just the CUDA rows, for a short device run).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zslbench.video.manifest import VideoRecord
from zslbench.video.sampler import ClipSampler, ClipSpec

SPEC = ClipSpec()  # 16-frame clips, short side 128, crop 112; 1 training clip, 25 test clips
SEED = 0
HAS_PREPARE = importlib.util.find_spec("zslbench.video.prepare") is not None
HAS_DECORD_READER = importlib.util.find_spec("zslbench.video.decord_reader") is not None


@dataclass(frozen=True)
class Source:
    """How a group's raw files are written (the suffix picks the codec in `write_video`)."""

    codec: str
    suffix: str
    width: int
    height: int
    frames: int
    fps: int
    keyint: int


KINETICS_2S = Source("libx264", ".mp4", 340, 256, 300, 30, 60)
KINETICS_10S = Source("libx264", ".mp4", 340, 256, 300, 30, 300)
UCF = Source("mpeg4", ".avi", 320, 240, 180, 25, 300)


@dataclass
class Group:
    key: str
    label: str
    paths: list[Path]
    prepared: bool = False
    stats: dict[str, float] = field(default_factory=dict)


# -- files ------------------------------------------------------------------------------------------------------


def scene(width: int, height: int, count: int, seed: int) -> np.ndarray:
    """uint8 [count, height, width, 3]: a textured, sharp-edged background the camera pans and zooms over,
    three textured discs crossing it, and sensor grain: about 500 kb/s as h264 crf 23 at 340x256, as Kinetics clips."""
    import cv2

    rng = np.random.default_rng(seed)
    big_h, big_w = height * 2, width * 2
    texture = np.zeros((big_h, big_w, 3), np.float32)
    for cells, amplitude in ((6, 50), (24, 30), (96, 18), (big_w // 3, 10)):
        noise = rng.normal(size=(max(2, cells * big_h // big_w), cells, 3)).astype(np.float32)
        texture += amplitude * cv2.resize(noise, (big_w, big_h), interpolation=cv2.INTER_CUBIC)
    texture += rng.uniform(60, 190, size=3).astype(np.float32)
    for _ in range(120):  # sharp edges: strokes and boxes
        colour = tuple(float(c) for c in rng.uniform(0, 255, size=3))
        p1 = tuple(int(v) for v in rng.uniform([0, 0], [big_w, big_h]))
        p2 = tuple(int(v) for v in np.add(p1, rng.normal(0, big_w / 10, size=2)))
        if rng.random() < 0.5:
            cv2.line(texture, p1, p2, colour, int(rng.integers(1, 4)), cv2.LINE_AA)
        else:
            cv2.rectangle(texture, p1, p2, colour, -1 if rng.random() < 0.5 else 1)
    texture += rng.normal(0, 12, size=texture.shape).astype(np.float32)  # fine detail
    drift = rng.uniform(-0.8, 0.8, size=2) * width / count * 2
    discs = []
    for _ in range(3):
        r = int(rng.integers(height // 10, height // 4))
        pattern = cv2.resize(rng.normal(size=(8, 8, 3)).astype(np.float32), (2 * r, 2 * r)) * 40
        yy, xx = np.mgrid[-r:r, -r:r]
        inside = ((xx**2 + yy**2) < r * r)[..., None]
        start, speed = rng.uniform([0, 0], [width, height]), rng.uniform(-4, 4, size=2)
        discs.append((r, pattern + rng.uniform(40, 220, size=3), inside, start, speed))
    out = np.empty((count, height, width, 3), np.uint8)
    for t in range(count):
        zoom = 1 + 0.05 * np.sin(t / 40)
        dx, dy = width / 2 + drift[0] * t + 6 * np.sin(t / 7), height / 2 + drift[1] * t + 4 * np.cos(t / 11)
        camera = np.float32([[zoom, 0, -dx], [0, zoom, -dy]])
        frame = cv2.warpAffine(texture, camera, (width, height), borderMode=cv2.BORDER_REFLECT)
        for r, pattern, inside, start, speed in discs:
            cx, cy = (start + speed * t) % [width + 2 * r, height + 2 * r] - r
            x0, y0 = int(cx) - r, int(cy) - r
            xs, ys = slice(max(x0, 0), min(x0 + 2 * r, width)), slice(max(y0, 0), min(y0 + 2 * r, height))
            if xs.start < xs.stop and ys.start < ys.stop:
                part = (slice(ys.start - y0, ys.stop - y0), slice(xs.start - x0, xs.stop - x0))
                frame[ys, xs] = np.where(inside[part], pattern[part], frame[ys, xs])
        frame += rng.normal(0, 2.5, size=(height, width, 1)).astype(np.float32)
        out[t] = np.clip(frame, 0, 255)
    return out


def options(source: Source) -> dict[str, str]:
    """Encoder options for `write_video`: h264 at crf 23 with 3 B-frames and a keyframe every `keyint` frames
    (no mbtree, so the same frames give the same file), or mpeg4 at 400 kb/s with 2 B-frames."""
    if source.codec == "libx264":
        keys = f"keyint={source.keyint}:min-keyint={source.keyint}:scenecut=0:bframes=3:mbtree=0"
        return {"crf": "23", "x264-params": keys}
    return {"bf": "2", "b": "400000", "g": str(source.keyint)}


def write_files(job: tuple[Path, int, list[tuple[str, Source]]]) -> None:
    folder, number, outputs = job
    from zslbench.video.encode import write_video

    frames = scene(outputs[0][1].width, outputs[0][1].height, outputs[0][1].frames, SEED * 1000 + number)
    for name, source in outputs:
        write_video(folder / name / f"{number:03d}{source.suffix}", frames, source.fps, options(source))


def prepare_file(job: tuple[Path, Path]) -> None:
    from zslbench.video.prepare import prepare_video

    prepare_video(job[0], job[1], short_side=SPEC.short_side, keyframe_every=16, threads=1)


def make_groups(folder: Path, files: int, kinetics_only: bool = False) -> tuple[list[Group], list[str]]:
    """The file groups (raw, then prepared), written in parallel; notes for what was skipped."""
    kinetics = [("kinetics-2s", KINETICS_2S), ("kinetics-10s", KINETICS_10S)]
    jobs = [(folder, n, kinetics) for n in range(files)]
    if not kinetics_only:
        jobs += [(folder, 1000 + n, [("ucf", UCF)]) for n in range(files)]
    for name in ("kinetics-2s", "kinetics-10s", "ucf"):
        (folder / name).mkdir(parents=True)
    with ProcessPoolExecutor(len(os.sched_getaffinity(0))) as pool:
        list(pool.map(write_files, jobs))
    groups = [
        Group("kinetics-2s", "Kinetics-like, raw, keyframe every 2 s", sorted((folder / "kinetics-2s").iterdir())),
        Group("kinetics-10s", "Kinetics-like, raw, keyframe every 10 s", sorted((folder / "kinetics-10s").iterdir())),
    ]
    if not kinetics_only:
        groups.append(Group("ucf", "UCF101-like, raw (mpeg4 AVI)", sorted((folder / "ucf").iterdir())))
    notes = []
    if not HAS_PREPARE:
        notes.append("prepared groups skipped: zslbench.video.prepare (prepare_video) is not in this tree yet")
        return groups, notes
    prepared = []
    for source_key, key, label in (
        ("kinetics-10s", "kinetics-prepared", "Kinetics-like, prepared"),
        ("ucf", "ucf-prepared", "UCF101-like, prepared"),
    ):
        sources = next((g.paths for g in groups if g.key == source_key), None)
        if sources is None:
            continue
        (folder / key).mkdir()
        targets = [folder / key / f"{path.stem}.mp4" for path in sources]
        prepared.append(Group(key, label, targets, prepared=True))
        with ProcessPoolExecutor(len(os.sched_getaffinity(0))) as pool:
            list(pool.map(prepare_file, zip(sources, targets, strict=True)))
    return groups + prepared, notes


# -- readers ------------------------------------------------------------------------------------------------------


def floor_read(path: Path, index, indices: np.ndarray) -> int:
    """Decode only what an exact seeking reader must: from the keyframe before each clip to its end (clips
    whose spans meet are merged), no colour conversion. Returns the frames decoded."""
    import av

    spans: list[list[int]] = []
    for clip in np.sort(indices, axis=1)[np.argsort(indices.min(axis=1))]:
        first = index.keyframe_before(int(clip[0])) or 0
        if spans and first <= spans[-1][1] + 1:
            spans[-1][1] = max(spans[-1][1], int(clip[-1]))
        else:
            spans.append([first, int(clip[-1])])
    decoded = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type, stream.thread_count = "SLICE", 1
        for number, (first, last) in enumerate(spans):
            if first or number:
                container.seek(index.pts[first], stream=stream, backward=True, any_frame=False)
            for count, _frame in enumerate(container.decode(stream), start=1):
                if count > last - first:
                    break
            decoded += count
    return decoded


@dataclass
class Reader:
    key: str
    label: str
    load: Callable[[int, int], str]  # (file number, epoch) -> how the dataset read the video ("" outside it)


def readers_for(group: Group, mode: str) -> list[Reader]:
    """Every reader of the table, each loading item (file, epoch) as a loader worker would."""
    from decode import decord_read, naive_read  # benchmarks/decode.py

    from zslbench.video.dataset import Failure, VideoClipDataset
    from zslbench.video.decode import scaled_size
    from zslbench.video.frame_index import load_index
    from zslbench.video.transforms import crop_clips

    records = [VideoRecord(path, "video") for path in group.paths]
    sampler = ClipSampler(SPEC, mode)

    def dataset_reader(backend: str) -> Callable[[int, int], str]:
        dataset = VideoClipDataset(records, ["video"], SPEC, mode, seed=SEED, decode_threads=1, backend=backend)

        def load(number: int, epoch: int) -> str:
            dataset.set_epoch(epoch)
            item = dataset[number]
            if isinstance(item, Failure):
                raise RuntimeError(f"{item.path}: {item.reason}")
            return item["decoder"]

        return load

    def sampled(number: int, epoch: int):
        """What the dataset draws for the item: the same indices, then the same crops and flips."""
        index = load_index(group.paths[number])
        rng = np.random.default_rng([SEED, epoch, number]) if mode == "train" else None
        return index, sampler.indices(index.frames, rng), rng

    def naive(number: int, epoch: int) -> str:
        index, indices, rng = sampled(number, epoch)
        frames = naive_read(group.paths[number], indices, scaled_size(index.width, index.height, SPEC.short_side))
        crop_clips(np.stack(frames).reshape(*indices.shape, *frames[0].shape), SPEC.crop, rng)
        return ""

    def decord_direct(number: int, epoch: int) -> str:
        index, indices, rng = sampled(number, epoch)
        frames = decord_read(group.paths[number], indices, scaled_size(index.width, index.height, SPEC.short_side))
        crop_clips(frames.reshape(*indices.shape, *frames.shape[1:]), SPEC.crop, rng)
        return ""

    def floor(number: int, epoch: int) -> str:
        index, indices, _ = sampled(number, epoch)
        floor_read(group.paths[number], index, indices)
        return ""

    decord = (
        Reader("decord", "zslbench decord (DecordVideo)", dataset_reader("decord"))
        if HAS_DECORD_READER
        else Reader("decord", "decord (VideoReader directly)*", decord_direct)
    )
    return [
        Reader("pyav", "zslbench pyav", dataset_reader("pyav")),
        Reader("sequential", "zslbench pyav-sequential", dataset_reader("pyav-sequential")),
        decord,
        Reader("naive", "naive OpenCV", naive),
        Reader("floor", "decode floor (PyAV)", floor),
    ]


# -- measuring ------------------------------------------------------------------------------------------------


def pin_to_one_core() -> set[int]:
    """Pin this process to one CPU (threads made later inherit it); returns the CPUs it had."""
    import cv2
    import torch

    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    return cpus


def index_files(groups: list[Group]) -> None:
    """Build every file's frame index once (cold cache, one core) and time it: a one-time cost per video.
    Also time what every reader pays besides decoding, on the group's first file: opening it (av.open), and
    converting one frame to RGB at short side 128 (swscale, as zslbench's reader does)."""
    import shutil

    import av
    from av.video.reformatter import VideoReformatter

    from zslbench.core.paths import cache_dir
    from zslbench.video.decode import scaled_size
    from zslbench.video.frame_index import clear_memo, load_index

    shutil.rmtree(cache_dir("frame_index"), ignore_errors=True)  # prepare_video cached its outputs' indexes
    clear_memo()
    for group in groups:
        seconds, sizes = [], []
        for path in group.paths:
            start = time.perf_counter()
            index = load_index(path, threads=1)
            seconds.append(time.perf_counter() - start)
            sizes.append(path.stat().st_size)
        opened = time.perf_counter()
        for _ in range(20):
            with av.open(str(group.paths[0])) as container:
                stream = container.streams.video[0]
        opened = (time.perf_counter() - opened) / 20
        with av.open(str(group.paths[0])) as container:
            stream = container.streams.video[0]
            stream.thread_type, stream.thread_count = "SLICE", 1
            codec, width, height = stream.codec_context.name, stream.codec_context.width, stream.codec_context.height
            fps = float(stream.average_rate)
            frames = list(container.decode(stream))
        size, scaler = scaled_size(width, height, SPEC.short_side), VideoReformatter()  # one, as the reader keeps
        converted = time.perf_counter()
        for frame in frames:
            scaler.reformat(frame, *size, "rgb24").to_ndarray()
        converted = (time.perf_counter() - converted) / len(frames)
        group.stats = {
            "size": f"{width}x{height} {codec}",
            "frames": index.frames,
            "keyframes": statistics.mean(len(load_index(p).keyframes) for p in group.paths),
            "kb": statistics.mean(sizes) / 1024,
            "kbps": statistics.mean(sizes) * 8 / 1000 / (index.frames / fps),
            "index_ms": 1000 * statistics.mean(seconds),
            "mode": index.mode,
            "open_ms": 1000 * opened,
            "rgb_ms": 1000 * converted,
        }


def check_exact(group: Group) -> str:
    """For the group's first file: zslbench's default reader against a full sequential PyAV decode, at the
    test sampling's indices and a training draw."""
    import av

    from zslbench.video.decode import Video, scaled_size

    path = group.paths[0]
    video = Video(path, SPEC.short_side, threads=1)
    width, height = scaled_size(video.index.width, video.index.height, SPEC.short_side)
    with av.open(str(path)) as container:
        truth = np.stack([f.reformat(width, height, "rgb24").to_ndarray() for f in container.decode(video=0)])
    wanted = np.concatenate(
        [
            ClipSampler(SPEC, "test").indices(video.num_frames).ravel(),
            ClipSampler(SPEC, "train").indices(video.num_frames, np.random.default_rng(SEED)).ravel(),
        ]
    )
    same = np.array_equal(video.read(wanted), truth[wanted])
    verdict = "equal" if same else "DIFFERENT"
    return (
        f"{group.label}: {path.name}, {len(wanted)} frames read by {video.mode} {verdict} to a full "
        f"sequential PyAV decode ({len(truth)} frames) {'✓' if same else '✗'}"
    )


def measure(groups: list[Group], repeats: int, draws: int, progress) -> dict[tuple[str, str], dict]:
    """{(group, reader): {"label", "how", "train", "test"}} with items/s per core, the median of `repeats`
    passes; within a repeat the readers run one after another, so drift hits them alike."""
    results: dict[tuple[str, str], dict] = {}
    for group in groups:
        for mode in ("train", "test"):
            readers = readers_for(group, mode)
            epochs = range(draws) if mode == "train" else range(1)
            items = [(number, epoch) for epoch in epochs for number in range(len(group.paths))]
            task = progress.add_task(f"{group.key} {mode}", total=repeats * len(readers))
            for reader in readers:  # one untimed item each: imports, the scaler, decord's library
                reader.load(*items[0])
            runs: dict[str, list[float]] = {reader.key: [] for reader in readers}
            hows: dict[str, set[str]] = {reader.key: set() for reader in readers}
            for _ in range(repeats):
                for reader in readers:
                    start = time.perf_counter()
                    for number, epoch in items:
                        hows[reader.key].add(reader.load(number, epoch))
                    runs[reader.key].append(time.perf_counter() - start)
                    progress.advance(task)
            for reader in readers:
                row = results.setdefault((group.key, reader.key), {"label": reader.label, "how": set()})
                row[mode] = len(items) / statistics.median(runs[reader.key])
                row["how"] |= hows[reader.key]
    return results


# -- reporting ----------------------------------------------------------------------------------------------------


def ratio(results, group: str, reader: str, other: str, mode: str, time_ratio: bool) -> float | None:
    a, b = results.get((group, reader), {}).get(mode), results.get((group, other), {}).get(mode)
    if not a or not b:
        return None
    return b / a if time_ratio else a / b


def targets(results, groups: list[Group]) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """The issue's targets, for the default reader (zslbench pyav): (group key, "pyav") -> (short, long)
    verdicts, short for the table's column and long for the list under it."""
    verdicts: dict[tuple[str, str], list[tuple[str, str]]] = {}

    def verdict(key, name: str, value: float | None, goal: float, unit: str, at_most: bool = False) -> None:
        if value is None:
            return
        if value <= goal if at_most else value >= goal:
            short, long = f"{name} ✓", f"{name}: ✓ ({value:.2f}{unit})"
        else:
            miss = f"{value / goal - 1:.0%} over" if at_most else f"{1 - value / goal:.0%} short"
            short, long = f"{name} ✗ {miss}", f"{name}: ✗ {value:.2f}{unit}, {miss}"
        verdicts.setdefault(key, []).append((short, long))

    for group in groups:
        key = (group.key, "pyav")
        if key not in results:
            continue
        if group.key == "kinetics-prepared":
            verdict(key, "train >= 40 clips/s", results[key].get("train"), 40, " clips/s")
        if group.prepared:
            verdict(key, "test >= 5 videos/s", results[key].get("test"), 5, " videos/s")
        else:
            for mode in ("train", "test"):
                value = ratio(results, group.key, "pyav", "floor", mode, time_ratio=True)
                verdict(key, f"{mode} <= 1.2x floor", value, 1.2, "x", at_most=True)
        if group.key == "kinetics-2s":
            verdict(key, "train >= 3x naive", ratio(results, group.key, "pyav", "naive", "train", False), 3, "x")
    return verdicts


def table(results, groups: list[Group]) -> list[str]:
    verdicts = targets(results, groups)
    lines = [
        "| files | reader | train clips/s | test videos/s | train vs naive | test vs naive "
        "| train time vs floor | test time vs floor | targets |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for group in groups:
        for (key, reader), row in results.items():
            if key != group.key:
                continue
            cells = [f"{row.get('train', 0):.1f}", f"{row.get('test', 0):.2f}"]
            for other, time_ratio in (("naive", False), ("floor", True)):
                for mode in ("train", "test"):
                    value = ratio(results, key, reader, other, mode, time_ratio)
                    cells.append(f"{value:.2f}x" if value and reader != other else "")
            label = row["label"]
            how = row["how"] - {"", reader}  # how the dataset read the videos, where the name does not say
            if how:
                label += f" ({', '.join(sorted(how))})"
            marks = "; ".join(short for short, _ in verdicts.get((key, reader), []))
            lines.append(f"| {group.label} | {label} | {' | '.join(cells)} | {marks} |")
    return lines


def files_table(groups: list[Group], files: int) -> list[str]:
    lines = [
        f"| files ({files} per group) | video | frames | keyframes | KB | kb/s | read by | index build ms/video "
        "| open ms | RGB ms/frame |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for group in groups:
        s = group.stats
        lines.append(
            f"| {group.label} | {s['size']} | {s['frames']} | {s['keyframes']:.0f} | {s['kb']:.0f} | {s['kbps']:.0f} "
            f"| {s['mode']} | {s['index_ms']:.1f} | {s['open_ms']:.2f} | {s['rgb_ms']:.3f} |"
        )
    return lines


# -- GPU ------------------------------------------------------------------------------------------------------


def gpu_section(
    group: Group, workers: int, quick: bool, per_core: float | None, device: str = "cuda", batch: int = 22, width=1.0
) -> list[str]:
    """R(2+1)D-18 train-step clips/s at batch 22 (fp16 autocast; bf16 + channels_last_3d), then a training
    loop fed by `workers` loader workers from `group`: clips/s and the share of step time spent waiting
    for data, measured after the prefetched batches have been used up. (`device`, `batch` and `width`
    let the code be smoke-tested on a CPU with a small model.)"""
    import torch

    from zslbench.models import build_model, model_spec
    from zslbench.models.losses import embedding_loss
    from zslbench.video.dataset import VideoClipDataset, make_loader
    from zslbench.video.transforms import to_model_input

    torch.backends.cudnn.benchmark = True
    classes, spec = [f"class {n}" for n in range(8)], model_spec("e2e_r2plus1d")
    warmup, steps = (3, 5) if quick else (5, 20)
    targets = torch.nn.functional.normalize(torch.randn(len(classes), 300), dim=1).to(device)

    def trainer(dtype: torch.dtype, channels_last: bool):
        torch.manual_seed(SEED)
        model = build_model("e2e_r2plus1d", 300, width=width).to(device).train()
        if channels_last:
            model = model.to(memory_format=torch.channels_last_3d)
        optimizer = torch.optim.Adam(model.parameters(), 1e-4)
        scaler = torch.amp.GradScaler("cuda", enabled=device == "cuda" and dtype == torch.float16)

        def step(clips: torch.Tensor, labels: torch.Tensor) -> None:
            with torch.autocast(device, dtype=dtype):
                out = model(to_model_input(clips, spec.mean, spec.std, channels_last=channels_last))
            loss = embedding_loss(out.float(), labels, targets)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            if device == "cuda":
                torch.cuda.synchronize()  # as the loss is read each step: the GPU is idle while data is awaited

        return step

    clips = torch.randint(0, 256, (batch, 1, SPEC.clip_len, SPEC.crop, SPEC.crop, 3), dtype=torch.uint8).to(device)
    labels = torch.randint(0, len(classes), (batch,)).to(device)
    lines = ["| configuration | clips/s | data wait |", "|---|---:|---:|"]
    rates = {}
    for name, dtype, channels_last in (
        ("fp16 autocast", torch.float16, False),
        ("bf16 autocast + channels_last_3d", torch.bfloat16, True),
    ):
        step = trainer(dtype, channels_last)
        for _ in range(warmup):
            step(clips, labels)
        start = time.perf_counter()
        for _ in range(steps):
            step(clips, labels)
        rates[name] = batch * steps / (time.perf_counter() - start)
        lines.append(f"| R(2+1)D-18 train step, batch {batch}, {name}, data in GPU memory | {rates[name]:.0f} | |")
    best = max(rates, key=rates.get)
    step = trainer(torch.bfloat16 if best.startswith("bf16") else torch.float16, best.startswith("bf16"))
    loop_steps, prefetch = (10 if quick else 50), 2
    drain = workers * prefetch + 10  # the batches prefetched while workers started, then some
    records = [VideoRecord(p, classes[n % len(classes)]) for n, p in enumerate(group.paths)]
    repeat = -(-(drain + loop_steps + 1) * batch // len(records))
    dataset = VideoClipDataset(records * repeat, classes, SPEC, "train", seed=SEED, decode_threads=1)
    batches = iter(make_loader(dataset, batch, workers, shuffle=True, seed=SEED))
    for _ in range(drain):
        item = next(batches)
        step(item["clips"].to(device, non_blocking=True), item["labels"].to(device, non_blocking=True))
    waited, start = 0.0, time.perf_counter()
    for _ in range(loop_steps):
        asked = time.perf_counter()
        item = next(batches)
        clips_in, labels_in = item["clips"].to(device, non_blocking=True), item["labels"].to(device, non_blocking=True)
        waited += time.perf_counter() - asked
        step(clips_in, labels_in)
    total = time.perf_counter() - start
    del batches
    lines.append(
        f"| training loop, {best}, {workers} workers, {group.label.lower()} ({loop_steps} steps after {drain}) "
        f"| {batch * loop_steps / total:.0f} | {waited / total:.0%} |"
    )
    if per_core:
        need = max(rates.values()) / per_core
        lines.append("")
        lines.append(
            f"At {per_core:.1f} clips/s per core ({group.label.lower()}, training sampling), feeding "
            f"{max(rates.values()):.0f} clips/s takes {need:.1f} loader cores."
        )
    return lines


# -- main -------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 files per group, 1 repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--files", type=int, default=16, help="files per group")
    parser.add_argument("--draws", type=int, default=3, help="training clips drawn per file per pass")
    parser.add_argument("--gpu-only", action="store_true", help="only the CUDA rows (skip the per-core table)")
    parser.add_argument("--out", type=Path, help="also write the tables to this file")
    args = parser.parse_args()
    if args.quick:
        args.files, args.repeats, args.draws = 2, 1, 1
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/decode.py: the naive reader
    import av
    import decord
    import torch
    from rich.console import Console
    from rich.progress import Progress

    cuda = torch.cuda.is_available()
    cores = len(os.sched_getaffinity(0))
    out: list[str] = []
    with tempfile.TemporaryDirectory(prefix="zslbench-pipeline-") as tmp:
        os.environ["ZSLBENCH_CACHE"] = str(Path(tmp) / "cache")  # frame indexes start cold, and go with the files
        console = Console(stderr=True)
        with console.status("writing the files"):
            groups, notes = make_groups(Path(tmp) / "videos", args.files, kinetics_only=args.gpu_only)
        versions = f"av {av.__version__}, decord {decord.__version__}, torch {torch.__version__}"
        device = torch.cuda.get_device_name() if cuda else "no GPU"
        out.append(
            f"machine: {platform.machine()}, {cores} cores, {device}, Python {platform.python_version()}, {versions}"
        )
        per_core = None
        if not args.gpu_only:
            cpus = pin_to_one_core()
            with console.status("building frame indexes"):
                index_files(groups)
            with Progress(console=console) as progress:
                results = measure(groups, args.repeats, args.draws, progress)
            exact = [check_exact(group) for group in groups]
            os.sched_setaffinity(0, cpus)
            out.append(
                f"per core (1 CPU, 1 decoding thread), median of {args.repeats} passes; train: {args.draws} random "
                f"clips per file per pass, test: 25 clips x 16 frames per video; short side 128, crop 112"
            )
            out += ["", *files_table(groups, args.files), "", *table(results, groups), ""]
            out += [f"- exact: {line}" for line in exact]
            if not HAS_DECORD_READER:
                notes.append("* zslbench.video.decord_reader is not in this tree yet: decord's VideoReader directly")
            verdicts = targets(results, groups)
            out += ["", "Targets (default reader, zslbench pyav):"]
            for group in groups:
                if (group.key, "pyav") in verdicts:
                    out.append(f"- {group.label}: {'; '.join(long for _, long in verdicts[group.key, 'pyav'])}")
            per_core = results.get(("kinetics-prepared", "pyav"), {}).get("train")
        if cuda:
            feed = next((g for g in groups if g.key == "kinetics-prepared"), None)
            if feed is None:
                feed = groups[0]
                notes.append("the training loop reads raw Kinetics-like files (keyframe every 2 s): no prepare_video")
            with console.status("timing the GPU rows"):
                out += ["", *gpu_section(feed, max(1, cores - 1), args.quick, per_core)]
        else:
            notes.append("no CUDA: the GPU rows (train step, data-wait share) were skipped")
        out += ["", *(f"note: {note}" for note in notes)]
    text = "\n".join(out)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
