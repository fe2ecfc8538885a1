"""C3D as a registered backbone: the Sports-1M port's weights by --init, its input statistics, the
frozen variant, and a tiny C3D trained and evaluated through the CLI on the synthetic benchmark."""

import json

import pytest
import torch

from zslbench.cli import app
from zslbench.models import build_model, model_spec
from zslbench.models.c3d import C3D, SPORTS1M_MEAN, SPORTS1M_STD

C3D_CLIPS = ["--set", "clips.clip_len=16", "--set", "clips.crop=112", "--set", "clips.short_side=128"]


def port_state(width: float = 1.0, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors in the layout of the Sports-1M port (DavideA/c3d-pytorch C3D_model.py):
    conv1 .. conv5b, fc6, and the unused fc7 [4096 * width]^2 and fc8 [487, 4096 * width]."""
    generator = torch.Generator().manual_seed(seed)
    shapes = {k: v.shape for k, v in C3D(width).state_dict().items()}
    fc = shapes["fc6.bias"][0]
    shapes |= {"fc7.weight": (fc, fc), "fc7.bias": (fc,), "fc8.weight": (487, fc), "fc8.bias": (487,)}
    return {k: torch.randn(shape, generator=generator) * 0.02 for k, shape in shapes.items()}


def invoke(runner, args: list, code: int = 0):
    done = runner.invoke(app, [str(a) for a in args])
    assert done.exit_code == code, (args[0], done.stdout[-800:], done.stderr[-800:])
    return done


def test_the_sports1m_port_layout_at_width_1_has_the_ports_shapes():
    state = port_state(1.0)
    assert tuple(state["conv1.weight"].shape) == (64, 3, 3, 3, 3)
    assert tuple(state["conv5b.weight"].shape) == (512, 512, 3, 3, 3)
    assert tuple(state["fc6.weight"].shape) == (4096, 8192)
    assert tuple(state["fc7.weight"].shape) == (4096, 4096) and tuple(state["fc8.weight"].shape) == (487, 4096)


@pytest.mark.parametrize("name", ["e2e_c3d", "frozen_c3d"])
def test_a_port_state_dict_loads_by_init_without_fc7_and_fc8(tmp_path, name):
    state = port_state(0.125)
    torch.save(state, tmp_path / "c3d.pickle")
    model = build_model(name, 50, width=0.125, init=str(tmp_path / "c3d.pickle")).eval()
    loaded = model.backbone.state_dict()
    assert set(loaded) == {k for k in state if not k.startswith(("fc7.", "fc8."))}
    assert all(torch.equal(loaded[k], state[k]) for k in loaded)
    same = C3D(0.125).eval()
    same.load_state_dict({k: v for k, v in state.items() if k in loaded})
    clips = torch.randn(2, 3, 16, 112, 112)
    with torch.no_grad():
        assert torch.equal(model.backbone(clips), same(clips))


def test_frozen_c3d_needs_weights_and_reads_the_sports1m_statistics():
    from zslbench.core.errors import ZslbenchError
    from zslbench.models import zoo

    with pytest.raises(ZslbenchError, match="frozen backbone needs pretrained weights"):
        build_model("frozen_c3d", 10, width=0.125)
    spec = model_spec("frozen_c3d")
    assert (spec.kind, spec.backbone, spec.feature_dim) == ("features", "c3d", 4096)
    assert spec.mean == SPORTS1M_MEAN == zoo.SPORTS1M_MEAN and spec.std == SPORTS1M_STD == zoo.SPORTS1M_STD
    assert [round(255 * m) for m in spec.mean] == [104, 117, 128]  # mmaction2's Sports-1M C3D, pixels 0..255


def test_a_port_of_another_width_is_an_error_naming_the_tensors(tmp_path):
    from zslbench.core.errors import ZslbenchError

    torch.save(port_state(0.25), tmp_path / "c3d.pth")
    with pytest.raises(ZslbenchError, match=r"does not fit this backbone .*conv1\.bias"):
        build_model("e2e_c3d", 10, width=0.125, init=str(tmp_path / "c3d.pth"))


def test_models_list_shows_the_c3d_models(runner):
    listed = invoke(runner, ["models", "list", "--json"]).stdout
    names = {row["name"]: row for row in json.loads(listed)}
    assert names["e2e_c3d"]["backbone"] == names["frozen_c3d"]["backbone"] == "c3d"


def test_a_tiny_c3d_trains_and_names_unseen_classes_through_the_cli(runner, synth_dataset, tmp_path):
    """e2e_c3d at width 0.125 on 16x112x112 clips (the synthetic videos upscaled to a 128 short side);
    eval reloads the protocol and its --set overrides from the checkpoint."""
    data, run = synth_dataset.root, tmp_path / "run"
    invoke(runner, ["train", "--model", "e2e_c3d", "--width", "0.125", "--protocol", synth_dataset.protocol,
                    "--data", f"synth-source={data / 'source.csv'}", "--out", run, "--epochs", EPOCHS,
                    *C3D_CLIPS])  # fmt: skip
    done = invoke(runner, ["eval", "--weights", run, "--data", f"synth-target={data / 'target.csv'}",
                           "--out", tmp_path / "results", "--json"])  # fmt: skip
    (record,) = json.loads(done.stdout)
    top1, chance = record["metrics"]["all"]["top1"], 100 / record["dataset"]["classes"]
    print(f"tiny C3D zero-shot top-1 on unseen classes: {top1:.1f} (chance {chance:.0f}%)")
    # measured: 50.0 with the protocol's seed 0 (and 31.2 with seed 1) against chance 25
    assert record["data"]["complete"] and top1 > chance


EPOCHS = 12
