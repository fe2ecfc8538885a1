"""The synthetic zero-shot benchmark: coloured shapes in motion, named so word vectors can transfer.

A class is "<colour> <shape> <motion>" ("red circle rotating"). The target classes are combinations
never trained on, each made of factors that some source class shows, so a model that learns colour,
shape and motion from the source classes and maps them to the words' vectors can name the targets.
The source classes are chosen at cosine distance >= tau from every target class under the default
embedding: the synthetic protocol obeys the rule it exists to test. Every video has its own
background, position, size and speed; files are real h264 .mp4 and mpeg4 .avi.
"""

from __future__ import annotations

import itertools
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zslbench.core.atomic import current_umask, write_text
from zslbench.core.errors import ZslbenchError, named
from zslbench.protocol.spec import PAPER_TAU
from zslbench.video.encode import write_video
from zslbench.video.manifest import Manifest, VideoRecord, write_manifest

COLOURS = {"red": (215, 35, 35), "green": (35, 175, 55), "blue": (40, 80, 225), "yellow": (240, 210, 30)}
SHAPES = ("circle", "square", "triangle", "cross")
MOTIONS = ("rotating", "bouncing", "growing", "shrinking", "sliding", "falling")
WIDTH, HEIGHT, FRAMES, FPS = 80, 64, 24, 12
TAU = PAPER_TAU  # the synthetic protocol obeys the paper's rule


@dataclass(frozen=True)
class SynthClass:
    """One synthetic class: a colour, a shape and a motion."""

    colour: str
    shape: str
    motion: str

    @property
    def name(self) -> str:
        """The class name, "<colour> <shape> <motion>" (e.g. "red circle rotating"), whose words the embedding reads."""
        return f"{self.colour} {self.shape} {self.motion}"


@dataclass(frozen=True)
class SynthDataset:
    """A synthetic benchmark written under `root`: its source and target classes and the total number of videos."""

    root: Path
    source: tuple[SynthClass, ...]
    target: tuple[SynthClass, ...]
    videos: int

    @property
    def protocol(self) -> Path:
        """The protocol file written for it, `root/synth.yaml`."""
        return self.root / "synth.yaml"

    @property
    def data(self) -> dict[str, Path]:
        """The manifests by dataset name, as `TrainConfig.data` and `EvalConfig.data` take them:
        {"synth-source": root/source.csv, "synth-target": root/target.csv}."""
        return {f"synth-{part}": self.root / f"{part}.csv" for part in ("source", "target")}


def all_classes() -> list[SynthClass]:
    """Every colour x shape x motion combination (4 x 4 x 6 = 96 classes), in a fixed order."""
    return [SynthClass(*combo) for combo in itertools.product(COLOURS, SHAPES, MOTIONS)]


