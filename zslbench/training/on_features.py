"""Training models of kind `features` (DeViSE, ESZSL, ConSE, the frozen head) on backbone features.

Training takes the protocol's source classes (the same rule, the same audit as on videos) from a
features file of the source dataset and writes a small checkpoint with the same metadata as the
end-to-end models, plus the backbone identity and pretraining the features came from (what the
model saw, `protocol.compliance`). Evaluating one is `evaluation.on_features`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from zslbench import __version__
from zslbench.core.errors import ZslbenchError, named
from zslbench.core.hashing import file_fingerprint
from zslbench.evaluation.backbone_features import EXTRACT_HINT, BackboneFeatures, check_clips, load_backbone_features
from zslbench.models.checkpoint import CHECKPOINT, save_checkpoint, weights_sha256
from zslbench.protocol.compliance import declare, training_classes
from zslbench.text.vocab import ClassList
from zslbench.training.config import TrainConfig, TrainResult
from zslbench.training.settings import protocol_reference, resolve_settings

if TYPE_CHECKING:
    from collections.abc import Callable

    from zslbench.models import ModelSpec
    from zslbench.models.feature_methods import FeatureInput, FeatureMethod
    from zslbench.protocol.spec import Protocol

BATCH_SIZE = 256  # videos per step of the SGD methods, unless --batch-size
LR = 1e-3  # Adam, unless --lr
UNUSED_OPTIONS = ("width", "init")  # options of the video models that a method on features ignores


@dataclass
class _Inputs:
    """What a features run fits on, checked: the source features of the training classes."""

    protocol: Protocol
    spec: ModelSpec
    features: BackboneFeatures
    classes: ClassList
    compliance: dict[str, Any]  # the rule's verdict on the training classes
    embedder_id: str
    vectors: np.ndarray  # float32 [classes, embed_dim]: the class vectors
    rows: np.ndarray  # int64 [N]: the features' rows of the training classes
    labels: np.ndarray  # int64 [N]: their class indices
    settings: dict[str, Any]  # loss, seed, epochs, batch_size, lr as asked (the fit may choose epochs)
    options: dict[str, Any]  # the method's options, without those of the video models


@dataclass
class _Fitted:
    method: FeatureMethod
    shape: FeatureInput
    fit: dict[str, Any]  # what fit_method reports, plus its wall-clock "seconds"


def train_on_features(config: TrainConfig, progress: Callable[[dict[str, Any]], None] | None = None) -> TrainResult:
    """`zslbench train --model NAME --features FILE`: fit in one go; returns a TrainResult.

    Raises ZslbenchError on --resume, an existing checkpoint, features of another backbone or clips,
    or a training class without features."""
    if config.resume:
        raise ZslbenchError(
            "a model on features trains in one go; there is nothing to resume",
            f"drop {named('--resume', 'resume=True')}",
        )
    out = Path(config.out)
    if (out / CHECKPOINT).exists():
        raise ZslbenchError(f"{out / CHECKPOINT} exists", f"choose a new {named('--out', 'out')}")
    started = time.perf_counter()
    inputs = _inputs(config)
    fitted = _fit(inputs, progress, started)
    pretraining = declare(inputs.features.pretraining, config.pretrained_on).to_dict()
    data = _failure_verdict(inputs.features, inputs.classes, inputs.rows, inputs.labels, config)
    fitted.fit = {**fitted.fit, "seconds": round(time.perf_counter() - started, 3)}
    save_checkpoint(out / CHECKPOINT, _payload(config, inputs, fitted, pretraining, data))
    fit = fitted.fit
    return TrainResult(
        checkpoint=out / CHECKPOINT,
        epochs=fit.get("epochs", 0),
        steps=fit.get("steps", 0),
        last_loss=fit.get("last_loss", float("nan")),
        classes=len(inputs.classes),
        videos=len(inputs.rows),
        failures=len(inputs.features.failures),
        compliant=inputs.compliance["compliant"],
        stopped_early=False,
        replica_hashes=[weights_sha256(fitted.method.state_dict())[:16]],
        fit=fit,
        complete=data["complete"],
        data=data,
    )


def _inputs(config: TrainConfig) -> _Inputs:
    """The protocol, the features (of the model's backbone, with the protocol's clips), the training
    classes (filtered by the rule or audited) and their rows, and the settings of the fit."""
    from zslbench.models import model_spec
    from zslbench.protocol.spec import load_protocol
    from zslbench.text import load_embedder
    from zslbench.text.class_vectors import embed_class_lists

    protocol = load_protocol(config.protocol)
    spec = model_spec(config.model)
    features = load_backbone_features(config.features)
    _check_backbone(spec, features, config.features)
    check_clips(features, protocol, config.features)
    embedder = load_embedder(protocol.embedding, word_norm=protocol.word_norm)
    classes, compliance = training_classes(protocol, embedder, config.classes, config.allow_overlap)
    rows, labels = _rows_of(features, classes, config.features)
    (vectors,) = embed_class_lists([classes], embedder)
    protocol_settings = resolve_settings(protocol, config)
    settings = {
        "loss": protocol_settings["loss"],
        "seed": protocol_settings["seed"],
        "epochs": config.epochs,
        "batch_size": BATCH_SIZE if config.batch_size is None else config.batch_size,
        "lr": LR if config.lr is None else config.lr,
    }
    return _Inputs(
        protocol=protocol,
        spec=spec,
        features=features,
        classes=classes,
        compliance=compliance,
        embedder_id=embedder.id,
        vectors=vectors.vectors,
        rows=rows,
        labels=labels,
        settings=settings,
        options={k: v for k, v in config.model_options.items() if k not in UNUSED_OPTIONS},
    )


def _fit(inputs: _Inputs, progress: Callable[[dict[str, Any]], None] | None, started: float) -> _Fitted:
    """Build the method (its initial weights follow the seed) and fit it on the training rows."""
    from zslbench.models import build_feature_method
    from zslbench.models.feature_methods import FeatureInput, fit_method

    torch.manual_seed(inputs.settings["seed"])
    shape = FeatureInput(inputs.features.features.shape[1], len(inputs.classes), inputs.settings["loss"])
    method = build_feature_method(inputs.spec.name, inputs.vectors.shape[1], shape, **inputs.options)
    fit = fit_method(
        method,
        features=torch.from_numpy(inputs.features.features[inputs.rows]),
        labels=torch.from_numpy(inputs.labels),
        class_vectors=torch.from_numpy(inputs.vectors),
        settings=inputs.settings,
        progress=_steps(progress, started),
    )
    return _Fitted(method, shape, fit)


def _payload(
    config: TrainConfig, inputs: _Inputs, fitted: _Fitted, pretraining: dict[str, Any], data: dict[str, Any]
) -> dict[str, Any]:
    """The checkpoint: the end-to-end models' metadata, plus the backbone and features it came from."""
    features, fit = inputs.features, fitted.fit
    return {
        "model": _model_entry(inputs, fitted.shape),
        "state_dict": fitted.method.state_dict(),
        "settings": _settings_entry(inputs.settings, fitted.method, fit),
        "fit": fit,
        "protocol": protocol_reference(inputs.protocol),
        "classes": list(inputs.classes.classes),
        "embedder_id": inputs.embedder_id,
        "compliance": {**inputs.compliance, "unseen_classes": []},
        "pretrained_on": pretraining["name"] or None,
        "pretraining": pretraining,
        "backbone": features.identity,
        "features": {
            "path": str(config.features),
            "fingerprint": file_fingerprint(config.features),
            "dataset": features.dataset,
            "videos": len(inputs.rows),
        },
        "failures": dict(features.failures),
        "data": data,
        "epoch": fit.get("epochs", 0),
        "step": 0,
        "global_step": fit.get("steps", 0),
        "finished": True,
        "zslbench_version": __version__,
    }


