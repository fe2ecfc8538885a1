"""Fine-tuning a video-text model under the rule (training/video_text.py): a tiny random-weight CLIP
with a real byte-level tokenizer, trained on the synthetic benchmark's kept source classes through
the CLI, resumed bit for bit, evaluated on the unseen target classes; and the one loss registry
(models/losses.py) training a 3D CNN with a learned temperature."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from cli_output import single_error_line
from video_text_models import save_clip_folder, tiny_clip, tiny_xclip

from zslbench.cli import app
from zslbench.models.checkpoint import load_checkpoint

pytest.importorskip("transformers")

FRAMES = ["--option", "frames=4"]


def train_args(synth, clip: Path, out: Path, *extra: str) -> list[str]:
    return [
        "train", "--model", "clip_frames", "--init", str(clip), "--protocol", str(synth.protocol),
        "--data", f"synth-source={synth.root / 'source.csv'}", "--out", str(out), "--image-text", "none",
        *FRAMES, *extra,
    ]  # fmt: skip


def invoke(runner, args: list[str]):
    done = runner.invoke(app, args)
    assert done.exit_code == 0, (done.stdout[-800:], done.stderr[-2000:])
    return done


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory) -> Path:
    return save_clip_folder(tiny_clip(0), tmp_path_factory.mktemp("clip") / "tiny-clip")


@pytest.fixture(scope="module")
def finetuned(synth_dataset, clip_folder, tmp_path_factory):
    """clip_frames fine-tuned for the protocol's 12 epochs (about 40 s): text tower frozen, temperature
    learned from CLIP's own, then evaluated on the target classes; (run folder, record)."""
    from typer.testing import CliRunner

    runner = CliRunner()
    root = tmp_path_factory.mktemp("finetuned")
    run, results = root / "run", root / "results"
    invoke(runner, train_args(synth_dataset, clip_folder, run, "--lr", "3e-3", "--learn-temperature"))
    data = f"synth-target={synth_dataset.root / 'target.csv'}"
    invoke(runner, ["eval", "--weights", str(run), "--data", data, "--out", str(results)])
    (path,) = results.rglob("synth-target.json")
    return run, json.loads(path.read_text())


def test_a_fine_tuned_clip_names_unseen_classes_above_chance(finetuned):
    """Measured: top-1 56.2 over the 4 target classes (chance 25), 75.0 on the 2-way half splits."""
    _, record = finetuned
    chance = 100 / record["dataset"]["classes"]
    print("fine-tuned tiny clip_frames:", record["metrics"]["all"]["top1"], record["metrics"]["random_half"]["top1"])
    assert record["metrics"]["all"]["top1"] > chance
    assert record["metrics"]["random_half"]["top1"]["mean"] > 50
    assert record["data"]["complete"]


def test_the_record_says_what_the_model_saw_and_how_it_was_fine_tuned(finetuned, synth_dataset):
    run, record = finetuned
    state = load_checkpoint(run)
    listed = (synth_dataset.root / "synth-source.txt").read_text().splitlines()
    assert set(state["classes"]) == {line for line in listed if line and not line.startswith("#")}
    assert record["model"]["declared"]["finetuned_on"] == "synth-source, as the rule of synth-seed0 keeps it"
    assert record["compliance"]["verdict"] == "compliant"  # kept classes, and --image-text none
    assert record["training"]["settings"]["loss"] == "softmax"
    assert record["training"]["settings"]["text_tower"] == "frozen"
    assert record["class_embeddings"]["source"] == "text_tower"  # scored in the model's own text space
    # the learned temperature moved from CLIP's initial 1 / exp(2.6592) and is logged per step
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    temperatures = [row["temperature"] for row in rows if "temperature" in row]
    assert temperatures and abs(temperatures[-1] - state["settings"]["temperature"]) > 1e-4
    assert state["settings"]["temperature"] == pytest.approx(1 / torch.tensor(2.6592).exp().item(), rel=1e-4)


def test_the_record_carries_the_overlap_diagnostic(finetuned):
    _, record = finetuned
    assert "overlap" in record, sorted(record)


def test_fine_tuning_resumes_bit_for_bit(synth_dataset, clip_folder, tmp_path, runner):
    """A run stopped after 5 steps and resumed ends with the same weights, learned temperature and
    optimizer state as one that ran through: text tower tuned, so the class side moves too."""
    extra = ["--epochs", "2", "--lr", "1e-3", "--text-tower", "tuned", "--learn-temperature"]
    invoke(runner, train_args(synth_dataset, clip_folder, tmp_path / "straight", *extra))
    invoke(runner, train_args(synth_dataset, clip_folder, tmp_path / "stopped", *extra, "--max-steps", "5"))
    assert not load_checkpoint(tmp_path / "stopped")["finished"]
    invoke(runner, train_args(synth_dataset, clip_folder, tmp_path / "stopped", *extra, "--resume"))
    straight, resumed = load_checkpoint(tmp_path / "straight"), load_checkpoint(tmp_path / "stopped")
    assert resumed["finished"] and resumed["global_step"] == straight["global_step"] == 12
    for name, tensor in straight["state_dict"].items():
        assert torch.equal(tensor, resumed["state_dict"][name]), name
    assert torch.equal(straight["loss_state"]["log_scale"], resumed["loss_state"]["log_scale"])
    text = "clip.text_model.encoder.layers.0.mlp.fc1.weight"
    assert not torch.equal(straight["state_dict"][text], tiny_clip(0).state_dict()[text.removeprefix("clip.")])


