"""The built-in video-text models on tiny CLIP / X-CLIP weights: every file format reloads to the same
outputs as transformers called directly, and every bad input is one ZslbenchError line."""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from video_text_models import (
    openai_state_dict,
    random_clips,
    save_clip_folder,
    save_openai_state_dict,
    save_xclip_folder,
    tiny_clip,
    tiny_xclip,
    write_tiny_tokenizer,
)

from zslbench.core.errors import ZslbenchError
from zslbench.models.video_input import CLIP_MEAN
from zslbench.models.video_text.clip_frames import ClipFrames, load_clip_frames
from zslbench.models.video_text.xclip import load_xclip

TEXTS = ["a video of playing guitar", "juggling balls", "", "Ünïcode and CAPS, punctuation!"]
ATOL = 1e-6


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny matrices: one thread is many times faster than several contending for them."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def clip_model():
    return tiny_clip(seed=0)


@pytest.fixture(scope="module")
def clip_folder(clip_model, tmp_path_factory) -> Path:
    return save_clip_folder(clip_model, tmp_path_factory.mktemp("clip") / "tiny-clip")


@pytest.fixture(scope="module")
def xclip_model():
    return tiny_xclip(seed=0)


@pytest.fixture(scope="module")
def xclip_folder(xclip_model, tmp_path_factory) -> Path:
    return save_xclip_folder(xclip_model, tmp_path_factory.mktemp("xclip") / "tiny-xclip")


