import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zslbench.protocol.spec import load_protocol
from zslbench.video.sampler import ClipSampler, ClipSpec

specs = st.builds(
    ClipSpec,
    clip_len=st.integers(1, 32),
    frame_stride=st.integers(1, 4),
    train_clips=st.integers(1, 4),
    test_clips=st.integers(1, 30),
)


@settings(max_examples=300, deadline=None)
@given(spec=specs, n_frames=st.integers(1, 2000), mode=st.sampled_from(["train", "test"]), seed=st.integers(0, 99))
def test_every_clip_has_clip_len_frames_inside_the_video(spec, n_frames, mode, seed):
    sampler = ClipSampler(spec, mode)
    indices = sampler.indices(n_frames, np.random.default_rng(seed))
    assert indices.shape == (sampler.num_clips, spec.clip_len)
    assert indices.min() >= 0 and indices.max() < n_frames


@settings(max_examples=300, deadline=None)
@given(spec=specs, extra=st.integers(0, 2000), mode=st.sampled_from(["train", "test"]), seed=st.integers(0, 99))
def test_clips_of_long_enough_videos_are_consecutive_frames(spec, extra, mode, seed):
    n_frames = spec.span + extra
    indices = ClipSampler(spec, mode).indices(n_frames, np.random.default_rng(seed))
    assert (np.diff(indices, axis=1) == spec.frame_stride).all()


@settings(max_examples=300, deadline=None)
@given(spec=specs, extra=st.integers(0, 2000))
def test_test_clips_spread_linearly_from_first_to_last_frame(spec, extra):
    n_frames = spec.span + extra
    sampler = ClipSampler(spec, "test")
    starts = sampler.starts(n_frames)
    assert starts[0] == 0
    if sampler.num_clips > 1:
        assert starts[-1] + spec.span == n_frames  # the last clip ends on the last frame
        gaps = np.diff(starts)
        assert (gaps >= 0).all() and gaps.max() - gaps.min() <= 1  # evenly spaced up to rounding
    assert np.array_equal(sampler.indices(n_frames), sampler.indices(n_frames))  # no randomness


@settings(max_examples=200, deadline=None)
@given(spec=specs, n_frames=st.integers(1, 40))
def test_short_videos_repeat_from_the_start(spec, n_frames):
    if n_frames >= spec.span:
        return
    indices = ClipSampler(spec, "test").indices(n_frames)
    expected = (np.arange(spec.clip_len) * spec.frame_stride) % n_frames
    assert all(np.array_equal(clip, expected) for clip in indices)


def test_training_positions_follow_the_generator():
    sampler = ClipSampler(ClipSpec(clip_len=16, train_clips=3), "train")
    a = sampler.indices(300, np.random.default_rng(7))
    assert np.array_equal(a, sampler.indices(300, np.random.default_rng(7)))
    rng = np.random.default_rng(0)
    starts = np.concatenate([sampler.starts(300, rng) for _ in range(3000)])
    assert set(starts.tolist()) == set(range(300 - 16 + 1))  # every position is reachable, no other
    with pytest.raises(ValueError, match="random generator"):
        sampler.indices(300)
    with pytest.raises(ValueError, match="at least one frame"):
        sampler.indices(0, np.random.default_rng(0))


def test_spec_comes_from_the_protocol():
    spec = ClipSpec.from_protocol(load_protocol().data["clips"])
    assert spec == ClipSpec(clip_len=16, frame_stride=1, train_clips=1, test_clips=25, crop=112, short_side=128)
    assert ClipSampler(spec, "test").indices(300).shape == (25, 16)