def _model_entry(inputs: _Inputs, shape: FeatureInput) -> dict[str, Any]:
    """The checkpoint's `model`: name, options (the spec's defaults, then the given ones) and shape."""
    defaults = {k: v for k, v in inputs.spec.options.items() if k not in UNUSED_OPTIONS}
    return {
        "name": inputs.spec.name,
        "options": {**defaults, **inputs.options},
        "embed_dim": int(inputs.vectors.shape[1]),
        "input": "features",
        "in_dim": shape.in_dim,
        "n_classes": shape.n_classes,
    }


def _settings_entry(settings: dict[str, Any], method: FeatureMethod, fit: dict[str, Any]) -> dict[str, Any]:
    """The settings the fit used: a closed-form fit has no optimizer, batch or learning rate."""
    closed_form = method.closed_form
    return {
        **settings,
        "epochs": fit.get("epochs"),
        "loss": method.own_loss or settings["loss"],  # what the method minimised, not the protocol's default
        "optimizer": None if closed_form else "adam",
        "batch_size": None if closed_form else settings["batch_size"],
        "lr": None if closed_form else settings["lr"],
    }


def _check_backbone(spec: ModelSpec, features: BackboneFeatures, path: Path) -> None:
    from zslbench.models import ANY_BACKBONE

    if spec.backbone not in (ANY_BACKBONE, features.backbone):
        raise ZslbenchError(
            f"{path} holds {features.backbone} features, but {spec.name} takes {spec.backbone} features",
            f"extract them with {named(f'--backbone {spec.backbone}', f'backbone={spec.backbone!r}')}, "
            "or choose a model for any backbone (devise, eszsl, conse)",
        )


