"""An example zslbench model plugin. See README.md in this folder.

Keep torch out of this module's top level: `zslbench models list` imports it to read the metadata.
"""

from zslbench.models import register_model


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