def reference_text(model, module, texts=TEXTS) -> torch.Tensor:
    tokens = module.tokenizer(texts)
    with torch.no_grad():
        return model.get_text_features(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"])


def reference_video(model, clips: torch.Tensor) -> torch.Tensor:
    """transformers' CLIP on every frame, the mean over time, normalised: [B, V, D]."""
    b, v, c, t, h, w = clips.shape
    frames = clips.permute(0, 1, 3, 2, 4, 5).reshape(-1, c, h, w)
    with torch.no_grad():
        features = model.get_image_features(pixel_values=frames).view(b, v, t, -1)
    return F.normalize(features.mean(dim=2), dim=-1)


def assert_same_outputs(module: ClipFrames, model) -> None:
    clips = random_clips(2, 2, module.input.frames, seed=1)
    with torch.no_grad():
        texts, videos = module.encode_text(TEXTS), module.encode_video(clips)
    assert texts.dtype == videos.dtype == torch.float32
    torch.testing.assert_close(texts, F.normalize(reference_text(model, module), dim=-1), atol=ATOL, rtol=0)
    torch.testing.assert_close(videos, reference_video(model, clips), atol=ATOL, rtol=0)


def one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text, text
    return text


# --- formats ------------------------------------------------------------------------------------


def test_hf_folder_matches_transformers(clip_model, clip_folder):
    module = load_clip_frames(clip_folder)
    assert not module.training and not module.conditioned
    assert (module.input.size, module.input.frames, module.input.mean) == (32, 8, CLIP_MEAN)
    assert_same_outputs(module, clip_model)
    identity = module.identity()
    assert identity["format"] == "hf_folder" and identity["temporal"] == "mean"
    assert identity["config"]["vision"]["patch_size"] == 8 and len(identity["tokenizer"]["sha256"]) == 64
    assert str(clip_folder.parent) not in json.dumps([identity, module.text_identity()])


def test_text_is_encoded_in_batches(clip_folder, monkeypatch):
    module = load_clip_frames(clip_folder)
    whole = module.encode_text(TEXTS * 3)
    monkeypatch.setattr("zslbench.models.video_text.towers.TEXT_BATCH", 5)
    torch.testing.assert_close(module.encode_text(TEXTS * 3), whole, atol=ATOL, rtol=0)
    assert module.encode_text([]).shape == (0, 16)


def test_input_options_and_preprocessor_statistics(clip_model, tmp_path):
    folder = save_clip_folder(clip_model, tmp_path / "clip", stats=([0.5, 0.5, 0.5], [0.25, 0.25, 0.25]))
    module = load_clip_frames(folder, frames=16, views=3, view_average="score", sampling=None)
    assert (module.input.frames, module.input.views, module.input.view_average) == (16, 3, "score")
    assert module.input.mean == (0.5, 0.5, 0.5) and module.input.std == (0.25, 0.25, 0.25)
    assert module.input.sampling == "segments"


@pytest.mark.parametrize("wrap", [None, "state_dict", "model", "model_state_dict"])
def test_openai_state_dict_round_trips(clip_model, clip_folder, tmp_path, wrap):
    path = save_openai_state_dict(clip_model, tmp_path / "clip.pt", wrap=wrap)
    module = load_clip_frames(path, tokenizer=clip_folder)
    assert_same_outputs(module, clip_model)
    from_folder = load_clip_frames(clip_folder)
    assert module.identity()["format"] == "openai_state_dict"
    assert module.identity()["weights_sha256"] == from_folder.identity()["weights_sha256"]
    assert module.text_identity() == from_folder.text_identity()  # same text tower: shared class embeddings


def test_openai_safetensors_file(clip_model, clip_folder, tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "clip.safetensors"
    save_file(openai_state_dict(clip_model), str(path))
    assert_same_outputs(load_clip_frames(path, tokenizer=clip_folder), clip_model)


def test_openai_config_is_inferred_from_shapes(tmp_path):
    """Without a config.json, OpenAI's rules: heads = width // 64; the tokenizer lies beside the file."""
    wide = tiny_clip_of_width_64()
    path = save_openai_state_dict(wide, tmp_path / "weights" / "clip.pth")
    write_tiny_tokenizer(path.parent)
    module = load_clip_frames(path)
    assert module.clip.config.vision_config.num_attention_heads == 1
    assert_same_outputs(module, wide)


def tiny_clip_of_width_64():
    from transformers import CLIPConfig, CLIPModel

    base = tiny_clip().config
    text = {**base.text_config.to_dict(), "hidden_size": 64, "num_attention_heads": 1, "hidden_act": "quick_gelu"}
    vision = {**base.vision_config.to_dict(), "hidden_size": 64, "num_attention_heads": 1, "hidden_act": "quick_gelu"}
    config = CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        return CLIPModel(config).eval()


def test_vifi_clip_layout_takes_the_token_embedding_from_the_base_folder(clip_model, clip_folder, tmp_path):
    """ViFi-CLIP: {"model": {"module.image_encoder.*", "module.text_encoder.*", "module.logit_scale",
    "module.prompt_learner.complete_text_embeddings"}}, without CLIP's token embedding."""
    state = openai_state_dict(clip_model)
    token_embedding = state.pop("token_embedding.weight")
    vifi = {"prompt_learner.complete_text_embeddings": token_embedding[:3].clone()}
    for key, value in state.items():
        name = key.replace("visual.", "image_encoder.", 1) if key.startswith("visual.") else key
        vifi[name if name.startswith(("image_encoder.", "logit_scale")) else f"text_encoder.{name}"] = value
    path = tmp_path / "vifi.pth"
    torch.save({"model": {f"module.{k}": v for k, v in vifi.items()}, "epoch": 10, "max_accuracy": 80.1}, path)
    module = load_clip_frames(path, tokenizer=clip_folder)
    assert_same_outputs(module, clip_model)
    assert "token_embedding" in module.identity()
    bare_tokenizer = write_tiny_tokenizer(tmp_path / "tokenizer-only")
    with pytest.raises(ZslbenchError, match=r"token_embedding\.weight") as err:
        load_clip_frames(path, tokenizer=bare_tokenizer)
    assert "ViFi-CLIP" in one_line(err)


# --- temporal pooling ---------------------------------------------------------------------------


def test_untrained_attention_pooling_equals_the_mean(clip_model, clip_folder):
    mean = load_clip_frames(clip_folder)
    attention = load_clip_frames(clip_folder, temporal="attention")
    assert any(name.startswith("temporal.") for name in attention.state_dict())
    clips = random_clips(2, 1, 8, seed=4)
    assert torch.equal(attention.encode_video(clips), mean.encode_video(clips))
    again = load_clip_frames(clip_folder, temporal="attention")
    assert attention.identity()["weights_sha256"] == again.identity()["weights_sha256"]  # seeded init
    assert attention.identity()["temporal"] == "attention"
    assert attention.text_identity() == mean.text_identity()


def test_attention_pooling_weights_load_from_the_state_dict(clip_model, clip_folder, tmp_path):
    trained = load_clip_frames(clip_folder, temporal="attention")
    with torch.no_grad():
        for parameter in trained.temporal.parameters():
            parameter.add_(0.1)
    extra = {f"temporal.{k}": v for k, v in trained.temporal.state_dict().items()}
    path = save_openai_state_dict(clip_model, tmp_path / "trained.pt", wrap="state_dict", extra=extra)
    module = load_clip_frames(path, tokenizer=clip_folder, temporal="attention")
    clips = random_clips(1, 1, 8, seed=2)
    torch.testing.assert_close(module.encode_video(clips), trained.encode_video(clips), atol=ATOL, rtol=0)
    assert not torch.allclose(module.encode_video(clips), load_clip_frames(clip_folder).encode_video(clips))
    with pytest.raises(ZslbenchError, match="pass the option temporal=attention") as err:
        load_clip_frames(path, tokenizer=clip_folder)
    assert err.value.cli_hint == "pass --option temporal=attention"


# --- X-CLIP -------------------------------------------------------------------------------------


def test_xclip_similarity_is_transformers_logits(xclip_model, xclip_folder):
    module = load_xclip(xclip_folder)
    assert module.conditioned and module.input.frames == 4 and module.input.size == 32
    clips = random_clips(3, 1, 4, seed=5)
    tokens = module.tokenizer(TEXTS)
    with torch.no_grad():
        out = xclip_model(
            input_ids=tokens["input_ids"],
            attention_mask=tokens["attention_mask"],
            pixel_values=clips[:, 0].transpose(1, 2),
        )
        texts = module.encode_text(TEXTS)
        similarity = module.similarity(clips, texts)
        videos = module.encode_video(clips)
    torch.testing.assert_close(texts, reference_text(xclip_model, module), atol=ATOL, rtol=0)
    torch.testing.assert_close(similarity, out.logits_per_video / xclip_model.logit_scale.exp(), atol=ATOL, rtol=0)
    torch.testing.assert_close(videos[:, 0], out.video_embeds, atol=ATOL, rtol=0)
    assert module.text_identity()["normalised"] is False


def test_xclip_views_are_averaged_as_the_input_says(xclip_folder):
    clips = random_clips(2, 2, 4, seed=6)
    with torch.no_grad():
        score = load_xclip(xclip_folder, views=2, view_average="score")
        texts = score.encode_text(TEXTS)
        per_view = [score.similarity(clips[:, i : i + 1], texts) for i in range(2)]
        torch.testing.assert_close(score.similarity(clips, texts), (per_view[0] + per_view[1]) / 2, atol=ATOL, rtol=0)
        embedding = load_xclip(xclip_folder, views=2)
        twice = clips[:, :1].expand(-1, 2, -1, -1, -1, -1)
        torch.testing.assert_close(embedding.similarity(twice, texts), per_view[0], atol=ATOL, rtol=0)


def test_xclip_frame_count_is_fixed(xclip_folder):
    with pytest.raises(ZslbenchError, match="built for 4 frames cannot read 8") as err:
        load_xclip(xclip_folder, frames=8)
    one_line(err)
    assert load_xclip(xclip_folder, frames=4).input.frames == 4


# --- refusals -----------------------------------------------------------------------------------


def test_input_size_is_the_weights(clip_folder):
    with pytest.raises(ZslbenchError, match="input size 224 differs from the 32") as err:
        load_clip_frames(clip_folder, size=224)
    one_line(err)
    with pytest.raises(ZslbenchError, match="comes with the weights"):
        load_clip_frames(clip_folder, mean=(0.5, 0.5, 0.5))
    with pytest.raises(ZslbenchError, match="temporal 'lstm'"):
        load_clip_frames(clip_folder, temporal="lstm")


def test_folder_without_tokenizer(clip_folder, tmp_path):
    folder = shutil.copytree(clip_folder, tmp_path / "no-tokenizer")
    for name in ("vocab.json", "merges.txt"):
        (folder / name).unlink()
    with pytest.raises(ZslbenchError, match="no CLIP tokenizer files") as err:
        load_clip_frames(folder)
    one_line(err)


def test_folder_of_another_model_type(clip_folder, xclip_folder, tmp_path):
    folder = shutil.copytree(clip_folder, tmp_path / "bert")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model_type": "bert"}))
    with pytest.raises(ZslbenchError, match="is a bert model, not CLIP"):
        load_clip_frames(folder)
    with pytest.raises(ZslbenchError, match="is a xclip model, not CLIP"):
        load_clip_frames(xclip_folder)
    with pytest.raises(ZslbenchError, match="is a clip model, not X-CLIP"):
        load_xclip(clip_folder)


@pytest.mark.parametrize(
    ("tower", "field", "value"),
    [
        ("text_config", "hidden_size", 10**9),
        ("vision_config", "num_hidden_layers", 10**6),
        ("vision_config", "image_size", 10**5),
    ],
)
def test_hostile_config_sizes_are_refused_before_allocation(tmp_path, tower, field, value):
    folder = write_tiny_tokenizer(tmp_path / "hostile")
    (folder / "config.json").write_text(json.dumps({"model_type": "clip", tower: {field: value}}))
    with pytest.raises(ZslbenchError, match=f"{field} {value} is not a whole number") as err:
        load_clip_frames(folder)  # no weights at all: the config is refused first
    one_line(err)


def test_config_whose_product_is_too_large(tmp_path):
    folder = write_tiny_tokenizer(tmp_path / "huge")
    big = {"hidden_size": 8192, "intermediate_size": 65536, "num_hidden_layers": 128, "num_attention_heads": 64}
    (folder / "config.json").write_text(json.dumps({"model_type": "clip", "text_config": big}))
    with pytest.raises(ZslbenchError, match="billion parameters"):
        load_clip_frames(folder)


def test_weights_that_do_not_fit_the_folder_config(clip_model, clip_folder, tmp_path):
    folder = shutil.copytree(clip_folder, tmp_path / "mixed")
    config = json.loads((folder / "config.json").read_text())
    config["vision_config"]["patch_size"] = 16
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ZslbenchError, match=r"do not fit its config\.json") as err:
        load_clip_frames(folder)
    assert "patch_embedding" in one_line(err)


def test_state_dict_of_another_patch_size_than_the_tokenizer_config(clip_folder, tmp_path):
    other = tiny_clip(seed=1, patch_size=16)
    path = save_openai_state_dict(other, tmp_path / "patch16.pt")
    with pytest.raises(ZslbenchError, match="does not fit the config in") as err:
        load_clip_frames(path, tokenizer=clip_folder)
    message = one_line(err)
    assert "vision_model.embeddings.patch_embedding.weight: (32, 3, 16, 16) in the file, (32, 3, 8, 8)" in message


def test_missing_and_unmapped_keys_are_listed(clip_model, clip_folder, tmp_path):
    state = openai_state_dict(clip_model)
    del state["visual.ln_post.bias"]
    state["prompt_learner.ctx"] = torch.zeros(4, 32)
    path = tmp_path / "partial.pt"
    torch.save({"model_state_dict": state, "fusion_model_state_dict": {"transformer.w": torch.zeros(2)}}, path)
    with pytest.raises(ZslbenchError, match="3 keys do not map onto CLIP") as err:
        load_clip_frames(path, tokenizer=clip_folder)
    message = one_line(err)
    for part in (
        "unmapped prompt_learner.ctx",
        "unmapped fusion_model_state_dict (1 tensors)",
        "missing visual.ln_post.bias",
    ):
        assert part in message


def test_state_dict_without_tokenizer(clip_model, tmp_path):
    path = save_openai_state_dict(clip_model, tmp_path / "alone" / "clip.pt")
    with pytest.raises(ZslbenchError, match="has no tokenizer") as err:
        load_clip_frames(path)
    assert "tokenizer=DIR" in one_line(err)


class RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_pickle_that_runs_code_runs_nothing(clip_folder, tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {"visual.conv1.weight": RunsCode(marker)}}, path)
    with pytest.raises(ZslbenchError, match="nothing in it ran") as err:
        load_clip_frames(path, tokenizer=clip_folder)
    one_line(err)
    assert not marker.exists()
    folder = shutil.copytree(clip_folder, tmp_path / "evil-folder")
    (folder / "model.safetensors").unlink()
    torch.save({"logit_scale": RunsCode(marker)}, folder / "pytorch_model.bin")
    with pytest.raises(ZslbenchError, match="nothing in it ran"):
        load_clip_frames(folder)
    assert not marker.exists()


