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


def test_a_manifest_names_its_class_list_relative_to_itself(runner, tmp_path, monkeypatch, synth_dataset):
    """`--classes lists/c.txt --out man/m.csv` run from the project folder: the manifest is checked from
    any folder, prepared, and moved together with its class list (csv layout to a deeper --out too)."""
    project = tmp_path / "project"
    shutil.copytree(synth_dataset.root / "target", project / "ROOT")
    (project / "lists").mkdir()
    shutil.copy(synth_dataset.root / "synth-target.txt", project / "lists" / "c.txt")
    rows = [f'"ROOT/{p.parent.name}/{p.name}",{p.parent.name}' for p in sorted((project / "ROOT").rglob("*.*"))]
    (project / "rows.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    monkeypatch.chdir(project)
    classes = ["--classes", "lists/c.txt"]
    indexed = [
        runner.invoke(app, ["data", "index", "folder", "ROOT", *classes, "--out", "man/m.csv"]),
        runner.invoke(app, ["data", "index", "csv", "rows.csv", *classes, "--out", "other/dir/m.csv"]),
    ]
    assert [r.exit_code for r in indexed] == [0, 0], [r.stderr for r in indexed]
    assert "vocabulary: ../lists/c.txt" in (project / "man" / "m.csv").read_text()
    assert "vocabulary: ../../lists/c.txt" in (project / "other" / "dir" / "m.csv").read_text()
    for folder, manifest in ((project, "man/m.csv"), (project / "man", "m.csv"), (project / "other", "dir/m.csv")):
        monkeypatch.chdir(folder)
        checked = runner.invoke(app, ["data", "check", manifest, "--json"])
        assert checked.exit_code == 0, (folder, checked.stderr)
        assert json.loads(checked.stdout)["labels_not_in_vocabulary"] == []
    monkeypatch.chdir(tmp_path)
    shutil.move(project, tmp_path / "moved")  # the dataset, its lists and manifests move together
    assert runner.invoke(app, ["data", "check", "moved/man/m.csv"]).exit_code == 0
    prepared = runner.invoke(app, ["data", "prepare", "moved/man/m.csv", "-o", "prepared"])
    assert prepared.exit_code == 0, prepared.stderr
    assert runner.invoke(app, ["data", "check", "prepared/m.csv"]).exit_code == 0