def test_the_same_loss_trains_a_3d_cnn_with_a_learned_temperature(synth_dataset, tmp_path, runner):
    """One loss registry: the softmax over cosine similarities, its temperature learned, on the paper's model."""
    args = [
        "train", "--model", "e2e_r2plus1d", "--width", "0.125", "--protocol", str(synth_dataset.protocol),
        "--data", f"synth-source={synth_dataset.root / 'source.csv'}", "--out", str(tmp_path / "cnn"),
        "--epochs", "1", "--loss", "softmax", "--learn-temperature", "--temperature", "0.1",
    ]  # fmt: skip
    invoke(runner, args)
    state = load_checkpoint(tmp_path / "cnn")
    assert state["settings"]["temperature"] == 0.1 and state["settings"]["learn_temperature"]
    learned = 1 / state["loss_state"]["log_scale"].exp().item()
    assert learned != pytest.approx(0.1, abs=1e-6)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--model", "clip_frames"], "starts from image-text weights"),
        (["--model", "e2e_r2plus1d", "--text-tower", "tuned"], "--text-tower is for video-text models"),
        (["--model", "e2e_r2plus1d", "--loss", "mse", "--temperature", "0.1"], "applies to the softmax loss"),
        (["--model", "clip_frames", "--text-tower", "half"], "unknown --text-tower"),
        (["--model", "e2e_r2plus1d", "--image-text", "none"], "--image-text is for video-text models"),
        (
            ["--model", "e2e_r2plus1d", "--loss", "cosine", "--learn-temperature"],
            "--learn-temperature applies to the softmax",
        ),
    ],
)
def test_bad_fine_tuning_requests_are_one_line(synth_dataset, clip_folder, tmp_path, runner, extra, expected):
    args = [
        "train", "--protocol", str(synth_dataset.protocol), "--out", str(tmp_path / "run"),
        "--data", f"synth-source={synth_dataset.root / 'source.csv'}", *extra,
    ]  # fmt: skip
    if "--text-tower" in extra and "clip_frames" in extra:
        args += ["--init", str(clip_folder)]
    done = runner.invoke(app, args)
    assert done.exit_code == 2 and expected in single_error_line(done)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_xclip_is_refused_in_one_line(synth_dataset, tmp_path, runner):
    from video_text_models import save_xclip_folder

    folder = save_xclip_folder(tiny_xclip(0), tmp_path / "xclip")
    args = [
        "train", "--model", "xclip", "--init", str(folder), "--protocol", str(synth_dataset.protocol),
        "--data", f"synth-source={synth_dataset.root / 'source.csv'}", "--out", str(tmp_path / "run"),
    ]  # fmt: skip
    done = runner.invoke(app, args)
    assert done.exit_code == 2 and "cannot be fine-tuned" in single_error_line(done)


def test_moved_init_weights_are_named_and_can_be_given_again(finetuned, clip_folder, synth_dataset, tmp_path, runner):
    """The checkpoint reads config and tokenizer from its --init: a missing folder is one line, and
    `--option init=PATH` gives where the same files are now (other files are refused, by content hash).
    An exported run evaluates the same way."""
    run, record = finetuned
    assert Path(load_checkpoint(run)["video_text"]["init"]["path"]) == clip_folder.resolve()
    invoke(runner, ["weights", "export", str(run), "--out", str(tmp_path / "export")])
    moved = tmp_path / "moved-clip"
    shutil.move(clip_folder, moved)
    data = f"synth-target={synth_dataset.root / 'target.csv'}"
    try:
        for weights in (run, tmp_path / "export"):
            args = ["eval", "--weights", str(weights), "--data", data, "--out", str(tmp_path / "r")]
            done = runner.invoke(app, [*args, "--name", "gone"])
            assert done.exit_code == 2 and "no longer exists" in single_error_line(done)
            other = save_clip_folder(tiny_clip(1), tmp_path / "other-clip")
            done = runner.invoke(app, [*args, "--name", "other", "--option", f"init={other}"])
            assert done.exit_code == 2 and "holds other files" in single_error_line(done)
            done = runner.invoke(app, [*args, "--name", "no", "--option", "frames=8"])
            assert done.exit_code == 2 and "only --option init=PATH applies" in single_error_line(done)
            done = runner.invoke(app, [*args, "--name", "no", "--image-text", "OpenAI CLIP"])
            assert done.exit_code == 2 and "declares its image-text pretraining already" in single_error_line(done)
            invoke(runner, [*args, "--name", weights.name, "--option", f"init={moved}", "--json"])
            (path,) = (tmp_path / "r" / weights.name).rglob("synth-target.json")
            again = json.loads(path.read_text())
            assert again["metrics"]["all"] == record["metrics"]["all"]
    finally:
        shutil.move(moved, clip_folder)


def test_two_gloo_processes_fine_tune_to_identical_replicas(synth_dataset, clip_folder, tmp_path):
    """Under torchrun the learned temperature and the tuned text tower are all-reduced with the rest
    (they step inside the DDP-wrapped objective): both ranks end with the same weights."""
    import os
    import subprocess
    import sys

    from ports import free_port

    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={free_port()}"]
    extra = ["--epochs", "1", "--text-tower", "tuned", "--learn-temperature", "--json"]
    command = [*launcher, "-m", "zslbench", *train_args(synth_dataset, clip_folder, tmp_path / "ddp", *extra)]
    run = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    hashes = json.loads(run.stdout[run.stdout.index("{") :])["replica_hashes"]
    assert len(hashes) == 2 and hashes[0] == hashes[1]
    state = load_checkpoint(tmp_path / "ddp")
    assert state["finished"] and state["loss_state"]["log_scale"].item() != pytest.approx(2.6592, abs=1e-6)
