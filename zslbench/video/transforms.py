"""From decoded uint8 frames to the model's input: crop, flip, normalise, channels first.

Training takes a random crop and a random horizontal flip per clip; testing takes the centre crop.
Every frame of a clip shares its crop and flip, so motion is not distorted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

# The normalisation of torchvision's Kinetics-400 video models; models may declare their own.
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)


def crop_offsets(height: int, width: int, crop: int, rng: np.random.Generator | None) -> tuple[int, int]:
    """Top-left corner of a `crop` x `crop` window: random with `rng`, centred without."""
    if height < crop or width < crop:
        raise ValueError(f"frames of {width}x{height} are smaller than the {crop}x{crop} crop")
    if rng is None:
        return (height - crop) // 2, (width - crop) // 2
    return int(rng.integers(0, height - crop + 1)), int(rng.integers(0, width - crop + 1))


def to_clip_tensor(
    frames: np.ndarray,
    crop: int,
    mean: Sequence[float] = KINETICS_MEAN,
    std: Sequence[float] = KINETICS_STD,
    rng: np.random.Generator | None = None,
) -> torch.Tensor:
    """uint8 [clips, T, H, W, 3] -> float32 [clips, 3, T, crop, crop]; `rng` given: train augmentation."""
    import torch

    clips = []
    for clip in frames:
        top, left = crop_offsets(clip.shape[1], clip.shape[2], crop, rng)
        window = clip[:, top : top + crop, left : left + crop]
        if rng is not None and rng.random() < 0.5:
            window = window[:, :, ::-1]
        clips.append(window)
    batch = torch.from_numpy(np.ascontiguousarray(np.stack(clips))).permute(0, 4, 1, 2, 3).float().div_(255.0)
    shape = (1, 3, 1, 1, 1)
    return batch.sub_(torch.tensor(mean).view(shape)).div_(torch.tensor(std).view(shape))
