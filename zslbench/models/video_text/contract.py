"""The contract of a video-text model: what the evaluator (and a plugin) can rely on.

A builder registered with `register_model(NAME, kind="video_text", ...)` is called as
`builder(weights=PATH_OR_NONE, **options)` and returns a `VideoTextModel`: an `nn.Module` with

- `input`: the `VideoInput` it reads (after its weights were read: the input size of its config,
  the statistics of its preprocessor file), so every record can state it;
- `encode_text(texts) -> float32 [N, D]`, the class side: L2-normalised text embeddings, except
  in a conditioned model, whose `similarity` takes the rows as its `encode_text` gives them (X-CLIP's
  prompt generator reads the projected text embeddings before normalisation);
- `encode_video(clips) -> float32 [B, V, D]`, L2-normalised per view, for clips float32
  [B, V, 3, T, H, W] normalised with `input.mean` / `input.std` (V = `input.total_views`);
- `conditioned`: False when a class's text embedding does not depend on the video. A conditioned
  model (X-CLIP's prompt generator) overrides `similarity`, and the evaluator then stores each
  video's similarities to the test dataset's texts instead of its embedding;
- `similarity(clips, texts) -> float32 [B, K]`: cosine similarity of each video, its views
  averaged as `input.view_average` says, to each of `texts` [K, D] (rows of `encode_text`);
- `identity() -> dict`: JSON that names the weights exactly (hashes, not paths), for caches and records;
- `text_identity() -> dict`: JSON that names what `encode_text` depends on (text tower weights,
  tokenizer files), the key of the class-embedding cache.

A model that can be fine-tuned (`zslbench train`, training/video_text.py) also has
- `finetune_parameters(text) -> list[Parameter]`: what fine-tuning steps, the video side and, when
  `text`, the text tower; the rest stays frozen. The default raises NotImplementedError (not trainable);
- `encode_text(texts, grad=True)`: the rows with gradients, for a tuned text tower;
- `temperature() -> float | None`: the softmax temperature its weights were trained with (CLIP's
  1 / exp(logit_scale)), the fine-tuning's default; None: the loss's own default.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from zslbench.models.video_input import VideoInput


class VideoTextModel(nn.Module):
    """Base class of video-text models; see the module docstring for the contract."""

    conditioned: bool = False
    input: VideoInput

    def encode_text(self, texts: list[str], grad: bool = False) -> torch.Tensor:
        """float32 [len(texts), D], each row L2-normalised; without gradients unless `grad`."""
        raise NotImplementedError

    def encode_video(self, clips: torch.Tensor) -> torch.Tensor:
        """clips float32 [B, V, 3, T, H, W] -> float32 [B, V, D], each view's row L2-normalised."""
        raise NotImplementedError

    def similarity(self, clips: torch.Tensor, texts: torch.Tensor) -> torch.Tensor:
        """Cosine similarity [B, K] of each video (views averaged per `input.view_average`) to `texts` [K, D]."""
        views = self.encode_video(clips)
        return view_similarity(views, texts, self.input.view_average)

    def identity(self) -> dict[str, Any]:
        """JSON that names the weights exactly (hashes, never paths), for caches and records; each model defines it."""
        raise NotImplementedError

    def finetune_parameters(self, text: bool) -> list[nn.Parameter]:
        """The parameters fine-tuning steps (the video side; the text tower too when `text`)."""
        raise NotImplementedError(f"{type(self).__name__} cannot be fine-tuned")

    def temperature(self) -> float | None:
        """The softmax temperature the weights were trained with (fine-tuning's default); None: the loss's own."""
        return None

    def text_identity(self) -> dict[str, Any]:
        """JSON naming what `encode_text` depends on (text weights, tokenizer files): the class-embedding cache key."""
        raise NotImplementedError


def average_views(views: torch.Tensor) -> torch.Tensor:
    """[B, V, D] L2-normalised views -> [B, D]: their mean, L2-normalised (view_average "embedding")."""
    return F.normalize(views.mean(dim=1), dim=-1)


def view_similarity(views: torch.Tensor, texts: torch.Tensor, view_average: str) -> torch.Tensor:
    """[B, V, D] views and [K, D] texts (both L2-normalised) -> [B, K] cosine similarities: of the
    averaged embedding ("embedding"), or the mean over views of each view's similarity ("score")."""
    if view_average == "embedding":
        return average_views(views) @ texts.T
    return torch.einsum("bvd,kd->bvk", views, texts).mean(dim=1)
