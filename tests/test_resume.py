"""Stopping and resuming training: Ctrl-C mid-epoch (one process, and two under torchrun), refused
settings, metrics rows, AMP on CUDA; and the failure budget of a run whose videos fail to decode."""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from ports import free_port
from tiny_runs import TINY, tiny_config

from zslbench.cli import app
from zslbench.core.errors import ZslbenchError
from zslbench.models.checkpoint import load_checkpoint, training_summary
from zslbench.training.state import StopSignals
from zslbench.training.trainer import TrainConfig, train

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def config(synth, out, **changes) -> TrainConfig:
    """Two epochs of the tiny run (12 steps of 8 videos)."""
    return tiny_config(synth, out, **{"epochs": 2, **changes})


def cli(synth, out: Path, *extra: str, launcher: tuple[str, ...] = ("-m",)) -> list[str]:
    """`python -m zslbench train` (or under a launcher) on the tiny model, 2 videos a step."""
    return [
        sys.executable, *launcher, "zslbench", "train", "--model", "e2e_r2plus1d", "--width", "0.125",
        "--batch-size", "2", "--protocol", str(synth.protocol),
        "--data", f"synth-source={synth.root / 'source.csv'}", "--out", str(out), *extra,
    ]  # fmt: skip


def torchrun() -> tuple[str, ...]:
    return ("-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={free_port()}", "-m")


