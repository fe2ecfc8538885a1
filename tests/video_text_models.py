"""Tiny CLIP and X-CLIP models and their files, for tests of the video-text models (CPU, no network).

`write_tiny_tokenizer` writes a byte-level CLIP BPE vocabulary without merges (every byte, alone and
as a word end, plus the two special tokens): real CLIP tokenization with 514 ids. The OpenAI layout
written by `save_openai_state_dict` comes from its own table below, written apart from zslbench's
mapping, so a round trip tests one against the other.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

TINY_TOWER = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64}
TINY_VISION = {**TINY_TOWER, "image_size": 32, "patch_size": 8}
SPECIALS = ("<|startoftext|>", "<|endoftext|>")


def tiny_vocab() -> dict[str, int]:
    from transformers.models.clip.tokenization_clip import bytes_to_unicode

    chars = list(bytes_to_unicode().values())
    tokens = [*chars, *(c + "</w>" for c in chars), *SPECIALS]
    return {token: i for i, token in enumerate(tokens)}


def write_tiny_tokenizer(folder: Path) -> Path:
    """vocab.json and merges.txt of a 514-token byte-level CLIP tokenizer in `folder`; returns `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(tiny_vocab()), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    return folder


def _text_config() -> dict[str, Any]:
    vocab = tiny_vocab()
    bos, eos = (vocab[token] for token in SPECIALS)
    return {
        **TINY_TOWER,
        "vocab_size": len(vocab),
        "max_position_embeddings": 77,
        "bos_token_id": bos,
        "eos_token_id": eos,
        "pad_token_id": eos,
    }


def _seeded(build: Any, seed: int) -> Any:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build().eval()


def tiny_clip(seed: int = 0, **vision: Any) -> Any:
    """A CLIPModel with 32-wide towers of 2 layers, 32x32 input in 8x8 patches, 16-d embeddings."""
    from transformers import CLIPConfig, CLIPModel

    config = CLIPConfig(text_config=_text_config(), vision_config={**TINY_VISION, **vision}, projection_dim=16)
    return _seeded(lambda: CLIPModel(config), seed)


def tiny_xclip(seed: int = 0) -> Any:
    """An XCLIPModel: the tiny towers, 4 frames, a 1-layer frame integration of width 32, 1 prompt layer."""
    from transformers import XCLIPConfig, XCLIPModel

    vision = {
        **TINY_VISION,
        "num_frames": 4,
        "mit_hidden_size": 32,
        "mit_intermediate_size": 64,
        "mit_num_hidden_layers": 1,
        "mit_num_attention_heads": 4,
    }
    config = XCLIPConfig(
        text_config=_text_config(),
        vision_config=vision,
        projection_dim=32,
        prompt_layers=1,
        prompt_num_attention_heads=4,
    )
    return _seeded(lambda: XCLIPModel(config), seed)


def save_clip_folder(model: Any, folder: Path, stats: tuple[list[float], list[float]] | None = None) -> Path:
    """`model` as save_pretrained writes it, with the tiny tokenizer (and a preprocessor_config.json
    with `stats` = (image_mean, image_std) when given); returns `folder`."""
    folder = Path(folder)
    model.save_pretrained(folder)
    write_tiny_tokenizer(folder)
    if stats is not None:
        data = {"image_mean": list(stats[0]), "image_std": list(stats[1])}
        (folder / "preprocessor_config.json").write_text(json.dumps(data), encoding="utf-8")
    return folder


def save_xclip_folder(model: Any, folder: Path) -> Path:
    return save_clip_folder(model, folder)


# HF name fragment -> OpenAI name fragment, applied in order (the helper's own table)
RENAMES = (
    ("text_model.embeddings.token_embedding.weight", "token_embedding.weight"),
    ("text_model.embeddings.position_embedding.weight", "positional_embedding"),
    ("text_model.final_layer_norm.", "ln_final."),
    ("vision_model.embeddings.class_embedding", "visual.class_embedding"),
    ("vision_model.embeddings.position_embedding.weight", "visual.positional_embedding"),
    ("vision_model.embeddings.patch_embedding.weight", "visual.conv1.weight"),
    ("vision_model.pre_layrnorm.", "visual.ln_pre."),
    ("vision_model.post_layernorm.", "visual.ln_post."),
    ("text_model.encoder.layers.", "transformer.resblocks."),
    ("vision_model.encoder.layers.", "visual.transformer.resblocks."),
    (".self_attn.out_proj.", ".attn.out_proj."),
    (".layer_norm1.", ".ln_1."),
    (".layer_norm2.", ".ln_2."),
    (".mlp.fc1.", ".mlp.c_fc."),
    (".mlp.fc2.", ".mlp.c_proj."),
)


def openai_state_dict(model: Any) -> dict[str, torch.Tensor]:
    """An HF CLIPModel's tensors in OpenAI CLIP's layout (model.py of github.com/openai/CLIP)."""
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    out = {
        "logit_scale": state.pop("logit_scale"),
        "text_projection": state.pop("text_projection.weight").T.contiguous(),
        "visual.proj": state.pop("visual_projection.weight").T.contiguous(),
    }
    for name in [k for k in state if ".self_attn.q_proj." in k]:
        kind = name.rsplit(".", 1)[1]  # weight or bias
        parts = [state.pop(name.replace("q_proj", p)) for p in ("q_proj", "k_proj", "v_proj")]
        base = name.split(".self_attn.")[0] + ".self_attn.in_proj_" + kind
        state[base.replace(".self_attn.", ".attn.")] = torch.cat(parts)
    for name, value in state.items():
        for old, new in RENAMES:
            name = name.replace(old, new)
        out[name] = value
    return out


def save_openai_state_dict(model: Any, path: Path, wrap: str | None = None, extra: dict | None = None) -> Path:
    """`openai_state_dict(model)` saved with torch.save; `wrap` (e.g. "state_dict", "model") nests it
    as the video papers release it, with a DistributedDataParallel "module." prefix on every key.
    `extra` tensors are added to the state dict as they are."""
    state = {**openai_state_dict(model), **(extra or {})}
    if wrap is not None:
        state = {wrap: {f"module.{k}": v for k, v in state.items()}, "epoch": 3, "optimizer": {"state": {}}}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


def random_clips(batch: int, views: int, frames: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    """float32 [batch, views, 3, frames, size, size] of normal noise (already 'normalised' pixels)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, views, 3, frames, size, size, generator=generator)
