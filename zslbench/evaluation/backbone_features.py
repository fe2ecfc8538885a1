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

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zslbench.core.atomic import write_bytes
from zslbench.core.bounds import WIDTH
from zslbench.core.errors import ZslbenchError
from zslbench.video.dataset import LoaderOptions

KIND = "zslbench-backbone-features-v1"


@dataclass(frozen=True)
class BackboneFeatures:
    features: np.ndarray  # float32 [N, F]
    labels: tuple[str, ...]
    paths: tuple[str, ...]
    backbone: str
    width: float
    weights_sha256: str
    dataset: str
    clips: dict[str, Any]
    pretraining: str  # none | unknown | classes
    pretraining_name: str = ""
    pretraining_classes: tuple[str, ...] = ()
    failures: dict[str, str] = field(default_factory=dict)  # path -> reason

    @property
    def identity(self) -> dict[str, Any]:
        """What a method trained on these features expects of any features it is evaluated on."""
        return {"backbone": self.backbone, "width": self.width, "weights_sha256": self.weights_sha256}

    def save(self, path: Path) -> Path:
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
            "pretraining": np.array(self.pretraining),
            "pretraining_name": np.array(self.pretraining_name),
            "pretraining_classes": np.array(self.pretraining_classes, dtype=str),
        }
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        write_bytes(path, buffer.getvalue())
        return path


def load_backbone_features(path: Path | str) -> BackboneFeatures:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            data = {key: archive[key] for key in archive.files}
    except FileNotFoundError:
        raise ZslbenchError(
            f"features file {path} does not exist", "write one with `zslbench extract --backbone`"
        ) from None
    except (OSError, ValueError) as err:
        raise ZslbenchError(
            f"cannot read {path} as .npz: {str(err)[:120]}", "write it with `zslbench extract --backbone`"
        ) from None
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
        pretraining=str(data["pretraining"]),
        pretraining_name=str(data["pretraining_name"]),
        pretraining_classes=tuple(str(x) for x in data["pretraining_classes"]),
        failures=dict(zip(map(str, data["failed_paths"]), map(str, data["failed_reasons"]), strict=True)),
    )


