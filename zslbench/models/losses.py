"""Training losses between video embeddings and class embeddings: one registry for every model.

A loss compares predicted video embeddings [B, D] with the training classes' embeddings [C, D] (both
L2-normalised): the protocol's class-name vectors for a 3D CNN, the model's own text embeddings for a
video-text model. `build_loss` makes the loss a module, so a learnable temperature is a parameter the
optimizer steps, DistributedDataParallel all-reduces and the checkpoint keeps.

- `mse`: the paper's regression, squared error to the class vector (Brattoli et al., CVPR 2020, Sec. 4;
  the reference's MSELoss, mean over all entries);
- `cosine`: 1 - cos to the class vector;
- `softmax`: cross-entropy over the cosine similarities to every training class, divided by a
  temperature: CLIP's contrastive objective with the classes' texts as the other side (Radford et al.,
  ICML 2021, Sec. 2.3; how ActionCLIP and ViFi-CLIP fine-tune), the temperature fixed or learned as CLIP
  learns it (a log-parametrised scale, clamped to at most 100).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LOSSES = ("mse", "cosine", "softmax")
SOFTMAX_TEMPERATURE = 0.05  # the softmax loss's default temperature for the 3D CNNs
MAX_LOGIT_SCALE = 100.0  # CLIP clamps its learned scale (1 / temperature) at 100


class ClassEmbeddingLoss(nn.Module):
    """loss(predicted [B, D], labels [B] int64, classes [C, D]) -> 0-d float32 tensor."""

    def forward(self, predicted: torch.Tensor, labels: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """predicted [B, D], labels [B] int64, classes [C, D] (L2-normalised) -> the 0-d loss."""
        raise NotImplementedError

    def describe(self) -> dict[str, float]:
        """What checkpoints and metrics rows report of the loss's own state (e.g. its temperature)."""
        return {}


class Regression(ClassEmbeddingLoss):
    """`mse` (the paper's squared error to the class vector, Sec. 4; mean over all entries) or `cosine` (1 - cos)."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def forward(self, predicted, labels, classes):
        """MSE or mean (1 - cos) between each prediction [B, D] and its class's vector `classes[labels]`."""
        target = classes[labels]
        if self.kind == "mse":
            return F.mse_loss(predicted, target)
        return (1 - (predicted * target).sum(dim=-1)).mean()


class Softmax(ClassEmbeddingLoss):
    """Cross-entropy over cosine similarities / temperature. A fixed temperature divides the
    similarities as it always did; a learnable one is CLIP's `logit_scale`: the parameter is the log of
    the scale 1 / T, and the scale is clamped to MAX_LOGIT_SCALE in the forward."""

    def __init__(self, temperature: float, learnable: bool) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"the softmax temperature must be > 0, not {temperature}")
        self.temperature = float(temperature)
        self.learnable = learnable
        if learnable:
            self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature), dtype=torch.float32))

    def forward(self, predicted, labels, classes):
        """Cross-entropy over the cosine similarities [B, C] to every class / the temperature (fixed or learned)."""
        similarities = predicted @ classes.T
        if not self.learnable:
            return F.cross_entropy(similarities / self.temperature, labels)
        return F.cross_entropy(self.scale() * similarities, labels)

    def scale(self) -> torch.Tensor:
        """The learned 1 / temperature, clamped as CLIP clamps it (learnable losses only)."""
        return self.log_scale.exp().clamp(max=MAX_LOGIT_SCALE)

    def describe(self) -> dict[str, float]:
        """`{"temperature": T}`: the fixed one, or 1 / the learned scale (rounded to 6 places)."""
        if not self.learnable:
            return {"temperature": self.temperature}
        return {"temperature": round(1.0 / float(self.scale().detach()), 6)}


def build_loss(kind: str, temperature: float | None = None, learn_temperature: bool = False) -> ClassEmbeddingLoss:
    """The loss `kind` names; `temperature` (> 0) and `learn_temperature` apply to `softmax` only.
    ValueError for another name (the settings refuse it first, in one line)."""
    if kind in ("mse", "cosine"):
        return Regression(kind)
    if kind == "softmax":
        return Softmax(SOFTMAX_TEMPERATURE if temperature is None else temperature, learn_temperature)
    raise ValueError(f"unknown loss {kind!r}; choose one of {', '.join(LOSSES)}")


def embedding_loss(
    predicted: torch.Tensor, labels: torch.Tensor, class_vectors: torch.Tensor, kind: str = "mse"
) -> torch.Tensor:
    """`build_loss(kind)` applied once, at its defaults (the methods on backbone features use it)."""
    return build_loss(kind)(predicted, labels, class_vectors)
