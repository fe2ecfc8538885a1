"""The example plugin's backbone: clips [N, 3, T, H, W] -> features [N, feature_dim]."""

import torch
from torch import nn


class FrameCNN(nn.Module):
    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        channels = [max(4, round(c * width)) for c in (16, 32, 64)]
        layers, previous = [], 3
        for count in channels:
            layers += [nn.Conv2d(previous, count, 3, stride=2, padding=1), nn.BatchNorm2d(count), nn.ReLU(inplace=True)]
            previous = count
        self.frames = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.feature_dim = previous  # ZeroShotVideoModel sizes its head from this

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        batch, channels, time, height, width = clips.shape
        frames = clips.transpose(1, 2).reshape(batch * time, channels, height, width)
        return self.frames(frames).view(batch, time, -1).mean(dim=1)
