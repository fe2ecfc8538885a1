"""decord behind a verification: DecordVideo, verify_decoder, require_verified and the CLI, on real files.

The exactness suite holds the file kinds decord 0.6 gets wrong here (mpeg4 with B-frames in AVI and in
mp4, h264 in AVI; the edit-list mp4, where decord counts the hidden frames) and the ones it reads
right (h264 mp4/mkv, also variable frame rate and rotated, mpeg4 without B-frames).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from video_files import read_index, write_coded_video, write_exactness_suite

from zslbench.cli import app
from zslbench.core.errors import ZslbenchError
from zslbench.video.decode import Video
from zslbench.video.frame_index import DecodeError
from zslbench.video.manifest import Manifest, VideoRecord, write_manifest
from zslbench.video.sampler import ClipSampler, ClipSpec

GOOD = ("h264-bframes.mp4", "h264-vfr.mp4", "h264-vfr.mkv", "h264-rotated.mp4")
WRONG_FRAMES = ("mpeg4-bframes.avi", "h264.avi", "mpeg4-bframes.mp4")


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The exactness suite; every test that needs decord asks for it, so they skip where decord does not import."""
    try:
        import decord  # noqa: F401
    except ImportError as err:  # no wheel for this platform, or a broken one
        pytest.skip(f"decord does not import: {err}")
    return write_exactness_suite(tmp_path_factory.mktemp("suite"))


@pytest.fixture
def cache(fresh_cache: Path) -> Path:
    """Verdicts of one test only."""
    return fresh_cache


def manifest_of(path: Path, videos: list[Path]) -> Path:
    return write_manifest(Manifest(tuple(VideoRecord(video, "x") for video in videos), "x"), path)


def copies(suite: dict[str, Path], names: tuple[str, ...], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy(suite[name], folder / name)) for name in names]


@pytest.mark.parametrize("name", ["h264-bframes.mp4", "h264-rotated.mp4", "mpeg4.avi"])
def test_decord_video_gives_the_exact_frames_where_decord_is_right(suite, name):
    from zslbench.video.decord_reader import DecordVideo

    indices = ClipSampler(ClipSpec(), "test").indices(120)
    native = DecordVideo(suite[name])
    assert (native.mode, native.num_frames) == ("decord", 120)
    assert np.array_equal(native.read(indices), Video(suite[name]).read(indices))  # rotation included
    scaled, exact = DecordVideo(suite[name], 128), Video(suite[name], 128)
    frames = scaled.read(indices)
    width, height = exact.size
    assert scaled.size == exact.size and frames.shape == (*indices.shape, height, width, 3)
    if name != "h264-rotated.mp4":  # the bars are horizontal only unrotated
        assert [read_index(frame) for frame in frames.reshape(-1, height, width, 3)] == indices.ravel().tolist()


def test_decord_video_refuses_a_file_where_it_counts_other_frames(suite):
    from zslbench.video.decord_reader import DecordVideo

    with pytest.raises(DecodeError, match="decord counts 120 frames where a player shows 110"):
        DecordVideo(suite["h264-editlist.mp4"])
    with pytest.raises(DecodeError, match="frame 120 asked of a video with 120 frames"):
        DecordVideo(suite["h264-bframes.mp4"]).read(np.array([0, 120]))


def test_without_decord_the_error_says_how_to_install_it(monkeypatch):
    from zslbench.video.decord_reader import import_decord

    monkeypatch.setitem(sys.modules, "decord", None)  # what `import decord` does when it is not installed
    with pytest.raises(ZslbenchError) as caught:
        import_decord()
    assert caught.value.hint == 'pip install "zslbench[decord]"'


def test_verification_verifies_h264_mp4s_and_only_while_the_files_stay(suite, tmp_path, cache):
    from zslbench.video.verify import require_verified, verify_decoder

    manifest = manifest_of(tmp_path / "good.csv", copies(suite, GOOD, tmp_path / "videos"))
    with pytest.raises(ZslbenchError, match="has not been verified") as before:
        require_verified(manifest, "decord")
    assert "--verify-decoder decord" in before.value.hint
    require_verified(manifest, "pyav")  # the exact reader needs no verdict

    seen = []
    run = verify_decoder(manifest, "decord", workers=2, progress=seen.append)
    assert run.verified and [v.status for v in run.results] == ["ok"] * len(GOOD) and len(seen) == len(GOOD)
    assert all(v.frames >= 200 and v.wrong == 0 and v.max_diff == 0 for v in run.results)  # bit-identical
    require_verified(manifest, "decord")

    write_coded_video(tmp_path / "videos" / "h264-vfr.mp4", 90, "libx264")  # re-encoded in place
    with pytest.raises(ZslbenchError, match=r"h264-vfr\.mp4 changed since the decord decoder was verified"):
        require_verified(manifest, "decord")


