"""`zslbench data prepare`: frame i stays frame i, keyframes every N, resumable, safe paths, small effect.

Every test encodes and decodes real files: index-coded videos (each frame spells its number), the
synthetic benchmark, and the real clips in ../shared when present.
"""

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from tests.video_files import (
    EXACTNESS_FILES,
    read_index,
    write_coded_video,
    write_exactness_suite,
    write_index_video,
)
from zslbench.cli import app
from zslbench.core.errors import ZslbenchError
from zslbench.protocol.spec import load_protocol
from zslbench.video.decode import Video
from zslbench.video.frame_index import load_index
from zslbench.video.manifest import Manifest, VideoRecord, read_manifest, write_manifest
from zslbench.video.prepare import plan_outputs, prepare_manifest, prepare_video
from zslbench.video.sampler import ClipSampler, ClipSpec
from zslbench.video.transforms import crop_offsets

FRAMES = 60


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    """The exactness suite (AVI with B-frames, h264-in-AVI, VFR mp4/mkv, rotated, edit-list cut)."""
    return write_exactness_suite(tmp_path_factory.mktemp("suite"), FRAMES)


def frames_of(path: Path, short_side: int | None = None) -> list[np.ndarray]:
    return list(Video(path, short_side, threads=1).iter_frames())


def number(frame: np.ndarray) -> int:
    """The index a frame spells; a portrait (rotated) frame is turned back to its coded orientation."""
    return read_index(np.rot90(frame, -1) if frame.shape[0] > frame.shape[1] else frame)


def manifest_of(folder: Path, paths: list[Path], name: str = "m.csv", label: str = "a") -> Path:
    records = tuple(VideoRecord(path, label, "test") for path in paths)
    return write_manifest(Manifest(records, "ucf101"), folder / name)


@pytest.mark.parametrize("name", [*EXACTNESS_FILES, "h264-editlist.mp4"])
def test_frame_i_of_a_prepared_file_is_frame_i_of_the_source(suite, tmp_path, name):
    source = suite[name]
    written = prepare_video(source, tmp_path / "out.mp4", short_side=64, keyframe_every=8)
    expected = [number(frame) for frame in frames_of(source, 64)]
    assert written == len(expected) == load_index(source).frames
    assert [number(frame) for frame in frames_of(tmp_path / "out.mp4")] == expected
    if name == "h264-editlist.mp4":
        assert expected[0] == 10  # the cut hides 10 frames; they stay hidden
    index = load_index(tmp_path / "out.mp4")
    assert index.frames == written and index.keyframes == tuple(range(0, written, 8))
    assert index.rotation == 0 and index.seek  # rotation is in the pixels; timestamps can be trusted
    steps = set(np.diff(index.pts))
    assert len(steps) == 1 and steps.pop() > 0  # constant rate by frame number, even from a VFR source


def test_an_odd_side_loses_its_last_column_and_a_centred_crop_keeps_its_pixels(tmp_path):
    source = write_index_video(tmp_path / "wide.mp4", 20, width=100, height=64)
    raw = frames_of(source, 48)
    assert raw[0].shape == (48, 75, 3)  # 100x64 at short side 48: 75 wide, odd
    prepare_video(source, tmp_path / "out.mp4", short_side=48)
    prepared = frames_of(tmp_path / "out.mp4", 48)
    assert prepared[0].shape == (48, 74, 3)
    assert crop_offsets(48, 75, 32, None) == crop_offsets(48, 74, 32, None)
    difference = np.mean([np.abs(a[:, :74].astype(int) - b).mean() for a, b in zip(raw, prepared, strict=True)])
    assert difference < 3


def test_an_odd_portrait_side_loses_its_last_row(tmp_path):
    source = write_coded_video(tmp_path / "turned.mp4", 20, "libx264", rotation=90)  # 96x64, shown 64x96
    assert frames_of(source, 42)[0].shape == (63, 42, 3)
    prepare_video(source, tmp_path / "out.mp4", short_side=42)
    prepared = frames_of(tmp_path / "out.mp4")
    assert prepared[0].shape == (62, 42, 3) and [number(frame) for frame in prepared] == list(range(20))


