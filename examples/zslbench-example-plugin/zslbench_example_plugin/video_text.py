"""The example plugin's video-text model: what `register_model(kind="video_text")` asks of a plugin.

A builder returns a `zslbench.models.video_text.contract.VideoTextModel`: `input`, `encode_text`,
`encode_video`, `identity` and `text_identity`. zslbench does the rest: sampling, the feature cache,
the class-embedding cache, templates, scoring, records and the audit.
"""

from __future__ import annotations

import zlib
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from zslbench.models.checkpoint import quiet_torch_load, weights_sha256
from zslbench.models.video_text.contract import VideoTextModel
from zslbench_example_plugin.network import FrameCNN

BUCKETS = 4096  # hashed character trigrams


class FrameText(VideoTextModel):
    def __init__(self, dim: int = 32) -> None:
        super().__init__()
        from zslbench_example_plugin import frame_text

        self.input = frame_text.model_spec.input
        self.frames = FrameCNN(0.5)
        self.video_projection = nn.Linear(self.frames.feature_dim, dim)
        self.trigrams = nn.EmbeddingBag(BUCKETS, dim, mode="mean")

    def encode_video(self, clips: torch.Tensor) -> torch.Tensor:
        batch, views = clips.shape[:2]
        features = self.frames(clips.flatten(0, 1))  # [B x V, F], frames averaged
        return F.normalize(self.video_projection(features), dim=-1).view(batch, views, -1)

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        ids, offsets = [], []
        for text in texts:
            offsets.append(len(ids))
            padded = f"  {text.lower()} "
            ids += [zlib.crc32(padded[i : i + 3].encode()) % BUCKETS for i in range(len(padded) - 2)]
        device = self.trigrams.weight.device
        rows = self.trigrams(torch.tensor(ids, device=device), torch.tensor(offsets, device=device))
        return F.normalize(rows, dim=-1)

    def identity(self) -> dict:
        return {"format": "example-state-dict", "weights_sha256": weights_sha256(self.state_dict())}

    def text_identity(self) -> dict:
        return {"trigrams_sha256": weights_sha256({"w": self.trigrams.weight})}


def load_frame_text(weights: Path | None, frames: int | None = None, views: int | None = None) -> FrameText:
    """A FrameText from a state dict file (or seeded random weights when `weights` is None)."""
    with torch.random.fork_rng():  # seeded weights without touching the caller's generator
        torch.manual_seed(0)
        model = FrameText()
    if weights is not None:
        model.load_state_dict(quiet_torch_load(Path(weights)))
    model.input = replace(model.input, **{k: v for k, v in {"frames": frames, "views": views}.items() if v})
    return model.eval()
