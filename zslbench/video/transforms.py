"""From decoded uint8 frames to the model's input, in two halves split across the process boundary.

In the loader workers, `crop_clips` takes a random crop and a random horizontal flip per clip for
training, the centre crop for testing, and stays uint8: a clip crosses to the main process in a
quarter of the bytes of float32. On the device, `to_model_input` converts to float, normalises and
puts channels first. Every frame of a clip shares its crop and flip, so motion is not distorted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from zslbench.video.normalisation import KINETICS_MEAN, KINETICS_STD

if TYPE_CHECKING:
    import torch


def crop_offsets(height: int, width: int, crop: int, rng: np.random.Generator | None) -> tuple[int, int]:
    """Top-left corner of a `crop` x `crop` window: random with `rng`, centred without."""
    if height < crop or width < crop:
        raise ValueError(f"frames of {width}x{height} are smaller than the {crop}x{crop} crop")
    if rng is None:
        return (height - crop) // 2, (width - crop) // 2
    return int(rng.integers(0, height - crop + 1)), int(rng.integers(0, width - crop + 1))


def crop_clips(frames: np.ndarray, crop: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """uint8 [clips, T, H, W, 3] -> uint8 [clips, T, crop, crop, 3]; `rng` given: train augmentation."""
    clips = []
    for clip in frames:
        top, left = crop_offsets(clip.shape[1], clip.shape[2], crop, rng)
        window = clip[:, top : top + crop, left : left + crop]
        if rng is not None and rng.random() < 0.5:
            window = window[:, :, ::-1]
        clips.append(window)
    return np.ascontiguousarray(np.stack(clips))


def to_model_input(
    clips: torch.Tensor,
    mean: Sequence[float] = KINETICS_MEAN,
    std: Sequence[float] = KINETICS_STD,
    channels_last: bool = False,
) -> torch.Tensor:
    """uint8 [..., T, H, W, 3] -> float32 [..., 3, T, H, W], scaled to [0, 1] and normalised, on the
    clips' own device. `channels_last`: the channels_last_3d memory layout (faster convolutions on CUDA)."""
    import torch

    batch = clips.movedim(-1, -4).float().div_(255.0)
    shape = (3, 1, 1, 1)
    batch = batch.sub_(torch.tensor(mean, device=batch.device).view(shape))
    batch = batch.div_(torch.tensor(std, device=batch.device).view(shape))
    if channels_last:
        flat = batch.reshape(-1, *batch.shape[-4:]).contiguous(memory_format=torch.channels_last_3d)
        batch = flat.view(batch.shape) if batch.dim() == 5 else flat.unflatten(0, batch.shape[:-4])
    return batch


def to_clip_tensor(
    frames: np.ndarray,
    crop: int,
    mean: Sequence[float] = KINETICS_MEAN,
    std: Sequence[float] = KINETICS_STD,
    rng: np.random.Generator | None = None,
) -> torch.Tensor:
    """uint8 [clips, T, H, W, 3] -> float32 [clips, 3, T, crop, crop]: both halves in one process."""
    import torch

    return to_model_input(torch.from_numpy(crop_clips(frames, crop, rng)), mean, std)