def _rows_of(features: BackboneFeatures, classes: ClassList, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The rows of the training classes and their class indices; a training class without features
    is an error, since the model would silently train on fewer classes than the protocol says."""
    index = {name: i for i, name in enumerate(classes.classes)}
    present = set(features.labels)
    missing = [name for name in classes.classes if name not in present]
    if missing:
        raise ZslbenchError(
            f"{path} has no features of {len(missing)} of the {len(classes)} training classes, e.g. {missing[0]!r}",
            f"extract features of the whole source dataset ({classes.name}); {EXTRACT_HINT}",
        )
    rows = np.array([i for i, label in enumerate(features.labels) if label in index], dtype=np.int64)
    return rows, np.array([index[features.labels[i]] for i in rows], dtype=np.int64)


def _failure_verdict(
    features: BackboneFeatures, classes: ClassList, rows: np.ndarray, labels: np.ndarray, config: TrainConfig
) -> dict[str, Any]:
    """The failure budget on a features file: every training class has rows (`_rows_of`), and the
    videos that failed at extraction, of unknown class, count against the overall budget as a share
    of the whole file."""
    from zslbench.models.checkpoint import failure_verdict

    counts = np.bincount(labels, minlength=len(classes))
    videos = {name: int(counts[i]) for i, name in enumerate(classes.classes)}
    others = len(features.labels) - len(rows)  # rows of classes outside the training list
    failed = len(features.failures)
    return failure_verdict(
        videos=videos,
        failed=dict.fromkeys(classes.classes, 0),
        seen=set(classes.classes),
        budget=config.failure_budget,
        class_budget=config.class_failure_budget,
        unlabelled=(others + failed, failed),
    )


def _steps(progress: Callable[[dict[str, Any]], None] | None, started: float) -> Callable[..., None] | None:
    """Adapt fit_method's per-step callback to the trainer's progress records (every 10th step)."""
    if progress is None:
        return None
    seen = {"videos": 0}

    def report(epoch: int, step: int, steps: int, videos: int, loss: float) -> None:
        seen["videos"] += videos
        if (step + 1) % 10 and step != steps - 1:
            return
        record = {
            "epoch": epoch + 1,
            "step": step + 1,
            "steps": steps,
            "global_step": epoch * steps + step + 1,
            "loss": loss,
            "clips": seen["videos"],
            "elapsed_s": round(time.perf_counter() - started, 3),
            "failures": 0,
            "unit": "videos",
        }
        progress(record)
        seen["videos"] = 0

    return report
