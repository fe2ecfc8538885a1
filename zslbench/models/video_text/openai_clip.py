"""Loading an OpenAI-CLIP-format state dict file into transformers' CLIPModel (`load_openai_clip`).

The file is read safely (`read_state_file`: safetensors, or a weights-only pickle), its keys mapped
by openai_layout; the tokenizer comes from the tokenizer folder (default: the file's own folder),
whose config.json, when it has one, fixes the sizes the tensors must fit. Everything that keeps the
file from being exactly a CLIP is listed in one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zslbench.core.errors import ZslbenchError
from zslbench.models.video_text.loading import Loaded
from zslbench.models.video_text.openai_layout import (
    HINT,
    SHOWN,
    TOKEN_EMBEDDING,
    TOP,
    VIFI_HINT,
    OpenAIWeights,
    infer_config,
    key_table,
    normalise,
    refusal,
    to_hf,
    unwrap,
)
from zslbench.models.video_text.tokenizer import (
    HINT_OPTION,
    NAMES,
    TOKENIZER_OPTION,
    ClipTokenizer,
    has_tokenizer,
    load_tokenizer,
    require_tokenizer,
    tokenizer_folder,
)


def read_state_file(path: Path) -> Any:
    """A weights file's content: safetensors, or a pickle read weights-only (a pickle that would run
    code is refused, naming what it wanted, and nothing in it runs)."""
    from zslbench.models.checkpoint import quiet_torch_load, why_not_loaded
    from zslbench.models.video_text.hf_folder import check_weights_file, looks_like_safetensors, read_safetensors

    check_weights_file(path)
    if looks_like_safetensors(path):  # a damaged header is said as such, not as a pickle that fails
        return read_safetensors(path)
    try:
        return quiet_torch_load(path)
    except Exception as err:
        if "TorchScript" in str(err):
            raise ZslbenchError(
                f"{path} is a TorchScript archive (as OpenAI's released .pt files are): it holds code, so it is "
                "never loaded",
                "pass the HF folder of the same model (e.g. openai/clip-vit-base-patch16) or a torch.save(state_dict)",
            ) from None
        raise ZslbenchError(
            f"cannot load {path}: {why_not_loaded(err)}",
            "only files of tensors and plain values are read; a checkpoint with other objects (e.g. a config "
            "object) must be re-saved as its state dict by someone who trusts it",
        ) from None


def load_openai_clip(path: Path, tokenizer: Any) -> Loaded:
    """CLIPModel from an OpenAI-format state dict, with the tokenizer of `tokenizer` (default: the
    folder the file lies in); a config.json there fixes the sizes, which the tensors must fit."""
    from transformers import CLIPModel

    from zslbench.models.video_text.hf_config import CONFIG, preprocessor_stats, quiet_transformers, read_config

    where = str(path)
    given = tokenizer_folder(tokenizer)
    folder = given if given is not None else path.parent
    if given is not None:  # before reading what may be gigabytes
        require_tokenizer(folder, given=True)
    elif not has_tokenizer(folder):
        raise ZslbenchError(
            f"a state dict has no tokenizer, and {folder} has no CLIP tokenizer files ({NAMES})", HINT_OPTION
        )
    config = read_config(folder, "clip", "CLIP") if (folder / CONFIG).exists() else None
    state, extra = unwrap(read_state_file(path), where)
    weights = normalise(state, where)
    notes = fill_token_embedding(weights, folder, config)
    tokens = _tokenizer(folder, weights, config)
    if config is None:
        config = _inferred_config(weights, tokens, where)
    text, vision = config.text_config, config.vision_config
    table = key_table(text.num_hidden_layers, vision.num_hidden_layers)
    mapped, unmapped = to_hf(weights.tensors, table)
    problems = [f"unmapped {k}" for k in [*weights.unmapped, *unmapped, *extra]]
    problems += [f"missing {k}" for k in table if k not in weights.tensors]
    if problems:
        raise refusal(where, problems, _hint(problems))
    _check_shapes(CLIPModel, config, mapped, where, folder if (folder / CONFIG).exists() else None)
    with quiet_transformers():
        model = CLIPModel(config)
    model.load_state_dict(mapped, strict=True)
    stats = preprocessor_stats(folder)
    return Loaded(model.float().eval(), tokens, "openai_state_dict", stats, weights.temporal, notes)


def fill_token_embedding(weights: OpenAIWeights, folder: Path, config: Any) -> dict[str, Any]:
    """ViFi-CLIP keeps CLIP's token embedding outside its model, so its files lack it: take it from
    the base model's HF folder when the tokenizer folder is one (its config.json then fixes every size)."""
    from zslbench.models.video_text.hf_folder import has_weights, read_tensor

    if TOKEN_EMBEDDING in weights.tensors or config is None or not has_weights(folder):
        return {}
    weights.tensors[TOKEN_EMBEDDING] = read_tensor(folder, TOP[TOKEN_EMBEDDING][0]).float()
    return {"token_embedding": "the tokenizer folder's base model (the file has none)"}


def _tokenizer(folder: Path, weights: OpenAIWeights, config: Any) -> ClipTokenizer:
    """The folder's tokenizer, cutting to the text tower's context length (config's, or the file's)."""
    embedding = weights.tensors.get(TOKEN_EMBEDDING)
    positions = weights.tensors.get("positional_embedding")
    if config is not None:
        length, vocab = config.text_config.max_position_embeddings, config.text_config.vocab_size
    elif embedding is None or positions is None:
        raise refusal(
            str(folder),
            [f"missing {k}" for k in (TOKEN_EMBEDDING, "positional_embedding") if k not in weights.tensors],
            VIFI_HINT,
        )
    else:
        length, vocab = positions.shape[0], embedding.shape[0]
    return load_tokenizer(folder, length, vocab)


def _inferred_config(weights: OpenAIWeights, tokens: ClipTokenizer, where: str) -> Any:
    from zslbench.models.video_text.hf_config import config_from_dict

    bos, eos = tokens.tokenizer.bos_token_id, tokens.tokenizer.eos_token_id
    return config_from_dict(infer_config(weights.tensors, bos, eos, where), "clip", where)


def _check_shapes(model_class: Any, config: Any, mapped: dict[str, Any], where: str, folder: Path | None) -> None:
    """The mapped tensors' shapes are the config's (its width, patch size, ...), checked on the meta device."""
    from zslbench.models.checkpoint import tensor_differences
    from zslbench.models.video_text.hf_config import CONFIG
    from zslbench.models.video_text.hf_folder import meta_state

    config_file = str(folder / CONFIG) if folder else where
    problems = tensor_differences(meta_state(model_class, config, config_file), mapped, "the config")
    if not problems:
        return
    more = f"; and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
    against = f"the config in {folder}" if folder else "the sizes its other tensors imply"
    raise ZslbenchError(
        f"{where} does not fit {against} ({len(problems)} tensors differ: {'; '.join(problems[:SHOWN])}{more})",
        f"pass {TOKENIZER_OPTION} of the base model this state dict was fine-tuned from" if folder else HINT,
    )


def _hint(problems: list[str]) -> str:
    """What to do about unmapped or missing keys: ViFi-CLIP's missing token embedding has its own fix."""
    if any(p == f"missing {TOKEN_EMBEDDING}" for p in problems):
        return VIFI_HINT
    if any(p.startswith("unmapped") for p in problems):
        return (
            "the file holds more than a CLIP (a prompt learner, a fusion or temporal module, a second model?): "
            "clip_frames evaluates CLIP alone; if that is the model you mean, save the file without the keys "
            "listed as unmapped"
        )
    return HINT