def test_verification_refuses_the_kinds_decord_gets_wrong_and_the_refusal_stands(suite, tmp_path, cache):
    from zslbench.video.decord_reader import DecordVideo
    from zslbench.video.verify import read_groups, require_verified, sample_positions, verify_decoder

    names = ("h264-bframes.mp4", *WRONG_FRAMES, "h264-editlist.mp4", "mpeg4.avi")
    manifest = manifest_of(tmp_path / "mixed.csv", [suite[name] for name in names])
    run = verify_decoder(manifest, "decord", workers=2)
    status = {Path(v.path).name: v for v in run.results}
    assert not run.verified
    assert {name: v.status for name, v in status.items()} == {
        "h264-bframes.mp4": "ok",
        "mpeg4-bframes.avi": "mismatched",
        "h264.avi": "mismatched",
        "mpeg4-bframes.mp4": "mismatched",
        "h264-editlist.mp4": "failed",
        "mpeg4.avi": "ok",
    }
    assert "decord counts 120 frames" in status["h264-editlist.mp4"].reason
    for position, name in enumerate(names):  # the same reads, judged by the index each frame carries
        if name == "h264-editlist.mp4":
            continue
        wrong = sum(
            int(read_index(frame) != number)
            for numbers, threads in read_groups(120, np.random.default_rng([0, position]))
            for number, frame in zip(numbers, DecordVideo(suite[name], threads=threads).read(numbers), strict=True)
        )
        # tail errors come and go between reads, so the counts need not agree, only where they are 0
        assert (wrong > 0) == (status[name].wrong > 0) == (name in WRONG_FRAMES), name
        assert all(0 <= number < 120 for number in status[name].first_wrong)

    with pytest.raises(ZslbenchError, match="decord decoder was refused") as refused:
        require_verified(manifest, "decord")
    assert "h264.avi" in refused.value.message

    seed = next(
        s for s in range(100) if {names[p] for p in sample_positions(len(names), 2, s)} <= set(GOOD) | {"mpeg4.avi"}
    )
    again = verify_decoder(manifest, "decord", sample=2, seed=seed)
    assert [v.status for v in again.results] == ["ok", "ok"] and not again.verified  # earlier wrong frames stand
    assert {Path(v.path).name for v in again.earlier} == {*WRONG_FRAMES, "h264-editlist.mp4"}
    with pytest.raises(ZslbenchError, match="refused"):
        require_verified(manifest, "decord")


def test_a_check_past_its_time_is_stopped_and_checking_goes_on(suite, tmp_path, cache):
    from zslbench.video.verify import verify_decoder

    manifest = manifest_of(tmp_path / "slow.csv", [suite["h264-bframes.mp4"], suite["h264-vfr.mkv"]])
    run = verify_decoder(manifest, "decord", timeout=0.001, workers=1)  # no real check is that fast
    assert [(v.status, v.reason) for v in run.results] == [("timed out", "timed out after 0.001 s")] * 2
    assert not run.verified


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_named_pipe_is_unreadable_at_once_not_a_hang_nor_a_refusal(suite, tmp_path, cache):
    from zslbench.video.verify import verify_decoder

    pipe = tmp_path / "stalled.mp4"
    os.mkfifo(pipe)  # opening it for reading blocks until a writer comes: none will
    manifest = manifest_of(tmp_path / "pipe.csv", [pipe, suite["h264-bframes.mp4"]])
    started = time.monotonic()
    run = verify_decoder(manifest, "decord", timeout=60, workers=1)
    assert time.monotonic() - started < 30
    assert [v.status for v in run.results] == ["unreadable", "ok"] and "not a regular file" in run.results[0].reason
    assert run.verified


def test_cli_verifies_refuses_and_says_why(suite, tmp_path, runner, cache):
    good = manifest_of(tmp_path / "good.csv", [suite[name] for name in GOOD])
    verified = runner.invoke(app, ["data", "check", str(good), "--verify-decoder", "decord", "--sample", "3", "--json"])
    assert verified.exit_code == 0, verified.stderr
    summary = json.loads(verified.stdout)
    assert (summary["verdict"], summary["checked"], summary["ok"], summary["problems"]) == ("VERIFIED", 3, 3, [])
    assert summary["identity"]["decord"] and Path(summary["verdict_file"]).is_file()

    bad = manifest_of(tmp_path / "bad.csv", [suite["h264-bframes.mp4"], suite["h264.avi"]])
    refused = runner.invoke(app, ["data", "check", str(bad), "--verify-decoder", "decord", "--json"])
    assert refused.exit_code == 1
    report = json.loads(refused.stdout)
    (problem,) = report["problems"]
    assert report["verdict"] == "REFUSED" and report["mismatched"] == 1
    assert (
        Path(problem["path"]).resolve() == suite["h264.avi"].resolve()
        and problem["first_wrong"]
        and problem["max_pixel_diff"] > 2
    )
    human = runner.invoke(app, ["data", "check", str(bad), "--verify-decoder", "decord"])
    assert human.exit_code == 1
    assert "REFUSED for this dataset" in human.stdout and "Videos decord got wrong" in human.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--verify-decoder", "pyav"], "pyav is the exact reference reader and needs no verification"),
        (["--verify-decoder", "decrd"], "Did you mean 'decord'"),
        (["--verify-decoder", "decord", "--sample", "0"], "--sample 0"),
        (["--verify-decoder", "decord", "--timeout", "0"], "--timeout 0"),
        (["--sample", "5"], "--sample only applies with --verify-decoder"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(suite, tmp_path, runner, args, message):
    manifest = manifest_of(tmp_path / "m.csv", [suite["h264-bframes.mp4"]])
    result = runner.invoke(app, ["data", "check", str(manifest), *args])
    assert result.exit_code == 2, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