def test_pickled_folder_weights_load(clip_model, clip_folder, tmp_path):
    folder = shutil.copytree(clip_folder, tmp_path / "bin")
    (folder / "model.safetensors").unlink()
    torch.save(clip_model.state_dict(), folder / "pytorch_model.bin")
    assert_same_outputs(load_clip_frames(folder), clip_model)


def test_huge_safetensors_header_is_not_read(clip_folder, tmp_path):
    folder = shutil.copytree(clip_folder, tmp_path / "huge-header")
    length = 64 << 20
    with open(folder / "model.safetensors", "wb") as handle:  # sparse: 64 MiB claimed, nothing written
        handle.write(length.to_bytes(8, "little") + b"{")
        handle.truncate(8 + length + 16)
    with pytest.raises(ZslbenchError, match="header claims"):
        load_clip_frames(folder)


def test_other_files_are_one_line(clip_folder, xclip_folder, tmp_path):
    with pytest.raises(ZslbenchError, match="do not exist"):
        load_clip_frames(tmp_path / "nothing")
    with pytest.raises(ZslbenchError, match="not a folder"):
        load_xclip(xclip_folder / "model.safetensors")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(os.urandom(64))
    with pytest.raises(ZslbenchError, match="cannot load") as err:
        load_clip_frames(garbage, tokenizer=clip_folder)
    one_line(err)
    with pytest.raises(ZslbenchError, match="transformers' names"):
        load_clip_frames(clip_folder / "model.safetensors", tokenizer=clip_folder)


