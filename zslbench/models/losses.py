"""Training losses between predicted video embeddings and class-name vectors (both unit length)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("mse", "cosine", "softmax")
SOFTMAX_TEMPERATURE = 0.05


def embedding_loss(
    predicted: torch.Tensor, labels: torch.Tensor, class_vectors: torch.Tensor, kind: str = "mse"
) -> torch.Tensor:
    """`mse`: the paper's squared error to the class vector (the reference's MSELoss, mean over all
    entries); `cosine`: 1 - cos; `softmax`: cross-entropy over cosine similarities to all training
    classes at temperature 0.05."""
    target = class_vectors[labels]
    if kind == "mse":
        return F.mse_loss(predicted, target)
    if kind == "cosine":
        return (1 - (predicted * target).sum(dim=-1)).mean()
    if kind == "softmax":
        return F.cross_entropy(predicted @ class_vectors.T / SOFTMAX_TEMPERATURE, labels)
    raise ValueError(f"unknown loss {kind!r}; choose one of {', '.join(LOSSES)}")
