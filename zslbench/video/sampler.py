"""Which frames of a video each clip reads: pure index arithmetic, testable without video.

Training reads `n` clips at random positions; testing reads `n` clips spread linearly over the
video (the protocol's 25). A clip is `clip_len` frames, `frame_stride` apart. A video shorter than
a clip repeats its frames from the start to fill it (as the reference implementation did), so
every clip always has exactly `clip_len` frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Mode = Literal["train", "test"]
SAMPLER_VERSION = 1  # part of every cache key: bump when the indices for a spec change


@dataclass(frozen=True)
class ClipSpec:
    """The protocol's `clips` section."""

    clip_len: int = 16
    frame_stride: int = 1
    train_clips: int = 1
    test_clips: int = 25
    crop: int = 112
    short_side: int = 128

    @classmethod
    def from_protocol(cls, clips: dict[str, Any]) -> ClipSpec:
        return cls(**{name: clips[name] for name in cls.__dataclass_fields__})

    @property
    def span(self) -> int:
        """Frames from a clip's first to its last frame, inclusive."""
        return (self.clip_len - 1) * self.frame_stride + 1


@dataclass(frozen=True)
class ClipSampler:
    spec: ClipSpec
    mode: Mode

    @property
    def num_clips(self) -> int:
        return self.spec.train_clips if self.mode == "train" else self.spec.test_clips

    def starts(self, n_frames: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """First frame of each clip."""
        if n_frames < 1:
            raise ValueError(f"a video needs at least one frame, got {n_frames}")
        last_start = max(n_frames - self.spec.span, 0)
        if self.mode == "test":
            return np.round(np.linspace(0, last_start, self.num_clips)).astype(np.int64)
        if rng is None:
            raise ValueError("training sampling needs a random generator")
        return rng.integers(0, last_start + 1, size=self.num_clips, dtype=np.int64)

    def indices(self, n_frames: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """Frame indices, int64 [clips, clip_len], all in [0, n_frames)."""
        offsets = np.arange(self.spec.clip_len, dtype=np.int64) * self.spec.frame_stride
        return (self.starts(n_frames, rng)[:, None] + offsets[None, :]) % n_frames
