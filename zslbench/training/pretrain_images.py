"""Image-to-video pretraining ("Augment"): train on still images made into pan-and-zoom clips.

Brattoli et al. (CVPR 2020), Sec. 4 and Table 3: before the video training, the network is trained on
SUN397 images turned into 16-frame videos by a random pan-and-zoom (+1.7 top-1 on UCF101 at 101
classes). Here an image folder (ROOT/<class>/<images>) is audited by the rule like any training
classes (Eq. 3: every class within tau of a test class is removed, the protocol's split), the kept
classes' images are written once as real clips (`zslbench.video.image_clips`) with a manifest, and the
ordinary trainer runs on them under a protocol whose source classes are the image classes, so resume,
torchrun, failure accounting and checkpoints are the video training's own.

OUT then holds: `image-classes.txt` (every image class: the derived protocol's source list),
`image-pretraining.txt` (the kept classes: what the weights saw, for `train --pretrained-on`),
`protocol.yaml` (the given protocol with that source), `clips/` and `clips.csv` (the clips),
`pretraining_stage.json` (what was done), and the trainer's `checkpoint.pt`, which also carries the
stage record under `pretraining_stage`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zslbench.core.atomic import write_text
from zslbench.core.errors import ZslbenchError, named
from zslbench.models.checkpoint import load_checkpoint, save_checkpoint
from zslbench.protocol.compliance import violations
from zslbench.protocol.overlap import compute_overlap
from zslbench.protocol.spec import Protocol, load_protocol
from zslbench.text import load_embedder
from zslbench.text.vocab import ClassList
from zslbench.training.config import TrainConfig, TrainResult
from zslbench.training.trainer import Progress, train
from zslbench.video.encode import write_video
from zslbench.video.image_clips import (
    FRAMES,
    ImageFolder,
    clip_size,
    image_folder,
    image_reader,
    pan_zoom_clip,
    read_image,
)
from zslbench.video.manifest import Manifest, VideoRecord, write_manifest
from zslbench.video.sampler import ClipSpec

ALL_CLASSES = "image-classes.txt"  # every image class: the derived protocol's source (dataset "image-classes")
KEPT_CLASSES = "image-pretraining.txt"  # the classes trained on: pass it to `train --pretrained-on`
STAGE = "pretraining_stage.json"
OUT = named("--out", "out")  # as errors name the run folder
CLIPS_FPS = 16  # frames per second of the written clips (clip sampling counts frames, not seconds)


@dataclass(frozen=True)
class PretrainResult:
    """What `pretrain_images` did: the training's result and the stage record (`stage`)."""

    train: TrainResult
    stage: dict[str, Any]
    pretrained_on: Path  # OUT/image-pretraining.txt: the kept image classes

    @property
    def checkpoint(self) -> Path:
        """The checkpoint the image pretraining wrote (pass it as `--init` to the video training)."""
        return self.train.checkpoint


def pretrain_images(
    images: Path | str, config: TrainConfig, clips_per_image: int = 1, progress: Progress | None = None
) -> PretrainResult:
    """Pretrain `config.model` on the image folder `images` (see the module docstring).

    `config` is an ordinary training config whose `data` and `classes` are ignored: its protocol
    gives the test classes, tau and the clip size; its seed (else the protocol's) also seeds the pan
    and zoom; `clips_per_image` clips are written per image (clip k is the image's "epoch" k). With
    `config.resume`, the clips OUT already holds are reused (the same images and settings only)."""
    if not 1 <= clips_per_image <= 100:
        raise ZslbenchError(
            f"{named(f'--clips-per-image {clips_per_image}', f'clips_per_image={clips_per_image}')} is outside 1..100",
            f"e.g. {named('--clips-per-image 2', 'clips_per_image=2')}",
        )
    out = Path(config.out)
    base = load_protocol(config.protocol)
    if base.path is None:
        raise ZslbenchError("the protocol has no file to include", "pass a protocol name or YAML file")
    seed = config.seed if config.seed is not None else int(base.data["train"]["seed"])
    wanted = _settings(Path(images), base, seed, clips_per_image)
    stage = _existing_stage(out, wanted, config.resume)
    if stage is None:
        stage = _prepare(out, image_folder(images), base, wanted)
    derived = load_protocol(out / "protocol.yaml", sets=base.sets)
    run = dataclasses.replace(
        config,
        protocol=derived,
        data={derived.source_classes().name: out / "clips.csv"},
        classes=None,
        allow_overlap=False,
    )
    result = train(run, progress)
    if result.checkpoint.exists():
        _record_stage(result.checkpoint, stage)
    return PretrainResult(result, stage, out / KEPT_CLASSES)


def _settings(images: Path, protocol: Protocol, seed: int, clips_per_image: int) -> dict[str, Any]:
    """What the clips depend on: a rerun with --resume must find the same."""
    spec = ClipSpec.from_protocol(protocol.data["clips"])
    return {
        "images": str(images.expanduser().resolve()),
        "protocol": {"name": protocol.name, "fingerprint": protocol.fingerprint},
        "seed": seed,
        "clips_per_image": clips_per_image,
        "frames": max(FRAMES, spec.span),
        "clip_size": list(clip_size(spec.short_side)),
        "reader": image_reader(),
    }


