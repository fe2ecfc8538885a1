"""The exactness suite: every default read mode returns the frames of a full sequential decode, bit for bit.

Small index-coded files in the layouts that broke readers in public bug reports: h264 mp4 with
B-frames, mpeg4 AVI with and without B-frames, h264-in-AVI, VFR mp4 and mkv, mpeg4 in mp4 with
B-frames, a rotated mp4 and an mp4 cut by stream copy (an edit list hides 10 of its 120 packets).
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
from video_files import read_index, sequential_frames, write_exactness_suite, write_index_video

from zslbench.core.hashing import file_fingerprint
from zslbench.video.decode import DecodeError, Video
from zslbench.video.frame_index import build_index, clear_memo, load_index
from zslbench.video.sampler import ClipSampler, ClipSpec


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    paths = write_exactness_suite(tmp_path_factory.mktemp("exact"))
    return {name: (path, sequential_frames(path)) for name, path in paths.items()}


NAMES = [
    "h264-bframes.mp4",
    "mpeg4-bframes.avi",
    "mpeg4.avi",
    "h264.avi",
    "h264-vfr.mp4",
    "h264-vfr.mkv",
    "mpeg4-bframes.mp4",
    "h264-rotated.mp4",
    "h264-editlist.mp4",
]


@pytest.mark.parametrize("sequential", [False, True], ids=["default", "sequential"])
@pytest.mark.parametrize("name", NAMES)
def test_every_read_equals_the_full_sequential_decode(suite, name, sequential):
    path, truth = suite[name]
    video = Video(path, sequential=sequential)
    assert video.num_frames == len(truth)
    rng = np.random.default_rng(7)
    asks = [rng.integers(0, len(truth), size=int(rng.integers(1, 40))) for _ in range(12)]
    spec = ClipSpec(clip_len=16, train_clips=2, test_clips=25)
    asks += [ClipSampler(spec, "test").indices(len(truth)), ClipSampler(spec, "train").indices(len(truth), rng)]
    asks += [np.array([len(truth) - 1, 0]), np.array([40, len(truth) - 1, 41])]  # tail probes, unsorted
    for wanted in asks:
        frames = video.read(wanted)
        assert frames.shape == (*wanted.shape, *truth[0].shape)
        for index, frame in zip(wanted.ravel(), frames.reshape(-1, *truth[0].shape), strict=True):
            assert np.array_equal(frame, truth[index]), f"{name}: frame {index} differs"
    assert video.fallbacks == 0


@pytest.mark.parametrize(
    ("name", "mode"),
    [("h264-bframes.mp4", "seek"), ("h264-vfr.mkv", "seek"), ("mpeg4-bframes.mp4", "seek")]
    + [(name, "sequential") for name in ("mpeg4-bframes.avi", "mpeg4.avi", "h264.avi")],
)
def test_timestamps_are_trusted_except_in_avi(suite, name, mode):
    index = load_index(suite[name][0])
    assert index.mode == mode
    assert ("avi" in index.why) == (mode == "sequential")


def test_an_edit_list_hides_packets_that_are_not_frames(suite):
    path, _ = suite["h264-editlist.mp4"]
    video = Video(path)
    assert video.num_frames == 110  # 120 packets in the file
    assert [read_index(f) for f in video.read(np.array([0, 1, 109]))] == [10, 11, 119]


def test_display_rotation_is_applied_and_recorded(suite):
    path, _ = suite["h264-rotated.mp4"]
    video = Video(path, short_side=32)
    assert video.index.rotation == 90 and video.index.display_size == (64, 96)
    assert video.size == (32, 48)  # portrait now: the short side is the width
    upright = Video(path).read(np.array([5]))[0]
    assert upright.shape == (96, 64, 3)
    assert read_index(np.rot90(upright, -1)) == 5  # turning it back shows the index bars


def test_a_wrong_index_falls_back_to_counting_and_says_so(suite):
    path, truth = suite["h264-bframes.mp4"]
    index = load_index(path)
    pts = list(index.pts)
    pts[60] += 1  # a timestamp the file does not have: the seek to frame 60 cannot find it
    video = Video(path, index=dataclasses.replace(index, pts=tuple(pts)))
    frames = video.read(np.array([3, 60, 61]))
    assert video.fallbacks == 1
    assert all(np.array_equal(f, truth[i]) for f, i in zip(frames, (3, 60, 61), strict=True))


def test_the_index_is_cached_on_disk_by_content(tmp_path, monkeypatch):
    monkeypatch.setenv("ZSLBENCH_CACHE", str(tmp_path / "cache"))
    path = write_index_video(tmp_path / "a.mp4", frames=30)
    first = load_index(path)
    assert len(list((tmp_path / "cache" / "frame_index").rglob("*.json"))) == 1
    clear_memo()
    assert load_index(path) == first  # read back from disk
    write_index_video(path, frames=20)  # rewritten in place: a new content key, a new index
    clear_memo()
    assert load_index(path).frames == 20
    assert len(list((tmp_path / "cache" / "frame_index").rglob("*.json"))) == 2


def test_a_read_only_cache_costs_speed_not_the_read(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    cache.chmod(0o500)
    monkeypatch.setenv("ZSLBENCH_CACHE", str(cache))
    path = write_index_video(tmp_path / "b.mp4", frames=12)
    try:
        assert Video(path).read(np.array([11])).shape[0] == 1
    finally:
        cache.chmod(0o700)


def test_a_named_pipe_is_a_failure_not_a_hang(tmp_path):
    pipe = tmp_path / "pipe.mp4"
    os.mkfifo(pipe)
    with pytest.raises(DecodeError, match="not a regular file"):
        Video(pipe)
    with pytest.raises(DecodeError, match="not a regular file"):
        build_index(pipe)
    with pytest.raises(OSError, match="not a regular file"):  # the cache key of `eval` opened it and hung
        file_fingerprint(pipe)