def test_open_vclip_layout_loads_and_froster_extras_are_reported(clip_model, clip_folder, tmp_path):
    """Open-VCLIP / FROSTER (SlowFast): {"model_state": {"model.<openai key>": ...}, "cfg": "..."};
    FROSTER adds a frozen CLIP copy (raw_model.*) and distillation projectors, which are not CLIP's."""
    state = {f"model.{k}": v for k, v in openai_state_dict(clip_model).items()}
    path = tmp_path / "open-vclip.pyth"
    torch.save({"epoch": 22, "model_state": state, "optimizer_state": {"state": {}}, "cfg": "MODEL: {}"}, path)
    assert_same_outputs(load_clip_frames(path, tokenizer=clip_folder), clip_model)
    froster = {**state, **{f"raw_{k}": v for k, v in state.items()}, "projector_v.0.weight": torch.zeros(16, 16)}
    torch.save({"model_state": froster}, path)
    with pytest.raises(ZslbenchError, match="unmapped raw_model") as err:
        load_clip_frames(path, tokenizer=clip_folder)
    assert "without the keys listed as unmapped" in one_line(err)


def test_folder_with_only_tokenizer_json(clip_model, clip_folder, tmp_path):
    folder = shutil.copytree(clip_folder, tmp_path / "fast")
    load_clip_frames(folder).tokenizer.tokenizer.save_pretrained(folder)
    for name in ("vocab.json", "merges.txt"):
        (folder / name).unlink()
    module = load_clip_frames(folder)
    assert_same_outputs(module, clip_model)
    assert module.identity()["tokenizer"]["sha256"] != load_clip_frames(clip_folder).identity()["tokenizer"]["sha256"]


