import json
import shutil

import pytest

from zslbench.cli import app


def test_synth_index_check_end_to_end(runner, tmp_path):
    made = runner.invoke(app, ["synth", str(tmp_path / "s"), "--classes", "8", "--videos-per-class", "2", "--json"])
    assert made.exit_code == 0, made.stderr
    summary = json.loads(made.stdout)
    assert summary["videos"] == 16 and len(summary["target"]) == 2

    out = tmp_path / "m.csv"
    indexed = runner.invoke(
        app,
        [
            "data",
            "index",
            "folder",
            str(tmp_path / "s" / "target"),
            "--classes",
            str(tmp_path / "s" / "synth-target.txt"),
            "-o",
            str(out),
        ],
    )
    assert indexed.exit_code == 0, indexed.stderr
    assert "4 in 2 classes" in indexed.stdout and out.exists()

    checked = runner.invoke(app, ["data", "check", str(out), "--json"])
    assert checked.exit_code == 0, checked.stderr
    report = json.loads(checked.stdout)
    assert report["ok"] == 4 and report["frames"]["min"] == 24 and set(report["codecs"]) == {"h264", "mpeg4"}


def test_check_fails_with_exit_1_and_names_the_broken_video(runner, tmp_path, synth_dataset):
    shutil.copytree(synth_dataset.root, tmp_path / "s")
    manifest = tmp_path / "s" / "target.csv"
    victim = next((tmp_path / "s" / "target").rglob("*.mp4"))
    victim.write_bytes(victim.read_bytes()[:200])
    result = runner.invoke(app, ["data", "check", str(manifest), "--workers", "2", "--json"])
    assert result.exit_code == 1
    (failed,) = json.loads(result.stdout)["failed"]
    assert failed["path"] == str(victim) and failed["reason"]
    human = runner.invoke(app, ["data", "check", str(manifest)])
    assert human.exit_code == 1 and "Unreadable videos" in human.stdout


def test_index_refuses_a_tree_with_no_label_of_the_vocabulary(runner, tmp_path, synth_dataset):
    result = runner.invoke(app, ["data", "index", "ucf101", str(synth_dataset.root / "source"), "-o", "m.csv"])
    assert result.exit_code == 2
    assert "none of the" in result.stderr and "ucf101" in result.stderr
    assert not (tmp_path / "m.csv").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["data", "index", "folder", "missing-root"], "does not exist"),
        (["data", "index", "kinetcs700", "."], "Did you mean 'kinetics700'"),
        (["data", "check", "missing.csv"], "does not exist"),
        (["synth", "out", "--classes", "99"], "--classes 99"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(runner, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr


def test_real_clips_index_and_check(runner, tmp_path, shared_dir):
    root = tmp_path / "real"
    (root / "demo").mkdir(parents=True)
    for clip in (shared_dir / "real_videos").iterdir():
        if clip.suffix in (".mp4", ".avi"):
            shutil.copy(clip, root / "demo" / clip.name)
    indexed = runner.invoke(app, ["data", "index", "folder", str(root), "-o", str(tmp_path / "real.csv"), "--json"])
    assert indexed.exit_code == 0 and json.loads(indexed.stdout)["videos"] == 6
    checked = runner.invoke(app, ["data", "check", str(tmp_path / "real.csv"), "--json"])
    report = json.loads(checked.stdout)
    assert checked.exit_code == 0 and report["ok"] == 6
    assert report["frames"] == {"min": 72, "median": 280, "max": 300}