def _existing_stage(out: Path, wanted: dict[str, Any], resume: bool) -> dict[str, Any] | None:
    """The stage record of clips already written in OUT (only with --resume, for the same settings)."""
    path = out / STAGE
    if not path.exists():
        return None
    if not resume:
        raise ZslbenchError(
            f"{path} exists", f"pass {named('--resume', 'resume=True')} to continue that run, or choose a new {OUT}"
        )
    stage = json.loads(path.read_text(encoding="utf-8"))
    differ = [key for key, value in wanted.items() if stage["settings"].get(key) != value]
    if differ:
        raise ZslbenchError(
            f"cannot resume {out}: its clips were made with other settings ({', '.join(differ)})",
            f"repeat the first run's options, or choose a new {OUT}",
        )
    return stage


def _prepare(out: Path, folder: ImageFolder, base: Protocol, settings: dict[str, Any]) -> dict[str, Any]:
    """Audit the image classes, write the kept classes' clips, the class lists, the derived protocol
    and last the stage record (its presence says the clips are complete)."""
    all_classes = ClassList("image-classes", folder.classes, str(folder.root))
    embedder = load_embedder(base.embedding, word_norm=base.word_norm)
    removed = violations(compute_overlap(all_classes, base.test_classes(), embedder), base.tau)
    kept = [name for name in folder.classes if name not in {v["class"] for v in removed}]
    if not kept:
        raise ZslbenchError(
            f"every one of the {len(folder.classes)} image classes is within tau={base.tau} of a test class",
            "pretrain on other classes (zslbench audit lists the distances)",
        )
    out.mkdir(parents=True, exist_ok=True)
    records, failed = _write_clips(out, folder, kept, settings)
    with_clips = {record.label for record in records}
    empty = [name for name in kept if name not in with_clips]  # every image of the class was unreadable
    kept = [name for name in kept if name in with_clips]
    if len(kept) < 2:  # one class has nothing to tell apart: the softmax loss is 0 from the start
        raise ZslbenchError(
            f"{len(kept)} image class(es) with readable images remain after the rule"
            + (f" ({len(empty)} had none: {', '.join(empty[:3])})" if empty else ""),
            "pretraining needs at least 2 classes of readable images (.jpg, .png)",
        )
    write_text(out / ALL_CLASSES, _class_file(folder.classes, f"image classes of {folder.root}"))
    write_text(out / KEPT_CLASSES, _class_file(kept, f"image classes kept by the rule at tau={base.tau}"))
    write_manifest(Manifest(tuple(records), ALL_CLASSES), out / "clips.csv")
    write_text(out / "protocol.yaml", _protocol_yaml(base))
    stage = {
        "settings": settings,
        "images": settings["images"],
        "classes": kept,
        "image_classes": list(folder.classes),
        "removed": removed,
        "tau": base.tau,
        "clips": len(records),
        "unreadable": failed,
        "no_readable_image": empty,
    }
    write_text(out / STAGE, json.dumps(stage, indent=2) + "\n")
    return stage


def _write_clips(
    out: Path, folder: ImageFolder, kept: list[str], settings: dict[str, Any]
) -> tuple[list[VideoRecord], list[dict[str, str]]]:
    """Each kept image as `clips_per_image` pan-and-zoom .mp4 clips under OUT/clips/<class>/. The
    image index is the image's place among all images (sorted by class, then file), so a clip does
    not depend on which classes were removed. Unreadable images are skipped and listed."""
    records, failed, index = [], [], -1
    clip_hw = tuple(settings["clip_size"])
    for name, paths in folder.images.items():
        for path in paths:
            index += 1
            if name not in kept:
                continue
            try:
                image = read_image(path)
            except ZslbenchError as err:
                failed.append({"path": str(path), "error": err.message})
                continue
            for k in range(settings["clips_per_image"]):
                frames = pan_zoom_clip(image, clip_hw, settings["frames"], settings["seed"], index, k)
                target = out / "clips" / name / f"{path.stem}-{k}.mp4"
                records.append(VideoRecord(write_video(target, frames, fps=CLIPS_FPS), name, "pretrain"))
    return records, failed


def _class_file(classes: list[str] | tuple[str, ...], what: str) -> str:
    return f"# zslbench pretrain-images: {what} ({len(classes)})\n" + "".join(f"{name}\n" for name in classes)


def _protocol_yaml(base: Protocol) -> str:
    """The given protocol with the image classes as its source (and its own name)."""
    include = json.dumps(str(Path(base.path).resolve()))  # JSON strings are YAML strings
    return (
        f"# written by zslbench pretrain-images: {base.name} with the image classes as training classes\n"
        f"include: {include}\n"
        f"name: {json.dumps(base.name + '-images')}\n"
        f"train:\n  source: {ALL_CLASSES}\n"
    )


def _record_stage(checkpoint: Path, stage: dict[str, Any]) -> None:
    """Add the stage record to the trainer's checkpoint (`pretraining_stage`): what it was trained on
    is then known from the checkpoint alone."""
    state = load_checkpoint(checkpoint)
    record = {key: stage[key] for key in ("images", "classes", "removed", "tau", "clips")}
    if state.get("pretraining_stage") != record:
        save_checkpoint(checkpoint, {**{k: v for k, v in state.items() if k != "format"}, "pretraining_stage": record})