def test_sharded_safetensors_folder(clip_model, tmp_path):
    folder = tmp_path / "sharded"
    clip_model.save_pretrained(folder, max_shard_size="40KB")
    write_tiny_tokenizer(folder)
    assert (folder / "model.safetensors.index.json").exists()
    assert_same_outputs(load_clip_frames(folder), clip_model)


class Scale(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight


def test_a_torchscript_archive_is_never_loaded(clip_folder, tmp_path):
    path = tmp_path / "ViT-B-16.pt"
    with warnings.catch_warnings():  # torch.jit is deprecated; OpenAI's files are still TorchScript
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(Scale()), str(path))
    with pytest.raises(ZslbenchError, match="TorchScript archive") as err:
        load_clip_frames(path, tokenizer=clip_folder)
    assert "HF folder" in one_line(err)


# --- identities follow the whole config -----------------------------------------------------------

TOWERS = ("text_config", "vision_config")


def edited_folder(source: Path, target: Path, edit) -> Path:
    """A copy of the model folder `source` whose config.json `edit` (a function of the dict) changed."""
    folder = Path(shutil.copytree(source, target))
    config = json.loads((folder / "config.json").read_text())
    edit(config)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_a_changed_activation_changes_identities_and_outputs(clip_folder, tmp_path):
    """Caches are keyed by identity() and text_identity(): a config that differs only in hidden_act
    must not share them (sizes alone served the old outputs)."""
    relu = edited_folder(clip_folder, tmp_path / "relu", lambda c: [c[t].update(hidden_act="relu") for t in TOWERS])
    before, after = load_clip_frames(clip_folder), load_clip_frames(relu)
    assert before.identity()["weights_sha256"] == after.identity()["weights_sha256"]
    assert before.identity() != after.identity() and before.text_identity() != after.text_identity()
    clips = random_clips(1, 1, 8, seed=3)
    assert not torch.allclose(before.encode_video(clips), after.encode_video(clips))
    assert not torch.allclose(before.encode_text(TEXTS), after.encode_text(TEXTS))
    vision_only = edited_folder(
        clip_folder, tmp_path / "vision", lambda c: c["vision_config"].update(hidden_act="gelu")
    )
    module = load_clip_frames(vision_only)
    assert module.identity() != before.identity() and module.text_identity() == before.text_identity()
    assert str(tmp_path) not in json.dumps([after.identity(), after.text_identity()])


