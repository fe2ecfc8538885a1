import numpy as np
import pytest
import torch

from zslbench.video.transforms import (
    KINETICS_MEAN,
    KINETICS_STD,
    crop_clips,
    crop_offsets,
    to_clip_tensor,
    to_model_input,
)


def gradient_frames(clips=2, frames=4, height=10, width=14):
    """Pixel value = column index, so crops and flips are visible in the output."""
    row = np.arange(width, dtype=np.uint8)
    return np.broadcast_to(row[None, None, None, :, None], (clips, frames, height, width, 3)).copy()


def test_centre_crop_shape_and_position():
    out = to_clip_tensor(gradient_frames(), crop=6, mean=(0, 0, 0), std=(1, 1, 1))
    assert out.shape == (2, 3, 4, 6, 6) and out.dtype == torch.float32
    assert torch.allclose(out[0, 0, 0, 0] * 255, torch.arange(4, 10, dtype=torch.float32))


def test_random_crops_stay_inside_and_flips_reverse_columns():
    rng = np.random.default_rng(0)
    seen_flip = seen_plain = False
    for _ in range(40):
        out = to_clip_tensor(gradient_frames(clips=1), crop=6, mean=(0, 0, 0), std=(1, 1, 1), rng=rng)
        row = (out[0, 0, 0, 0] * 255).round().numpy()
        steps = np.diff(row)
        assert (steps == 1).all() or (steps == -1).all()
        assert row.min() >= 0 and row.max() <= 13
        seen_flip |= bool((steps == -1).all())
        seen_plain |= bool((steps == 1).all())
    assert seen_flip and seen_plain


def test_normalisation_uses_the_given_mean_and_std():
    frames = np.full((1, 2, 8, 8, 3), 200, np.uint8)
    out = to_clip_tensor(frames, crop=8)
    expected = (200 / 255 - np.array(KINETICS_MEAN)) / np.array(KINETICS_STD)
    assert torch.allclose(out[0, :, 0, 0, 0], torch.tensor(expected, dtype=torch.float32), atol=1e-6)


def test_the_device_half_matches_the_one_process_path_and_keeps_batch_dims():
    frames = np.random.default_rng(0).integers(0, 256, (2, 4, 10, 14, 3), dtype=np.uint8)
    cropped = torch.from_numpy(crop_clips(frames, 6))
    assert cropped.dtype == torch.uint8 and cropped.shape == (2, 4, 6, 6, 3)
    one_process = to_clip_tensor(frames, crop=6)
    assert torch.equal(to_model_input(cropped), one_process)
    batch = to_model_input(cropped[None].expand(3, -1, -1, -1, -1, -1), channels_last=True)
    assert batch.shape == (3, 2, 3, 4, 6, 6) and torch.equal(batch[1], one_process)


def test_crop_larger_than_the_frame_is_an_error():
    with pytest.raises(ValueError, match="smaller than the 12x12 crop"):
        crop_offsets(10, 14, 12, None)
