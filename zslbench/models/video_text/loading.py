"""What the built-in video-text models share when their weights are read: the loaded parts
(`Loaded`), an HF folder's model and tokenizer (`load_folder`), and the `VideoInput` a model's
weights fix (`video_input`: the config's image size, the preprocessor's statistics).

`clip_frames.load_clip_frames` and `xclip.load_xclip` are the public entry points.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from zslbench.core.errors import ZslbenchError
from zslbench.models.video_input import CLIP_MEAN, CLIP_STD, VideoInput
from zslbench.models.video_text.hf_config import preprocessor_stats, read_config
from zslbench.models.video_text.hf_folder import load_model
from zslbench.models.video_text.tokenizer import (
    HINT_PUT,
    TOKENIZER_OPTION,
    ClipTokenizer,
    load_tokenizer,
    require_tokenizer,
    tokenizer_folder,
)

# What a caller may set of a model's input; the statistics always come with the weights.
INPUT_FIELDS = ("frames", "sampling", "stride", "size", "views", "crops", "view_average")
DEFAULT_INPUT = VideoInput(frames=8, sampling="segments", views=1, crops=1, view_average="embedding")


@dataclass
class Loaded:
    """A transformers model read from the user's weights, with what identities need to name them."""

    model: Any  # CLIPModel or XCLIPModel, float32, eval mode
    tokenizer: ClipTokenizer
    format: str  # "hf_folder" or "openai_state_dict"
    stats: tuple[tuple[float, ...], tuple[float, ...]] | None  # (mean, std) of a preprocessor file
    temporal: dict[str, Any] = field(default_factory=dict)  # our attention pooling's tensors, if the file has them
    notes: dict[str, Any] = field(default_factory=dict)  # anything else an identity must state


def load_folder(
    folder: Path, model_class: Any, model_type: str, name: str, tokenizer: Any = None, tokenizer_option: bool = True
) -> Loaded:
    """An HF folder's model (config checked first; see hf_folder) and the tokenizer of `tokenizer`,
    else the folder's own; `tokenizer_option` says whether the model has the option, so that a folder
    without tokenizer files is told only what the user can do."""
    config = read_config(folder, model_type, name)
    text = config.text_config
    given = tokenizer_folder(tokenizer)
    source = given if given is not None else folder
    hint = f"{HINT_PUT}, or pass {TOKENIZER_OPTION}" if tokenizer_option else HINT_PUT
    require_tokenizer(source, given is not None, hint)
    tokens = load_tokenizer(source, text.max_position_embeddings, text.vocab_size)
    model = load_model(folder, model_class, config, name)
    return Loaded(model, tokens, "hf_folder", preprocessor_stats(folder))


def video_input(values: dict[str, Any], size: int, stats: tuple | None, frames: int | None = None) -> VideoInput:
    """The model's VideoInput: DEFAULT_INPUT with the caller's `values` (None: the default), the
    weights' `size` and statistics (CLIP's without a preprocessor file), and `frames` when the
    architecture fixes the count (X-CLIP). Asking for another size or frame count is one line."""
    unknown = sorted(set(values) - set(INPUT_FIELDS))
    if unknown:
        known = {f.name for f in fields(VideoInput)}
        why = "comes with the weights" if set(unknown) <= known else "is not an input option"
        raise ZslbenchError(
            f"{', '.join(unknown)} {why}", f"a video-text model's input options: {', '.join(INPUT_FIELDS)}"
        )
    given = {key: value for key, value in values.items() if value is not None}
    if given.get("size", size) != size:
        raise ZslbenchError(
            f"input size {given['size']} differs from the {size} its weights were built for",
            f"a ViT's position embeddings fix its input size; drop the size option or pass size={size}",
        )
    if frames is not None and given.get("frames", frames) != frames:
        raise ZslbenchError(
            f"X-CLIP weights built for {frames} frames cannot read {given['frames']}",
            f"its cross-frame attention and frame integration are built for {frames}; drop the frames option",
        )
    mean, std = stats if stats is not None else (CLIP_MEAN, CLIP_STD)
    chosen = {**{f: getattr(DEFAULT_INPUT, f) for f in INPUT_FIELDS}, **given, "size": size}
    if frames is not None:
        chosen["frames"] = frames
    return VideoInput(**chosen, mean=tuple(mean), std=tuple(std)).checked()
