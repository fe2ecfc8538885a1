"""Importing the checkpoints released with Brattoli et al. (CVPR 2020).

Every checkpoint here is made in the reference's exact layout (github bbrattoli/ZeroShotVideoClassification,
main.py and network.py): zslbench's own network at width 1 with random weights, its state dict renamed to
the names of an `nn.DataParallel` of the reference's `ResNet18` (torchvision's video ResNet children in an
`nn.Sequential` called `model`, then `regressor`) or `C3D` (with its unused fc7/fc8), a real
`argparse.Namespace` as `opt` and a numpy float64 accuracy, written with `torch.save`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_output import single_error_line

from zslbench.cli import app
from zslbench.core.errors import ZslbenchError
from zslbench.models import build_model
from zslbench.models.checkpoint import load_checkpoint, weights_sha256
from zslbench.models.reference_import import (
    CLASSES_HOW,
    MODEL_SELECTION,
    WORD2VEC_GOOGLENEWS,
    class_total_subset,
    default_protocol,
    import_reference,
    reference_model,
)

# torchvision.models.video.VideoResNet.children(): the reference's `model` is nn.Sequential of all but fc
TORCHVISION_CHILDREN = ("stem", "layer1", "layer2", "layer3", "layer4", "avgpool")
ACCURACY = np.mean([41.25, 30.5])  # main.py: np.mean of the test datasets' accuracies, a numpy float64


def randomised(model: torch.nn.Module) -> torch.nn.Module:
    """Random batch-norm affine parameters and running statistics too, so that equal outputs mean
    every tensor arrived where it belongs."""
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm3d):
            module.weight.data = torch.rand(module.weight.shape, generator=generator) + 0.5
            module.bias.data = torch.randn(module.bias.shape, generator=generator)
            module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) + 0.5)
            module.num_batches_tracked.fill_(12345)
    return model.eval()


def reference_layout(model: torch.nn.Module, network: str) -> dict[str, torch.Tensor]:
    """A zslbench model's state dict under the names the reference's DataParallel model saves."""
    renamed = {}
    for key, tensor in model.state_dict().items():
        if key.startswith("fc."):
            renamed["module.regressor." + key.removeprefix("fc.")] = tensor.clone()
            continue
        child, _, rest = key.removeprefix("backbone.").partition(".")
        where = child if network == "c3d" else f"model.{TORCHVISION_CHILDREN.index(child)}"
        renamed[f"module.{where}.{rest}"] = tensor.clone()
    if network == "c3d":  # network.py builds fc7 and fc8 (Sports-1M's 487 classes) and never calls them
        generator = torch.Generator().manual_seed(1)
        for name, shape in (("fc7", (4096, 4096)), ("fc8", (487, 4096))):
            renamed[f"module.{name}.weight"] = torch.randn(shape, generator=generator) * 0.01
            renamed[f"module.{name}.bias"] = torch.zeros(shape[0])
    return renamed


def reference_opt(**changes) -> argparse.Namespace:
    """main.py's `opt` after parsing and its additions (kernels, n_classes, savename, device)."""
    values = {
        "split": -1,
        "dataset": "kinetics7002both",
        "train_samples": -1,
        "class_total": -1,
        "clip_len": 16,
        "n_clips": 1,
        "class_overlap": 0.05,
        "lr": 1e-5,
        "n_epochs": 150,
        "bs": 22,
        "size": 112,
        "fixconvs": False,
        "nopretrained": False,  # `--nopretrained` passed: the e2e model starts from random weights
        "network": "r2plus1d_18",
        "save_path": "/workplace/",
        "weights": "none",
        "progressbar": False,
        "evaluate": False,
        "multiple_clips": False,
        "kernels": 16,
        "n_classes": 664,
        "savename": "/workplace//kinetics7002both/CLIP16_LR0.001000_r2plus1d_18_BS22_CLASSOVERLAP0.05",
        "device": torch.device("cuda"),
    }
    return argparse.Namespace(**{**values, **changes})


def save_reference(path: Path, state: dict, opt: argparse.Namespace, legacy: bool = False) -> Path:
    payload = {"state_dict": state, "opt": opt, "accuracy": ACCURACY}
    torch.save(payload, path, _use_new_zipfile_serialization=not legacy)
    return path


@pytest.fixture(scope="module")
def r2plus1d() -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    model = randomised(build_model("e2e_r2plus1d", 300))
    return model, reference_layout(model, "r2plus1d_18")


