"""C3D (Tran et al., ICCV 2015) as the paper's reference implementation uses it.

Source: github bbrattoli/ZeroShotVideoClassification, network.py `C3D` (itself from
DavideA/c3d-pytorch). Eight 3x3x3 convolutions (conv1, conv2, conv3a/b, conv4a/b, conv5a/b, each with
a bias and a ReLU), max pooling 1x2x2 after conv1 and 2x2x2 after conv2, conv3b, conv4b and conv5b
(the last padded by 0x1x1 in space), then fc6 (8192 -> 4096) with ReLU and dropout 0.1. The
reference registers fc7 and fc8 (the Sports-1M classifier) but never calls them, so this backbone
has no fc7/fc8; its pooled features are the fc6 activations, 4096-d at width 1.

fc6 reads a 512 x 1 x 4 x 4 map, so the network takes 16-frame 112x112 clips only (as the
reference's `h.view(-1, 8192)` assumes); another size is an error, never a silent reshape.

The Sports-1M port (DavideA/c3d-pytorch, C3D_model.py; its `c3d.pickle` is what the reference loads
when pretrained) names its tensors as this module does: conv1 [64, 3, 3, 3, 3], conv2 [128, 64, ...],
conv3a/b [256, ...], conv4a/b and conv5a/b [512, ...], each with a bias; fc6 [4096, 8192],
fc7 [4096, 4096] and fc8 [487, 4096] (Sports-1M's 487 classes). Its state dict therefore loads by
`--init` as is; fc7 and fc8 are left out (`PORT_UNUSED`), because the features here are fc6's.

`width` scales the channels and fc6's output alike (fc6: round(4096 * width), at least 4), so a
width-0.125 network (8, 16, 32, 64 channels, fc6 1024 -> 512) trains on a laptop CPU; only width 1
takes the port's or the reference's weights.
"""

from __future__ import annotations

import torch
from torch import nn

from zslbench.core.errors import ZslbenchError

CHANNELS = (64, 128, 256, 512)
FC6 = 4096
FC6_DROPOUT = 0.1  # network.py: nn.Dropout(p=0.10) after relu(fc6), before the clips are averaged
POOLED = (1, 4, 4)  # the last pooling's output for a 16 x 112 x 112 clip
CLIP = (16, 112, 112)
PORT_UNUSED = ("fc7.", "fc8.")  # C3D_model.py: the Sports-1M classifier after fc6, not part of the features
# The input of the Sports-1M weights: pixel values 0..255 less a per-channel mean, not scaled. The port
# (C3D_model.py, predict.py) subtracts nothing; Caffe's C3D subtracted a per-pixel mean cube over
# 16 x 128 x 171. The channel means used here are those of mmaction2's Sports-1M C3D
# (configs/recognition/c3d/c3d_sports1m_16x1x1_45e_ucf101_rgb.py: mean [104, 117, 128], std [1, 1, 1],
# RGB), written on zslbench's 0..1 scale: (x / 255 - mean) / std = x - 255 * mean.
SPORTS1M_MEAN = (104 / 255, 117 / 255, 128 / 255)
SPORTS1M_STD = (1 / 255, 1 / 255, 1 / 255)


def _conv(in_channels: int, out_channels: int) -> nn.Conv3d:
    return nn.Conv3d(in_channels, out_channels, kernel_size=3, padding=1)


class C3D(nn.Module):
    """The C3D backbone: clips [N, 3, 16, 112, 112] -> fc6 features [N, 4096 * width] (ReLU, dropout).

    `width` scales every channel count and fc6 (1 is the reference's network, whose weights import
    as `e2e_c3d`). Raises ZslbenchError for clips of another size.
    """

    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        c1, c2, c3, c4 = (max(4, round(c * width)) for c in CHANNELS)
        self.conv1 = _conv(3, c1)
        self.conv2 = _conv(c1, c2)
        self.conv3a, self.conv3b = _conv(c2, c3), _conv(c3, c3)
        self.conv4a, self.conv4b = _conv(c3, c4), _conv(c4, c4)
        self.conv5a, self.conv5b = _conv(c4, c4), _conv(c4, c4)
        self.pool1 = nn.MaxPool3d(kernel_size=(1, 2, 2), stride=(1, 2, 2))
        self.pool = nn.MaxPool3d(kernel_size=2, stride=2)
        self.pool5 = nn.MaxPool3d(kernel_size=2, stride=2, padding=(0, 1, 1))
        self.fc6 = nn.Linear(c4 * POOLED[0] * POOLED[1] * POOLED[2], max(4, round(FC6 * width)))
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(FC6_DROPOUT)
        self.feature_dim = self.fc6.out_features

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """clips float32 [N, 3, 16, 112, 112] -> fc6 features [N, feature_dim]; ZslbenchError for another clip size."""
        if pooled_size(tuple(clips.shape[2:])) != POOLED:
            size = "x".join(str(n) for n in clips.shape[2:])
            raise ZslbenchError(
                f"C3D takes clips of {CLIP[0]} frames at {CLIP[1]}x{CLIP[2]}, not {size}",
                "set clips.clip_len=16 and clips.crop=112 (the reference's fc6 reads a 1x4x4 map)",
            )
        relu = self.relu
        x = self.pool1(relu(self.conv1(clips)))
        x = self.pool(relu(self.conv2(x)))
        x = self.pool(relu(self.conv3b(relu(self.conv3a(x)))))
        x = self.pool(relu(self.conv4b(relu(self.conv4a(x)))))
        x = self.pool5(relu(self.conv5b(relu(self.conv5a(x)))))
        return self.dropout(relu(self.fc6(x.flatten(1))))


def pooled_size(size: tuple[int, ...]) -> tuple[int, ...]:
    """The (T, H, W) of the last pooling's output for clips of `size` (T, H, W): 1x2x2 pooling, three
    2x2x2 ones, then 2x2x2 padded 0x1x1 in space (network.py). (1, 4, 4) for 16 x 112 x 112."""
    t, h, w = size
    h, w = h // 2, w // 2
    for _ in range(3):
        t, h, w = t // 2, h // 2, w // 2
    return t // 2, h // 2 + 1, w // 2 + 1
