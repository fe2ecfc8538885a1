import json
import os
import subprocess
import sys

import pytest
import torch
from ports import free_port
from tiny_runs import tiny_config

from zslbench.cli import app
from zslbench.core.errors import ZslbenchError
from zslbench.models.checkpoint import load_checkpoint, save_checkpoint
from zslbench.protocol.spec import read_protocol
from zslbench.training.trainer import train

config = tiny_config


def test_a_run_writes_a_safe_checkpoint_with_its_provenance(synth_dataset, tmp_path):
    result = train(config(synth_dataset, tmp_path / "run"))
    assert result.epochs == 1 and result.steps == 6 and result.failures == 0 and result.compliant
    state = load_checkpoint(tmp_path / "run")  # weights_only: no arbitrary unpickling
    protocol = read_protocol(synth_dataset.protocol)
    assert state["model"] == {
        "name": "e2e_r2plus1d",
        "options": {"width": 0.125, "dropout": 0.05, "init": None},
        "embed_dim": 50,
    }
    assert state["protocol"]["fingerprint"] == protocol.fingerprint
    assert state["classes"] == [c.name for c in synth_dataset.source]
    assert state["embedder_id"].startswith("glove-6b-50d@") and state["finished"]
    assert state["compliance"]["compliant"] and state["compliance"]["violations"] == []
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["epoch_done"] and all(line["loss"] > 0 for line in lines)


def test_resume_continues_bit_for_bit(synth_dataset, tmp_path):
    straight = train(config(synth_dataset, tmp_path / "a", epochs=2))
    stopped = train(config(synth_dataset, tmp_path / "b", epochs=2, max_steps=8))  # stops inside epoch 2
    assert stopped.stopped_early and not load_checkpoint(tmp_path / "b")["finished"]
    resumed = train(config(synth_dataset, tmp_path / "b", epochs=2, resume=True))
    assert resumed.steps == straight.steps == 12
    a, b = load_checkpoint(tmp_path / "a")["state_dict"], load_checkpoint(tmp_path / "b")["state_dict"]
    assert all(torch.equal(a[name], b[name]) for name in a)


def test_a_class_list_that_breaks_the_rule_is_refused_unless_allowed(synth_dataset, tmp_path):
    violating = synth_dataset.target[0].name
    classes = tmp_path / "mine.txt"
    classes.write_text("\n".join([c.name for c in synth_dataset.source[:3]] + [violating]) + "\n")
    with pytest.raises(
        ZslbenchError, match=f"1 of the 4 training classes break the protocol's rule, e.g. '{violating}'"
    ):
        train(config(synth_dataset, tmp_path / "refused", classes=str(classes)))
    assert not (tmp_path / "refused").exists()
    result = train(config(synth_dataset, tmp_path / "allowed", classes=str(classes), allow_overlap=True))
    compliance = load_checkpoint(tmp_path / "allowed")["compliance"]
    assert not result.compliant and compliance["allow_overlap"]
    assert [v["class"] for v in compliance["violations"]] == [violating]


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_last_good_checkpoint(synth_dataset, tmp_path):
    train(config(synth_dataset, tmp_path / "run", max_steps=1))
    state = load_checkpoint(tmp_path / "run")
    head = next(name for name in state["state_dict"] if name.endswith("weight") and "fc" in name)
    state["state_dict"][head] = torch.full_like(state["state_dict"][head], float("inf"))  # weights blown up
    save_checkpoint(tmp_path / "run" / "checkpoint.pt", {k: v for k, v in state.items() if k != "format"})
    before = (tmp_path / "run" / "checkpoint.pt").read_bytes()
    with pytest.raises(ZslbenchError, match="the loss became nan at epoch 1, step 2") as err:
        train(config(synth_dataset, tmp_path / "run", resume=True))
    assert "lower the learning rate" in err.value.hint
    assert (tmp_path / "run" / "checkpoint.pt").read_bytes() == before


def test_resume_and_output_folder_checks(synth_dataset, tmp_path):
    train(config(synth_dataset, tmp_path / "run", max_steps=2))
    with pytest.raises(ZslbenchError, match="exists"):
        train(config(synth_dataset, tmp_path / "run"))
    with pytest.raises(ZslbenchError, match="its model is 'e2e_r2plus1d', this run's is 'e2e_r3d'"):
        train(config(synth_dataset, tmp_path / "run", model="e2e_r3d", resume=True))
    with pytest.raises(ZslbenchError, match="nothing to resume"):
        train(config(synth_dataset, tmp_path / "fresh", resume=True))


def test_data_without_source_videos_is_an_error(synth_dataset, tmp_path):
    with pytest.raises(ZslbenchError, match="has no videos of the 12 synth-source classes"):
        train(config(synth_dataset, tmp_path / "run", data={"synth-source": synth_dataset.root / "target.csv"}))
    with pytest.raises(ZslbenchError, match="'ucf101' is not a dataset of this run"):
        train(config(synth_dataset, tmp_path / "run", data={"ucf101": synth_dataset.root}))
    with pytest.raises(ZslbenchError, match="no data for synth-source"):
        train(config(synth_dataset, tmp_path / "run", data={}))


def test_two_gloo_processes_end_with_identical_replicas(synth_dataset, tmp_path):
    out = tmp_path / "ddp"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={free_port()}",
        "-m", "zslbench", "train", "--model", "e2e_r2plus1d", "--width", "0.125", "--epochs", "1",
        "--protocol", str(synth_dataset.protocol), "--data", f"synth-source={synth_dataset.root / 'source.csv'}",
        "--out", str(out), "--json",
    ]  # fmt: skip
    run = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout[run.stdout.index("{") :])
    hashes = result["replica_hashes"]
    assert len(hashes) == 2 and hashes[0] == hashes[1]
    state = load_checkpoint(out)
    assert state["replica_hashes"] == hashes and state["finished"]
    assert result["steps"] == 6  # the global batch of 8 is 4 per rank: 24 videos per rank, 6 steps


def test_cli_train_and_its_bad_input(runner, synth_dataset, tmp_path):
    args = [
        "train", "--model", "e2e_r3d", "--width", "0.125", "--epochs", "1", "--protocol", str(synth_dataset.protocol),
        "--data", f"synth-source={synth_dataset.root / 'source.csv'}", "--out", str(tmp_path / "cli"), "--json",
    ]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["compliant"] is True
    for bad, message in [
        (["--model", "e2e_r3dd"], "Did you mean 'e2e_r3d'"),
        (["--init", str(tmp_path / "missing.pth")], "does not exist"),
        (["--data", "synth-source"], "is not NAME=PATH"),
    ]:
        failed = runner.invoke(app, [*args[:-3], "--out", str(tmp_path / "x"), *bad])
        assert failed.exit_code == 2, (bad, failed.stdout, failed.stderr)
        assert message in failed.stderr and "Traceback" not in failed.stderr


def test_tensorboard_logging_when_installed(synth_dataset, tmp_path):
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        with pytest.raises(ZslbenchError, match="needs the tensorboard package"):
            train(config(synth_dataset, tmp_path / "run", tensorboard=True, max_steps=1))
        return
    train(config(synth_dataset, tmp_path / "run", tensorboard=True, max_steps=10))
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))
