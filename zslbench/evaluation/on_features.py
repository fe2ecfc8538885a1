"""Evaluating a model of kind `features`: a test dataset's backbone features file through the method.

Features of any other backbone (or other weights of it) are refused, since the method's weights
mean nothing on them; videos that failed at extraction count as failed videos of the record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from zslbench.core.errors import ZslbenchError, named
from zslbench.evaluation.backbone_features import EXTRACT_HINT, check_clips, load_backbone_features
from zslbench.models.checkpoint import load_weights
from zslbench.protocol.spec import Protocol
from zslbench.text.vocab import ClassList
from zslbench.video.manifest import VideoRecord


def load_feature_method(state: dict[str, Any]):
    """The fitted method of a features checkpoint, in eval mode."""
    from zslbench.models import build_feature_method
    from zslbench.models.feature_methods import FeatureInput

    model = state["model"]
    shape = FeatureInput(model["in_dim"], model["n_classes"], state["settings"]["loss"])
    method = build_feature_method(model["name"], model["embed_dim"], shape, **model["options"])
    load_weights(method, state["state_dict"], f"the {model['name']} checkpoint")
    return method.eval()


def embed_feature_file(state: dict[str, Any], protocol: Protocol, test: ClassList, data: dict[str, Path]):
    """(records, embeddings or None per record, failure reason per record index) from the test
    dataset's features file; videos that failed at extraction count as failures here too."""
    if test.name not in data:
        given = named(f"--data {test.name}=FEATURES.npz", f"data={{{test.name!r}: FEATURES.npz}}")
        raise ZslbenchError(f"no {named('--data', 'data entry')} for {test.name}", f"pass {given}; {EXTRACT_HINT}")
    path = data[test.name]
    features = load_backbone_features(path)
    trained = state["backbone"]
    if features.identity != trained:
        raise ZslbenchError(
            f"{path} holds features of {_describe(features.identity)}, but {state['model']['name']} was trained on "
            f"features of {_describe(trained)}",
            "extract the test features with the same "
            + named("--backbone, --init and --width", "backbone, init and width")
            + " as the training features",
        )
    if features.dataset != test.name:
        raise ZslbenchError(f"{path} holds features of {features.dataset}, not {test.name}", EXTRACT_HINT)
    check_clips(features, protocol, path)
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


def _describe(identity: dict[str, Any]) -> str:
    return f"{identity['backbone']} (width {identity['width']:g}, weights {identity['weights_sha256'][:12]})"


def _blocks(features: np.ndarray, size: int = 65_536):
    for start in range(0, len(features), size):
        yield features[start : start + size]
