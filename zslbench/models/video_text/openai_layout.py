"""OpenAI CLIP's state dict layout, key by key onto transformers' CLIPModel names (no file reading here).

The video papers release CLIP fine-tunes in OpenAI's layout (`visual.conv1.weight`,
`transformer.resblocks.N.attn.in_proj_weight`, ...), bare or wrapped: `{"model": ...}` (ViFi-CLIP,
X-CLIP's code base), `{"model_state": ...}` (Open-VCLIP and FROSTER, on SlowFast), `{"model_state_dict":
..., "fusion_model_state_dict": ...}` (ActionCLIP), `{"state_dict": ...}`; with prefixes such as
`module.` (DistributedDataParallel) or `model.` (the CLIP inside a video model). ViFi-CLIP names the
towers `image_encoder.` and `text_encoder.`. Every other key (prompt learners, fusion transformers,
a frozen second copy of CLIP, distillation projectors) has no place in CLIPModel and is reported,
never dropped silently: a number must come from the model the file holds. Only the `temporal.*` keys
of our own attention pooling (clip_frames.TemporalPool) are passed on.

`infer_config` reads the sizes from the tensors' shapes (OpenAI's rules: heads = width // 64,
QuickGELU, LayerNorm eps 1e-5); openai_clip uses the tokenizer folder's config.json instead when
there is one.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from zslbench.core.errors import ZslbenchError
from zslbench.models.video_text.tokenizer import TOKENIZER_OPTION

MODEL_KEYS = ("state_dict", "model", "model_state", "model_state_dict")  # where the wrappers keep the weights
RESUME_WORDS = ("optim", "sched", "scaler", "amp")  # wrapper entries that only resume training
METADATA = ("input_resolution", "context_length", "vocab_size")  # OpenAI's JIT archives keep these as tensors
ANCHOR = "visual.conv1.weight"
VIFI = {"image_encoder.": "visual.", "text_encoder.": ""}  # ViFi-CLIP's tower names
# Buffers ViFi-CLIP derives from CLIP's token embedding and the training class names; its own loader
# (utils/tools.py load_checkpoint) deletes them too. A learned prompt (prompt_learner.ctx) is reported.
DERIVED = ("prompt_learner.token_prefix", "prompt_learner.token_suffix", "prompt_learner.complete_text_embeddings")
TEMPORAL = "temporal."
TOKEN_EMBEDDING = "token_embedding.weight"
SHOWN = 5
VIFI_HINT = (
    f"ViFi-CLIP's files leave out CLIP's token embedding: pass {TOKENIZER_OPTION}, the HF folder "
    "(config.json, weights, tokenizer) of the CLIP it was fine-tuned from"
)
HINT = "pass a CLIP ViT state dict in OpenAI's layout (visual.*, transformer.*, token_embedding.weight, ...)"
LAYER = {  # OpenAI name in a residual block -> (HF name in an encoder layer, how)
    "attn.in_proj_weight": (("self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight"), "split"),
    "attn.in_proj_bias": (("self_attn.q_proj.bias", "self_attn.k_proj.bias", "self_attn.v_proj.bias"), "split"),
    "attn.out_proj.weight": (("self_attn.out_proj.weight",), "copy"),
    "attn.out_proj.bias": (("self_attn.out_proj.bias",), "copy"),
    "ln_1.weight": (("layer_norm1.weight",), "copy"),
    "ln_1.bias": (("layer_norm1.bias",), "copy"),
    "mlp.c_fc.weight": (("mlp.fc1.weight",), "copy"),
    "mlp.c_fc.bias": (("mlp.fc1.bias",), "copy"),
    "mlp.c_proj.weight": (("mlp.fc2.weight",), "copy"),
    "mlp.c_proj.bias": (("mlp.fc2.bias",), "copy"),
    "ln_2.weight": (("layer_norm2.weight",), "copy"),
    "ln_2.bias": (("layer_norm2.bias",), "copy"),
}
TOP = {  # OpenAI name -> (HF name, how); `visual.proj` and `text_projection` are x @ W, nn.Linear is x @ W.T
    "logit_scale": ("logit_scale", "copy"),
    TOKEN_EMBEDDING: ("text_model.embeddings.token_embedding.weight", "copy"),
    "positional_embedding": ("text_model.embeddings.position_embedding.weight", "copy"),
    "ln_final.weight": ("text_model.final_layer_norm.weight", "copy"),
    "ln_final.bias": ("text_model.final_layer_norm.bias", "copy"),
    "text_projection": ("text_projection.weight", "transpose"),
    "visual.class_embedding": ("vision_model.embeddings.class_embedding", "copy"),
    "visual.positional_embedding": ("vision_model.embeddings.position_embedding.weight", "copy"),
    ANCHOR: ("vision_model.embeddings.patch_embedding.weight", "copy"),
    "visual.ln_pre.weight": ("vision_model.pre_layrnorm.weight", "copy"),
    "visual.ln_pre.bias": ("vision_model.pre_layrnorm.bias", "copy"),
    "visual.ln_post.weight": ("vision_model.post_layernorm.weight", "copy"),
    "visual.ln_post.bias": ("vision_model.post_layernorm.bias", "copy"),
    "visual.proj": ("visual_projection.weight", "transpose"),
}


@dataclass
class OpenAIWeights:
    """A state dict in OpenAI's names (prefixes and wrappers removed), the keys that fit nowhere, and
    our attention pooling's `temporal.*` tensors (without the prefix)."""

    tensors: dict[str, Any]
    unmapped: list[str]
    temporal: dict[str, Any]
    prefix: str