def test_a_failed_check_leaves_neither_target_nor_temporary_file(tmp_path, monkeypatch):
    """Fault injection after the real encode: the check of the written file fails."""
    from zslbench.video import prepare

    source = write_index_video(tmp_path / "v.mp4", 12)

    def failing_check(path, threads=0):
        assert path.name.startswith(".x.") and path.stat().st_size > 0  # the temporary file, written
        raise prepare.DecodeError(path, "injected")

    monkeypatch.setattr(prepare, "load_index", failing_check)
    with pytest.raises(prepare.DecodeError, match="injected"):
        prepare_video(source, tmp_path / "out" / "x.mp4")
    assert list((tmp_path / "out").iterdir()) == []


def test_resume_skips_done_videos_and_redoes_deleted_or_changed_ones(tmp_path):
    paths = [write_index_video(tmp_path / "data" / f"v{i}.mp4", 20 + i) for i in range(3)]
    manifest = manifest_of(tmp_path / "data", paths)
    first = prepare_manifest(manifest, tmp_path / "out", short_side=32, keyframe_every=4)
    assert (first.count("prepared"), first.count("skipped")) == (3, 0)
    outputs = [tmp_path / "out" / f"v{i}.mp4" for i in range(3)]
    before = [path.read_bytes() for path in outputs]

    again = prepare_manifest(manifest, tmp_path / "out", short_side=32, keyframe_every=4)
    assert (again.count("prepared"), again.count("skipped")) == (0, 3)
    outputs[0].unlink()
    write_index_video(paths[2], 30)  # a changed source, same path
    third = prepare_manifest(manifest, tmp_path / "out", short_side=32, keyframe_every=4, workers=2)
    assert [r.status for r in third.results] == ["prepared", "skipped", "prepared"]
    assert outputs[0].read_bytes() == before[0]  # byte-reproducible
    assert load_index(outputs[2]).frames == 30
    assert not list((tmp_path / "out").glob(".*.tmp.mp4"))


def test_other_settings_or_a_foreign_folder_are_refused(tmp_path):
    manifest = manifest_of(tmp_path / "data", [write_index_video(tmp_path / "data" / "v.mp4", 10)])
    prepare_manifest(manifest, tmp_path / "out", short_side=32)
    with pytest.raises(ZslbenchError, match=r"keyframe_every 16 \(now 8\)") as err:
        prepare_manifest(manifest, tmp_path / "out", short_side=32, keyframe_every=8)
    assert "another out_dir" in err.value.hint and "another --out" in err.value.cli_hint
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ZslbenchError, match="was not prepared by zslbench"):
        prepare_manifest(manifest, tmp_path / "mine")
    with pytest.raises(ZslbenchError, match="the manifest's own folder"):
        prepare_manifest(manifest, tmp_path / "data")
    for bad, message in [
        ({"short_side": 15}, "even number in 16..1080"),
        ({"short_side": 4096}, "even number in 16..1080"),  # upscaling to 4K only wastes disk
        ({"keyframe_every": 0}, ">= 1"),
    ]:
        with pytest.raises(ZslbenchError, match=message):
            prepare_manifest(manifest, tmp_path / "new", **bad)


