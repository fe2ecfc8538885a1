"""Video embeddings from a model: the protocol's test sampling, batched, failures accounted."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from zslbench.video.dataset import Failure, VideoClipDataset, make_loader
from zslbench.video.manifest import VideoRecord
from zslbench.video.sampler import ClipSpec


@dataclass(frozen=True)
class Embeddings:
    vectors: np.ndarray  # float32 [videos, D], failed videos left out
    labels: np.ndarray  # class index per row
    indices: np.ndarray  # record index per row
    failures: tuple[Failure, ...]


@torch.no_grad()
def iter_embeddings(
    model: torch.nn.Module,
    records: Sequence[VideoRecord],
    classes: Sequence[str],
    spec: ClipSpec,
    mean: Sequence[float],
    std: Sequence[float],
    batch_size: int = 8,
    workers: int = 0,
    device: str | torch.device = "cpu",
) -> Iterator[tuple[np.ndarray, np.ndarray, list[Failure]]]:
    """Per batch: (record indices, float32 embeddings, failures), so callers can store as they go."""
    dataset = VideoClipDataset(records, classes, spec, "test", mean, std, decode_threads=1 if workers else 0)
    model.eval()
    for batch in make_loader(dataset, batch_size, workers):
        vectors = np.zeros((0, 0), np.float32)
        if len(batch["labels"]):
            vectors = model(batch["clips"].to(device)).float().cpu().numpy()
        yield batch["indices"].numpy(), vectors, list(batch["failures"])


def embed_videos(model, records, classes, spec, mean, std, batch_size=8, workers=0, device="cpu") -> Embeddings:
    """All of `records` at once (no cache): the laptop check and small jobs."""
    index = {name: i for i, name in enumerate(classes)}
    vectors, rows, failures = [], [], []
    for indices, batch, failed in iter_embeddings(
        model, records, classes, spec, mean, std, batch_size, workers, device
    ):
        failures += failed
        if len(indices):
            vectors.append(batch)
            rows.append(indices)
    rows_all = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    labels = np.array([index[records[i].label] for i in rows_all], dtype=np.int64)
    dim = vectors[0].shape[1] if vectors else 0
    return Embeddings(
        np.concatenate(vectors) if vectors else np.zeros((0, dim), np.float32), labels, rows_all, tuple(failures)
    )