def interrupt_mid_epoch(command: list[str], out: Path, timeout: float = 180) -> tuple[int, str]:
    """Run `command` in its own session and press Ctrl-C, the way a terminal does (SIGINT to the whole
    process group, loader workers included), once its first metrics row says it is inside epoch 1."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
                            start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + timeout
    while not (out / "metrics.jsonl").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the run never logged a step: {proc.communicate()[1][-2000:]}")
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=timeout)
    return proc.returncode, stderr


def same_weights(a: Path, b: Path) -> bool:
    first, second = load_checkpoint(a)["state_dict"], load_checkpoint(b)["state_dict"]
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def rows(out: Path) -> list[dict]:
    """metrics.jsonl without the wall-clock times, which no two runs share."""
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "elapsed_s"} for line in lines]


@pytest.fixture(scope="module")
def straight(synth_dataset, tmp_path_factory) -> Path:
    """An uninterrupted 2-epoch run of the tiny model, 8 videos a step (12 steps)."""
    out = tmp_path_factory.mktemp("straight") / "run"
    train(config(synth_dataset, out, log_every=1))
    return out


def test_ctrl_c_mid_epoch_then_resume_equals_an_uninterrupted_run(synth_dataset, tmp_path):
    reference = tmp_path / "reference"  # no loader workers, and as many threads: 48 steps
    straight_run = subprocess.run(cli(synth_dataset, reference, "--epochs", "2"), capture_output=True, env=ENV)
    assert straight_run.returncode == 0, straight_run.stderr[-2000:]
    out = tmp_path / "stopped"
    code, stderr = interrupt_mid_epoch(cli(synth_dataset, out, "--epochs", "2", "--workers", "1"), out)
    assert code == 130, stderr[-2000:]
    assert "resumes it exactly" in stderr and "Traceback" not in stderr
    state = load_checkpoint(out)
    said = " ".join(stderr.split())
    assert f"interrupted (SIGINT at epoch {state['epoch'] + 1}, step {state['step']}): checkpoint" in said
    assert not state["finished"] and 10 <= state["global_step"] < 48
    assert state["global_step"] == 24 * state["epoch"] + state["step"]  # written between two steps
    assert max(row.get("global_step", 0) for row in rows(out)) <= state["global_step"]
    resumed = subprocess.run(
        cli(synth_dataset, out, "--epochs", "2", "--workers", "1", "--resume"), capture_output=True, text=True,
        env=ENV, timeout=300,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert same_weights(out, reference)
    assert rows(out) == rows(reference)  # every row once, with the same losses


@pytest.mark.slow
def test_ctrl_c_under_torchrun_stops_every_rank_at_the_same_step(synth_dataset, tmp_path):
    reference, out = tmp_path / "reference", tmp_path / "stopped"
    straight_run = subprocess.run(
        cli(synth_dataset, reference, "--epochs", "1", launcher=torchrun()), capture_output=True, text=True,
        env=ENV, timeout=300,
    )  # fmt: skip
    assert straight_run.returncode == 0, straight_run.stderr[-2000:]
    _, stderr = interrupt_mid_epoch(cli(synth_dataset, out, "--epochs", "1", launcher=torchrun()), out)
    assert "resumes it exactly" in stderr, stderr[-3000:]  # torchrun itself then exits 1
    state = load_checkpoint(out)
    assert not state["finished"] and 10 <= state["step"] < 24  # one process per 1-video half of each step
    assert len(state["rng"]["ranks"]) == 2
    resumed = subprocess.run(
        cli(synth_dataset, out, "--epochs", "1", "--resume", launcher=torchrun()), capture_output=True,
        text=True, env=ENV, timeout=300,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert same_weights(out, reference)
    assert rows(out) == rows(reference)


@pytest.fixture(scope="module")
def stopped(synth_dataset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("stopped") / "run"
    train(config(synth_dataset, out, max_steps=2, log_every=1))
    return out


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"model_options": {"width": 0.25}}, "its model option width is 0.125, this run's is 0.25"),
        ({"model_options": {**TINY, "dropout": 0.5}}, "its model option dropout is 0.05, this run's is 0.5"),
        ({"batch_size": 4}, "its setting batch_size is 8, this run's is 4"),
        ({"seed": 7}, "its setting seed is 0, this run's is 7"),
        ({"loss": "mse"}, "its setting loss is 'softmax', this run's is 'mse'"),
        ({"lr": 0.01}, "its setting lr is 0.001, this run's is 0.01"),
        ({"model": "e2e_r3d"}, "its model is 'e2e_r2plus1d', this run's is 'e2e_r3d'"),
        ({"pretrained_on": "kinetics400"}, "its pretrained_on is None, this run's is 'kinetics400'"),
    ],
)
def test_a_resume_with_another_setting_is_refused_and_changes_nothing(synth_dataset, stopped, changes, message):
    before = (stopped / "checkpoint.pt").read_bytes(), (stopped / "metrics.jsonl").read_bytes()
    with pytest.raises(ZslbenchError, match="cannot resume") as err:
        train(config(synth_dataset, stopped, resume=True, **changes))
    assert message in err.value.message and "resume=True" in err.value.hint
    assert ((stopped / "checkpoint.pt").read_bytes(), (stopped / "metrics.jsonl").read_bytes()) == before


def test_a_resume_with_other_classes_or_videos_is_refused(synth_dataset, stopped, tmp_path):
    fewer = tmp_path / "fewer.txt"
    fewer.write_text("\n".join(c.name for c in synth_dataset.source[1:]) + "\n")
    with pytest.raises(ZslbenchError, match=r"its 12 training classes differ from this run's 11; e\.g\. '"):
        train(config(synth_dataset, stopped, resume=True, classes=str(fewer)))
    source = synth_dataset.root / "source.csv"
    lines = source.read_text().splitlines()
    shorter = tmp_path / "source.csv"  # one video fewer, the others where they are
    shorter.write_text("\n".join([lines[0], lines[1], *[_absolute(line, source) for line in lines[2:-1]]]) + "\n")
    with pytest.raises(ZslbenchError, match="its 48 training videos differ from this run's 47"):
        train(config(synth_dataset, stopped, resume=True, data={"synth-source": shorter}))


def test_cli_refuses_a_resume_with_another_width_in_one_line(runner, synth_dataset, stopped):
    args = ["train", "--model", "e2e_r2plus1d", "--width", "0.25", "--epochs", "2", "--resume",
            "--protocol", str(synth_dataset.protocol), "--data", f"synth-source={synth_dataset.root / 'source.csv'}",
            "--out", str(stopped)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "its model option width is 0.125, this run's is 0.25" in result.stderr
    assert "Traceback" not in result.stderr and "state_dict" not in result.stderr.lower()


def test_epochs_may_grow_on_resume_but_never_below_what_is_done(synth_dataset, straight, tmp_path):
    out = tmp_path / "run"
    train(config(synth_dataset, out, epochs=1, log_every=1))
    with pytest.raises(ZslbenchError, match="is a finished run of 1 epoch") as err:
        train(config(synth_dataset, out, epochs=1, resume=True))
    assert "pass epochs above 1" in err.value.hint and "pass --epochs above 1" in err.value.cli_hint
    train(config(synth_dataset, out, epochs=2, resume=True, log_every=1))  # a 1-epoch run is a 2-epoch run's start
    assert same_weights(out, straight) and load_checkpoint(out)["finished"]
    assert rows(out) == rows(straight)


def test_rows_logged_after_the_last_checkpoint_are_not_repeated(synth_dataset, straight, tmp_path):
    out = tmp_path / "run"
    train(config(synth_dataset, out, max_steps=8, log_every=1))
    kept = (out / "checkpoint.pt").read_bytes()
    train(config(synth_dataset, out, max_steps=10, log_every=1, resume=True))
    (out / "checkpoint.pt").write_bytes(kept)  # as if killed (say kill -9) after logging steps 9 and 10
    with open(out / "metrics.jsonl", "a") as handle:
        handle.write('{"epoch": 2, "step": 5, "glo')  # and half-way through a line
    train(config(synth_dataset, out, log_every=1, resume=True))
    assert [row["global_step"] for row in rows(out) if "step" in row] == list(range(1, 13))
    assert rows(out) == rows(straight) and same_weights(out, straight)


def test_training_summary_says_what_a_result_record_shows(straight):
    summary = training_summary(load_checkpoint(straight))
    assert summary["settings"] == {
        "epochs": 2, "batch_size": 8, "processes": 1, "batch_per_process": 8, "lr": 0.001, "optimizer": "adam",
        "milestones": [10], "gamma": 0.1, "loss": "softmax", "seed": 0, "clips_per_epoch": None, "batch_per": "global",
        "amp": False, "amp_dtype": None, "temperature": 0.05, "learn_temperature": False,
    }  # fmt: skip
    assert (summary["epochs_done"], summary["steps"], summary["finished"], summary["complete"]) == (2, 12, True, True)
    assert summary["data"]["videos"] == 48 and summary["data"]["failed"] == 0
    assert summary["data"]["unseen_classes"] == [] and summary["data"]["failure_budget"] == 0.005
    json.dumps(summary)  # plain JSON values, ready for a result record


def _absolute(line: str, manifest: Path) -> str:
    path, rest = line.split(",", 1)
    return f"{manifest.parent / path},{rest}"


def broken_manifest(synth, tmp_path: Path, broken: dict[str, int]) -> Path:
    """The source manifest with the first `broken[class]` videos of some classes replaced by files
    that are not videos."""
    source = synth.root / "source.csv"
    lines = source.read_text().splitlines()
    out, done = [lines[0], lines[1]], dict.fromkeys(broken, 0)
    for line in lines[2:]:
        label = line.rsplit(",", 2)[1]
        if label in broken and done[label] < broken[label]:
            path = tmp_path / "broken" / f"{label.replace(' ', '-')}_{done[label]}.mp4"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(b"not a video, whatever the name says\n" * 20)
            done[label] += 1
            line = f"{path},{line.rsplit(',', 2)[1]},source"
        out.append(line if line.startswith("/") else _absolute(line, source))
    manifest = tmp_path / "source.csv"
    manifest.write_text("\n".join(out) + "\n")
    return manifest


def test_a_class_whose_videos_all_fail_finishes_but_is_not_complete(runner, synth_dataset, tmp_path):
    lost = synth_dataset.source[0].name
    manifest = broken_manifest(synth_dataset, tmp_path, {lost: 4})
    result = train(config(synth_dataset, tmp_path / "run", data={"synth-source": manifest}, epochs=1))
    assert result.failures == 4 and not result.stopped_early and not result.complete
    assert result.data["unseen_classes"] == [lost] and lost in result.data["why"]
    state = load_checkpoint(tmp_path / "run")
    assert state["finished"] and lost in state["classes"]  # still listed (and audited) as a training class
    assert state["compliance"]["unseen_classes"] == [lost]
    summary = training_summary(state)
    assert summary["complete"] is False and summary["data"]["failed"] == 4
    assert len(summary["data"]["failure_examples"]) == 4
    args = ["train", "--model", "e2e_r2plus1d", "--width", "0.125", "--epochs", "1",
            "--protocol", str(synth_dataset.protocol), "--data", f"synth-source={manifest}"]  # fmt: skip
    failed = runner.invoke(app, [*args, "--out", str(tmp_path / "cli")])
    assert failed.exit_code == 1
    assert "incomplete" in failed.stderr and f"never seen (every video failed to decode): {lost}" in failed.stderr
    as_json = runner.invoke(app, [*args, "--out", str(tmp_path / "json"), "--json"])
    assert as_json.exit_code == 1 and json.loads(as_json.stdout)["data"]["unseen_classes"] == [lost]
    # its results carry the training settings and verdict, and never pass for a complete run's
    scored = runner.invoke(app, ["eval", "--weights", str(tmp_path / "run"), "--out", str(tmp_path / "r"),
                                 "--data", f"synth-target={synth_dataset.root / 'target.csv'}", "--json"])  # fmt: skip
    (record,) = json.loads(scored.stdout)
    assert scored.exit_code == 1  # eval says so too: the run behind the numbers is incomplete
    assert record["data"]["complete"] and record["training"]["complete"] is False
    shown = runner.invoke(app, ["eval", "--weights", str(tmp_path / "run"), "--out", str(tmp_path / "r"),
                                "--data", f"synth-target={synth_dataset.root / 'target.csv'}"])  # fmt: skip
    assert shown.exit_code == 1 and "incomplete: the model's training lost its videos" in shown.stderr
    assert record["training"]["settings"]["epochs"] == 1 and record["training"]["settings"]["lr"] > 0
    table = runner.invoke(app, ["table", str(tmp_path / "r"), "--format", "csv"])
    assert ",incomplete" in table.stdout and "· note" in table.stdout  # csv: the number, then what it is
    baseline = runner.invoke(app, ["check", str(tmp_path / "r"), "--write-baseline", str(tmp_path / "b.json")])
    assert baseline.exit_code == 2 and "training incomplete" in baseline.stderr


def test_the_failure_budget_overall_and_per_class(runner, synth_dataset, tmp_path):
    hurt = synth_dataset.source[1].name
    manifest = broken_manifest(synth_dataset, tmp_path, {hurt: 1})  # 1 of 48 videos: 2.1%, 25% of its class
    run = config(synth_dataset, tmp_path / "a", data={"synth-source": manifest}, epochs=1)
    over = train(run).data
    assert not over["complete"] and over["why"].startswith("1 of 48 training videos failed to decode (2.08%")
    assert over["unseen_classes"] == [] and over["classes_over_budget"] == []
    within = train(config(synth_dataset, tmp_path / "b", data={"synth-source": manifest}, epochs=1,
                          failure_budget=0.05)).data  # fmt: skip
    assert within["complete"] and within["failed"] == 1
    strict = train(config(synth_dataset, tmp_path / "c", data={"synth-source": manifest}, epochs=1,
                          failure_budget=0.05, class_failure_budget=0.2)).data  # fmt: skip
    assert strict["classes_over_budget"] == [{"class": hurt, "videos": 4, "failed": 1}] and not strict["complete"]
    args = ["train", "--model", "e2e_r2plus1d", "--width", "0.125", "--epochs", "1", "--failure-budget", "0.05",
            "--protocol", str(synth_dataset.protocol), "--data", f"synth-source={manifest}", "--out",
            str(tmp_path / "cli")]  # fmt: skip
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.stderr
    assert "finished: 1 epochs" in done.stdout and "1 undecodable; compliant" in " ".join(done.stdout.split())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="AMP resume needs CUDA")
def test_amp_resume_on_cuda_restores_the_scaler_and_cuda_rng(synth_dataset, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    runs = {name: config(synth_dataset, tmp_path / name, device="cuda", amp_dtype="fp16", model_options={
        **TINY, "dropout": 0.5}) for name in ("a", "a2", "b")}  # fmt: skip
    train(runs["a"])
    train(runs["a2"])
    train(replace(runs["b"], max_steps=8))  # stops inside epoch 2
    stopped = load_checkpoint(tmp_path / "b")
    assert stopped["settings"]["amp"] and stopped["settings"]["amp_dtype"] == "fp16"
    assert stopped["scaler"]["_growth_tracker"] > 0 or stopped["scaler"]["scale"] < 65536.0
    assert "cuda" in stopped["rng"]["ranks"][0]
    train(replace(runs["b"], resume=True))
    a, a2, b = (load_checkpoint(tmp_path / name) for name in ("a", "a2", "b"))
    assert b["scaler"] == a["scaler"]  # the scale and its growth tracker went on across the resume

    def distance(x: dict, y: dict) -> float:
        return max((x[k].float() - y[k].float()).abs().max().item() for k in x)

    noise = distance(a["state_dict"], a2["state_dict"])  # 0 where the kernels are deterministic
    # bit for bit where the kernels are deterministic, else within run-to-run noise; a lost CUDA RNG
    # state (other dropout masks at p=0.5) or scaler state moves the weights by about the lr
    assert distance(a["state_dict"], b["state_dict"]) <= 10 * noise


def test_a_signal_between_two_steps_ends_train_with_a_result_that_says_so(synth_dataset, tmp_path):
    before = signal.getsignal(signal.SIGINT)

    def press_ctrl_c(record: dict) -> None:
        if record["global_step"] == 3:
            os.kill(os.getpid(), signal.SIGINT)  # handled (asked for a stop) before the step's end

    out = tmp_path / "run"
    result = train(config(synth_dataset, out, log_every=1), press_ctrl_c)
    assert result.interrupted_by == signal.SIGINT and result.stopped_early
    assert (result.epochs, result.epoch_step, result.steps) == (0, 3, 3)
    state = load_checkpoint(out)
    assert not state["finished"] and (state["epoch"], state["step"], state["global_step"]) == (0, 3, 3)
    assert "replica_hashes" not in state and not (out / "decode_failures.json").exists()
    assert signal.getsignal(signal.SIGINT) is before


def test_ctrl_c_asks_for_a_stop_and_a_second_one_stops_at_once():
    before = signal.getsignal(signal.SIGINT)
    with StopSignals() as signals:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)  # Python runs the handler between two bytecodes of the main thread
        assert signals.received == signal.SIGINT
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
    assert signal.getsignal(signal.SIGINT) is before


def test_a_features_run_counts_extraction_failures_against_its_budget(synth_dataset, tmp_path):
    from zslbench.evaluation.backbone_features import BackboneFeatures
    from zslbench.protocol.compliance import Pretraining
    from zslbench.protocol.spec import load_protocol

    labels = tuple(c.name for c in synth_dataset.source for _ in range(4))
    rng = np.random.default_rng(0)
    features = BackboneFeatures(
        rng.standard_normal((len(labels), 16)).astype(np.float32), labels, tuple(f"v{i}.mp4" for i in range(48)),
        "r2plus1d_18", 0.125, "0" * 64, "synth-source", load_protocol(str(synth_dataset.protocol)).data["clips"],
        Pretraining(), failures={"broken-1.mp4": "no frames", "broken-2.mp4": "no frames"},
    ).save(tmp_path / "source.npz")  # fmt: skip
    run = config(synth_dataset, tmp_path / "over", model="devise", features=features, epochs=2, data={})
    over = train(run)
    assert not over.complete and over.data["why"].startswith("2 of 50 training videos failed to decode (4.00%")
    within = train(replace(run, out=tmp_path / "within", failure_budget=0.05))
    summary = training_summary(load_checkpoint(tmp_path / "within"))
    assert within.complete and summary["complete"] and summary["data"]["failed"] == 2
    assert summary["settings"] == {
        "loss": "hinge_rank",
        "seed": 0,
        "epochs": 2,
        "batch_size": 256,
        "lr": 0.001,
        "optimizer": "adam",
    }  # fmt: skip  (devise's own loss, not the protocol's)
    assert summary["fit"]["epochs"] == 2 and summary["steps"] == 2 and summary["finished"]


def test_a_new_run_starts_metrics_afresh_after_a_kill_before_any_checkpoint(synth_dataset, straight, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.jsonl").write_text('{"epoch": 1, "step": 10, "global_step": 10, "loss": 3.0}\n')  # killed run
    train(config(synth_dataset, out, log_every=1))
    assert rows(out) == rows(straight)


def test_a_resume_refuses_a_training_video_replaced_in_place(synth_dataset, tmp_path):
    import shutil

    shutil.copytree(synth_dataset.root, tmp_path / "data")
    manifest = tmp_path / "data" / "source.csv"
    run = config(synth_dataset, tmp_path / "run", data={"synth-source": manifest}, max_steps=2)
    train(run)
    videos = [line.split(",")[0] for line in manifest.read_text().splitlines()[2:]]
    first, other = (manifest.parent / videos[0], manifest.parent / videos[-1])
    shutil.copyfile(other, first)  # same path and name, other content
    with pytest.raises(ZslbenchError, match="training videos differ"):
        train(config(synth_dataset, tmp_path / "run", data={"synth-source": manifest}, resume=True))
