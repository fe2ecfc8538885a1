"""Video-text weights in the zoo: folders and state dicts kept whole with their tokenizer, declarations
read once and kept, and evaluations that use them."""

import json
from pathlib import Path

import pytest
from cli_output import single_error_line
from video_text_models import save_clip_folder, save_openai_state_dict, tiny_clip

from zslbench.cli import app

pytest.importorskip("transformers")


@pytest.fixture
def zoo(tmp_path, monkeypatch):
    monkeypatch.setenv("ZSLBENCH_DATA", str(tmp_path / "data"))
    return tmp_path / "data" / "weights"


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory) -> Path:
    return save_clip_folder(tiny_clip(0, image_size=64), tmp_path_factory.mktemp("clip") / "tiny-clip")


def evaluate(runner, synth, *args):
    data = f"synth-target={synth.root / 'target.csv'}"
    done = runner.invoke(app, ["eval", "--protocol", str(synth.protocol), "--data", data, "--json", *args])
    assert done.exit_code == 0, done.stderr[-2000:]
    (record,) = json.loads(done.stdout)
    return record


def test_declared_classes_are_read_once_and_kept(runner, synth_dataset, clip_folder, zoo, tmp_path, monkeypatch):
    listed = tmp_path / "lists" / "ft.txt"
    listed.parent.mkdir()
    listed.write_text("blue cross sliding\n")  # a test class of the synthetic benchmark: not compliant
    monkeypatch.chdir(listed.parent)
    added = runner.invoke(app, ["weights", "add", str(clip_folder), "--id", "tiny", "--image-text", "none",
                                "--finetuned-on", "ft.txt", "--json"])  # fmt: skip
    assert added.exit_code == 0, added.stderr
    entry = json.loads(added.stdout)
    assert entry["finetuned_classes"] == ["blue cross sliding"] and entry["protocol"] == {}
    monkeypatch.chdir(tmp_path)  # another folder, and the list changed: the entry keeps what was declared
    listed.write_text("juggling balls\n")
    record = evaluate(runner, synth_dataset, "--model", "clip_frames", "--out", str(tmp_path / "r1"))
    assert record["compliance"]["verdict"] == "not_compliant"
    by_path = evaluate(runner, synth_dataset, "--weights", str(zoo / "tiny"), "--out", str(tmp_path / "r2"))
    assert by_path["compliance"]["verdict"] == "not_compliant"  # the zoo's own folder keeps its declarations
    again = runner.invoke(app, ["weights", "add", str(clip_folder), "--id", "tiny", "--image-text", "OpenAI CLIP",
                                "--finetuned-on", "none", "--json"])  # fmt: skip
    assert again.exit_code == 0 and json.loads(again.stdout)["compliance"] == "finetuning_compliant"
    listed_zoo = json.loads(runner.invoke(app, ["weights", "list", "--json"]).stdout)
    assert [e["id"] for e in listed_zoo] == ["tiny"] and listed_zoo[0]["image_text"] == "OpenAI CLIP"


def test_a_state_dict_is_kept_with_its_tokenizer(runner, synth_dataset, clip_folder, zoo, tmp_path):
    source = tmp_path / "release"
    source.mkdir()
    weights = save_openai_state_dict(tiny_clip(0, image_size=64), source / "vifi.pth", wrap="state_dict")
    tokenizer = clip_folder  # the base model's folder: its tokenizer, and its config names the heads
    bare = runner.invoke(app, ["weights", "add", str(weights), "--model", "clip_frames"])
    assert bare.exit_code == 2 and "tokenizer" in single_error_line(bare)
    declared = ["--image-text", "none", "--finetuned-on", "none"]
    added = runner.invoke(app, ["weights", "add", str(weights), "--model", "clip_frames", "--id", "vifi",
                                "--option", f"tokenizer={tokenizer}", *declared])  # fmt: skip
    assert added.exit_code == 0, added.stderr
    kept = sorted(p.relative_to(zoo / "vifi").as_posix() for p in (zoo / "vifi").rglob("*") if p.is_file())
    assert "vifi.pth" in kept and {"tokenizer/config.json", "tokenizer/vocab.json", "tokenizer/merges.txt"} <= set(kept)
    from_zoo = evaluate(runner, synth_dataset, "--model", "clip_frames", "--out", str(tmp_path / "r"))
    folder = evaluate(runner, synth_dataset, "--weights", str(clip_folder), "--image-text", "none",
                      "--finetuned-on", "none", "--out", str(tmp_path / "f"))  # fmt: skip
    assert from_zoo["metrics"] == folder["metrics"] and from_zoo["compliance"]["verdict"] == "compliant"
    verified = runner.invoke(app, ["weights", "verify", "vifi"])
    assert verified.exit_code == 0
    (zoo / "vifi" / "tokenizer" / "merges.txt").write_text("#version: 0.2\nchanged\n")
    assert runner.invoke(app, ["weights", "verify", "vifi"]).exit_code == 1


def test_zoo_json_is_not_an_id_and_a_duplicate_id_is_damage(runner, clip_folder, zoo):
    named = runner.invoke(app, ["weights", "add", str(clip_folder), "--id", "zoo.json"])
    assert named.exit_code == 2 and "cannot name weights" in single_error_line(named)
    assert runner.invoke(app, ["weights", "add", str(clip_folder), "--id", "a"]).exit_code == 0
    data = json.loads((zoo / "zoo.json").read_text())
    data["entries"].append(data["entries"][0])
    (zoo / "zoo.json").write_text(json.dumps(data))
    listed = runner.invoke(app, ["weights", "list"])
    assert listed.exit_code == 2 and "twice" in single_error_line(listed)
