"""What one training step differentiates: a model's video embeddings, the classes' embeddings, a loss.

The three sit in one module so that DistributedDataParallel wraps them together: a learnable
temperature (models/losses.py) or a tuned text tower (training/video_text.py) is then all-reduced
like every other weight, and the replicas stay equal.
"""

from __future__ import annotations

import torch
from torch import nn

from zslbench.models.losses import ClassEmbeddingLoss


class FixedClasses(nn.Module):
    """The training classes' embeddings as constants: the protocol's class-name vectors [C, D]."""

    def __init__(self, vectors: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("vectors", vectors, persistent=False)

    def forward(self) -> torch.Tensor:
        """The class vectors [C, D], unchanged (no gradient flows into them)."""
        return self.vectors


class Objective(nn.Module):
    """(clips, labels [B]) -> the loss (0-d float32): `embed(clips)` [B, D] against `classes()` [C, D].
    The loss is computed in float32 outside autocast, whatever precision the model ran in."""

    def __init__(self, embed: nn.Module, classes: nn.Module, loss: ClassEmbeddingLoss) -> None:
        super().__init__()
        self.embed, self.classes, self.loss = embed, classes, loss

    def forward(self, clips: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """clips and labels [B] int64 -> the 0-d float32 loss of `embed(clips)` against `classes()`."""
        predicted, classes = self.embed(clips), self.classes()
        with torch.autocast(clips.device.type, enabled=False):
            return self.loss(predicted.float(), labels, classes.float())
