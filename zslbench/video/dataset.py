"""A torch Dataset of sampled, decoded, cropped clips, and the DataLoader that batches them.

Items stay uint8: the device converts and normalises them (`transforms.to_model_input`), so a clip
crosses the process boundary in a quarter of the bytes. A video that cannot be decoded is never
replaced by made-up frames: its item is a `Failure`, the collate function drops it from the batch
and lists it in `batch["failures"]`, so the training loop and the evaluator can count and report
every dropped video, with workers or without. `batch["decoders"]` says how each video was read.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from zslbench.video.decode import DEFAULT_BACKEND, DecodeError, Video
from zslbench.video.manifest import VideoRecord
from zslbench.video.sampler import ClipSampler, ClipSpec, Mode
from zslbench.video.transforms import crop_clips, crop_views, resize_like_reference


@dataclass(frozen=True)
class Failure:
    """Item `index` of a dataset whose video could not be decoded: its path and a one-line reason."""

    index: int
    path: str
    reason: str


class VideoClipDataset(Dataset):
    """Item i: {"clips": uint8 [clips, T, crop, crop, 3], "label": int, "index": i, "decoder": str},
    or a Failure. Testing with `clips.test_crops: 3`, "clips" is [clips x 3, T, crop, crop, 3]: clip-major,
    then the left / top, centre and right / bottom crop (`transforms.crop_views`). With `clips.resize:
    torch_bilinear` the clips are float32 in [0, 1] (the reference's resize makes fractional pixels).
    "decoder" names how the video was read: "seek" or "sequential" (the exact reader), "decord", or a
    fallback such as "decord->sequential".

    Randomness (clip positions, crops, flips) comes from a generator seeded by (seed, epoch, i), so
    an item is the same whichever worker loads it and a resumed run sees the same clips.
    `backend`: a name of `decode.BACKENDS`; decord only on a manifest verified for it.
    """

    def __init__(
        self,
        records: Sequence[VideoRecord],
        classes: Sequence[str],
        spec: ClipSpec,
        mode: Mode,
        seed: int = 0,
        decode_threads: int = 1,
        backend: str = DEFAULT_BACKEND,
    ) -> None:
        self.records = list(records)
        self.class_index = {name: i for i, name in enumerate(classes)}
        unknown = sorted({r.label for r in self.records} - set(self.class_index))
        if unknown:
            raise ValueError(f"labels not among the classes: {unknown[:5]}")
        self.sampler = ClipSampler(spec, mode)
        self.spec = spec
        self.seed = seed
        self.backend = backend
        self.epoch = 0
        self.decode_threads = decode_threads

    def set_epoch(self, epoch: int) -> None:
        """Use `epoch` in the per-item random seed, so each training epoch draws new clips and crops."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any] | Failure:
        record = self.records[index]
        rng = np.random.default_rng([self.seed, self.epoch, index]) if self.sampler.mode == "train" else None
        try:
            frames, decoder = self._read(record.path, rng)
            clips = self._crop(frames, rng)
        except DecodeError as err:
            return Failure(index, str(record.path), err.reason)
        except ValueError as err:  # e.g. frames smaller than the crop
            return Failure(index, str(record.path), str(err))
        return {
            "clips": torch.from_numpy(clips),
            "label": self.class_index[record.label],
            "index": index,
            "decoder": decoder,
        }

    def _crop(self, frames: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        """[clips, T, H, W, 3] -> the item's clips: random crops and flips (training), the test crops."""
        if self.sampler.mode == "test":
            return crop_views(frames, self.spec.crop, self.spec.test_crops, self.spec.crop_rounding)
        per_video = self.spec.train_augment == "per_video"
        return crop_clips(frames, self.spec.crop, rng, self.spec.crop_rounding, per_video)

    def _read(self, path, rng: np.random.Generator | None) -> tuple[np.ndarray, str]:
        """The sampled frames (resized, with `clips.resize: torch_bilinear`), and how they were read;
        decord falls back to the exact reader per video. The exact reader resizes each frame as it
        keeps it, so a large video's full-size frames are never all held at once."""
        short_side, threads = self.spec.decoder_short_side, self.decode_threads
        rounding = self.spec.resize_rounding
        resize = None
        if self.spec.resize == "torch_bilinear":
            resize = functools.partial(resize_like_reference, short_side=self.spec.short_side, rounding=rounding)
        if self.backend == "decord":
            from zslbench.video.decord_reader import DecordVideo

            try:
                video = DecordVideo(path, short_side, rounding=rounding)
                frames = video.read(self.sampler.indices(video.num_frames, rng))
                return (resize(frames) if resize else frames), "decord"
            except DecodeError:
                exact = Video(path, short_side, threads, rounding=rounding)  # a broken file raises its own reason
                frames = exact.read(self.sampler.indices(exact.num_frames, rng), resize)
                return frames, f"decord->{exact.mode}"
        video = Video(path, short_side, threads, sequential=self.backend == "pyav-sequential", rounding=rounding)
        frames = video.read(self.sampler.indices(video.num_frames, rng), resize)
        return frames, "seek->sequential" if video.fallbacks else video.mode


def collate_clips(items: list[dict[str, Any] | Failure]) -> dict[str, Any]:
    """Stack the decoded items; list the failed ones in "failures" (possibly all of them)."""
    good = [item for item in items if not isinstance(item, Failure)]
    failures = [item for item in items if isinstance(item, Failure)]
    return {
        "clips": torch.stack([item["clips"] for item in good]) if good else torch.empty(0),
        "labels": torch.tensor([item["label"] for item in good], dtype=torch.long),
        "indices": torch.tensor([item["index"] for item in good], dtype=torch.long),
        "decoders": [item["decoder"] for item in good],
        "failures": failures,
    }


@dataclass(frozen=True)
class LoaderOptions:
    """How videos are read (`decoder`, a name of `decode.BACKENDS`) and how batches travel: pinned
    memory (None: when CUDA is there), workers kept across epochs, and batches each worker prepares
    ahead (torch's prefetch_factor)."""

    decoder: str = DEFAULT_BACKEND
    pin_memory: bool | None = None
    persistent_workers: bool = True
    prefetch: int = 2


def make_loader(
    dataset: VideoClipDataset,
    batch_size: int,
    workers: int = 0,
    shuffle: bool = False,
    sampler: Sampler | None = None,
    seed: int = 0,
    options: LoaderOptions | None = None,
) -> DataLoader:
    """A DataLoader with the failure-aware collate. Its own seeded generator drives shuffling and the
    workers' base seed, so loading never draws from (and shifts) torch's global random stream."""
    options = options or LoaderOptions()
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        num_workers=workers,
        collate_fn=collate_clips,
        pin_memory=torch.cuda.is_available() if options.pin_memory is None else options.pin_memory,
        persistent_workers=workers > 0 and options.persistent_workers,
        prefetch_factor=options.prefetch if workers > 0 else None,
        generator=generator,
        drop_last=False,
    )
