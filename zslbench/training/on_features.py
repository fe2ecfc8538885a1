"""Training and evaluating models of kind `features` on backbone features files.

Training takes the protocol's source classes (the same rule, the same audit as on videos) from a
features file of the source dataset and writes a small checkpoint with the same metadata as the
end-to-end models, plus the backbone identity and pretraining the features came from. Evaluation
maps a test dataset's features file through the method; features of any other backbone (or other
weights of it) are refused, since the method's weights mean nothing on them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zslbench import __version__
from zslbench.core.errors import ZslbenchError
from zslbench.core.hashing import file_fingerprint
from zslbench.evaluation.backbone_features import BackboneFeatures, load_backbone_features
from zslbench.models.checkpoint import CHECKPOINT, save_checkpoint, weights_sha256
from zslbench.protocol.spec import Protocol
from zslbench.text.vocab import ClassList
from zslbench.video.manifest import VideoRecord

BATCH_SIZE = 256  # videos per step of the SGD methods, unless --batch-size
LR = 1e-3  # Adam, unless --lr
EXTRACT_HINT = "write one with `zslbench extract --backbone r2plus1d_18 --init WEIGHTS --data NAME=ROOT --out F.npz`"


def train_on_features(config, progress=None):
    """`zslbench train --model NAME --features FILE`: fit in one go; returns a TrainResult."""
    from zslbench.models import build_feature_method, model_spec
    from zslbench.models.feature_methods import FeatureInput, fit_method
    from zslbench.protocol.spec import load_protocol
    from zslbench.text import load_embedder
    from zslbench.text.class_vectors import embed_class_lists
    from zslbench.training.trainer import TrainResult, _training_classes, protocol_reference, resolve_settings

    if config.resume:
        raise ZslbenchError("a model on features trains in one go; there is nothing to resume", "drop --resume")
    out = Path(config.out)
    if (out / CHECKPOINT).exists():
        raise ZslbenchError(f"{out / CHECKPOINT} exists", "choose a new --out")
    started = time.perf_counter()
    protocol = load_protocol(config.protocol)
    spec = model_spec(config.model)
    features = load_backbone_features(config.features)
    _check_backbone(spec, features, config.features)
    _check_clips(features, protocol, config.features)
    embedder = load_embedder(protocol.embedding, word_norm=protocol.word_norm)
    classes, compliance = _training_classes(protocol, config, embedder)
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
    options = {k: v for k, v in config.model_options.items() if k not in ("width", "init")}
    torch.manual_seed(settings["seed"])
    shape = FeatureInput(features.features.shape[1], len(classes), settings["loss"])
    method = build_feature_method(spec.name, vectors.vectors.shape[1], shape, **options)
    fit = fit_method(
        method, torch.from_numpy(features.features[rows]), torch.from_numpy(labels),
        torch.from_numpy(vectors.vectors), settings, _steps(progress, started),
    )  # fmt: skip
    pretraining = _pretraining(features, config.pretrained_on)
    data = _failure_verdict(features, classes, rows, labels, config)
    payload = {
        "model": {
            "name": spec.name,
            "options": {**{k: v for k, v in spec.options.items() if k not in ("width", "init")}, **options},
            "embed_dim": int(vectors.vectors.shape[1]),
            "input": "features",
            "in_dim": shape.in_dim,
            "n_classes": shape.n_classes,
        },
        "state_dict": method.state_dict(),
        "settings": {
            **settings,
            "epochs": fit.get("epochs"),
            "loss": method.own_loss or settings["loss"],  # what the method minimised, not the protocol's default
            "optimizer": None if method.closed_form else "adam",
            "batch_size": None if method.closed_form else settings["batch_size"],
            "lr": None if method.closed_form else settings["lr"],
        },
        "fit": {**fit, "seconds": round(time.perf_counter() - started, 3)},
        "protocol": protocol_reference(protocol),
        "classes": list(classes.classes),
        "embedder_id": embedder.id,
        "compliance": {**compliance, "unseen_classes": []},
        "pretrained_on": pretraining["name"] or None,
        "pretraining": pretraining,
        "backbone": features.identity,
        "features": {
            "path": str(config.features),
            "fingerprint": file_fingerprint(config.features),
            "dataset": features.dataset,
            "videos": len(rows),
        },
        "failures": dict(features.failures),
        "data": data,
        "epoch": fit.get("epochs", 0),
        "step": 0,
        "global_step": fit.get("steps", 0),
        "finished": True,
        "zslbench_version": __version__,
    }
    save_checkpoint(out / CHECKPOINT, payload)
    return TrainResult(
        out / CHECKPOINT, fit.get("epochs", 0), fit.get("steps", 0), fit.get("last_loss", float("nan")), len(classes),
        len(rows), len(features.failures), compliance["compliant"], False, [weights_sha256(method.state_dict())[:16]],
        payload["fit"], data["complete"], data,
    )  # fmt: skip


def load_feature_method(state: dict[str, Any]):
    """The fitted method of a features checkpoint, in eval mode."""
    from zslbench.models import build_feature_method
    from zslbench.models.feature_methods import FeatureInput

    model = state["model"]
    shape = FeatureInput(model["in_dim"], model["n_classes"], state["settings"]["loss"])
    method = build_feature_method(model["name"], model["embed_dim"], shape, **model["options"])
    method.load_state_dict(state["state_dict"])
    return method.eval()


def embed_feature_file(state: dict[str, Any], protocol: Protocol, test: ClassList, data: dict[str, Path]):
    """(records, embeddings or None per record, failure reason per record index) from the test
    dataset's features file; videos that failed at extraction count as failures here too."""
    if test.name not in data:
        raise ZslbenchError(f"no --data for {test.name}", f"pass --data {test.name}=FEATURES.npz; {EXTRACT_HINT}")
    path = data[test.name]
    features = load_backbone_features(path)
    trained = state["backbone"]
    if features.identity != trained:
        raise ZslbenchError(
            f"{path} holds features of {_describe(features.identity)}, but {state['model']['name']} was trained on "
            f"features of {_describe(trained)}",
            "extract the test features with the same --backbone, --init and --width as the training features",
        )
    if features.dataset != test.name:
        raise ZslbenchError(f"{path} holds features of {features.dataset}, not {test.name}", EXTRACT_HINT)
    _check_clips(features, protocol, path)
    unknown = sorted(set(features.labels) - set(test.classes))
    if unknown:
        raise ZslbenchError(
            f"{path}: {len(unknown)} label(s) are not {test.name} classes, e.g. {unknown[0]!r}",
            "extract it again from the dataset's manifest",
        )
    method = load_feature_method(state)
    with torch.no_grad():
        embedded = torch.cat([method(torch.from_numpy(block)) for block in _blocks(features.features)]).numpy()
    records = [VideoRecord(Path(p), label) for p, label in zip(features.paths, features.labels, strict=True)]
    vectors: list[np.ndarray | None] = list(embedded)
    failures = {}
    for failed, reason in features.failures.items():
        failures[len(records)] = f"at extraction: {reason}"
        records.append(VideoRecord(Path(failed), ""))
        vectors.append(None)
    return records, vectors, failures