def test_a_broken_video_is_listed_and_left_out_while_the_others_succeed(tmp_path):
    good = [write_index_video(tmp_path / "data" / f"ok{i}.mp4", 12) for i in range(2)]
    broken = tmp_path / "data" / "broken.mp4"
    broken.write_bytes(good[0].read_bytes()[: good[0].stat().st_size // 2])  # its index (moov) is at the end
    manifest = manifest_of(tmp_path / "data", [good[0], broken, tmp_path / "data" / "gone.avi", good[1]])
    report = prepare_manifest(manifest, tmp_path / "out", short_side=32, workers=2)
    assert [r.status for r in report.results] == ["prepared", "failed", "failed", "prepared"]
    reasons = {Path(r.source).name: r.reason for r in report.failed}
    assert reasons["gone.avi"] == "file not found" and reasons["broken.mp4"]
    written = read_manifest(report.manifest_path)
    assert [r.path.name for r in written.records] == ["ok0.mp4", "ok1.mp4"]
    assert written.prepared["videos"] == 4 and written.prepared["left_out"] == 2
    record = json.loads((tmp_path / "out" / "prepare.json").read_text())["manifests"]["m.csv"]
    assert {Path(f["path"]).name for f in record["failed"]} == {"broken.mp4", "gone.avi"}


def test_a_run_that_prepares_nothing_leaves_no_claimed_folder(tmp_path):
    broken = tmp_path / "data" / "broken.mp4"
    broken.parent.mkdir()
    broken.write_text("not a video")
    report = prepare_manifest(manifest_of(tmp_path / "data", [broken]), tmp_path / "out", short_side=32)
    assert report.manifest_path is None and not (tmp_path / "out").exists()
    good = write_index_video(tmp_path / "data" / "ok.mp4", 12)  # other settings work afterwards
    again = prepare_manifest(manifest_of(tmp_path / "data", [good]), tmp_path / "out", short_side=64)
    assert again.manifest_path is not None


def test_outputs_get_the_permissions_the_umask_gives(tmp_path):
    source = write_index_video(tmp_path / "data" / "ok.mp4", 12)
    old = os.umask(0o022)
    try:
        report = prepare_manifest(manifest_of(tmp_path / "data", [source]), tmp_path / "out", short_side=32)
    finally:
        os.umask(old)
    written = [report.manifest_path, tmp_path / "out" / "prepare.json", report.manifest.records[0].path]
    assert [oct(path.stat().st_mode & 0o777) for path in written] == ["0o644"] * 3  # not mkstemp's 0600


def test_no_output_escapes_the_folder_and_no_two_sources_collide(tmp_path):
    data, outside = tmp_path / "data", tmp_path / "outside"
    sources = [
        write_index_video(data / "a" / "clip.avi", 8),
        write_index_video(data / "a" / "clip.mp4", 9),
        write_index_video(outside / "clip.mp4", 10),
        write_index_video(tmp_path / "far" / "clip.mp4", 11),
    ]
    (data / "m.csv").write_text(
        "# zslbench-manifest v1; vocabulary: ucf101\npath,label\n"
        f"a/clip.avi,x\na/clip.mp4,x\na/../../outside/clip.mp4,y\n{sources[3]},y\na/clip.avi,z\n"
    )
    manifest = read_manifest(data / "m.csv")
    planned = plan_outputs(manifest, tmp_path / "out")
    assert len(planned) == 4 and len(set(planned.values())) == 4
    assert all(path.is_relative_to(tmp_path / "out") for path in planned.values())
    before = {p for p in tmp_path.rglob("*") if p.is_file()}
    report = prepare_manifest(manifest, tmp_path / "out", short_side=32)
    created = {p for p in tmp_path.rglob("*") if p.is_file()} - before
    assert created and all(path.is_relative_to(tmp_path / "out") for path in created)
    frames = [load_index(record.path).frames for record in report.manifest.records]
    assert frames == [8, 9, 10, 11, 8]  # the repeated record keeps its label and shares the file
    names = sorted(str(r.path.relative_to(tmp_path / "out")) for r in report.manifest.records[:4])
    assert names[0].startswith("_external/") and names[1].startswith("_external/")
    assert names[2].startswith("a/clip-") and names[3].startswith("a/clip-")


def test_the_prepared_note_round_trips_and_old_manifests_read_as_before(tmp_path):
    video = write_index_video(tmp_path / "v.mp4", 4)
    plain = write_manifest(Manifest((VideoRecord(video, "a"),), "ucf101"), tmp_path / "plain.csv")
    assert read_manifest(plain).prepared is None and read_manifest(plain).notes == {}
    note = '{"short_side":128,"source":{"sha256":"ab"}}'
    noted = write_manifest(Manifest((VideoRecord(video, "a"),), "ucf101", notes={"prepared": note}), tmp_path / "n.csv")
    assert noted.read_text().splitlines()[1] == f"# prepared: {note}"
    back = read_manifest(noted)
    assert back.prepared == {"short_side": 128, "source": {"sha256": "ab"}} and back.records[0].path == video
    assert back.only({"a"}).prepared == back.prepared
    noted.write_text(noted.read_text().replace(note, "{not json"))
    with pytest.raises(ZslbenchError, match="not a JSON object"):
        read_manifest(noted)
    with pytest.raises(ValueError, match="one-line value"):
        write_manifest(Manifest((VideoRecord(video, "a"),), notes={"prepared": "a\nb"}), tmp_path / "x.csv")


def test_cli_prepare_end_to_end(runner, tmp_path, synth_dataset):
    shutil.copytree(synth_dataset.root, tmp_path / "s")
    victim = next((tmp_path / "s" / "target").rglob("*.avi"))
    victim.write_bytes(victim.read_bytes()[:300])
    args = ["data", "prepare", str(tmp_path / "s" / "target.csv"), "--out", str(tmp_path / "p"), "--short-side", "64"]
    result = runner.invoke(app, [*args, "--workers", "2", "--json"])
    assert result.exit_code == 1, result.stderr
    summary = json.loads(result.stdout)
    assert summary["prepared"] == 15 and summary["skipped"] == 0 and summary["records"] == {"source": 16, "kept": 15}
    assert [f["path"] for f in summary["failed"]] == [str(victim)] and summary["failed"][0]["reason"]
    assert summary["bytes"]["before"] > 0 and summary["bytes"]["after"] > 0
    checked = runner.invoke(app, ["data", "check", summary["manifest"], "--json"])
    assert checked.exit_code == 0 and json.loads(checked.stdout)["ok"] == 15  # vocabulary came along
    human = runner.invoke(app, args)
    assert human.exit_code == 1
    assert "0 prepared, 15 already done, 1 failed" in human.stdout and "Failed, left out" in human.stdout
    assert f"manifest {tmp_path / 'p' / 'target.csv'}" in human.stdout.replace("\n", "")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--short-side", "15"], "--short-side 15 must be an even number"),
        (["--keyframe-every", "0"], "--keyframe-every 0 must be >= 1"),
        (["--crf", "60"], "--crf 60 is outside 0..51"),
        (["--workers", "-1"], "--workers -1 is outside [0, 1024]"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(runner, tmp_path, synth_dataset, extra, message):
    target = str(synth_dataset.root / "target.csv")
    result = runner.invoke(app, ["data", "prepare", target, "-o", str(tmp_path), *extra])
    assert result.exit_code == 2, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr


def test_cli_missing_manifest_and_changed_settings_exit_2(runner, tmp_path, synth_dataset):
    missing = runner.invoke(app, ["data", "prepare", str(tmp_path / "none.csv"), "-o", str(tmp_path / "p")])
    assert missing.exit_code == 2 and "does not exist" in missing.stderr
    target = str(synth_dataset.root / "target.csv")
    args = ["data", "prepare", target, "-o", str(tmp_path / "p")]
    assert runner.invoke(app, [*args, "--short-side", "64"]).exit_code == 0
    changed = runner.invoke(app, args)
    assert changed.exit_code == 2 and "short_side 64 (now 128)" in changed.stderr
    assert len(changed.stderr.strip().splitlines()) == 1


def test_clip_evaluated_pixels_change_little_on_the_synthetic_benchmark(tmp_path, synth_dataset):
    """The size of the effect: the protocol's test clips, read from raw and from prepared files."""
    spec = ClipSpec.from_protocol(load_protocol(synth_dataset.protocol).data["clips"])
    report = prepare_manifest(synth_dataset.root / "target.csv", tmp_path / "p", short_side=spec.short_side)
    sampler = ClipSampler(spec, "test")
    differences = []
    raw_records = read_manifest(synth_dataset.root / "target.csv").records
    for raw, prepared in zip(raw_records, report.manifest.records, strict=True):
        a, b = Video(raw.path, spec.short_side), Video(prepared.path, spec.short_side)
        assert a.num_frames == b.num_frames and a.size == b.size
        indices = sampler.indices(a.num_frames)
        differences.append(np.abs(a.read(indices).astype(np.int16) - b.read(indices)).mean())
    print(f"synthetic target clips, raw vs prepared: mean abs difference {np.mean(differences):.2f} grey levels")
    assert 0 < np.mean(differences) < 2.5 and max(differences) < 3


def test_real_clips_keep_their_frames(tmp_path, shared_dir):
    """The six real clips (h264 and mpeg4, 240p to 1080p, 72-300 frames): counts, sizes, keyframes."""
    sources = sorted(p for p in (shared_dir / "real_videos").iterdir() if p.suffix in (".mp4", ".avi"))
    manifest = manifest_of(tmp_path, [Path(shutil.copy(p, tmp_path / p.name)) for p in sources], label="demo")
    started = time.perf_counter()
    report = prepare_manifest(manifest, tmp_path / "p", short_side=128, workers=2)
    seconds = time.perf_counter() - started
    assert not report.failed and len(report.manifest) == 6
    spec = ClipSpec.from_protocol(load_protocol().data["clips"])
    differences = {}
    for raw, prepared in zip(read_manifest(manifest).records, report.manifest.records, strict=True):
        source, out = Video(raw.path, 128), Video(prepared.path, 128)
        assert out.num_frames == source.num_frames and out.index.keyframes == tuple(range(0, out.num_frames, 16))
        width, height = source.size
        assert out.size == (width - width % 2, height)
        indices = ClipSampler(spec, "test").indices(source.num_frames)
        frames = source.read(indices)[..., : out.size[1], : out.size[0], :]
        differences[raw.path.name] = float(np.abs(frames.astype(np.int16) - out.read(indices)).mean())
    summary = report.summary()
    sizes = f"{summary['bytes']['before']} -> {summary['bytes']['after']} bytes"
    print(f"real clips: {seconds:.1f} s, {sizes}, mean abs difference of test clips {differences}")
    assert max(differences.values()) < 4
    assert {Video(r.path).size for r in report.manifest.records} >= {(170, 128), (226, 128), (228, 128)}


@pytest.mark.slow
def test_training_and_evaluation_run_from_prepared_manifests(runner, tmp_path, synth_dataset):
    prepared = tmp_path / "prepared"
    for part in ("source", "target"):
        done = runner.invoke(app, ["data", "prepare", str(synth_dataset.root / f"{part}.csv"), "-o", str(prepared),
                                   "--short-side", "64", "--workers", "2"])  # fmt: skip
        assert done.exit_code == 0, done.stderr
    assert set(json.loads((prepared / "prepare.json").read_text())["manifests"]) == {"source.csv", "target.csv"}
    run = tmp_path / "run"
    steps = [
        ["train", "--model", "e2e_r2plus1d", "--width", "0.125", "--epochs", "1", "--protocol",
         str(synth_dataset.protocol), "--data", f"synth-source={prepared / 'source.csv'}", "--out", str(run)],
        ["eval", "--weights", str(run), "--data", f"synth-target={prepared / 'target.csv'}", "--name", "prepared",
         "--out", str(tmp_path / "results"), "--json"],
    ]  # fmt: skip
    for step in steps:
        done = runner.invoke(app, step)
        assert done.exit_code == 0, (step[0], done.stdout[-500:], done.stderr[-1500:])
    (record,) = json.loads(done.stdout)
    assert record["data"]["expected"] == record["data"]["scored"] == 16 and record["data"]["complete"]
    assert os.path.exists(prepared / "target.csv")
    reading = record["data"]["reading"]  # the record says the pixels were prepared, and how
    assert reading["prepared"]["settings"]["short_side"] == 64 and reading["prepared"]["left_out"] == 0
    assert reading["videos_read"] == {"seek": 16}  # prepared files are mp4: every read seeks


@pytest.mark.parametrize(
    ("short_side", "sets", "message"),
    [
        ("32", [], "prepared at short side 32, the protocol reads 64"),
        ("64", ["--set", "clips.resize=torch_bilinear"], "resizes with clips.resize torch_bilinear"),
    ],
)
def test_a_manifest_prepared_for_other_pixels_is_refused(runner, tmp_path, synth_dataset, short_side, sets, message):
    """Prepared frames are scaled once already: another short side, or a resize from the original
    frames (the reference's), would scale them twice."""
    prepared = tmp_path / "prepared"
    done = runner.invoke(app, ["data", "prepare", str(synth_dataset.root / "source.csv"), "-o", str(prepared),
                               "--short-side", short_side])  # fmt: skip
    assert done.exit_code == 0, done.stderr
    train = ["train", "--model", "e2e_r2plus1d", "--width", "0.125", "--epochs", "1", "--protocol",
             str(synth_dataset.protocol), "--data", f"synth-source={prepared / 'source.csv'}", *sets,
             "--out", str(tmp_path / "run")]  # fmt: skip
    done = runner.invoke(app, train)
    assert done.exit_code == 2 and message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()
