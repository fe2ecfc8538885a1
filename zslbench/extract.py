"""Video embeddings from a model: the protocol's test sampling, batched, failures accounted."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from zslbench.video.dataset import Failure, VideoClipDataset, make_loader
from zslbench.video.manifest import VideoRecord
from zslbench.video.sampler import ClipSpec


@dataclass(frozen=True)
class Embeddings:
    vectors: np.ndarray  # float32 [videos, D], in record order, failed videos left out
    labels: np.ndarray  # class index per row
    indices: np.ndarray  # record index per row
    failures: tuple[Failure, ...]


@torch.no_grad()
def embed_videos(
    model: torch.nn.Module,
    records: Sequence[VideoRecord],
    classes: Sequence[str],
    spec: ClipSpec,
    mean: Sequence[float],
    std: Sequence[float],
    batch_size: int = 8,
    workers: int = 0,
    device: str | torch.device = "cpu",
    progress: Callable[[int], None] | None = None,
) -> Embeddings:
    dataset = VideoClipDataset(records, classes, spec, "test", mean, std, decode_threads=1 if workers else 0)
    model.eval()
    vectors, labels, indices, failures = [], [], [], []
    for batch in make_loader(dataset, batch_size, workers):
        failures += batch["failures"]
        if len(batch["labels"]):
            vectors.append(model(batch["clips"].to(device)).float().cpu().numpy())
            labels.append(batch["labels"].numpy())
            indices.append(batch["indices"].numpy())
        if progress:
            progress(len(batch["labels"]) + len(batch["failures"]))
    dim = getattr(getattr(model, "fc", None), "out_features", 0)
    return Embeddings(
        np.concatenate(vectors) if vectors else np.zeros((0, dim), np.float32),
        np.concatenate(labels) if labels else np.zeros(0, np.int64),
        np.concatenate(indices) if indices else np.zeros(0, np.int64),
        tuple(failures),
    )