def unwrap(data: Any, where: str) -> tuple[dict[str, Any], list[str]]:
    """The state dict inside a released checkpoint, and the wrapper's other tensor-holding entries
    (e.g. ActionCLIP's fusion_model_state_dict), which a CLIP cannot hold."""
    import torch

    extra: list[str] = []
    for _ in range(3):  # {"model": {"state_dict": ...}} at most
        if not isinstance(data, dict) or any(isinstance(v, torch.Tensor) for v in data.values()):
            break
        key = next((k for k in MODEL_KEYS if isinstance(data.get(k), dict)), None)
        if key is None:
            break
        extra += [f"{k} ({_tensor_count(v)} tensors)" for k, v in data.items() if k != key and _holds_weights(k, v)]
        data = data[key]
    if not isinstance(data, dict) or not data:
        raise ZslbenchError(f"{where} holds no state dict (found {type(data).__name__})", HINT)
    return data, extra


def _holds_weights(key: Any, value: Any) -> bool:
    name = str(key).lower()
    return _tensor_count(value) > 0 and not any(word in name for word in RESUME_WORDS)


def _tensor_count(value: Any, depth: int = 0) -> int:
    """Tensors in `value` and the dicts in it, 4 levels deep at most (a pickle may nest without end)."""
    import torch

    if isinstance(value, torch.Tensor):
        return 1
    if isinstance(value, dict) and depth < 4:
        return sum(_tensor_count(v, depth + 1) for v in value.values())
    return 0


def normalise(state: dict[str, Any], where: str) -> OpenAIWeights:
    """Strip the prefix before `visual.conv1.weight` (or ViFi-CLIP's `image_encoder.conv1.weight`),
    rename ViFi-CLIP's towers, and sort the keys into CLIP's, ours (`temporal.*`) and unmapped ones."""
    import torch

    prefix, vifi = find_prefix(state, where)
    tensors, temporal, unmapped = {}, {}, []
    for key, value in state.items():
        name = str(key)
        if not name.startswith(prefix) or not isinstance(value, torch.Tensor):
            unmapped.append(name)
            continue
        name = name[len(prefix) :]
        if vifi:
            if name in DERIVED:
                continue
            name = next((new + name[len(old) :] for old, new in VIFI.items() if name.startswith(old)), name)
        if name.startswith(TEMPORAL):
            temporal[name[len(TEMPORAL) :]] = value
        elif name in METADATA:
            continue
        else:
            tensors[name] = value
    return OpenAIWeights(tensors, unmapped, temporal, prefix)


def find_prefix(state: dict[str, Any], where: str) -> tuple[str, bool]:
    """(prefix, whether ViFi-CLIP names the towers): the shortest prefix before an image tower's conv1."""
    found = sorted(
        (str(k)[: -len(anchor)], anchor != ANCHOR)
        for k in state
        for anchor in (ANCHOR, "image_encoder.conv1.weight")
        if str(k).endswith(anchor) and (str(k) == anchor or str(k)[: -len(anchor)].endswith("."))
    )
    found.sort(key=lambda item: len(item[0]))
    if found:
        return found[0]
    names = [str(k) for k in state]
    if any(".layer1." in n and "visual" in n for n in names):
        raise ZslbenchError(
            f"{where} holds a ResNet CLIP image tower, which clip_frames does not support", "use a ViT CLIP"
        )
    if any(n.startswith(("text_model.", "vision_model.")) for n in names):
        raise ZslbenchError(
            f"{where} holds weights in transformers' names, not OpenAI's",
            "pass the HF folder it belongs to (with config.json) instead of the file",
        )
    shown = ", ".join(repr(n) for n in names[:4]) + (", ..." if len(names) > 4 else "")
    raise ZslbenchError(f"{where} has no CLIP ViT image tower: no {ANCHOR} among its keys ({shown})", HINT)


