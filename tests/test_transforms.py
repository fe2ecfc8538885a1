from dataclasses import replace

import numpy as np
import pytest
import torch

from tests.video_files import index_frame, read_index
from zslbench.video.dataset import VideoClipDataset
from zslbench.video.decode import Video
from zslbench.video.encode import write_video
from zslbench.video.manifest import VideoRecord
from zslbench.video.sampler import ClipSampler, ClipSpec
from zslbench.video.transforms import (
    KINETICS_MEAN,
    KINETICS_STD,
    crop_clips,
    crop_offsets,
    crop_views,
    three_crop_offsets,
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


def test_three_crops_lie_along_the_long_side_with_the_short_side_centred():
    assert three_crop_offsets(48, 72, 32) == [(8, 0), (8, 20), (8, 40)]  # landscape: left, centre, right
    assert three_crop_offsets(72, 48, 32) == [(0, 8), (20, 8), (40, 8)]  # portrait: top, centre, bottom
    assert three_crop_offsets(40, 40, 32) == [(4, 0), (4, 4), (4, 8)]  # square: along the width
    assert three_crop_offsets(49, 73, 32) == [(8, 0), (8, 20), (8, 41)]  # centre floored, right flush
    assert three_crop_offsets(49, 73, 32, "half_even")[1] == (round(17 / 2), round(41 / 2))
    with pytest.raises(ValueError, match="smaller than the 32x32 crop"):
        three_crop_offsets(30, 72, 32)


def test_crop_views_are_clip_major_slices_and_one_view_is_the_centre_crop():
    frames = np.random.default_rng(0).integers(0, 256, (2, 3, 10, 17, 3), dtype=np.uint8)
    one = crop_views(frames, 6)
    assert np.array_equal(one, crop_clips(frames, 6))
    three = crop_views(frames, 6, crops=3)
    assert three.shape == (6, 3, 6, 6, 3) and three.dtype == np.uint8 and three.flags.c_contiguous
    for clip in range(2):
        for view, left in enumerate((0, 5, 11)):
            assert np.array_equal(three[clip * 3 + view], frames[clip, :, 2:8, left : left + 6])
    assert np.array_equal(three[1::3], one)
    with pytest.raises(ValueError, match="1 or 3"):
        crop_views(frames, 6, crops=2)


@pytest.mark.parametrize(("width", "height"), [(96, 64), (64, 96)])
def test_three_test_crops_of_a_real_video_are_slices_of_its_decoded_frames(tmp_path, width, height):
    """A PyAV-written video with a colour ramp across its columns, so every offset shows, read through
    the test dataset with TSN segments; the decoder's own full frames are the ground truth."""
    ramp = (np.add.outer(np.arange(height), 2 * np.arange(width)) % 256).astype(np.uint8)

    def frame(i: int) -> np.ndarray:
        out = index_frame(i, width, height)
        out[..., 2] = ramp
        return out

    path = write_video(tmp_path / "ramp.mp4", (frame(i) for i in range(40)))
    spec = ClipSpec(clip_len=4, test_clips=2, crop=32, short_side=48, test_position="segments", test_crops=3)
    item = VideoClipDataset([VideoRecord(path, "a")], ["a"], spec, "test")[0]["clips"].numpy()
    assert item.shape == (6, 4, 32, 32, 3) and item.dtype == np.uint8
    indices = ClipSampler(spec, "test").indices(40)
    assert indices.tolist() == [[2, 12, 22, 32], [7, 17, 27, 37]]
    full = Video(path, 48, threads=1).read(indices)  # [2, 4, 48, 72, 3] or [2, 4, 72, 48, 3]
    assert [[read_index(f) for f in clip] for clip in full] == indices.tolist()
    corners = [(8, 0), (8, 20), (8, 40)] if width > height else [(0, 8), (20, 8), (40, 8)]
    for clip in range(2):
        for view, (top, left) in enumerate(corners):
            assert np.array_equal(item[clip * 3 + view], full[clip, :, top : top + 32, left : left + 32])
    assert not np.array_equal(item[0], item[1]) and not np.array_equal(item[1], item[2])
    single = VideoClipDataset([VideoRecord(path, "a")], ["a"], replace(spec, test_crops=1), "test")[0]["clips"]
    assert np.array_equal(item[1::3], single.numpy())
    train = VideoClipDataset([VideoRecord(path, "a")], ["a"], spec, "train")[0]["clips"]
    assert train.shape == (1, 4, 32, 32, 3)  # training ignores test_crops
