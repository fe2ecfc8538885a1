import numpy as np
import pytest
from video_files import read_index, write_empty_video, write_index_video

from zslbench.video.decode import DecodeError, Video, probe, scaled_size
from zslbench.video.sampler import ClipSampler, ClipSpec

REAL_FRAMES = {  # from ../shared/real_videos/SOURCES.md
    "demo.mp4": 280,
    "test.mp4": 300,
    "test.avi": 164,
    "test_video_structuralize.mp4": 300,
    "demo_skeleton.mp4": 72,
    "S001C001P001R001A001_rgb.avi": 103,
}


@pytest.fixture(scope="module", params=[".mp4", ".avi"])
def index_video(request, tmp_path_factory):
    return write_index_video(tmp_path_factory.mktemp("v") / f"index{request.param}", frames=150)


def test_decoded_frames_are_exactly_the_requested_ones(index_video):
    video = Video(index_video)
    assert video.num_frames == 150
    rng = np.random.default_rng(0)
    for _ in range(5):
        wanted = rng.integers(0, 150, size=(3, 7))  # unsorted, with repeats
        frames = video.read(wanted)
        assert frames.shape == (3, 7, 64, 96, 3)
        assert [[read_index(f) for f in clip] for clip in frames] == wanted.tolist()


@pytest.mark.parametrize("mode", ["train", "test"])
def test_sampler_and_decoder_agree_frame_for_frame(index_video, mode):
    spec = ClipSpec(clip_len=16, train_clips=2, test_clips=25, short_side=48)
    video = Video(index_video, short_side=spec.short_side)
    indices = ClipSampler(spec, mode).indices(video.num_frames, np.random.default_rng(3))
    frames = video.read(indices)
    assert frames.shape[2:] == (48, 72, 3)  # resized while decoding: short side 48, aspect kept
    assert [[read_index(f) for f in clip] for clip in frames] == indices.tolist()


@pytest.mark.parametrize("sequential", [False, True], ids=["seek", "counting"])
def test_a_read_can_transform_each_frame_as_it_is_kept(index_video, sequential):
    """The transform sees each distinct frame once, full size, and only its outputs are kept."""
    seen = []

    def halve(frames: np.ndarray) -> np.ndarray:
        seen.append(frames.shape)
        return frames[:, ::2, ::2].astype(np.float32) / 255

    wanted = np.array([[5, 140, 5], [70, 3, 140]])  # unsorted, with repeats
    video = Video(index_video, sequential=sequential)
    frames = video.read(wanted, halve, group=3)
    assert frames.shape == (2, 3, 32, 48, 3) and frames.dtype == np.float32
    assert np.array_equal(frames, video.read(wanted)[..., ::2, ::2, :].astype(np.float32) / 255)
    assert seen == [(3, 64, 96, 3), (1, 64, 96, 3)]  # frames 3, 5, 70 and 140, each once, 3 at a time


def test_scaled_size_keeps_the_aspect_ratio():
    assert scaled_size(340, 256, 128) == (170, 128)
    assert scaled_size(1920, 1080, 128) == (228, 128)
    assert scaled_size(240, 320, 128) == (128, 171)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.write_text("this is not a video\n" * 100), "not a readable video"),
        (lambda p: write_empty_video(p), "no frames"),
        (lambda p: None, "file not found"),
    ],
)
def test_broken_files_raise_a_decode_error_with_a_reason(tmp_path, make, reason):
    path = tmp_path / "broken.avi"
    make(path)
    with pytest.raises(DecodeError, match=reason) as err:
        Video(path)
    assert err.value.path == str(path)


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_truncated_files_fail_or_read_only_real_frames(tmp_path, suffix):
    data = write_index_video(tmp_path / f"full{suffix}", frames=60).read_bytes()
    (tmp_path / f"cut{suffix}").write_bytes(data[: len(data) // 2])
    try:
        video = Video(tmp_path / f"cut{suffix}")
        frames = video.read(np.arange(video.num_frames))
    except DecodeError:
        return  # reported: fine
    assert [read_index(f) for f in frames] == list(range(video.num_frames))  # never made-up frames


def test_out_of_range_index_is_a_decode_error(index_video):
    with pytest.raises(DecodeError, match="asked of a video with 150 frames"):
        Video(index_video).read(np.array([0, 150]))


@pytest.mark.parametrize("name", sorted(REAL_FRAMES))
def test_real_clips_decode_the_sampled_frames(shared_dir, name):
    path = shared_dir / "real_videos" / name
    video = Video(path, short_side=128)
    assert video.num_frames == REAL_FRAMES[name]
    indices = ClipSampler(ClipSpec(), "test").indices(video.num_frames)
    frames = video.read(indices)
    info = probe(path)
    assert frames.shape == (25, 16, *scaled_size(info.width, info.height, 128)[::-1], 3)
    assert frames.std() > 5  # real content, not a blank buffer


@pytest.mark.parametrize("name", ["test.mp4", "test.avi"])
def test_real_clips_return_the_frame_sequential_decoding_sees(shared_dir, name):
    import av

    path = shared_dir / "real_videos" / name
    with av.open(str(path)) as container:
        sequential = [f.to_ndarray(format="rgb24").astype(np.int16) for f in container.decode(video=0)]
    wanted = [3, 40, 41, 97, len(sequential) - 1]
    frames = Video(path).read(np.array(wanted)).astype(np.int16)
    for index, frame in zip(wanted, frames, strict=True):
        errors = [np.abs(frame - sequential[j]).mean() for j in range(len(sequential))]
        assert int(np.argmin(errors)) == index and errors[index] < 2.0