def _check_backbone(spec, features: BackboneFeatures, path: Path) -> None:
    from zslbench.models import ANY_BACKBONE

    if spec.backbone not in (ANY_BACKBONE, features.backbone):
        raise ZslbenchError(
            f"{path} holds {features.backbone} features, but {spec.name} takes {spec.backbone} features",
            f"extract them with --backbone {spec.backbone}, or choose a model for any backbone (devise, eszsl, conse)",
        )


def _check_clips(features: BackboneFeatures, protocol: Protocol, path: Path) -> None:
    if features.clips != protocol.data["clips"]:
        raise ZslbenchError(
            f"{path} was extracted with clip settings {features.clips}, but {protocol.name} samples "
            f"{protocol.data['clips']}",
            f"extract it again with --protocol {protocol.name}",
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


def _failure_verdict(features: BackboneFeatures, classes: ClassList, rows, labels, config) -> dict[str, Any]:
    """The failure budget on a features file: every training class has rows (`_rows_of`), and the
    videos that failed at extraction, of unknown class, count against the overall budget as a share
    of the whole file."""
    from zslbench.models.checkpoint import failure_verdict

    counts = np.bincount(labels, minlength=len(classes))
    videos = {name: int(counts[i]) for i, name in enumerate(classes.classes)}
    others = len(features.labels) - len(rows)  # rows of classes outside the training list
    failed = len(features.failures)
    return failure_verdict(
        videos, dict.fromkeys(classes.classes, 0), set(classes.classes), config.failure_budget,
        config.class_failure_budget, (others + failed, failed),
    )  # fmt: skip


def _pretraining(features: BackboneFeatures, declared: str | None) -> dict[str, Any]:
    """What the backbone saw before, from the features file, or from --pretrained-on when the file
    does not know (the user declares it, as at extraction)."""
    from zslbench.text.vocab import load_class_list

    if declared:
        listed = load_class_list(declared)
        classes = tuple(dict.fromkeys((*features.pretraining_classes, *listed.classes)))
        return {"status": "classes", "name": listed.name, "classes": list(classes)}
    return {
        "status": features.pretraining,
        "name": features.pretraining_name,
        "classes": list(features.pretraining_classes),
    }


def _describe(identity: dict[str, Any]) -> str:
    return f"{identity['backbone']} (width {identity['width']:g}, weights {identity['weights_sha256'][:12]})"


def _blocks(features: np.ndarray, size: int = 65_536):
    for start in range(0, len(features), size):
        yield features[start : start + size]


def _steps(progress, started: float):
    """Adapt fit_method's per-step callback to the trainer's progress records (every 10th step)."""
    if progress is None:
        return None
    seen = {"videos": 0}

    def report(epoch: int, step: int, steps: int, videos: int, loss: float) -> None:
        seen["videos"] += videos
        if (step + 1) % 10 and step != steps - 1:
            return
        progress({
            "epoch": epoch + 1, "step": step + 1, "steps": steps, "global_step": epoch * steps + step + 1,
            "loss": loss, "clips": seen["videos"], "elapsed_s": round(time.perf_counter() - started, 3),
            "failures": 0, "unit": "videos",
        })  # fmt: skip
        seen["videos"] = 0

    return report
