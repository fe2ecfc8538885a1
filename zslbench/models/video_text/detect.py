"""Which video-text model a user's weights are for, so `--model` can be left out for an HF folder."""

from __future__ import annotations

from pathlib import Path


def is_video_text(model: str) -> bool:
    """Whether a registered model brings its own text tower (kind video_text)."""
    from zslbench.models import model_spec

    return model_spec(model).kind == "video_text"


def video_text_model_of(weights: Path | None) -> str | None:
    """The built-in video-text model an HF model folder holds, by its config's model_type (clip ->
    clip_frames, xclip -> xclip); None for anything else (a zslbench checkpoint names its model)."""
    import json

    config = Path(weights) / "config.json" if weights is not None else None
    if config is None or not config.is_file() or (Path(weights) / "zslbench.json").exists():
        return None
    try:
        kind = json.loads(config.read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError):
        return None
    return {"clip": "clip_frames", "xclip": "xclip"}.get(kind)