def layer_count(tensors: dict[str, Any], tower: str) -> int:
    """Residual blocks in `tower` ("visual.transformer" or "transformer"): the highest index + 1."""
    pattern = re.compile(rf"{re.escape(tower)}\.resblocks\.(\d+)\.")
    indices = [int(m.group(1)) for k in tensors if (m := pattern.match(k))]
    return max(indices) + 1 if indices else 0


def key_table(text_layers: int, vision_layers: int) -> dict[str, tuple[tuple[str, ...], str]]:
    """Every OpenAI key of a ViT CLIP of these depths -> (its HF names, how)."""
    table = {name: ((hf,), how) for name, (hf, how) in TOP.items()}
    for tower, hf_tower, layers in (
        ("transformer", "text_model", text_layers),
        ("visual.transformer", "vision_model", vision_layers),
    ):
        for i in range(layers):
            for name, (hf_names, how) in LAYER.items():
                table[f"{tower}.resblocks.{i}.{name}"] = (
                    tuple(f"{hf_tower}.encoder.layers.{i}.{n}" for n in hf_names),
                    how,
                )
    return table


def to_hf(tensors: dict[str, Any], table: dict[str, tuple[tuple[str, ...], str]]) -> tuple[dict[str, Any], list[str]]:
    """(the tensors in HF names, float32; the OpenAI keys the table has no place for). A tensor of the
    wrong rank for its conversion is left for the shape check to report."""
    mapped, unmapped = {}, []
    for name, value in tensors.items():
        if name not in table:
            unmapped.append(name)
            continue
        hf_names, how = table[name]
        value = value.detach().float()
        if how == "transpose" and value.dim() == 2:
            value = value.T
        split = how == "split" and value.shape[0] % 3 == 0
        parts = value.chunk(3, dim=0) if split else (value,) * len(hf_names)
        mapped.update({hf: part.contiguous() for hf, part in zip(hf_names, parts, strict=True)})
    return mapped, unmapped


def infer_config(tensors: dict[str, Any], bos: int, eos: int, where: str) -> dict[str, Any]:
    """A CLIPConfig dict from the shapes of an OpenAI ViT CLIP (its model.py `build_model` rules)."""
    need = (ANCHOR, "visual.positional_embedding", "visual.proj", "positional_embedding", "ln_final.weight")
    need += ("text_projection", TOKEN_EMBEDDING, "transformer.resblocks.0.mlp.c_fc.weight")
    need += ("visual.transformer.resblocks.0.mlp.c_fc.weight",)
    missing = [k for k in need if k not in tensors]
    if missing:
        raise ZslbenchError(f"{where} lacks {', '.join(missing)}, so its sizes cannot be read", HINT)
    conv, positions = tensors[ANCHOR].shape, tensors["visual.positional_embedding"].shape[0]
    grid = math.isqrt(max(positions - 1, 0))
    if grid * grid != positions - 1 or len(conv) != 4:
        raise ZslbenchError(f"{where}: visual.positional_embedding has {positions} rows, not 1 + a square grid", HINT)
    vision_width, text_width = conv[0], tensors["ln_final.weight"].shape[0]
    for width, tower in ((vision_width, "image"), (text_width, "text")):
        if width % 64:
            raise ZslbenchError(
                f"{where}: the {tower} tower's width {width} is not a multiple of 64, so its heads cannot be inferred",
                f"pass {TOKENIZER_OPTION} with the base model's config.json, which names them",
            )
    vision = {
        "hidden_size": vision_width,
        "intermediate_size": tensors["visual.transformer.resblocks.0.mlp.c_fc.weight"].shape[0],
        "num_hidden_layers": layer_count(tensors, "visual.transformer"),
        "num_attention_heads": vision_width // 64,
        "patch_size": conv[-1],
        "image_size": grid * conv[-1],
    }
    text = {
        "vocab_size": tensors[TOKEN_EMBEDDING].shape[0],
        "hidden_size": text_width,
        "intermediate_size": tensors["transformer.resblocks.0.mlp.c_fc.weight"].shape[0],
        "num_hidden_layers": layer_count(tensors, "transformer"),
        "num_attention_heads": text_width // 64,
        "max_position_embeddings": tensors["positional_embedding"].shape[0],
        "bos_token_id": bos,
        "eos_token_id": eos,
        "pad_token_id": eos,
    }
    common = {"hidden_act": "quick_gelu", "layer_norm_eps": 1e-5}
    return {
        "text_config": {**text, **common},
        "vision_config": {**vision, **common},
        "projection_dim": tensors["text_projection"].shape[1],
    }


def refusal(where: str, problems: list[str], hint: str) -> ZslbenchError:
    """One line naming the first few problems and how many there are."""
    more = f"; and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
    return ZslbenchError(
        f"{where}: {len(problems)} keys do not map onto CLIP ({'; '.join(problems[:SHOWN])}{more})", hint
    )
