"""Which video-text model a user's weights are for, so `--model` can be left out for an HF folder."""

from __future__ import annotations

from pathlib import Path

BUILT_IN = {"clip": "clip_frames", "xclip": "xclip"}  # an HF config's model_type -> the model that runs it


def is_video_text(model: str) -> bool:
    """Whether a registered model brings its own text tower (kind video_text)."""
    from zslbench.models import model_spec

    return model_spec(model).kind == "video_text"


def video_text_model_of(weights: Path | None) -> str | None:
    """The built-in video-text model an HF model folder holds, by its config's model_type (clip ->
    clip_frames, xclip -> xclip); None for anything else that is no HF folder (a zslbench checkpoint
    names its model). An HF folder of another model type, or whose config.json is unreadable, is a
    ZslbenchError: it is neither a checkpoint nor a model zslbench runs."""
    from zslbench.core.errors import ZslbenchError, named
    from zslbench.models.video_text.hf_config import read_json

    config = Path(weights) / "config.json" if weights is not None else None
    if config is None or not config.is_file() or (Path(weights) / "zslbench.json").exists():
        return None
    kind = read_json(config, "model config").get("model_type")
    if kind not in BUILT_IN:
        raise ZslbenchError(
            f"{weights} holds a {kind!r} model (config.json's model_type), not CLIP or X-CLIP",
            "zslbench runs HF folders of model_type clip (clip_frames) and xclip; a plugin's model needs "
            + named("--model", "model=NAME"),
        )
    return BUILT_IN[kind]
