"""Video embeddings from a model: the protocol's test sampling, batched, failures accounted."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from zslbench.video.dataset import Failure, LoaderOptions, VideoClipDataset, make_loader
from zslbench.video.manifest import VideoRecord
from zslbench.video.sampler import ClipSpec
from zslbench.video.transforms import to_model_input


@dataclass(frozen=True)
class Embeddings:
    """Video embeddings float32 [videos, D] (failed videos left out), each row's class and record index,
    and the failures."""

    vectors: np.ndarray  # float32 [videos, D], failed videos left out
    labels: np.ndarray  # class index per row
    indices: np.ndarray  # record index per row
    failures: tuple[Failure, ...]


@dataclass(frozen=True)
class Batch:
    """One batch of embeddings: record indices, float32 [n, D], the failures, and how each was read."""

    indices: np.ndarray
    vectors: np.ndarray
    failures: list[Failure]
    decoders: list[str]


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
    loading: LoaderOptions | None = None,
) -> Iterator[Batch]:
    """One `Batch` at a time, so callers can store as they go. Clips travel as uint8 and are
    normalised on `device`."""
    loading = loading or LoaderOptions()
    dataset = VideoClipDataset(
        records, classes, spec, "test", decode_threads=1 if workers else 0, backend=loading.decoder
    )
    model.eval()
    for batch in make_loader(dataset, batch_size, workers, options=loading):
        vectors = np.zeros((0, 0), np.float32)
        if len(batch["labels"]):
            clips = to_model_input(batch["clips"].to(device, non_blocking=True), mean, std)
            vectors = model(clips).float().cpu().numpy()
        yield Batch(batch["indices"].numpy(), vectors, list(batch["failures"]), list(batch["decoders"]))


def embed_videos(model, records, classes, spec, mean, std, batch_size=8, workers=0, device="cpu") -> Embeddings:
    """All of `records` at once (no cache): the laptop check and small jobs."""
    index = {name: i for i, name in enumerate(classes)}
    vectors, rows, failures = [], [], []
    for batch in iter_embeddings(model, records, classes, spec, mean, std, batch_size, workers, device):
        failures += batch.failures
        if len(batch.indices):
            vectors.append(batch.vectors)
            rows.append(batch.indices)
    rows_all = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    labels = np.array([index[records[i].label] for i in rows_all], dtype=np.int64)
    dim = vectors[0].shape[1] if vectors else 0
    return Embeddings(
        np.concatenate(vectors) if vectors else np.zeros((0, dim), np.float32), labels, rows_all, tuple(failures)
    )