def imported_model(path: Path) -> torch.nn.Module:
    state = load_checkpoint(path)
    model = build_model(state["model"]["name"], state["model"]["embed_dim"], **state["model"]["options"])
    model.load_state_dict(state["state_dict"])
    return model.eval()


def test_the_reference_layout_here_is_torchvision_children_in_order(r2plus1d, shared_dir):
    """The renaming these tests use is torchvision's: `module.model.<i>` is the i-th child."""
    reference = json.loads((shared_dir / "reference" / "torchvision_video_resnet_keys.json").read_text())
    _, state = r2plus1d
    names = set()
    for key in state:
        if key.startswith("module.model."):
            index, _, rest = key.removeprefix("module.model.").partition(".")
            names.add(f"{TORCHVISION_CHILDREN[int(index)]}.{rest}")
    assert names == {name for name in reference["r2plus1d_18"] if not name.startswith("fc.")}
    assert {k for k in state if not k.startswith("module.model.")} == {
        "module.regressor.weight",
        "module.regressor.bias",
    }


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy-format"])
def test_an_r2plus1d_checkpoint_imports_and_embeds_exactly_as_before(r2plus1d, tmp_path, monkeypatch, legacy):
    monkeypatch.chdir(tmp_path)  # no GoogleNews file here: the vectors are unavailable
    model, state = r2plus1d
    source = save_reference(tmp_path / "checkpoint.pth.tar", state, reference_opt(), legacy)
    out = import_reference(source, tmp_path / "imported")
    assert out == tmp_path / "imported" / "checkpoint.pt"
    clips = torch.randn(2, 2, 3, 8, 56, 56)  # 2 videos x 2 clips
    with torch.no_grad():
        assert torch.equal(imported_model(out)(clips), model(clips))
    saved = load_checkpoint(out)
    assert saved["model"] == {
        "name": "e2e_r2plus1d",
        "options": {"width": 1.0, "dropout": 0.05, "init": None},
        "embed_dim": 300,
    }
    origin = saved["imported_from"]
    assert origin["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert origin["format"] == "brattoli2020-reference" and origin["accuracy"] == pytest.approx(35.875)
    assert origin["model_selection"] == MODEL_SELECTION and "best *test* accuracy" in MODEL_SELECTION
    assert origin["opt"]["device"] == "cuda" and origin["opt"]["n_classes"] == 664
    assert saved["settings"]["model_selection"] == MODEL_SELECTION and saved["finished"] is True
    assert saved["protocol"]["name"] == "brattoli2020-k700-ucf-hmdb-reference"
    assert saved["protocol"]["sets"] == [f"embedding.model={json.dumps(WORD2VEC_GOOGLENEWS)}"]
    assert saved["classes"] is None and saved["embedder_id"] is None  # the import still works, recording the spec
    compliance = saved["compliance"]
    assert compliance["verdict"] == "unknown" and "GoogleNews-vectors-negative300.bin" in compliance["why"]
    assert compliance["training_classes"]["how"] == CLASSES_HOW and compliance["model_selection"] == MODEL_SELECTION
    assert saved["pretraining"]["status"] == "none" and saved["pretrained_on"] is None


def test_classes_are_derived_with_the_rule_at_the_checkpoints_tau(r2plus1d, tmp_path):
    """With vectors at hand (here the shipped GloVe and a 50-d head) the training classes are those
    zslbench's rule keeps at opt.class_overlap, and the checkpoint evaluates under its protocol."""
    from zslbench.evaluation.checkpoint_model import CheckpointModel
    from zslbench.protocol.compliance import training_classes
    from zslbench.protocol.spec import load_protocol
    from zslbench.text import load_embedder

    _, state = r2plus1d
    head = {"module.regressor.weight": torch.randn(50, 512), "module.regressor.bias": torch.randn(50)}
    opt = reference_opt(class_overlap=0.1, nopretrained=True)  # torchvision's Kinetics-400 weights to start
    source = save_reference(tmp_path / "checkpoint.pth.tar", {**state, **head}, opt)
    saved = load_checkpoint(import_reference(source, tmp_path / "imported.pt", embedding="glove-6b-50d"))
    protocol = load_protocol("brattoli2020-k700-ucf-hmdb-reference", sets=["overlap.tau=0.1"])
    embedder = load_embedder("glove-6b-50d")
    assert saved["protocol"]["fingerprint"] == protocol.fingerprint and saved["protocol"]["sets"] == ["overlap.tau=0.1"]
    assert saved["classes"] == list(training_classes(protocol, embedder)[0].classes)
    assert len(saved["classes"]) == 609 and saved["embedder_id"] == embedder.id  # docs/architecture.md: 609 at 0.1
    about = saved["compliance"]["training_classes"]
    assert about["count"] == 609 and about["reference_count"] == 664 and saved["compliance"]["compliant"] is True
    assert saved["pretrained_on"] == "kinetics400" and len(saved["pretraining"]["classes"]) == 400
    runner = CheckpointModel(tmp_path / "imported.pt", None, None, device="cpu")
    try:
        assert runner.protocol.fingerprint == protocol.fingerprint
    finally:
        runner.close()


def test_a_c3d_checkpoint_imports_without_its_unused_fc7_and_fc8(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(1)
    model = build_model("e2e_c3d", 300).eval()
    opt = reference_opt(network="c3d", dataset="kinetics7002others", nopretrained=True)
    source = save_reference(tmp_path / "c3d.pth.tar", reference_layout(model, "c3d"), opt)
    out = import_reference(source, tmp_path / "c3d")
    clips = torch.randn(1, 1, 3, 16, 112, 112)
    with torch.no_grad():
        assert torch.equal(imported_model(out)(clips), model(clips))
    saved = load_checkpoint(out)
    assert saved["model"]["name"] == "e2e_c3d" and saved["model"]["options"]["dropout"] == 0.0
    assert saved["imported_from"]["ignored_tensors"] == [
        f"module.fc{i}.{p}" for i in (7, 8) for p in ("bias", "weight")
    ]
    assert saved["protocol"]["name"] == "brattoli2020-k700-ucf-hmdb-anet-reference"
    assert saved["pretraining"]["status"] == "unknown" and "Sports-1M" in saved["pretraining"]["name"]


def test_c3d_takes_16_frame_112_pixel_clips_only():
    model = build_model("e2e_c3d", 8, width=1 / 16).eval()
    assert model(torch.randn(1, 1, 3, 16, 112, 112)).shape == (1, 8)
    with pytest.raises(ZslbenchError, match="C3D takes clips of 16 frames at 112x112, not 8x56x56"):
        model(torch.randn(1, 1, 3, 8, 56, 56))


def test_other_tensors_or_shapes_are_refused_and_listed(r2plus1d, tmp_path):
    _, state = r2plus1d
    changed = dict(state)
    del changed["module.model.1.0.conv1.0.0.weight"]
    changed["module.model.9.weight"] = torch.zeros(3)
    changed["module.model.4.1.conv2.0.3.weight"] = torch.zeros(512, 1152, 3, 1, 2)
    source = save_reference(tmp_path / "odd.pth.tar", changed, reference_opt())
    with pytest.raises(ZslbenchError) as err:
        import_reference(source, tmp_path / "out")
    message = str(err.value)
    assert "3 differ" in message and "\n" not in message
    assert "missing module.model.1.0.conv1.0.0.weight" in message
    assert "unexpected module.model.9.weight" in message
    assert "module.model.4.1.conv2.0.3.weight: (512, 1152, 3, 1, 2) in the file, (512, 1152, 3, 1, 1)" in message
    assert not (tmp_path / "out").exists()


class Evil:
    """Unpickling this object opens (so creates) `marker` for writing: code run by the pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy-format"])
def test_a_pickle_that_would_run_code_is_refused_and_runs_nothing(tmp_path, legacy):
    proof = tmp_path / "proof"
    pickle.loads(pickle.dumps(Evil(proof))).close()
    assert proof.exists()  # the payload is real: an ordinary unpickling runs it
    marker = tmp_path / "marker"
    opt = Evil(marker)
    source = save_reference(tmp_path / "evil.pth.tar", {"module.regressor.bias": torch.zeros(300)}, opt, legacy)
    with pytest.raises(ZslbenchError) as err:
        import_reference(source, tmp_path / "out")
    message = str(err.value)
    assert "\n" not in message and f"{open.__module__}.open" in message and "nothing in it ran" in message
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_other_files_are_refused_in_one_line(tmp_path, r2plus1d):
    (tmp_path / "junk.pth.tar").write_bytes(b"not a checkpoint")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "plain.pth")
    cases = [
        ("missing.pth.tar", "does not exist"),
        ("junk.pth.tar", "cannot read"),
        ("plain.pth", "no 'state_dict'"),
    ]
    for name, expected in cases:
        with pytest.raises(ZslbenchError, match=expected) as err:
            import_reference(tmp_path / name, tmp_path / "out")
        assert "\n" not in str(err.value)
    _, state = r2plus1d
    source = save_reference(tmp_path / "ucf.pth.tar", state, reference_opt(dataset="ucf101", split=0))
    with pytest.raises(ZslbenchError, match=r"opt\.dataset 'ucf101' is no Kinetics training"):
        import_reference(source, tmp_path / "out")


def test_opt_names_the_protocol_and_the_model_as_the_reference_reads_them():
    assert default_protocol("kinetics7002both") == ("brattoli2020-k700-ucf-hmdb-reference", [])
    assert default_protocol("kinetics7002others") == ("brattoli2020-k700-ucf-hmdb-anet-reference", [])
    assert default_protocol("kinetics2both") == ("brattoli2020-k400-ucf-hmdb-reference", [])
    assert default_protocol("kinetics2others") == (
        "brattoli2020-k700-ucf-hmdb-anet-reference",
        ['train.source="kinetics400"'],
    )
    assert default_protocol(None) == ("brattoli2020-k700-ucf-hmdb-reference", [])
    assert [reference_model({"network": n}) for n in ("r2plus1d_18", "r3d_18", "c3d")] == [
        "e2e_r2plus1d",
        "e2e_r3d",
        "e2e_c3d",
    ]
    with pytest.raises(ZslbenchError, match=r"opt\.network 'resnet18'"):
        reference_model({"network": "resnet18"})


def test_class_total_keeps_the_reference_linspace_subset():
    from zslbench.text.vocab import ClassList

    kept = ClassList("k", ("d", "a", "c", "b", "e"), "test")
    assert class_total_subset(kept, -1) == ["d", "a", "c", "b", "e"]
    assert class_total_subset(kept, 3) == ["a", "c", "e"]  # sorted a..e at linspace(0, 4, 3) = 0, 2, 4


def test_the_weights_command_imports_and_refuses_to_overwrite(r2plus1d, tmp_path, monkeypatch, runner):
    monkeypatch.chdir(tmp_path)
    _, state = r2plus1d
    save_reference(tmp_path / "checkpoint.pth.tar", state, reference_opt())
    done = runner.invoke(app, ["weights", "import-reference", "checkpoint.pth.tar"])
    assert done.exit_code == 0, done.stderr
    assert "wrote checkpoint-zslbench/checkpoint.pt: e2e_r2plus1d under brattoli2020-k700-ucf-hmdb" in done.stdout
    assert "best *test* accuracy" in done.stderr and "training classes unknown" in done.stdout
    again = runner.invoke(app, ["weights", "import-reference", "checkpoint.pth.tar"])
    assert again.exit_code == 2 and "exists" in single_error_line(again)


@pytest.mark.slow
def test_an_imported_reference_checkpoint_evaluates_end_to_end(r2plus1d, synth_dataset, tmp_path, runner):
    """import-reference, then eval through the CLI: the record says how the reference chose the weights."""
    _, state = r2plus1d
    head = {"module.regressor.weight": torch.randn(50, 512), "module.regressor.bias": torch.randn(50)}
    source = save_reference(tmp_path / "checkpoint.pth.tar", {**state, **head}, reference_opt())
    protocol = str(synth_dataset.protocol)
    args = ["weights", "import-reference", str(source), "--protocol", protocol, "--embedding", "glove-6b-50d"]
    imported = runner.invoke(app, [*args, "--out", str(tmp_path / "imported")])
    assert imported.exit_code == 0, imported.stderr
    data = ["--data", f"synth-target={synth_dataset.root / 'target.csv'}", "--out", str(tmp_path / "r")]
    scored = runner.invoke(app, ["eval", "--weights", str(tmp_path / "imported"), "--json", *data])
    assert scored.exit_code == 0, scored.stderr
    (record,) = json.loads(scored.stdout)
    assert record["data"]["complete"] and record["data"]["scored"] == 16
    assert "best *test* accuracy" in record["training"]["settings"]["model_selection"]
    assert record["model"]["identity"]["model"]["weights_sha256"] == weights_sha256(
        load_checkpoint(tmp_path / "imported")["state_dict"]
    )
