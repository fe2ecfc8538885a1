"""An example zslbench model plugin. See README.md in this folder.

Keep torch out of this module's top level: `zslbench models list` imports it to read the metadata.
"""

from zslbench.models import register_model
from zslbench.models.video_input import VideoInput
from zslbench.models.video_text.prompts import TextSpec


@register_model(
    "frame_cnn",
    kind="end_to_end",
    backbone="2d-cnn (per frame, mean over time)",
    summary="Example plugin: a small 2D CNN applied to every frame, averaged over time",
    feature_dim=64,
    width=1.0,
    dropout=0.05,
)
def frame_cnn(embed_dim: int, width: float = 1.0, dropout: float = 0.05):
    from zslbench.models.zeroshot import ZeroShotVideoModel
    from zslbench_example_plugin.network import FrameCNN

    return ZeroShotVideoModel(FrameCNN(width), embed_dim, dropout=dropout)


@register_model(
    "frame_text",
    kind="video_text",
    backbone="2d-cnn + character-trigram text tower",
    summary="Example plugin: a video-text model with its own (toy) text tower, no transformers needed",
    feature_dim=32,
    input=VideoInput(frames=4, size=48, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)),
    text=TextSpec(templates=("a video of {}.",), name="custom"),
    frames=None,
    views=None,
)
def frame_text(weights, frames: int | None = None, views: int | None = None):
    """`weights`: a state dict file saved from FrameText (torch.save(model.state_dict())), read weights-only."""
    from zslbench_example_plugin.video_text import load_frame_text

    return load_frame_text(weights, frames=frames, views=views)