def choose_classes(n_classes: int, seed: int) -> tuple[list[SynthClass], list[SynthClass]]:
    """(source, target): targets are unseen combinations of seen factors; sources respect tau.

    No two targets share a colour, a shape or a motion, so every factor alone tells the targets apart
    and their class vectors are far apart; the sources show every factor value the targets use.
    """
    from zslbench.protocol.overlap import cosine_distances
    from zslbench.text import DEFAULT_EMBEDDING, load_embedder
    from zslbench.text.class_vectors import embed_class_lists
    from zslbench.text.vocab import ClassList

    if not 6 <= n_classes <= 40:
        classes = named(f"--classes {n_classes}", f"n_classes={n_classes}")
        raise ZslbenchError(
            f"{classes} is outside 6..40", f"e.g. {named('--classes 40', 'n_classes=40')} (36 source + 4 target)"
        )
    candidates = all_classes()
    index = {cls: i for i, cls in enumerate(candidates)}
    (vectors,) = embed_class_lists(
        [ClassList("synth", tuple(c.name for c in candidates), "synth")], load_embedder(DEFAULT_EMBEDDING)
    )
    distance = cosine_distances(vectors.vectors, vectors.vectors)
    n_target = min(len(COLOURS), max(2, n_classes // 4))
    rng = np.random.default_rng(seed)
    for _ in range(200):
        colours, shapes = rng.permutation(list(COLOURS))[:n_target], rng.permutation(SHAPES)[:n_target]
        motions = rng.permutation(MOTIONS)[:n_target]
        targets = [index[SynthClass(str(c), str(s), str(m))] for c, s, m in zip(colours, shapes, motions, strict=True)]
        order = [int(i) for i in rng.permutation(len(candidates)) if int(i) not in targets]
        allowed = [i for i in order if distance[i, targets].min() >= TAU]
        sources = _cover(targets, allowed, n_classes - n_target, candidates)
        if sources is not None:
            return [candidates[i] for i in sources], [candidates[i] for i in targets]
    raise ZslbenchError(
        f"could not choose {n_classes} classes that respect tau",
        f"try another {named('--seed', 'seed')} or fewer {named('--classes', 'n_classes')}",
    )


def _cover(targets: list[int], allowed: list[int], wanted: int, classes: list[SynthClass]) -> list[int] | None:
    """Sources showing every colour, shape and motion of the targets, then filled up in order."""
    needed = {(factor, getattr(classes[t], factor)) for t in targets for factor in ("colour", "shape", "motion")}
    chosen: list[int] = []
    for i in allowed:
        shows = {(factor, getattr(classes[i], factor)) for factor in ("colour", "shape", "motion")}
        if shows & needed:
            chosen.append(i)
            needed -= shows
    if needed or len(chosen) > wanted:
        return None
    chosen += [i for i in allowed if i not in chosen][: wanted - len(chosen)]
    return chosen if len(chosen) == wanted else None


def render(cls: SynthClass, rng: np.random.Generator) -> list[np.ndarray]:
    """The frames of one video of `cls`: uint8 [HEIGHT, WIDTH, 3] each."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    background = _background(rng, yy, xx)
    size = rng.uniform(18, 24)
    cx, cy = rng.uniform(24, WIDTH - 24), rng.uniform(22, HEIGHT - 22)
    angle0, spin = rng.uniform(0, 2 * np.pi), rng.choice([-1, 1]) * rng.uniform(0.18, 0.35)
    direction, cycles = rng.choice([-1, 1]), rng.uniform(1.5, 2.5)
    colour = np.array(COLOURS[cls.colour], dtype=np.float32) * rng.uniform(0.9, 1.05)
    frames = []
    for i in range(FRAMES):
        t = i / (FRAMES - 1)
        x, y, s, angle = cx, cy, size, angle0
        if cls.motion == "rotating":
            angle = angle0 + spin * i
        elif cls.motion == "bouncing":
            y = HEIGHT - 14 - 26 * abs(np.sin(np.pi * cycles * t))
        elif cls.motion == "growing":
            s = size * (0.45 + 0.95 * t)
        elif cls.motion == "shrinking":
            s = size * (1.4 - 0.95 * t)
        elif cls.motion == "sliding":
            x = WIDTH / 2 + direction * (t - 0.5) * (WIDTH - 20)
        elif cls.motion == "falling":
            y = 10 + (HEIGHT - 22) * t**1.5
        mask, hole = _shape(cls.shape, x, y, s, angle, yy, xx)
        frame = background.copy()
        frame[mask] = colour
        frame[hole] = background[hole]
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return frames


def _background(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """A muted colour with a gentle gradient and fixed noise, different for every video."""
    base = rng.uniform(70, 150) + rng.uniform(-18, 18, size=3)
    gradient = (rng.uniform(-0.3, 0.3) * xx + rng.uniform(-0.3, 0.3) * yy)[..., None]
    noise = rng.normal(0, 6, size=(*yy.shape, 3))
    return (base + gradient + noise).astype(np.float32)


def _shape(shape: str, x: float, y: float, s: float, angle: float, yy, xx) -> tuple[np.ndarray, np.ndarray]:
    """(mask of the shape, mask of a small hole that makes a circle's rotation visible)."""
    dx, dy = xx - x, yy - y
    u = np.cos(angle) * dx + np.sin(angle) * dy
    v = -np.sin(angle) * dx + np.cos(angle) * dy
    half = s / 2
    hole = np.zeros_like(dx, dtype=bool)
    if shape == "circle":
        mask = dx**2 + dy**2 <= half**2
        hole = (u - 0.5 * half) ** 2 + v**2 <= (0.22 * half) ** 2
    elif shape == "square":
        mask = (np.abs(u) <= half * 0.85) & (np.abs(v) <= half * 0.85)
    elif shape == "triangle":
        corners = [(np.cos(a) * half * 1.15, np.sin(a) * half * 1.15) for a in np.pi / 2 + np.arange(3) * 2 * np.pi / 3]
        mask = np.ones_like(dx, dtype=bool)
        for (ax, ay), (bx, by) in zip(corners, corners[1:] + corners[:1], strict=True):
            mask &= (bx - ax) * (v - ay) - (by - ay) * (u - ax) >= 0
    else:  # cross
        arm = half * 0.33
        mask = ((np.abs(u) <= half) & (np.abs(v) <= arm)) | ((np.abs(v) <= half) & (np.abs(u) <= arm))
    return mask, hole


def make_synth(
    out: Path | str,
    n_classes: int = 40,
    videos_per_class: int = 4,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> SynthDataset:
    """Write the synthetic benchmark into the new folder `out` (all or nothing) and describe it.

    `n_classes` (6..40) classes in all, 4 of them targets (fewer below 16), each with
    `videos_per_class` (1..1000) videos of 24 frames, 80x64 pixels at 12 fps (h264 .mp4 and mpeg4 .avi
    in turn); everything follows from `seed`. Written: source/ and target/ videos, their manifests
    (source.csv, target.csv), class lists, the protocol (synth.yaml: `SynthDataset.protocol`) and
    synth.json. `progress` is called with 1 after each video. Raises ZslbenchError for a folder that
    exists and is not empty, or a count out of range."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ZslbenchError(f"{out} exists and is not empty", "choose a new folder; synth never overwrites")
    if not 1 <= videos_per_class <= 1000:
        given = named(f"--videos-per-class {videos_per_class}", f"videos_per_class={videos_per_class}")
        raise ZslbenchError(
            f"{given} is outside 1..1000", f"e.g. {named('--videos-per-class 6', 'videos_per_class=6')}"
        )
    source, target = choose_classes(n_classes, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for part, classes in (("source", source), ("target", target)):
            records = []
            for number, cls in enumerate(classes):
                for k in range(videos_per_class):
                    rng = np.random.default_rng([seed, number, k, part == "target"])
                    suffix = ".mp4" if k % 2 == 0 else ".avi"
                    path = staging / part / cls.name / f"{cls.name.replace(' ', '-')}_{k:03d}{suffix}"
                    records.append(VideoRecord(write_video(path, render(cls, rng), fps=FPS), cls.name, part))
                    if progress:
                        progress(1)
            # manifest paths are relative to the manifest, so they stay right when staging becomes `out`
            write_manifest(Manifest(tuple(records), f"synth-{part}.txt"), staging / f"{part}.csv")
            _write_class_list(staging / f"synth-{part}.txt", classes, part, seed)
        write_text(staging / "synth.yaml", _protocol_yaml(n_classes, videos_per_class, seed))
        write_text(staging / "synth.json", json.dumps(_description(source, target, videos_per_class, seed), indent=2))
        if out.exists():
            out.rmdir()
        staging.chmod(0o777 & ~current_umask())  # mkdtemp makes 0700
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return SynthDataset(out, tuple(source), tuple(target), videos_per_class * (len(source) + len(target)))


def _write_class_list(path: Path, classes: list[SynthClass], part: str, seed: int) -> None:
    header = f"# zslbench synth --seed {seed}: {part} classes ({len(classes)})\n"
    write_text(path, header + "".join(f"{cls.name}\n" for cls in classes))


def _protocol_yaml(n_classes: int, videos_per_class: int, seed: int) -> str:
    return f"""\
# The synthetic zero-shot benchmark written by `zslbench synth` (seed {seed}): train on the source
# classes, name the target classes. Sources lie at cosine distance >= tau from every target.
name: synth-seed{seed}
version: 1
reference: zslbench synth --classes {n_classes} --videos-per-class {videos_per_class} --seed {seed}
description: Coloured shapes in motion; target classes are unseen combinations of seen factors.

train:
  source: synth-source.txt
  epochs: 12
  batch_size: 8
  lr: 0.001
  lr_milestones: [10]
  lr_gamma: 0.1
  loss: softmax  # the paper's mse barely moves off the mean of 36 similar class vectors in 12 epochs
  seed: {seed}

test: [synth-target.txt]

embedding:
  model: glove-6b-50d
  word_norm: true

overlap:
  tau: {TAU}

evaluation:
  class_order: sorted
  splits:
    - {{kind: random_half, repeats: 10, first_seed: 0}}
    - {{kind: all}}
  metrics: [top1, top5, mean_class_accuracy]

clips:
  clip_len: 8
  frame_stride: 1
  train_clips: 1
  test_clips: 4
  crop: 56
  short_side: 64
"""


def _description(source, target, videos_per_class, seed) -> dict:
    return {
        "seed": seed,
        "videos_per_class": videos_per_class,
        "frames": FRAMES,
        "fps": FPS,
        "size": [WIDTH, HEIGHT],
        "factors": {"colour": list(COLOURS), "shape": list(SHAPES), "motion": list(MOTIONS)},
        "source": [cls.__dict__ | {"name": cls.name} for cls in source],
        "target": [cls.__dict__ | {"name": cls.name} for cls in target],
    }
