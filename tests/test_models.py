import json
import subprocess
import sys

import pytest
import torch

from zslbench.core.errors import ZslbenchError
from zslbench.models import all_model_specs, build_model, model_spec
from zslbench.models.resnet3d import VideoResNet
from zslbench.models.zeroshot import load_backbone_weights


@pytest.mark.parametrize("kind", ["r2plus1d_18", "r3d_18"])
def test_state_dict_names_and_shapes_match_torchvision(kind, shared_dir):
    reference = json.loads((shared_dir / "reference" / "torchvision_video_resnet_keys.json").read_text())[kind]
    ours = {name: list(t.shape) for name, t in VideoResNet(kind).state_dict().items()}
    assert ours == {name: shape for name, shape in reference.items() if not name.startswith("fc.")}


@pytest.mark.parametrize("kind", ["r2plus1d_18", "r3d_18"])
def test_torchvision_style_weight_files_load_and_change_the_output(kind, tmp_path):
    source = VideoResNet(kind)
    state = {**source.state_dict(), "fc.weight": torch.zeros(400, 512), "fc.bias": torch.zeros(400)}
    torch.save(state, tmp_path / "k400.pth")
    target = VideoResNet(kind)
    assert load_backbone_weights(target, tmp_path / "k400.pth") == ["fc.bias", "fc.weight"]
    source.eval(), target.eval()
    clips = torch.randn(1, 3, 4, 32, 32)
    assert torch.equal(source(clips), target(clips))


def test_weight_files_of_another_architecture_name_the_tensors(tmp_path):
    torch.save(VideoResNet("r3d_18").state_dict(), tmp_path / "r3d.pth")
    with pytest.raises(ZslbenchError, match=r"tensors differ: missing layer1\.0\.conv1\.0\.0\.weight") as err:
        load_backbone_weights(VideoResNet("r2plus1d_18"), tmp_path / "r3d.pth")
    assert "torchvision r2plus1d_18" in err.value.hint
    torch.save({"not": "tensors"}, tmp_path / "odd.pth")
    with pytest.raises(ZslbenchError, match="not a state dict of tensors"):
        load_backbone_weights(VideoResNet("r3d_18"), tmp_path / "odd.pth")
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(ZslbenchError, match="cannot read"):
        load_backbone_weights(VideoResNet("r3d_18"), tmp_path / "junk.pth")
    with pytest.raises(ZslbenchError, match="does not exist"):
        load_backbone_weights(VideoResNet("r3d_18"), tmp_path / "none.pth")


def test_width_scales_channels_and_the_head_follows():
    tiny = build_model("e2e_r2plus1d", embed_dim=50, width=0.25)
    assert tiny.backbone.feature_dim == 128 and tiny.fc.in_features == 128 and tiny.fc.out_features == 50
    assert (
        sum(p.numel() for p in tiny.parameters()) < sum(p.numel() for p in build_model("e2e_r3d", 50).parameters()) / 10
    )


def test_the_paper_head_averages_clips_and_returns_unit_vectors():
    model = build_model("e2e_r3d", embed_dim=20, width=0.125).eval()
    clips = torch.randn(2, 3, 3, 4, 32, 32)  # 2 videos x 3 clips
    out = model(clips)
    assert out.shape == (2, 20) and torch.allclose(out.norm(dim=1), torch.ones(2))
    per_clip = model.backbone(clips.flatten(0, 1)).view(2, 3, -1).mean(1)
    assert torch.allclose(model.head(per_clip), out)
    assert model.dropout.p == 0.05


def test_frozen_backbone_needs_weights_and_only_trains_the_head(tmp_path):
    with pytest.raises(ZslbenchError, match="needs pretrained weights"):
        build_model("frozen_r2plus1d", embed_dim=10)
    torch.save(VideoResNet("r2plus1d_18", width=1.0).state_dict(), tmp_path / "w.pth")
    model = build_model("frozen_r2plus1d", embed_dim=10, init=str(tmp_path / "w.pth"))
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"fc.weight", "fc.bias"}
    model.train()
    assert not model.backbone.training  # batch-norm statistics stay the pretraining's


def test_unknown_models_and_options():
    with pytest.raises(ZslbenchError, match="Did you mean 'e2e_r2plus1d'"):
        model_spec("e2e_r2plus1")
    with pytest.raises(ZslbenchError, match="has no option 'depth'") as err:
        build_model("e2e_r3d", 10, depth=34)
    assert "width=1.0" in err.value.hint


def test_specs_describe_kind_backbone_and_input():
    specs = {spec.name: spec for spec in all_model_specs()}
    assert specs["frozen_r2plus1d"].kind == "features" and specs["e2e_r3d"].backbone == "r3d_18"
    assert specs["e2e_r2plus1d"].mean == (0.43216, 0.394666, 0.37645)


def test_listing_models_imports_no_torch(tmp_path):
    code = (
        "import sys; from zslbench.cli import app\n"
        "app(['models', 'list', '--json'], standalone_mode=False)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "e2e_r2plus1d" in run.stdout


def test_build_model_works_first_thing_in_a_fresh_process():
    import subprocess
    import sys

    code = "from zslbench.models import build_model; print(type(build_model('e2e_r2plus1d', 8, width=0.125)).__name__)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "ZeroShotVideoModel"


def test_init_takes_a_zslbench_checkpoint_an_export_and_a_safetensors_state_dict(tmp_path):
    """--init reads the backbone of a zslbench checkpoint or `weights export`, and safetensors files."""
    from safetensors.torch import save_file

    from zslbench.models.checkpoint import FORMAT, save_checkpoint

    source = build_model("e2e_r3d", 50, width=0.125)
    save_checkpoint(tmp_path / "checkpoint.pt", {"format": FORMAT, "state_dict": source.state_dict()})
    save_file(source.backbone.state_dict(), str(tmp_path / "plain.safetensors"))
    clips = torch.randn(1, 3, 4, 32, 32)
    source.eval()
    for file in (tmp_path / "checkpoint.pt", tmp_path / "plain.safetensors"):
        target = VideoResNet("r3d_18", width=0.125)
        assert load_backbone_weights(target, file) == []
        assert torch.equal(source.backbone(clips), target.eval()(clips)), file


def test_init_strips_the_module_prefix_of_a_dataparallel_state_dict(tmp_path):
    source = VideoResNet("r3d_18", width=0.125).eval()
    torch.save({f"module.{k}": v for k, v in source.state_dict().items()}, tmp_path / "dp.pth")
    target = VideoResNet("r3d_18", width=0.125)
    assert load_backbone_weights(target, tmp_path / "dp.pth") == []
    clips = torch.randn(1, 3, 4, 32, 32)
    assert torch.equal(source(clips), target.eval()(clips))
