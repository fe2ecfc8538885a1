"""`XClip`: X-CLIP (Ni et al., "Expanding Language-Image Pretrained Models for General Video
Recognition", ECCV 2022) on transformers' XCLIPModel.

X-CLIP's class embeddings depend on the video: its prompt generator adds to each projected text
embedding a cross-attention over the video's patch features (averaged over frames), so the model is
`conditioned` and scores with `similarity`. The submodules are called as `XCLIPModel.forward` calls
them (`get_video_features` does not return the prompt features), per view, so one view and one text
per class give exactly `logits_per_video / logit_scale.exp()`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from zslbench.core.errors import ZslbenchError
from zslbench.models.checkpoint import weights_sha256
from zslbench.models.video_input import VideoInput
from zslbench.models.video_text.contract import VideoTextModel
from zslbench.models.video_text.loading import Loaded, load_folder, video_input
from zslbench.models.video_text.towers import (
    config_sha256,
    config_sizes,
    encode_texts,
    frames_of,
    model_device,
    text_identity,
)

TEXT_CHUNK = 1024  # texts conditioned at once: the prompt generator holds [B, K, 4D] activations


class XClip(VideoTextModel):
    """X-CLIP on views of clips; built by `load_xclip`."""

    conditioned = True

    def __init__(self, loaded: Loaded, input: VideoInput) -> None:
        super().__init__()
        self.xclip = loaded.model
        self.tokenizer = loaded.tokenizer
        self.input = input
        self.format = loaded.format
        self.eval()

    def encode_text(self, texts: list[str], grad: bool = False) -> torch.Tensor:
        """float32 [N, D]: the projected text embeddings before normalisation (what the prompt generator reads)."""
        return encode_texts(self.xclip, self.tokenizer, texts, normalise=False, grad=grad)

    def video_parts(self, clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(video embeddings [B, V, D] L2-normalised: the frame integration transformer's output;
        prompt features [B, V, P, D]: the patch tokens projected for the prompt generator, averaged over frames)."""
        frames, (b, v, t) = frames_of(clips, self.input.size, self.xclip.config.vision_config.num_frames)
        model = self.xclip
        vision = model.vision_model(pixel_values=frames.to(model_device(model), torch.float32), return_dict=True)
        per_frame = model.visual_projection(vision.pooler_output).view(b * v, t, -1)
        video = model.mit(per_frame, return_dict=True).pooler_output
        patches = model.prompts_visual_layernorm(vision.last_hidden_state[:, 1:, :]) @ model.prompts_visual_projection
        patches = patches.view(b * v, t, patches.shape[1], -1).mean(dim=1)
        return F.normalize(video.float(), dim=-1).view(b, v, -1), patches.float().view(b, v, *patches.shape[1:])

    def encode_video(self, clips: torch.Tensor) -> torch.Tensor:
        """clips [B, V, 3, T, S, S] -> [B, V, D]: the frame integration transformer's output, L2-normalised."""
        return self.video_parts(clips)[0]

    def similarity(self, clips: torch.Tensor, texts: torch.Tensor) -> torch.Tensor:
        """[B, K] cosine similarities of each video to its video-conditioned text embeddings. "embedding"
        averages the views' (normalised) video embeddings and prompt features before conditioning;
        "score" conditions per view and averages the similarities."""
        videos, prompts = self.video_parts(clips)
        texts = texts.to(videos.device, torch.float32)
        if self.input.view_average == "embedding":
            return self.conditioned_similarity(F.normalize(videos.mean(dim=1), dim=-1), prompts.mean(dim=1), texts)
        views = [self.conditioned_similarity(videos[:, i], prompts[:, i], texts) for i in range(videos.shape[1])]
        return torch.stack(views).mean(dim=0)

    def conditioned_similarity(self, video: torch.Tensor, prompts: torch.Tensor, texts: torch.Tensor) -> torch.Tensor:
        """video [B, D] (normalised), prompts [B, P, D], texts [K, D] -> [B, K]: X-CLIP's
        text + prompts_generator(text, prompts), normalised, dotted with the video; TEXT_CHUNK texts at a time."""
        scores = []
        for start in range(0, len(texts), TEXT_CHUNK):
            chunk = texts[start : start + TEXT_CHUNK].unsqueeze(0).expand(len(video), -1, -1)
            conditioned = F.normalize(chunk + self.xclip.prompts_generator(chunk, prompts), dim=-1)
            scores.append(torch.einsum("bd,bkd->bk", video, conditioned))
        return torch.cat(scores, dim=1) if scores else video.new_zeros(len(video), 0)

    def identity(self) -> dict[str, Any]:
        """What the outputs depend on: the weights and the whole config (an activation or an epsilon
        changes outputs as much as a size); never a path."""
        return {
            "format": self.format,
            "weights_sha256": weights_sha256(self.state_dict()),
            "tokenizer": self.tokenizer.describe(),
            "config": config_sizes(self.xclip.config),
            "config_sha256": config_sha256(self.xclip.config),
        }

    def text_identity(self) -> dict[str, Any]:
        """What `encode_text` depends on (text tower, tokenizer, rows not normalised): the class-embedding cache key."""
        return text_identity(self.xclip, self.tokenizer, normalised=False)


def load_xclip(weights: Path, **input_values: Any) -> XClip:
    """XClip from an HF X-CLIP folder (config.json, weights, tokenizer files), read offline.
    `input_values` set VideoInput fields (None: the default); frames are the config's num_frames
    (another count is one line), size and statistics come with the weights."""
    from transformers import XCLIPModel

    weights = Path(weights)
    if not weights.is_dir():
        raise ZslbenchError(
            f"X-CLIP weights {weights} are not a folder",
            "pass the HF folder of an X-CLIP model (e.g. microsoft/xclip-base-patch32 as save_pretrained writes it)",
        )
    loaded = load_folder(weights, XCLIPModel, "xclip", "X-CLIP", tokenizer_option=False)
    vision = loaded.model.config.vision_config
    return XClip(loaded, video_input(input_values, vision.image_size, loaded.stats, frames=vision.num_frames))
