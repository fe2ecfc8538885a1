"""`ClipFrames`: CLIP's image tower on every frame, then the frames' embeddings pooled over time.

`temporal="mean"` averages the projected frame embeddings and normalises the mean: ViFi-CLIP's
design (Rasheed et al., "Fine-tuned CLIP Models are Efficient Video Learners", CVPR 2023; its
trainers/vificlip.py averages `clip_model.visual` outputs over time before normalising), which also
reads plain CLIP zero-shot per frame. `temporal="attention"` adds `TemporalPool`, a small trainable
self-attention block over the frame embeddings whose output projection starts at zero, so untrained
it is exactly the mean.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from zslbench.core.errors import ZslbenchError, named
from zslbench.models.checkpoint import first_of, tensor_differences, weights_sha256
from zslbench.models.losses import MAX_LOGIT_SCALE
from zslbench.models.video_input import VideoInput
from zslbench.models.video_text.contract import VideoTextModel
from zslbench.models.video_text.loading import Loaded, load_folder, video_input
from zslbench.models.video_text.tokenizer import tokenizer_folder
from zslbench.models.video_text.towers import (
    config_sha256,
    config_sizes,
    encode_texts,
    frames_of,
    model_device,
    text_identity,
)

TEMPORAL_MODES = ("mean", "attention")
MAX_TEMPORAL_FRAMES = 64  # rows of TemporalPool's position embedding
TEMPORAL_SEED = 0  # TemporalPool's initial weights are the same in every run


class TemporalPool(nn.Module):
    """Frame embeddings [N, T, D] -> [N, D]: a pre-norm residual multi-head self-attention block with
    a learned temporal position embedding (up to `max_frames` frames), then the mean over time.

    Its output projection is zero-initialised, so the residual branch adds exactly 0 until trained:
    untrained it equals `temporal="mean"`. The other weights are drawn from a fixed seed, so the
    untrained pool, and the identity that hashes it, are the same in every run."""

    def __init__(self, dim: int, max_frames: int = MAX_TEMPORAL_FRAMES, seed: int = TEMPORAL_SEED) -> None:
        super().__init__()
        heads = max(1, dim // 64)
        while dim % heads:
            heads -= 1
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.position = nn.Parameter(torch.randn(max_frames, dim) * 0.02)
            self.norm = nn.LayerNorm(dim)
            self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        nn.init.zeros_(self.attention.out_proj.weight)
        nn.init.zeros_(self.attention.out_proj.bias)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """frames [N, T, D] -> [N, D]; ValueError when T exceeds the position embedding's rows."""
        steps = frames.shape[1]
        if steps > len(self.position):
            raise ValueError(f"TemporalPool reads at most {len(self.position)} frames, got {steps}")
        x = self.norm(frames + self.position[:steps])
        frames = frames + self.attention(x, x, x, need_weights=False)[0]
        return frames.mean(dim=1)


class ClipFrames(VideoTextModel):
    """CLIP per frame, pooled over time (see the module docstring); built by `load_clip_frames`."""

    conditioned = False

    def __init__(self, loaded: Loaded, input: VideoInput, temporal: str = "mean") -> None:
        super().__init__()
        self.clip = loaded.model
        self.tokenizer = loaded.tokenizer
        self.input = input
        self.temporal_mode = temporal
        self.format = loaded.format
        self.notes = dict(loaded.notes)
        self.temporal = TemporalPool(self.clip.config.projection_dim) if temporal == "attention" else None
        if self.temporal is not None and loaded.temporal:
            _load_temporal(self.temporal, loaded.temporal)
        self.eval()

    def encode_text(self, texts: list[str], grad: bool = False) -> torch.Tensor:
        """float32 [len(texts), D], L2-normalised rows from CLIP's text tower; gradients only when `grad`."""
        return encode_texts(self.clip, self.tokenizer, texts, normalise=True, grad=grad)

    def finetune_parameters(self, text: bool) -> list[nn.Parameter]:
        """The image tower, its projection and the temporal pool; the text tower and its projection
        when `text`. CLIP's own logit_scale never: the loss owns the temperature."""
        parts = [self.clip.vision_model, self.clip.visual_projection, self.temporal]
        if text:
            parts += [self.clip.text_model, self.clip.text_projection]
        return [p for part in parts if part is not None for p in part.parameters()]

    def temperature(self) -> float:
        """CLIP's trained temperature, 1 / exp(logit_scale) with the scale clamped at 100 as CLIP clamps
        it (0.01 for OpenAI's weights)."""
        return float(1.0 / self.clip.logit_scale.detach().float().exp().clamp(max=MAX_LOGIT_SCALE))

    def encode_video(self, clips: torch.Tensor) -> torch.Tensor:
        """clips [B, V, 3, T, S, S] -> [B, V, D]: CLIP image features per frame, pooled over time, L2-normalised."""
        frames, (b, v, t) = frames_of(clips, self.input.size)
        frames = frames.to(model_device(self.clip), torch.float32)
        embedded = self.clip.get_image_features(pixel_values=frames).float().view(b * v, t, -1)
        pooled = embedded.mean(dim=1) if self.temporal is None else self.temporal(embedded)
        return F.normalize(pooled, dim=-1).view(b, v, -1)

    def identity(self) -> dict[str, Any]:
        """What encode_video's output depends on: the weights, the whole config (an activation or an
        epsilon changes outputs as much as a size), the temporal pooling; never a path."""
        return {
            "format": self.format,
            "weights_sha256": weights_sha256(self.state_dict()),
            "tokenizer": self.tokenizer.describe(),
            "config": config_sizes(self.clip.config),
            "config_sha256": config_sha256(self.clip.config),
            "temporal": self.temporal_mode,
            **self.notes,
        }

    def text_identity(self) -> dict[str, Any]:
        """What `encode_text` depends on (text tower, tokenizer, normalised rows): the class-embedding cache key."""
        return text_identity(self.clip, self.tokenizer, normalised=True)


