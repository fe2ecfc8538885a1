"""R(2+1)D-18 and R3D-18, written here with torchvision's parameter names and shapes.

At width 1 the state dict matches torchvision's `r2plus1d_18` / `r3d_18` (without its `fc`), so
torchvision's Kinetics-400 weight files load directly; tests check every name and shape against
../shared/reference/torchvision_video_resnet_keys.json. `width` scales every channel count, so tests
train a 16-channel variant in seconds on a CPU.
"""

from __future__ import annotations

import torch
from torch import nn

LAYERS = (2, 2, 2, 2)
PLANES = (64, 128, 256, 512)


def _bn_relu(channels: int) -> list[nn.Module]:
    return [nn.BatchNorm3d(channels), nn.ReLU(inplace=True)]


class Conv2Plus1D(nn.Sequential):
    """A 3x3x3 convolution factorised into 1x3x3 spatial and 3x1x1 temporal parts."""

    def __init__(self, in_planes: int, out_planes: int, mid_planes: int, stride: int = 1) -> None:
        super().__init__(
            nn.Conv3d(in_planes, mid_planes, (1, 3, 3), (1, stride, stride), (0, 1, 1), bias=False),
            *_bn_relu(mid_planes),
            nn.Conv3d(mid_planes, out_planes, (3, 1, 1), (stride, 1, 1), (1, 0, 0), bias=False),
        )


class Conv3DSimple(nn.Conv3d):
    """A full 3x3x3 convolution with R(2+1)D's block signature (`mid_planes` unused): R3D-18's block conv."""

    def __init__(self, in_planes: int, out_planes: int, mid_planes: int, stride: int = 1) -> None:
        del mid_planes
        super().__init__(in_planes, out_planes, (3, 3, 3), stride, 1, bias=False)


class BasicBlock(nn.Module):
    """torchvision's residual block: two convolutions (`conv`) with batch norm, plus the input or a 1x1x1 downsample."""

    def __init__(self, in_planes: int, planes: int, conv: type[nn.Module], stride: int = 1) -> None:
        super().__init__()
        # torchvision's choice: the (2+1)D block has about as many parameters as a full 3D block
        mid = (in_planes * planes * 27) // (in_planes * 9 + 3 * planes)
        self.conv1 = nn.Sequential(conv(in_planes, planes, mid, stride), *_bn_relu(planes))
        self.conv2 = nn.Sequential(conv(planes, planes, mid), nn.BatchNorm3d(planes))
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(nn.Conv3d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm3d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, C_in, T, H, W] -> [N, planes, T', H', W'] (halved by a stride of 2)."""
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv2(self.conv1(x)) + residual)


class VideoResNet(nn.Module):
    """A video ResNet-18 backbone: clips [N, 3, T, H, W] -> pooled features [N, 512 * width]."""

    def __init__(self, kind: str, width: float = 1.0) -> None:
        super().__init__()
        if kind not in ("r2plus1d_18", "r3d_18"):
            raise ValueError(f"unknown video ResNet {kind!r}")
        channels = [max(4, round(p * width)) for p in PLANES]
        if kind == "r2plus1d_18":
            stem_mid = max(4, round(45 * width))
            self.stem = nn.Sequential(
                nn.Conv3d(3, stem_mid, (1, 7, 7), (1, 2, 2), (0, 3, 3), bias=False),
                *_bn_relu(stem_mid),
                nn.Conv3d(stem_mid, channels[0], (3, 1, 1), 1, (1, 0, 0), bias=False),
                *_bn_relu(channels[0]),
            )
            conv: type[nn.Module] = Conv2Plus1D
        else:
            self.stem = nn.Sequential(
                nn.Conv3d(3, channels[0], (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False), *_bn_relu(channels[0])
            )
            conv = Conv3DSimple
        in_planes = channels[0]
        for number, (planes, blocks) in enumerate(zip(channels, LAYERS, strict=True), start=1):
            stride = 1 if number == 1 else 2
            layer = [BasicBlock(in_planes, planes, conv, stride)]
            layer += [BasicBlock(planes, planes, conv) for _ in range(blocks - 1)]
            setattr(self, f"layer{number}", nn.Sequential(*layer))
            in_planes = planes
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.feature_dim = in_planes
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():  # torchvision's initialisation
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm3d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """clips float32 [N, 3, T, H, W] -> globally average-pooled features [N, feature_dim]."""
        x = self.stem(clips)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.avgpool(x).flatten(1)
