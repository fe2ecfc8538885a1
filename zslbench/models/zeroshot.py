"""The paper's zero-shot model: backbone features averaged over a video's clips, dropout, a linear map
into the class-embedding space, L2 normalisation (Brattoli et al. 2020, Sec. 3.2)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from zslbench.core.errors import ZslbenchError, named
from zslbench.models.checkpoint import first_of, tensor_differences


class ZeroShotVideoModel(nn.Module):
    """The paper's model (Brattoli et al. 2020, Sec. 3.2): a backbone, its features averaged over a video's
    clips, dropout, a linear map to `embed_dim`, L2 normalisation. `frozen` keeps the backbone's weights
    and batch-norm statistics fixed (the baseline with a pretrained encoder)."""

    def __init__(self, backbone: nn.Module, embed_dim: int, dropout: float = 0.05, frozen: bool = False) -> None:
        super().__init__()
        self.backbone = backbone
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(backbone.feature_dim, embed_dim)
        self.frozen = frozen
        if frozen:
            self.backbone.requires_grad_(False)

    def train(self, mode: bool = True) -> ZeroShotVideoModel:
        """nn.Module.train, except that a frozen backbone stays in eval mode (its batch-norm statistics never move)."""
        super().train(mode)
        if self.frozen:
            self.backbone.eval()  # frozen batch-norm statistics stay those of the pretraining
        return self

    def features(self, clips: torch.Tensor) -> torch.Tensor:
        """[B, clips, 3, T, H, W] -> backbone features averaged over each video's clips, [B, F]."""
        batch, n_clips = clips.shape[:2]
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            features = self.backbone(clips.flatten(0, 1))
        return features.view(batch, n_clips, -1).mean(dim=1)

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """features [B, F] -> unit embeddings [B, embed_dim]: dropout, linear, L2 normalisation."""
        return F.normalize(self.fc(self.dropout(features)), dim=-1)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """clips float32 [B, clips, 3, T, H, W] -> unit embeddings [B, embed_dim] (clip features averaged first)."""
        return self.head(self.features(clips))

    encode = forward


def _init_state(path: Path) -> dict:
    """The tensors of an --init file: a torchvision state dict (.pth or .safetensors), or the backbone
    of a zslbench checkpoint or `zslbench weights export` (its `backbone.*` tensors)."""
    from zslbench.models.checkpoint import (
        FORMAT,
        checkpoint_file,
        is_safetensors,
        load_checkpoint,
        quiet_torch_load,
        why_not_loaded,
    )

    path = checkpoint_file(path)
    if not path.is_file():
        raise ZslbenchError(
            f"{named('--init', 'init')} file {path} does not exist", "pass a torchvision .pth state dict"
        )
    if is_safetensors(path):
        from safetensors.torch import load_file

        try:  # a zslbench export names its format in its header; a plain one is a state dict
            return _backbone_of(load_checkpoint(path))
        except ZslbenchError:
            return load_file(str(path), device="cpu")
    try:
        state = quiet_torch_load(path)
    except Exception as err:  # pickle errors, truncated files, not-a-state-dict objects
        raise ZslbenchError(
            f"cannot read {path} as weights: {why_not_loaded(err)}", "pass a torch state dict file"
        ) from None
    if isinstance(state, dict) and state.get("format") == FORMAT:
        return _backbone_of(state)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if isinstance(state, dict) and state and all(str(k).startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}  # saved from nn.DataParallel
    return state


def _backbone_of(checkpoint: dict) -> dict:
    """A zslbench checkpoint's backbone tensors, named as the backbone names them."""
    prefix = "backbone."
    return {k.removeprefix(prefix): v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)}


def load_backbone_weights(backbone: nn.Module, path: Path | str, ignored: tuple[str, ...] = ("fc.",)) -> list[str]:
    """Load a torchvision-style state dict (e.g. r2plus1d_18 Kinetics-400 weights) into `backbone`.

    Tensors whose names start with one of `ignored` (the classifier of the pretraining: torchvision's
    `fc.*`; `fc7.*` and `fc8.*` of the Sports-1M C3D port, c3d.PORT_UNUSED) are skipped; any other
    difference in names or shapes is an error listing the tensors. Returns the names that were skipped.
    """
    state = _init_state(Path(path))
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ZslbenchError(f"{path} is not a state dict of tensors", "save it with torch.save(model.state_dict())")
    skipped = sorted(k for k in state if k.startswith(ignored))
    ours = backbone.state_dict()
    theirs = {k: v for k, v in state.items() if not k.startswith(ignored)}
    problems = tensor_differences(ours, theirs)
    if problems:
        raise ZslbenchError(
            f"{path} does not fit this backbone ({len(problems)} tensors differ: {first_of(problems, 4)})",
            "use weights of the same architecture at width 1 (torchvision r2plus1d_18 or r3d_18; the C3D port for c3d)",
        )
    backbone.load_state_dict(theirs)
    return skipped