def test_text_identity_follows_special_ids_and_epsilon(clip_folder, tmp_path):
    base = load_clip_frames(clip_folder).text_identity()
    eos = edited_folder(clip_folder, tmp_path / "eos", lambda c: c["text_config"].update(eos_token_id=2))
    eps = edited_folder(clip_folder, tmp_path / "eps", lambda c: c["text_config"].update(layer_norm_eps=1e-3))
    for folder in (eos, eps):
        assert load_clip_frames(folder).text_identity()["text_config_sha256"] != base["text_config_sha256"]


def test_volatile_config_keys_change_nothing(clip_model, clip_folder, tmp_path):
    """A stored dtype, architectures or version say how the file was written: the weights are read as
    float32 whatever the config says, so outputs and identities stay the same."""

    def volatile(config: dict) -> None:
        for part in (config, config["text_config"], config["vision_config"]):
            part.update(dtype="float16", torch_dtype="float16", transformers_version="4.0.0", _commit_hash="abc")
        config["architectures"] = ["SomethingElse"]

    module = load_clip_frames(edited_folder(clip_folder, tmp_path / "volatile", volatile))
    assert all(p.dtype == torch.float32 for p in module.parameters())
    assert_same_outputs(module, clip_model)
    plain = load_clip_frames(clip_folder)
    assert (module.identity(), module.text_identity()) == (plain.identity(), plain.text_identity())


