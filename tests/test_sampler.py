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


def tsn_test_frame(n_frames: int, clip_len: int, views: int, segment: int, view: int) -> int:
    """TSN's test frame, in exact fractions: floor(n / clip_len x (i + (k + 1/2) / V)), at most n - 1."""
    from fractions import Fraction

    position = Fraction(n_frames, clip_len) * (segment + Fraction(2 * view + 1, 2 * views))
    return min(position.numerator // position.denominator, n_frames - 1)


def segment_bounds(n_frames: int, clip_len: int, segment: int) -> tuple[int, int]:
    """First and last frame whose span [f, f + 1) meets segment i's [n i / L, n (i + 1) / L)."""
    return n_frames * segment // clip_len, min(-(-n_frames * (segment + 1) // clip_len) - 1, n_frames - 1)


@pytest.mark.parametrize("clip_len", [1, 3, 8, 16])
@pytest.mark.parametrize("views", [1, 2, 3])
def test_segment_test_frames_follow_tsn_for_every_length(clip_len, views):
    spec = ClipSpec(clip_len=clip_len, test_clips=views, test_position="segments", frame_stride=3)
    sampler = ClipSampler(spec, "test")
    for n in range(1, 501):
        indices = sampler.indices(n)
        assert indices.dtype == np.int64 and indices.shape == (views, clip_len)
        expected = [[tsn_test_frame(n, clip_len, views, i, k) for i in range(clip_len)] for k in range(views)]
        assert indices.tolist() == expected, n
        assert indices.min() >= 0 and indices.max() < n and (np.diff(indices, axis=1) >= 0).all()
        for i in range(clip_len):
            low, high = segment_bounds(n, clip_len, i)
            assert (low <= indices[:, i]).all() and (indices[:, i] <= high).all(), (n, i)


def test_one_segment_view_reads_each_segments_middle_frame():
    indices = ClipSampler(ClipSpec(clip_len=8, test_clips=1, test_position="segments"), "test").indices(80)
    assert indices.tolist() == [[5, 15, 25, 35, 45, 55, 65, 75]]  # segments of 10 frames: 0-9 -> 5, ...
    three = ClipSampler(ClipSpec(clip_len=4, test_clips=3, test_position="segments"), "test").indices(12)
    assert three.tolist() == [[0, 3, 6, 9], [1, 4, 7, 10], [2, 5, 8, 11]]  # views 0.5 / 3, 1.5 / 3, 2.5 / 3 in
    assert ClipSampler(ClipSpec(clip_len=8, test_position="segments", test_clips=1), "test").indices(3).tolist() == [
        [0, 0, 0, 1, 1, 2, 2, 2]
    ]  # a video shorter than a clip repeats frames, never past the last


def test_segment_training_draws_one_frame_inside_each_segment_from_the_generator():
    spec = ClipSpec(clip_len=8, train_clips=2, train_position="segments", frame_stride=4)
    sampler = ClipSampler(spec, "train")
    for n in [*range(1, 70), 257, 1000]:
        indices = sampler.indices(n, np.random.default_rng(n))
        assert indices.shape == (2, 8) and indices.dtype == np.int64
        assert np.array_equal(indices, sampler.indices(n, np.random.default_rng(n)))  # seeded: reproducible
        assert (np.diff(indices, axis=1) >= 0).all()
        for i in range(8):
            low, high = segment_bounds(n, 8, i)
            assert (low <= indices[:, i]).all() and (indices[:, i] <= high).all(), (n, i)
    rng = np.random.default_rng(0)
    drawn = np.concatenate([sampler.indices(80, rng) for _ in range(400)])
    for i in range(8):  # 80 frames in 8 segments of 10: each frame of a segment is drawn, no other
        assert set(drawn[:, i].tolist()) == set(range(10 * i, 10 * i + 10))
        assert np.bincount(drawn[:, i] - 10 * i).min() > 40  # 800 draws, 80 expected per frame
    with pytest.raises(ValueError, match="random generator"):
        sampler.indices(80)
    with pytest.raises(ValueError, match="at least one frame"):
        sampler.indices(0, np.random.default_rng(0))


@pytest.mark.parametrize("clips", [1, 2, 3, 5])
def test_centred_test_clips_sit_at_the_centres_of_equal_parts(clips):
    """`centred`: start k = floor((k + 1/2) (n - span + 1) / clips), one clip in the middle of the video."""
    from fractions import Fraction

    spec = ClipSpec(clip_len=8, frame_stride=2, test_clips=clips, test_position="centred")
    sampler = ClipSampler(spec, "test")
    for n in range(1, 200):
        valid = max(n - spec.span, 0) + 1
        expected = [int(Fraction(valid, clips) * (k + Fraction(1, 2))) for k in range(clips)]
        indices = sampler.indices(n)
        assert list(indices[:, 0]) == [start % n for start in expected]
        assert indices.shape == (clips, 8) and (indices >= 0).all() and (indices < n).all()
    middle = ClipSampler(ClipSpec(clip_len=16, test_clips=1, test_position="centred"), "test").indices(100)
    assert middle[0, 0] == 42 and middle[0, -1] == 57  # (100 - 16 + 1) // 2 = 42: centred, not at frame 0
