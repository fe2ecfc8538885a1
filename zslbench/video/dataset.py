"""A torch Dataset of sampled, decoded, transformed clips, and the DataLoader that batches them.

A video that cannot be decoded is never replaced by made-up frames: its item is a `Failure`, the
collate function drops it from the batch and lists it in `batch["failures"]`, so the training loop
and the evaluator can count and report every dropped video, with workers or without.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from zslbench.video.decode import DecodeError, Video
from zslbench.video.manifest import VideoRecord
from zslbench.video.sampler import ClipSampler, ClipSpec, Mode
from zslbench.video.transforms import KINETICS_MEAN, KINETICS_STD, to_clip_tensor


@dataclass(frozen=True)
class Failure:
    index: int
    path: str
    reason: str


class VideoClipDataset(Dataset):
    """Item i: {"clips": float32 [clips, 3, T, crop, crop], "label": int, "index": i}, or a Failure.

    Randomness (clip positions, crops, flips) comes from a generator seeded by (seed, epoch, i), so
    an item is the same whichever worker loads it and a resumed run sees the same clips.
    """

    def __init__(
        self,
        records: Sequence[VideoRecord],
        classes: Sequence[str],
        spec: ClipSpec,
        mode: Mode,
        mean: Sequence[float] = KINETICS_MEAN,
        std: Sequence[float] = KINETICS_STD,
        seed: int = 0,
        decode_threads: int = 1,
    ) -> None:
        self.records = list(records)
        self.class_index = {name: i for i, name in enumerate(classes)}
        unknown = sorted({r.label for r in self.records} - set(self.class_index))
        if unknown:
            raise ValueError(f"labels not among the classes: {unknown[:5]}")
        self.sampler = ClipSampler(spec, mode)
        self.spec = spec
        self.mean, self.std = tuple(mean), tuple(std)
        self.seed = seed
        self.epoch = 0
        self.decode_threads = decode_threads

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any] | Failure:
        record = self.records[index]
        rng = np.random.default_rng([self.seed, self.epoch, index]) if self.sampler.mode == "train" else None
        try:
            video = Video(record.path, self.spec.short_side, threads=self.decode_threads)
            frames = video.read(self.sampler.indices(video.num_frames, rng))
            clips = to_clip_tensor(frames, self.spec.crop, self.mean, self.std, rng)
        except DecodeError as err:
            return Failure(index, str(record.path), err.reason)
        except ValueError as err:  # e.g. frames smaller than the crop
            return Failure(index, str(record.path), str(err))
        return {"clips": clips, "label": self.class_index[record.label], "index": index}


def collate_clips(items: list[dict[str, Any] | Failure]) -> dict[str, Any]:
    """Stack the decoded items; list the failed ones in "failures" (possibly all of them)."""
    good = [item for item in items if not isinstance(item, Failure)]
    failures = [item for item in items if isinstance(item, Failure)]
    return {
        "clips": torch.stack([item["clips"] for item in good]) if good else torch.empty(0),
        "labels": torch.tensor([item["label"] for item in good], dtype=torch.long),
        "indices": torch.tensor([item["index"] for item in good], dtype=torch.long),
        "failures": failures,
    }


def make_loader(
    dataset: VideoClipDataset,
    batch_size: int,
    workers: int = 0,
    shuffle: bool = False,
    sampler: Sampler | None = None,
    seed: int = 0,
) -> DataLoader:
    """A DataLoader with the failure-aware collate. Its own seeded generator drives shuffling and the
    workers' base seed, so loading never draws from (and shifts) torch's global random stream."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        num_workers=workers,
        collate_fn=collate_clips,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=workers > 0,
        generator=generator,
        drop_last=False,
    )
