"""The features file: precomputed video embeddings from any model, scored under a protocol.

An .npz (numpy.savez, no pickled objects) with:
- `embeddings` float [N, D]: video embeddings in the protocol's class-vector space;
- `labels` str [N]: each video's class name (official names of one test dataset);
optional:
- `training_classes` str [K]: what the model was trained on (without it the verdict is `unknown`);
- `pretrained_on` str: the dataset of any initial weights;
- `model` str: a name for the results; `dataset` str: which test dataset the labels belong to;
- `protocol_fingerprint` and `protocol_training_fingerprint` str: the protocol it was extracted under
  (`zslbench extract --weights` writes both); scoring it under a protocol whose training settings
  differ is refused (splits and metrics may change: `Protocol.training_fingerprint`);
- `official_test` bool [splits, N]: which videos each official test split lists (UCF101, HMDB51;
  `zslbench extract` writes it under a protocol with an `official` split, evaluation/official.py);
- a video-text model's class space (`class_space.space_arrays`: `class_space`, `class_names`, and
  `class_texts` [C, templates, D]), its `card` (JSON) and declarations (`image_text`, `finetuned_on`):
  its embeddings then live in its own text space (or are its similarities to each class).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zslbench.core.errors import ZslbenchError
from zslbench.core.npz import read_npz, write_npz


def write_features(
    path: Path,
    embeddings: np.ndarray,
    labels: list[str],
    model: str,
    dataset: str,
    training_classes: list[str] | None,
    pretrained_on: str | None,
    protocol_fingerprint: str | None = None,
    extra: dict[str, Any] | None = None,
    training_fingerprint: str | None = None,
) -> Path:
    """Write a features file atomically; `extra`: more arrays (a video-text model's class space)."""

    arrays: dict[str, Any] = {
        "embeddings": np.asarray(embeddings, dtype=np.float32),
        "labels": np.array(labels, dtype=str),
        "model": np.array(model),
        "dataset": np.array(dataset),
    }
    if training_classes is not None:
        arrays["training_classes"] = np.array(training_classes, dtype=str)
    if pretrained_on:
        arrays["pretrained_on"] = np.array(pretrained_on)
    if protocol_fingerprint:
        arrays["protocol_fingerprint"] = np.array(protocol_fingerprint)
    if training_fingerprint:
        arrays["protocol_training_fingerprint"] = np.array(training_fingerprint)
    return write_npz(path, {**arrays, **(extra or {})})


def read_features(path: Path) -> dict[str, Any]:
    """Read a features file (module docstring): every array, embeddings float32 (float64 kept as is).

    Raises ZslbenchError when it is missing or unreadable, lacks `embeddings` or `labels`, they are not
    [N, D] and [N] with N > 0, the embeddings are not floats, or the labels are not strings."""
    hint = "write one with `zslbench extract`, or numpy.savez (no pickled objects)"
    data = read_npz(path, "features file", hint)
    missing = [key for key in ("embeddings", "labels") if key not in data]
    if missing:
        raise ZslbenchError(
            f"{path} has no {missing[0]!r} array", "it needs embeddings [N, D] and labels [N] (class names)"
        )
    embeddings, labels = data["embeddings"], data["labels"]
    if embeddings.ndim != 2 or labels.ndim != 1 or len(embeddings) != len(labels) or not len(labels):
        raise ZslbenchError(
            f"{path}: embeddings {embeddings.shape} and labels {labels.shape} do not pair up",
            "embeddings must be [N, D] and labels [N], with N > 0",
        )
    if not np.issubdtype(embeddings.dtype, np.floating):  # NaN/inf rows are failed videos when scored
        raise ZslbenchError(f"{path}: embeddings are {embeddings.dtype}, not floats", "write float embeddings")
    if labels.dtype.kind not in "US":
        raise ZslbenchError(
            f"{path}: labels must be class names (strings), got {labels.dtype}",
            "e.g. labels=np.array(['Archery', ...])",
        )
    # float64 stays float64: casting 1e39 to float32 would make an inf (a failed video) of a usable row
    data["embeddings"] = embeddings if embeddings.dtype == np.float64 else embeddings.astype(np.float32)
    return data