def _load_temporal(pool: TemporalPool, state: dict[str, Any]) -> None:
    problems = tensor_differences(pool.state_dict(), state, "clip_frames' attention pooling")
    if problems:
        raise ZslbenchError(
            f"the file's temporal.* tensors do not fit clip_frames' attention pooling "
            f"({len(problems)} differ: {first_of(problems, 4)})",
            "they belong to another temporal module or another embedding width",
        )
    pool.load_state_dict({k: v.float() for k, v in state.items()})


def load_clip_frames(
    weights: Path, *, temporal: str = "mean", tokenizer: Any = None, **input_values: Any
) -> ClipFrames:
    """ClipFrames from `weights`: an HF CLIP folder (config.json, weights, tokenizer files), or an
    OpenAI-format state dict file (.pt / .pth / .safetensors, bare or wrapped as the video papers
    release it) whose tokenizer comes from `tokenizer` (a folder path) or the files beside it.
    `input_values` set VideoInput fields (frames, sampling, stride, views, crops, view_average; None:
    the default); size and statistics come with the weights. Everything is read offline; a problem,
    including an option of the wrong type from the command line, is one line."""
    from transformers import CLIPModel

    from zslbench.models.video_text.openai_clip import load_openai_clip

    if not isinstance(temporal, str) or temporal not in TEMPORAL_MODES:
        raise ZslbenchError(
            f"temporal {temporal!r} is not one of {', '.join(TEMPORAL_MODES)}",
            "pass "
            + named(
                "--option temporal=mean or --option temporal=attention",
                "the option temporal=mean or temporal=attention",
            ),
        )
    tokenizer = tokenizer_folder(tokenizer)  # a number or a boolean from --option is refused here
    weights = Path(weights)
    if not weights.exists():
        raise ZslbenchError(f"weights {weights} do not exist", "pass an HF CLIP folder or a state dict file")
    if weights.is_dir():
        loaded = load_folder(weights, CLIPModel, "clip", "CLIP", tokenizer)
    else:
        loaded = load_openai_clip(weights, tokenizer)
    if loaded.temporal and temporal != "attention":
        raise ZslbenchError(
            f"{weights} holds temporal.* tensors (clip_frames' attention pooling), "
            f"which temporal={temporal} would ignore",
            f"pass {named('--option temporal=attention', 'the option temporal=attention')}",
        )
    input = video_input(input_values, loaded.model.config.vision_config.image_size, loaded.stats)
    if temporal == "attention" and input.frames > MAX_TEMPORAL_FRAMES:
        raise ZslbenchError(
            f"temporal=attention reads at most {MAX_TEMPORAL_FRAMES} frames, not {input.frames}",
            f"pass {named('--option frames=N', 'the option frames=N')} with N at most {MAX_TEMPORAL_FRAMES}, "
            f"or {named('--option temporal=mean', 'temporal=mean')}",
        )
    return ClipFrames(loaded, input, temporal)