def test_xclip_identity_follows_its_config(xclip_folder, tmp_path):
    other = edited_folder(xclip_folder, tmp_path / "x", lambda c: c.update(prompt_hidden_act="gelu"))
    before, after = load_xclip(xclip_folder), load_xclip(other)
    assert before.identity()["config_sha256"] != after.identity()["config_sha256"]
    assert before.text_identity() == after.text_identity()  # the prompt generator is not the text tower


# --- preprocessor statistics --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mean", "std", "expected"),
    [
        (
            [122.77, 116.75, 104.09],
            [68.5, 66.6, 70.3],
            r"image_mean \[122\.77, 116\.75, 104\.09\] looks like the 0\.\.255",
        ),
        (1000, [0.2, 0.2, 0.2], "image_mean 1000 looks like the 0..255 scale"),
        ([0.5, 0.5, 0.5], [0, 0.2, 0.2], r"image_std \[0, 0\.2, 0\.2\] is out of range"),
        ([0.5, 0.5], [0.2, 0.2, 0.2], "image_mean has 2 values, not 3"),
        (["a", 1, 1], [0.2, 0.2, 0.2], "holds 'a', not a finite number"),
        ([0.5, 0.5, 0.5], "x", "image_std 'x' is a str, not a list of numbers"),
    ],
)
def test_preprocessor_statistics_are_on_the_unit_scale(clip_model, tmp_path, mean, std, expected):
    folder = save_clip_folder(clip_model, tmp_path / "clip")
    (folder / "preprocessor_config.json").write_text(json.dumps({"image_mean": mean, "image_std": std}))
    with pytest.raises(ZslbenchError, match=expected) as err:
        load_clip_frames(folder)
    message = one_line(err)
    assert "preprocessor_config.json" in message and "(hint: " in message


def test_preprocessor_single_numbers_stand_for_every_channel(clip_model, tmp_path):
    folder = save_clip_folder(clip_model, tmp_path / "clip")
    (folder / "preprocessor_config.json").write_text(json.dumps({"image_mean": 0.5, "image_std": 0.25}))
    module = load_clip_frames(folder)
    assert module.input.mean == (0.5, 0.5, 0.5) and module.input.std == (0.25, 0.25, 0.25)
    (folder / "preprocessor_config.json").write_text(json.dumps({"image_mean": 0.5}))
    with pytest.raises(ZslbenchError, match="has no image_std"):
        load_clip_frames(folder)


# --- messages name the file and say what to do ----------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda c: c["text_config"].update(hidden_act="nonsense"), "text_config.hidden_act 'nonsense' is not an act"),
        (lambda c: c["vision_config"].update(layer_norm_eps="x"), "vision_config.layer_norm_eps 'x' is not a number"),
        (
            lambda c: c["text_config"].update(num_attention_heads=5),
            "text_config.num_attention_heads 5 does not divide text_config.hidden_size 32",
        ),
    ],
)
def test_bad_config_values_name_the_file_and_the_key(clip_folder, tmp_path, edit, expected):
    folder = edited_folder(clip_folder, tmp_path / "bad", edit)
    with pytest.raises(ZslbenchError, match=expected) as err:
        load_clip_frames(folder)
    message = one_line(err)
    assert str(folder / "config.json") in message and "(hint: " in message


def test_a_config_transformers_cannot_build_names_the_key():
    """Values hf_config does not check fail in the model's constructor; a KeyError names only the
    value, so the key that holds it is found and named."""
    from transformers import CLIPConfig, CLIPModel

    from zslbench.models.video_text.hf_folder import meta_state

    config = CLIPConfig(text_config={"hidden_act": "nonsense"})
    with pytest.raises(ZslbenchError, match=r"text_config\.hidden_act 'nonsense' is not a value") as err:
        meta_state(CLIPModel, config, "some/config.json")
    assert one_line(err).startswith("some/config.json: its config cannot build a model") and "(hint: " in str(err.value)


def test_xclip_folder_without_tokenizer_says_to_add_the_files(xclip_folder, tmp_path):
    folder = Path(shutil.copytree(xclip_folder, tmp_path / "no-tokenizer"))
    (folder / "vocab.json").unlink()
    with pytest.raises(ZslbenchError, match="no CLIP tokenizer files") as err:
        load_xclip(folder)
    message = one_line(err)
    assert "into the folder" in message and "tokenizer=DIR" not in message


