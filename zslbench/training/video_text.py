"""Fine-tuning a video-text model under the rule: what differs from training a 3D CNN.

The run is the same (`trainer.train`: the rule's kept source classes, resume bit for bit, torchrun,
AMP, failure budgets, `--select-on-test`); only the model, its input and its class side differ:

- the model is built from the image-text weights given as `--init` (an HF CLIP folder or an
  OpenAI-format state dict), with its own input (`VideoInput`: frames, size, statistics) and its
  own text tower giving the training classes' embeddings, the templates of its `TextSpec` averaged
  per class ("embedding" ensembling; Radford et al., ICML 2021, Sec. 3.1.4);
- training clips are read as the model reads test views (TSN segments with one random frame per
  segment, or dense clips), randomly cropped to its size after resizing the short side to 8/7 of it
  (the protocol's 128 -> 112, scaled);
- the text tower is frozen (its class embeddings computed once) or tuned (recomputed every step, with
  gradients), `--text-tower`; the loss is any of the registry's (models/losses.py), by default the
  softmax over cosine similarities at the model's own temperature, fixed or `--learn-temperature`.

The checkpoint holds the whole fine-tuned model and names the --init weights by path and content
hash: evaluation rebuilds the architecture and tokenizer from them (video_text_run.init_weights), so they
must stay where they were, unchanged (or be named again with `--option init=PATH`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from zslbench.core.errors import ZslbenchError, named
from zslbench.models import ModelSpec, build_video_text_model
from zslbench.models.checkpoint import content_sha256
from zslbench.models.video_input import VideoInput
from zslbench.models.video_text.contract import VideoTextModel, average_views
from zslbench.models.video_text.prompts import TextSpec
from zslbench.protocol.spec import Protocol
from zslbench.video.sampler import ClipSpec

TRAIN_RESIZE = 8 / 7  # short side before the random crop, relative to the crop (the protocol's 128 / 112)
INIT_HINT = (
    f"pass {named('--init PATH', 'the model option init=PATH')}: an HF CLIP folder or an OpenAI-format CLIP state dict"
)


@dataclass
class VideoTextParts:
    """A video-text model ready to fine-tune: the module, its text, the training clips and what the
    checkpoint records of them (`record`: its `video_text` key)."""

    module: VideoTextModel
    text: TextSpec
    clips: ClipSpec
    record: dict[str, Any]

    def width(self) -> int:
        """D, the width of the model's embeddings (of one text)."""
        return int(self.module.encode_text(self.text.texts(["a"])[:1]).shape[1])


def video_text_parts(spec: ModelSpec, options: dict[str, Any], protocol: Protocol, image_text: str | None):
    """Build `spec`'s model from options["init"] with the other options (input, temporal, text options;
    the protocol's `model_input` pins fill those left unset). ZslbenchError without --init, for weights
    that do not load, or for a model that cannot be fine-tuned."""
    from zslbench.evaluation.video_text_run import check_pins, pin_refused, split_options

    given = dict(options)
    init = given.pop("init", None)
    if not init:
        raise ZslbenchError(f"fine-tuning {spec.name} starts from image-text weights", INIT_HINT)
    build, text, pins = split_options(spec, given, protocol)
    try:
        module = build_video_text_model(spec.name, Path(init), **build)
    except ZslbenchError as err:
        raise pin_refused(err, spec.name, given, pins, protocol) from None
    check_pins(spec.name, module.input, pins, protocol)
    try:
        module.finetune_parameters(text=False)
    except NotImplementedError:
        raise ZslbenchError(
            f"{spec.name} cannot be fine-tuned (its model has no finetune_parameters)",
            "evaluate it as it is with `zslbench eval --model NAME --weights PATH`, or fine-tune clip_frames",
        ) from None
    record = {
        "init": {"path": str(Path(init).resolve()), "sha256": content_sha256(init)},
        "input": module.input.describe(),
        "text": text.describe(),
        "image_text": image_text,
    }
    return VideoTextParts(module, text, training_clips(module.input), record)


def training_clips(source: VideoInput) -> ClipSpec:
    """How training reads a video for a model with input `source`: one clip of `frames` frames (a
    random frame per TSN segment, or a uniformly placed dense clip with `stride`), random crop of
    `size` and flip after resizing the short side to TRAIN_RESIZE x size; the test side as `source`."""
    from zslbench.evaluation.video_text_run import clip_spec

    return dataclasses.replace(
        clip_spec(source),
        train_clips=1,
        short_side=round(source.size * TRAIN_RESIZE),
        train_position="segments" if source.sampling == "segments" else "uniform",
    )


def freeze_all_but(module: VideoTextModel, text_tower: str) -> list[nn.Parameter]:
    """Set requires_grad on exactly the parameters fine-tuning steps (`finetune_parameters`), so that
    DistributedDataParallel and the optimizer see the same set; returns them."""
    trainable = module.finetune_parameters(text=text_tower == "tuned")
    chosen = {id(p) for p in trainable}
    for parameter in module.parameters():
        parameter.requires_grad_(id(parameter) in chosen)
    return trainable


class ClassTexts(nn.Module):
    """The training classes' embeddings [C, D] from the model's text tower: each class's templates'
    L2-normalised embeddings averaged and normalised again. Frozen: computed once, a buffer; tuned:
    recomputed with gradients at every call."""

    def __init__(self, module: VideoTextModel, texts: list[str], classes: int, tuned: bool) -> None:
        super().__init__()
        self.module, self.texts, self.classes, self.tuned = module, texts, classes, tuned
        if not tuned:
            with torch.no_grad():
                self.register_buffer("fixed", self._embed(grad=False), persistent=False)

    def _embed(self, grad: bool) -> torch.Tensor:
        rows = self.module.encode_text(self.texts, grad=grad)  # [templates x classes, D], template-major
        per_class = rows.view(-1, self.classes, rows.shape[-1]).mean(dim=0)
        return F.normalize(per_class, dim=-1)

    def forward(self) -> torch.Tensor:
        """The class embeddings [C, D]: the frozen buffer, or recomputed with gradients when the text tower is tuned."""
        return self._embed(grad=True) if self.tuned else self.fixed


class VideoEmbeddings(nn.Module):
    """clips [B, V, 3, T, H, W] -> [B, D]: the video-text model's embedding, views averaged."""

    def __init__(self, module: VideoTextModel) -> None:
        super().__init__()
        self.module = module

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """clips [B, V, 3, T, H, W] -> [B, D]: each view's embedding averaged, L2-normalised."""
        return average_views(self.module.encode_video(clips))