class PooledBackbone(torch.nn.Module):
    """clips [B, clips, 3, T, H, W] -> backbone features averaged over each video's clips [B, F]."""

    def __init__(self, backbone: torch.nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        batch, n_clips = clips.shape[:2]
        return self.backbone(clips.flatten(0, 1)).view(batch, n_clips, -1).mean(dim=1)


def extract_backbone_features(
    backbone_name: str,
    init: Path | None,
    width: float | None,
    pretrained_on: str | None,
    protocol_ref: str | None,
    dataset: str,
    data: dict[str, Path],
    out: Path,
    batch_size: int = 8,
    workers: int = 0,
    device: str = "auto",
    progress=None,
    seed: int = 0,
    loading: LoaderOptions | None = None,
) -> tuple[Path | None, BackboneFeatures | None]:
    """Extract, cache and save; returns (path, features) on rank 0, (None, None) on other ranks."""
    from zslbench.core.distributed import setup, teardown
    from zslbench.evaluation.encoder import VideoEncoder, sampling_identity
    from zslbench.models.checkpoint import weights_sha256
    from zslbench.models.resnet3d import VideoResNet
    from zslbench.protocol.spec import load_protocol
    from zslbench.video.sampler import ClipSpec
    from zslbench.video.transforms import KINETICS_MEAN, KINETICS_STD

    protocol = load_protocol(protocol_ref)
    class_list = _dataset_list(protocol, dataset)
    state = _checkpoint_or_none(init) if init is not None else None
    if state is not None:
        width = _checkpoint_width(state, backbone_name, width)
    else:  # 0 is not "the default": it is out of range
        width = 1.0 if width is None else WIDTH.check(width, "--width")
    torch.manual_seed(seed)  # without --init the backbone is random: the same on every run and rank
    try:
        backbone = VideoResNet(backbone_name, width=width)
    except ValueError:
        raise ZslbenchError(f"unknown backbone {backbone_name!r}", "choose r2plus1d_18 or r3d_18") from None
    pretraining, name, classes = _load_init(backbone, init, state, pretrained_on)
    context = setup(device)
    try:
        identity = {
            "model": {
                "name": f"{backbone_name} backbone",
                "width": width,
                "weights_sha256": weights_sha256(backbone.state_dict()),
            },
            "output": "clip-averaged pooled features",
            **sampling_identity(
                protocol.data["clips"], KINETICS_MEAN, KINETICS_STD, (loading or LoaderOptions()).decoder
            ),
        }
        clips = ClipSpec.from_protocol(protocol.data["clips"])
        encoder = VideoEncoder(PooledBackbone(backbone), identity, clips, KINETICS_MEAN, KINETICS_STD, context, loading)
        records, vectors, failures = encoder.encode(class_list, data, batch_size, workers, progress)
        if not context.is_main:
            return None, None
        kept = [i for i, v in enumerate(vectors) if v is not None]
        if not kept:
            raise ZslbenchError(f"no video of {dataset} could be decoded", "run `zslbench data check` on its manifest")
        result = BackboneFeatures(
            features=np.stack([vectors[i] for i in kept]),
            labels=tuple(records[i].label for i in kept),
            paths=tuple(str(records[i].path) for i in kept),
            backbone=backbone_name,
            width=width,
            weights_sha256=identity["model"]["weights_sha256"],
            dataset=class_list.name,
            clips=protocol.data["clips"],
            pretraining=pretraining,
            pretraining_name=name,
            pretraining_classes=classes,
            failures={str(records[i].path): reason for i, reason in failures.items()},
        )
        return result.save(out), result
    finally:
        teardown(context)


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
            f"--init is a checkpoint of {name}, which holds no video backbone", "pass an end-to-end one"
        )
    held = model_spec(name).backbone
    trained = float(state["model"]["options"].get("width", 1.0))
    if held != backbone_name:
        raise ZslbenchError(f"--init is a checkpoint of {name}, whose backbone is {held}", f"pass --backbone {held}")
    if width is not None and width != trained:
        raise ZslbenchError(f"--init holds a backbone of width {trained}, not {width}", f"pass --width {trained}")
    return trained


def _load_init(backbone, init: Path | None, state: dict | None, pretrained_on: str | None):
    """Load the initial weights; (pretraining status, name, classes) for the compliance audit.

    From a zslbench checkpoint the backbone has seen its training classes and whatever it was itself
    initialised from; a torchvision state dict has seen what --pretrained-on declares.
    """
    from zslbench.models.checkpoint import pretraining_of
    from zslbench.models.zeroshot import load_backbone_weights
    from zslbench.text.vocab import load_class_list

    status, name, classes = "none", "", ()
    if state is not None:
        weights = {k.removeprefix("backbone."): v for k, v in state["state_dict"].items() if k.startswith("backbone.")}
        if not weights:
            raise ZslbenchError(f"{init} holds no video backbone", "pass a checkpoint of an end-to-end model")
        backbone.load_state_dict(weights)
        status, _, earlier = pretraining_of(state)
        classes = tuple(dict.fromkeys((*earlier, *state["classes"])))
        name = f"{state['model']['name']} checkpoint {Path(init).name}"
        status = "unknown" if status == "unknown" else "classes"
    elif init is not None:
        load_backbone_weights(backbone, init)
        status = "unknown"
    if pretrained_on:  # declared by the user: the weights' pretraining is these classes
        listed = load_class_list(pretrained_on)
        return "classes", listed.name, tuple(dict.fromkeys((*classes, *listed.classes)))
    return status, name, classes


def _checkpoint_or_none(path: Path) -> dict | None:
    """A zslbench checkpoint, or None for anything else (a torchvision state dict, say)."""
    from zslbench.models.checkpoint import load_checkpoint

    try:
        return load_checkpoint(path)
    except ZslbenchError:
        return None