def test_clip_folder_without_tokenizer_names_the_option(clip_folder, tmp_path):
    folder = Path(shutil.copytree(clip_folder, tmp_path / "no-tokenizer"))
    (folder / "merges.txt").unlink()
    with pytest.raises(ZslbenchError, match="no CLIP tokenizer files") as err:
        load_clip_frames(folder)
    assert "the option tokenizer=DIR" in one_line(err) and "--option tokenizer=DIR" in err.value.cli_hint


@pytest.mark.parametrize("route", ["folder", "state_dict"])
def test_a_given_tokenizer_folder_that_is_missing_or_empty(clip_model, clip_folder, tmp_path, route):
    weights = clip_folder if route == "folder" else save_openai_state_dict(clip_model, tmp_path / "sd" / "clip.pt")
    with pytest.raises(ZslbenchError, match=r"tokenizer folder .*nonexistent does not exist") as err:
        load_clip_frames(weights, tokenizer=tmp_path / "nonexistent")
    assert "the option tokenizer=DIR" in one_line(err)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ZslbenchError, match=r"tokenizer folder .*empty holds no CLIP tokenizer files") as err:
        load_clip_frames(weights, tokenizer=tmp_path / "empty")
    one_line(err)


@pytest.mark.parametrize("value", [5, True, "", 1.5, ["dir"]])
def test_a_tokenizer_option_of_the_wrong_type(clip_folder, value):
    with pytest.raises(ZslbenchError, match="is not a folder path") as err:
        load_clip_frames(clip_folder, tokenizer=value)
    assert "the option tokenizer=DIR" in one_line(err)


def test_tokenizer_option_as_text_and_temporal_hint(clip_folder):
    assert load_clip_frames(clip_folder, tokenizer=str(clip_folder)).input.size == 32
    with pytest.raises(ZslbenchError, match="the option temporal=mean or temporal=attention"):
        load_clip_frames(clip_folder, temporal="lstm")


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("vocab.json", b"not json{", "vocab.json is not JSON"),
        ("vocab.json", b'{"a": "b"}', "vocab.json maps 'a' to 'b', not to a token id"),
        ("vocab.json", b"[1, 2]", "vocab.json holds a JSON list, not an object"),
        ("merges.txt", b"\xff\xfe\x00merges", "merges.txt is not UTF-8 text"),
        ("tokenizer.json", b"{truncated", "tokenizer.json is not JSON"),
        ("tokenizer_config.json", b'"text"', "tokenizer_config.json holds a JSON str"),
    ],
)
def test_a_damaged_tokenizer_file_is_named(clip_folder, tmp_path, name, content, expected):
    """transformers falls back to other converters on a damaged file and then reports e.g. a missing
    protobuf library; the files are checked first."""
    folder = Path(shutil.copytree(clip_folder, tmp_path / "damaged"))
    (folder / name).write_bytes(content)
    with pytest.raises(ZslbenchError, match=expected) as err:
        load_clip_frames(folder)
    message = one_line(err)
    assert "protobuf" not in message and "(hint: " in message


@pytest.mark.parametrize("route", ["folder", "state_dict"])
def test_a_safetensors_header_longer_than_the_file(clip_folder, tmp_path, route):
    data = (clip_folder / "model.safetensors").read_bytes()
    damaged = (10**12).to_bytes(8, "little") + data[8:]
    if route == "folder":
        folder = Path(shutil.copytree(clip_folder, tmp_path / "damaged"))
        (folder / "model.safetensors").write_bytes(damaged)
        weights, tokenizer = folder, None
    else:
        weights, tokenizer = tmp_path / "clip.safetensors", clip_folder
        weights.write_bytes(damaged)
    with pytest.raises(ZslbenchError, match=f"header claims {10**12} bytes, more than the file's {len(data)}") as err:
        load_clip_frames(weights, tokenizer=tokenizer)
    assert "(hint: " in one_line(err)
