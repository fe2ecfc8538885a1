"""Backbone features: the pooled visual features of every video of a dataset, extracted once.

`zslbench extract --backbone r2plus1d_18 --init W` writes them through the evaluator's cache (the
protocol's test sampling: clips averaged per video). The file records the backbone, the hash of its
weights and what it was pretrained on, so a method trained on these features is audited for its
pretraining classes too (Eq. 3), and cannot be evaluated on features of another backbone.

File (.npz, numpy.savez): `features` float32 [N, F], `labels` str [N], `paths` str [N],
`failed_paths` / `failed_reasons` str [K], and the scalars `kind`, `backbone`, `width`,
`weights_sha256`, `dataset`, `clips` (JSON), `pretraining` ("none", "unknown" or "classes") with
`pretraining_name` and `pretraining_classes` str [M].
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zslbench.core.bounds import WIDTH
from zslbench.core.errors import ZslbenchError, named
from zslbench.core.npz import read_npz, write_npz
from zslbench.protocol.compliance import Pretraining
from zslbench.protocol.spec import Protocol, identity_data
from zslbench.video.dataset import LoaderOptions

KIND = "zslbench-backbone-features-v1"
INIT, WIDTH_OPTION = named("--init", "init"), named("--width", "width")  # as errors name them
EXTRACT_HINT = "write one with `zslbench extract --backbone r2plus1d_18 --init WEIGHTS --data NAME=ROOT --out F.npz`"


@dataclass(frozen=True)
class BackboneFeatures:
    """A dataset's pooled backbone features (float32 [N, F], one row per decoded video) with each row's
    label and path, the backbone and weights that made them, the clip settings, what the weights were
    pretrained on (audited by Eq. 3) and the videos that failed. Saved as .npz (module docstring)."""

    features: np.ndarray  # float32 [N, F]
    labels: tuple[str, ...]
    paths: tuple[str, ...]
    backbone: str
    width: float
    weights_sha256: str
    dataset: str
    clips: dict[str, Any]
    pretraining: Pretraining  # what the backbone's weights saw before (Eq. 3)
    failures: dict[str, str] = field(default_factory=dict)  # path -> reason

    @property
    def identity(self) -> dict[str, Any]:
        """What a method trained on these features expects of any features it is evaluated on."""
        return {"backbone": self.backbone, "width": self.width, "weights_sha256": self.weights_sha256}

    def save(self, path: Path) -> Path:
        """Write the .npz the module docstring describes at `path`, atomically; returns the path."""
        arrays = {
            "kind": np.array(KIND),
            "features": self.features.astype(np.float32),
            "labels": np.array(self.labels, dtype=str),
            "paths": np.array(self.paths, dtype=str),
            "failed_paths": np.array(list(self.failures), dtype=str),
            "failed_reasons": np.array(list(self.failures.values()), dtype=str),
            "backbone": np.array(self.backbone),
            "width": np.array(self.width),
            "weights_sha256": np.array(self.weights_sha256),
            "dataset": np.array(self.dataset),
            "clips": np.array(json.dumps(self.clips, sort_keys=True)),
            "pretraining": np.array(self.pretraining.status),
            "pretraining_name": np.array(self.pretraining.name),
            "pretraining_classes": np.array(self.pretraining.classes, dtype=str),
        }
        return write_npz(path, arrays)


def load_backbone_features(path: Path | str) -> BackboneFeatures:
    """Read a backbone features file written by `save`.

    Raises ZslbenchError when it is missing or not a readable .npz, not a backbone features file, or its
    features are not finite [N, F] rows, one per label."""
    path = Path(path)
    data = read_npz(path, "features file", "write one with `zslbench extract --backbone`")
    if str(data.get("kind", "")) != KIND:
        raise ZslbenchError(
            f"{path} is not a backbone features file", "write one with `zslbench extract --backbone NAME --init W`"
        )
    features = data["features"]
    if features.ndim != 2 or len(features) != len(data["labels"]) or not np.isfinite(features).all():
        raise ZslbenchError(f"{path}: features {features.shape} are malformed or not finite", "re-extract them")
    return BackboneFeatures(
        features=features.astype(np.float32),
        labels=tuple(str(x) for x in data["labels"]),
        paths=tuple(str(x) for x in data["paths"]),
        backbone=str(data["backbone"]),
        width=float(data["width"]),
        weights_sha256=str(data["weights_sha256"]),
        dataset=str(data["dataset"]),
        clips=json.loads(str(data["clips"])),
        pretraining=Pretraining(
            str(data["pretraining"]), str(data["pretraining_name"]), tuple(str(x) for x in data["pretraining_classes"])
        ),
        failures=dict(zip(map(str, data["failed_paths"]), map(str, data["failed_reasons"]), strict=True)),
    )


def check_clips(features: BackboneFeatures, protocol: Protocol, path: Path) -> None:
    """Features sampled with other clip settings would be scored under a protocol they do not follow."""
    wanted = identity_data(protocol.data)["clips"]
    if identity_data({"clips": features.clips})["clips"] != wanted:  # settings at their old defaults may be left out
        raise ZslbenchError(
            f"{path} was extracted with clip settings {features.clips}, but {protocol.name} samples {wanted}",
            f"extract it again with {named(f'--protocol {protocol.name}', f'protocol={protocol.name!r}')}",
        )


class PooledBackbone(torch.nn.Module):
    """clips [B, clips, 3, T, H, W] -> backbone features averaged over each video's clips [B, F]."""

    def __init__(self, backbone: torch.nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """clips [B, clips, 3, T, H, W] -> backbone features averaged over each video's clips, [B, F]."""
        batch, n_clips = clips.shape[:2]
        return self.backbone(clips.flatten(0, 1)).view(batch, n_clips, -1).mean(dim=1)


@dataclass
class BackboneExtraction:
    """What `zslbench extract --backbone` is asked for: which backbone and initial weights, and which
    dataset's videos to run it on, sampled as the protocol's test clips."""

    backbone: str  # r2plus1d_18 or r3d_18
    dataset: str  # a dataset of the protocol (source or test)
    data: dict[str, Path]  # NAME=manifest or folder
    out: Path
    init: Path | None = None  # a torchvision state dict or a zslbench checkpoint; None: seeded random weights
    width: float | None = None  # default: 1, or the checkpoint's
    pretrained_on: str | None = None  # what the --init weights saw (for the audit)
    protocol: str | Protocol | None = None
    batch_size: int = 8
    workers: int = 0
    device: str = "auto"
    seed: int = 0  # seeds the random backbone when there is no --init
    loading: LoaderOptions = field(default_factory=LoaderOptions)


def extract_backbone_features(
    request: BackboneExtraction, progress=None
) -> tuple[Path | None, BackboneFeatures | None]:
    """Extract, cache and save; returns (path, features) on rank 0, (None, None) on other ranks."""
    from zslbench.core.distributed import setup, teardown
    from zslbench.evaluation.encoder import VideoEncoder
    from zslbench.protocol.spec import load_protocol
    from zslbench.video.normalisation import KINETICS_MEAN, KINETICS_STD
    from zslbench.video.sampler import ClipSpec
    from zslbench.video.sources import check_data_names

    protocol = load_protocol(request.protocol)
    class_list = _dataset_list(protocol, request.dataset)
    check_data_names(request.data, protocol.dataset_names())
    backbone, width, pretraining = _initial_backbone(request)
    context = setup(request.device)
    try:
        identity = _identity(request, backbone, width, protocol)
        clips = ClipSpec.from_protocol(protocol.data["clips"])
        module = PooledBackbone(backbone)
        encoder = VideoEncoder(module, identity, clips, KINETICS_MEAN, KINETICS_STD, context, request.loading)
        records, vectors, failures = encoder.encode(
            class_list, request.data, request.batch_size, request.workers, progress
        )
        if not context.is_main:
            return None, None
        kept = [i for i, v in enumerate(vectors) if v is not None]
        if not kept:
            raise ZslbenchError(
                f"no video of {request.dataset} could be decoded", "run `zslbench data check` on its manifest"
            )
        result = BackboneFeatures(
            features=np.stack([vectors[i] for i in kept]),
            labels=tuple(records[i].label for i in kept),
            paths=tuple(str(records[i].path) for i in kept),
            backbone=request.backbone,
            width=width,
            weights_sha256=identity["model"]["weights_sha256"],
            dataset=class_list.name,
            clips=identity_data(protocol.data)["clips"],
            pretraining=pretraining,
            failures={str(records[i].path): reason for i, reason in failures.items()},
        )
        return result.save(request.out), result
    finally:
        teardown(context)


def _initial_backbone(request: BackboneExtraction) -> tuple[torch.nn.Module, float, Pretraining]:
    """The backbone with its initial weights, its width, and what those weights saw."""
    from zslbench.models.resnet3d import VideoResNet

    state = _checkpoint_or_none(request.init) if request.init is not None else None
    if state is not None:
        width = _checkpoint_width(state, request.backbone, request.width)
    else:  # 0 is not "the default": it is out of range
        width = 1.0 if request.width is None else WIDTH.check(request.width, WIDTH_OPTION)
    torch.manual_seed(request.seed)  # without --init the backbone is random: the same on every run and rank
    try:
        backbone = VideoResNet(request.backbone, width=width)
    except ValueError:
        raise ZslbenchError(f"unknown backbone {request.backbone!r}", "choose r2plus1d_18 or r3d_18") from None
    return backbone, width, _load_init(backbone, request.init, state, request.pretrained_on)


def _identity(request: BackboneExtraction, backbone: torch.nn.Module, width: float, protocol: Protocol) -> dict:
    """Names the features exactly, for the feature cache: weights, output, sampling and decoder."""
    from zslbench.evaluation.encoder import sampling_identity
    from zslbench.models.checkpoint import weights_sha256
    from zslbench.video.normalisation import KINETICS_MEAN, KINETICS_STD

    return {
        "model": {
            "name": f"{request.backbone} backbone",
            "width": width,
            "weights_sha256": weights_sha256(backbone.state_dict()),
        },
        "output": "clip-averaged pooled features",
        **sampling_identity(
            identity_data(protocol.data)["clips"], KINETICS_MEAN, KINETICS_STD, request.loading.decoder
        ),
    }


def _dataset_list(protocol, dataset: str):
    lists = [protocol.source_classes(), *protocol.test_classes()]
    for class_list in lists:
        if class_list.name == dataset:
            return class_list
    names = ", ".join(c.name for c in lists)
    raise ZslbenchError(f"{dataset!r} is not a dataset of {protocol.name}", f"choose from {names}")


def _checkpoint_width(state: dict, backbone_name: str, width: float | None) -> float:
    """A checkpoint fixes the backbone and its width; a different request is an error, not a crash."""
    from zslbench.models import model_spec

    name = state["model"]["name"]
    if state["model"].get("input") == "features":
        raise ZslbenchError(
            f"{INIT} is a checkpoint of {name}, which holds no video backbone", "pass an end-to-end one"
        )
    held = model_spec(name).backbone
    trained = float(state["model"]["options"].get("width", 1.0))
    if held != backbone_name:
        raise ZslbenchError(
            f"{INIT} is a checkpoint of {name}, whose backbone is {held}",
            f"pass {named(f'--backbone {held}', f'backbone={held!r}')}",
        )
    if width is not None and width != trained:
        raise ZslbenchError(
            f"{INIT} holds a backbone of width {trained}, not {width}",
            f"pass {named(f'--width {trained}', f'width={trained}')}",
        )
    return trained


def _load_init(backbone, init: Path | None, state: dict | None, pretrained_on: str | None) -> Pretraining:
    """Load the initial weights; return what they saw, for the compliance audit.

    From a zslbench checkpoint the backbone has seen its training classes and whatever it was itself
    initialised from; a torchvision state dict has seen what --pretrained-on declares.
    """
    from zslbench.models.zeroshot import load_backbone_weights
    from zslbench.protocol.compliance import UNKNOWN, checkpoint_as_init, declare

    seen = Pretraining()
    if state is not None:
        weights = {k.removeprefix("backbone."): v for k, v in state["state_dict"].items() if k.startswith("backbone.")}
        if not weights:
            raise ZslbenchError(f"{init} holds no video backbone", "pass a checkpoint of an end-to-end model")
        backbone.load_state_dict(weights)
        seen = checkpoint_as_init(state, f"{state['model']['name']} checkpoint {Path(init).name}")
    elif init is not None:
        load_backbone_weights(backbone, init)
        seen = Pretraining(UNKNOWN)
    return declare(seen, pretrained_on)


def _checkpoint_or_none(path: Path) -> dict | None:
    """A zslbench checkpoint, or None for anything else (a torchvision state dict, say)."""
    from zslbench.models.checkpoint import load_checkpoint

    try:
        return load_checkpoint(path)
    except ZslbenchError:
        return None
