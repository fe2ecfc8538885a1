"""From decoded uint8 frames to the model's input, in two halves split across the process boundary.

In the loader workers, `crop_clips` takes a random crop and a random horizontal flip per clip for
training, the centre crop for testing (`crop_views`: or three crops along the long side), and stays
uint8: a clip crosses to the main process in a quarter of the bytes of float32. On the device,
`to_model_input` converts to float, normalises and puts channels first. Every frame of a clip shares
its crop and flip, so motion is not distorted.

The reference implementation's resize (`clips.resize: torch_bilinear`) works on floats, so under it
`resize_like_reference` runs in the workers first and the clips cross as float32 in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from zslbench.video.normalisation import KINETICS_MEAN, KINETICS_STD

if TYPE_CHECKING:
    import torch

RESIZE_GROUP = 16  # frames resize_like_reference scales at once: one clip, as the reference's smallest stack


def crop_offsets(
    height: int, width: int, crop: int, rng: np.random.Generator | None, rounding: str = "floor"
) -> tuple[int, int]:
    """Top-left corner of a `crop` x `crop` window: random with `rng`, centred without. The centre's
    offset is (size - crop) / 2, floored, or with `rounding="half_even"` rounded as Python's `round`
    (the reference's `center_crop`: 59 / 2 -> 30, where floor gives 29)."""
    if height < crop or width < crop:
        raise ValueError(f"frames of {width}x{height} are smaller than the {crop}x{crop} crop")
    if rng is None:
        if rounding == "half_even":
            return round((height - crop) / 2), round((width - crop) / 2)
        return (height - crop) // 2, (width - crop) // 2
    return int(rng.integers(0, height - crop + 1)), int(rng.integers(0, width - crop + 1))


def crop_clips(
    frames: np.ndarray,
    crop: int,
    rng: np.random.Generator | None = None,
    rounding: str = "floor",
    per_video: bool = False,
) -> np.ndarray:
    """[clips, T, H, W, 3] -> [clips, T, crop, crop, 3], same dtype; `rng` given: train augmentation,
    a random crop and flip per clip, or with `per_video` one for all the video's clips (the reference
    transformed a video's clips as one stack)."""
    clips, drawn = [], None
    for clip in frames:
        if drawn is None or not per_video:
            top, left = crop_offsets(clip.shape[1], clip.shape[2], crop, rng, rounding)
            drawn = (top, left, rng is not None and rng.random() < 0.5)
        top, left, flip = drawn
        window = clip[:, top : top + crop, left : left + crop]
        clips.append(window[:, :, ::-1] if flip else window)
    return np.ascontiguousarray(np.stack(clips))


THREE_CROPS = 3  # test views per clip along the long side (SlowFast / MMAction2 "three crop" testing)


def three_crop_offsets(height: int, width: int, crop: int, rounding: str = "floor") -> list[tuple[int, int]]:
    """Top-left corners (top, left) of three `crop` x `crop` windows along the long side: left (top),
    centre, right (bottom), flush with the frame's edges; the short side centred. The centre follows
    `crop_offsets`' rounding. As SlowFast's `uniform_crop` (spatial_idx 0, 1, 2); a square frame is cut
    along its width, as there."""
    top, left = crop_offsets(height, width, crop, None, rounding)
    if height > width:
        return [(0, left), (top, left), (height - crop, left)]
    return [(top, 0), (top, left), (top, width - crop)]


def crop_views(frames: np.ndarray, crop: int, crops: int = 1, rounding: str = "floor") -> np.ndarray:
    """Test crops, same dtype: [clips, T, H, W, 3] -> [clips x crops, T, crop, crop, 3], clip-major then
    crop-minor (rows k x crops .. k x crops + crops - 1 are clip k's). `crops` 1: the centre crop, as
    `crop_clips` without a generator; 3: `three_crop_offsets`' windows, each the same for every frame."""
    if crops == 1:
        return crop_clips(frames, crop, None, rounding)
    if crops != THREE_CROPS:
        raise ValueError(f"test crops are 1 or 3, got {crops}")
    corners = three_crop_offsets(frames.shape[2], frames.shape[3], crop, rounding)
    windows = [clip[:, top : top + crop, left : left + crop] for clip in frames for top, left in corners]
    return np.ascontiguousarray(np.stack(windows))


def resize_like_reference(frames: np.ndarray, short_side: int, rounding: str = "floor") -> np.ndarray:
    """uint8 [..., H, W, 3] -> float32 [..., h, w, 3] in [0, 1]: the reference's ToFloatTensorInZeroOne
    then Resize (auxiliary/transforms.py): x / 255 as float32, then torch's bilinear interpolation,
    align_corners=False, no antialiasing. The output size is given, so source coordinates map by
    input / output size, as torch 1.2 did; a `scale_factor` in torch >= 1.6 maps by 1 / scale instead
    (another 170-wide image). `rounding`: "round" for zslbench's sizes instead.

    The reference resized a clip stack at once (16 frames or more). torch's CPU kernel takes another
    code path for fewer planes, one float32 ulp apart at some sizes, so frames go through it in groups
    of RESIZE_GROUP, the last group padded with its last frame: the same pixels as any larger stack."""
    import torch

    from zslbench.video.decode import scaled_size

    *lead, height, width, _ = frames.shape
    size = scaled_size(width, height, short_side, rounding)[::-1]
    stack = torch.from_numpy(np.ascontiguousarray(frames)).reshape(-1, height, width, 3)
    count = stack.shape[0]
    out = torch.empty((count, *size, 3), dtype=torch.float32)
    for first in range(0, count, RESIZE_GROUP):
        group = stack[first : first + RESIZE_GROUP]
        kept = group.shape[0]
        if kept < RESIZE_GROUP:
            group = torch.cat([group, group[-1:].expand(RESIZE_GROUP - kept, *group.shape[1:])])
        planes = group.permute(3, 0, 1, 2).to(torch.float32) / 255  # [3, frames, H, W], as the reference
        resized = torch.nn.functional.interpolate(planes, size=size, mode="bilinear", align_corners=False)
        out[first : first + kept] = resized.permute(1, 2, 3, 0)[:kept]
    return out.reshape(*lead, *size, 3).numpy()


def to_model_input(
    clips: torch.Tensor,
    mean: Sequence[float] = KINETICS_MEAN,
    std: Sequence[float] = KINETICS_STD,
    channels_last: bool = False,
) -> torch.Tensor:
    """uint8 [..., T, H, W, 3] -> float32 [..., 3, T, H, W], scaled to [0, 1] and normalised, on the
    clips' own device; float clips are already in [0, 1] (`resize_like_reference`). `channels_last`:
    the channels_last_3d memory layout (faster convolutions on CUDA)."""
    import torch

    batch = clips.movedim(-1, -4)
    batch = batch.float().div_(255.0) if batch.dtype == torch.uint8 else batch.float().clone()
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
