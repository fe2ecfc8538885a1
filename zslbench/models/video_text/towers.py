"""What ClipFrames and XClip share around their transformers model: clips laid out as frames, the
text tower run in batches, and the JSON that names the weights in identities (hashes, never paths)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from zslbench.core.hashing import sha256_json
from zslbench.models.checkpoint import weights_sha256
from zslbench.models.video_text.tokenizer import ClipTokenizer

TEXT_BATCH = 256  # texts per text-tower call: 400 classes x 16 templates never hold 6400 sequences at once
# Config keys that say where or how the weights were stored, never what the model computes: a path
# (_name_or_path), library and hub bookkeeping, and the stored dtype (the weights are always read as
# float32, hf_folder.load_model). Every other key, including ones transformers does not know, is hashed.
VOLATILE = frozenset({"_name_or_path", "transformers_version", "_commit_hash", "architectures", "torch_dtype", "dtype"})


def frames_of(clips: torch.Tensor, size: int, frames: int | None = None) -> tuple[torch.Tensor, tuple[int, int, int]]:
    """clips [B, V, 3, T, H, W] -> (frames [B*V*T, 3, H, W] in (video, view, time) order, (B, V, T)).
    A tensor of another layout is a bug in the caller (ValueError), not bad user input."""
    if clips.dim() != 6 or clips.shape[2] != 3 or tuple(clips.shape[-2:]) != (size, size):
        raise ValueError(f"clips must be [B, V, 3, T, {size}, {size}], got {list(clips.shape)}")
    if frames is not None and clips.shape[3] != frames:
        raise ValueError(f"clips must have {frames} frames (dim 3), got {clips.shape[3]}")
    b, v, c, t, h, w = clips.shape
    return clips.permute(0, 1, 3, 2, 4, 5).reshape(b * v * t, c, h, w), (b, v, t)


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of `model`'s first parameter (where its inputs must go)."""
    return next(model.parameters()).device


def encode_texts(
    model: Any, tokenizer: ClipTokenizer, texts: list[str], normalise: bool, grad: bool = False
) -> torch.Tensor:
    """float32 [N, D]: `model.get_text_features` of every text, TEXT_BATCH at a time, without
    gradients unless `grad` (fine-tuning the text tower); L2-normalised rows when `normalise`."""
    if isinstance(texts, str) or not all(isinstance(text, str) for text in texts):
        raise TypeError("texts must be a list of strings")
    device = model_device(model)
    rows = []
    with torch.set_grad_enabled(grad):
        for start in range(0, len(texts), TEXT_BATCH):
            tokens = tokenizer(list(texts[start : start + TEXT_BATCH]))
            features = model.get_text_features(
                input_ids=tokens["input_ids"].to(device), attention_mask=tokens["attention_mask"].to(device)
            )
            rows.append(features.float())
    if not rows:
        return torch.zeros(0, model.config.projection_dim, device=device)
    embeddings = torch.cat(rows)
    return F.normalize(embeddings, dim=-1) if normalise else embeddings


def config_sizes(config: Any) -> dict[str, Any]:
    """The main sizes of a CLIP or X-CLIP config, for identities and records."""
    text, vision = config.text_config, config.vision_config
    tower = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads")
    sizes = {
        "text": {key: getattr(text, key) for key in (*tower, "vocab_size", "max_position_embeddings")},
        "vision": {key: getattr(vision, key) for key in (*tower, "image_size", "patch_size")},
        "projection_dim": config.projection_dim,
    }
    if hasattr(vision, "num_frames"):
        sizes["vision"]["num_frames"] = vision.num_frames
        sizes["mit"] = {key: getattr(vision, f"mit_{key}") for key in tower}
        sizes["prompt_layers"] = config.prompt_layers
    return sizes


def text_weights_sha256(model: Any) -> str:
    """The hash of the text tower's tensors only (text_model.*, text_projection.weight), named as
    transformers names them: equal for the same text tower in any file format or video model."""
    state = model.state_dict()
    return weights_sha256(
        {k: v for k, v in state.items() if k.startswith("text_model.") or k == "text_projection.weight"}
    )


def config_dict(config: Any) -> dict[str, Any]:
    """`config.to_dict()` without the VOLATILE keys, at every depth, its keys as text (canonical JSON)."""
    return _stable(config.to_dict())


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _stable(item) for key, item in value.items() if key not in VOLATILE}
    if isinstance(value, list | tuple):
        return [_stable(item) for item in value]
    return value


def config_sha256(config: Any) -> str:
    """The hash of the whole config and the attention implementation transformers picked: a cache keyed
    by sizes alone served the old outputs after config.json's hidden_act changed."""
    return sha256_json({"config": config_dict(config), "attention": getattr(config, "_attn_implementation", None)})


def text_identity(model: Any, tokenizer: ClipTokenizer, normalised: bool) -> dict[str, Any]:
    """What encode_text's rows depend on: the text tower's weights and config (activation, epsilon,
    the eos id whose position is pooled, ...), the projection width, the special token ids, the
    tokenizer's files and settings, and whether the rows are normalised (X-CLIP's are not)."""
    config, text = model.config, model.config.text_config
    setup = {
        "text_config": config_dict(text),
        "attention": getattr(text, "_attn_implementation", None),
        "projection_dim": config.projection_dim,
        "ids": {key: getattr(config, key, None) for key in ("bos_token_id", "eos_token_id", "pad_token_id")},
    }
    return {
        "text_weights_sha256": text_weights_sha256(model),
        "text_config_sha256": sha256_json(setup),
        "tokenizer": tokenizer.describe(),
        "normalised": normalised,
    }
