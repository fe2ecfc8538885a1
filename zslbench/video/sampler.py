"""Which frames of a video each clip reads: pure index arithmetic, testable without video.

Three placements of each kind, named by the protocol's `clips` section:

- zslbench's (`train_position: uniform`, `test_position: spread`): training reads `n` clips, each
  starting anywhere in [0, frames - span]; testing spreads `n` clips linearly over the valid starts
  (the protocol's 25). A video shorter than a clip loops from its first frame.
- the reference implementation's (`reference`; Brattoli et al. 2020, auxiliary/auxiliary_dataset.py
  `load_clips_tsn`): the video is cut into `n` periods of frames // n frames; clip k starts at
  k x period (testing) or a uniform draw in [0, max(1, period - clip_len)) after it (training). The
  reader keeps each wanted frame once, in order, so clips that overlap (period < clip_len, i.e. fewer
  than 400 frames for 25 clips) share frames; a frame past the end repeats the last frame; and the kept
  frames are then repeated from the first until there are n x clip_len, and cut into the n clips.
- centred (`test_position: centred`): `n` clips at the centres of `n` equal parts of the valid
  starts, so a single clip sits in the middle of the video (MMAction2's dense test sampling).
- TSN segments (`segments`; Wang et al., ECCV 2016, Sec. 3.1; how ViFi-CLIP, X-CLIP and Open-VCLIP
  read videos): the whole video is cut into `clip_len` equal segments and each clip takes one frame
  from each. Testing, view k of V reads frame floor(n / clip_len x (i + (k + 0.5) / V)) of segment i:
  for V = 1 each segment's middle frame (the test sampling of TSN's code and MMAction2's SampleFrames).
  Training draws one frame at a uniformly random time inside each segment. `frame_stride` does not
  apply; a video of fewer than `clip_len` frames repeats frames.

Every clip always has exactly `clip_len` frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Mode = Literal["train", "test"]
SAMPLER_VERSION = 1  # part of every cache key: bump when the indices for a spec change


@dataclass(frozen=True)
class ClipSpec:
    """The protocol's `clips` section: what a clip is, where clips sit, and how frames become pixels.

    `resize`: "decoder" scales each frame in the decoder (swscale); "torch_bilinear" decodes at the
    video's size and scales the clip stack with torch's bilinear interpolation, as the reference did
    (see `transforms.resize_like_reference`). `resize_rounding`: how the long side's length is made
    whole ("round"; the reference's "floor"). `crop_rounding`: the centre crop's offset, (size - crop)
    / 2 floored, or rounded half to even (the reference's Python `round`). `train_augment`: a random
    crop and flip per clip, or one per video shared by its clips (the reference). `test_crops`: 1 (the
    centre crop) or 3 crops along the long side per test clip (`transforms.crop_views`); training
    ignores it."""

    clip_len: int = 16
    frame_stride: int = 1
    train_clips: int = 1
    test_clips: int = 25
    crop: int = 112
    short_side: int = 128
    train_position: str = "uniform"
    test_position: str = "spread"
    resize: str = "decoder"
    resize_rounding: str = "round"
    crop_rounding: str = "floor"
    train_augment: str = "per_clip"
    test_crops: int = 1

    @classmethod
    def from_protocol(cls, clips: dict[str, Any]) -> ClipSpec:
        """The spec from a validated protocol `clips` section; other keys are ignored, missing ones default."""
        return cls(**{name: clips[name] for name in cls.__dataclass_fields__ if name in clips})

    @property
    def span(self) -> int:
        """Frames from a clip's first to its last frame, inclusive."""
        return (self.clip_len - 1) * self.frame_stride + 1

    @property
    def decoder_short_side(self) -> int | None:
        """The short side the decoder scales frames to; None: frames come at the video's own size."""
        return self.short_side if self.resize == "decoder" else None


@dataclass(frozen=True)
class ClipSampler:
    """Where the clips of one video sit under `spec`: random placements for "train", fixed ones for "test"."""

    spec: ClipSpec
    mode: Mode

    @property
    def num_clips(self) -> int:
        """Clips per video in this mode: `train_clips` or `test_clips` (the paper tests with 25, Sec. 4)."""
        return self.spec.train_clips if self.mode == "train" else self.spec.test_clips

    @property
    def position(self) -> str:
        """The placement in this mode: `train_position` or `test_position` (see the module docstring)."""
        return self.spec.train_position if self.mode == "train" else self.spec.test_position

    def starts(self, n_frames: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """First frame of each clip (zslbench's placements; see `indices` for the reference's)."""
        if n_frames < 1:
            raise ValueError(f"a video needs at least one frame, got {n_frames}")
        last_start = max(n_frames - self.spec.span, 0)
        if self.mode == "test" and self.position == "centred":
            return centred_starts(last_start + 1, self.num_clips)
        if self.mode == "test":
            return np.round(np.linspace(0, last_start, self.num_clips)).astype(np.int64)
        if rng is None:
            raise ValueError("training sampling needs a random generator")
        return rng.integers(0, last_start + 1, size=self.num_clips, dtype=np.int64)

    def indices(self, n_frames: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """Frame indices, int64 [clips, clip_len], all in [0, n_frames)."""
        if self.position == "segments":
            if self.mode == "train" and rng is None:
                raise ValueError("training sampling needs a random generator")
            return segment_indices(n_frames, self.spec.clip_len, self.num_clips, rng if self.mode == "train" else None)
        if self.position == "reference":
            if self.mode == "train" and rng is None:
                raise ValueError("training sampling needs a random generator")
            return reference_indices(n_frames, self.spec.clip_len, self.num_clips, rng)
        offsets = np.arange(self.spec.clip_len, dtype=np.int64) * self.spec.frame_stride
        return (self.starts(n_frames, rng)[:, None] + offsets[None, :]) % n_frames


def centred_starts(valid: int, clips: int) -> np.ndarray:
    """Test clip starts at the centres of `clips` equal parts of the `valid` starts, int64 [clips]:
    floor((k + 1/2) x valid / clips), in whole numbers. One clip sits in the middle of the video, as
    MMAction2's dense test sampling places it (SampleFrames, test_mode); "spread" puts it at frame 0."""
    k = np.arange(clips, dtype=np.int64)
    return ((2 * k + 1) * valid) // (2 * clips)


def reference_indices(n_frames: int, clip_len: int, clips: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """The reference's frames for `clips` clips, int64 [clips, clip_len]: random starts within each
    period with `rng` (training), the period's first frame without (testing). See the module's
    docstring; frame numbers past the end read the last frame, as the reference's reader copied it."""
    if n_frames < 1:
        raise ValueError(f"a video needs at least one frame, got {n_frames}")
    period = max(n_frames // clips, 1)
    snippets = min(clips, n_frames // period)
    if rng is None:
        shifts = np.zeros(snippets, np.int64)
    else:
        shifts = rng.integers(0, max(1, period - clip_len), size=snippets, dtype=np.int64)
    firsts = np.arange(0, n_frames, period, dtype=np.int64)[:snippets] + shifts
    wanted = np.unique(firsts[:, None] + np.arange(clip_len, dtype=np.int64)[None, :])
    kept = np.minimum(wanted, n_frames - 1)
    total = clips * clip_len
    while kept.size < total:
        kept = np.concatenate([kept, kept[: total - kept.size]])
    return kept[:total].reshape(clips, clip_len)


def segment_indices(n_frames: int, clip_len: int, clips: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """TSN frames (Wang et al., ECCV 2016), int64 [clips, clip_len]: frame i of a clip lies in segment i
    of `clip_len` equal segments, [n i / clip_len, n (i + 1) / clip_len) in frame units.

    Without `rng` (testing), clip k of `clips` reads floor(n / clip_len x (i + (k + 0.5) / clips)),
    computed in integers (exact for any n); for one clip, each segment's middle frame. With `rng`
    (training), each clip reads the frame shown at a uniformly random time in each segment: time t drawn
    from the n steps of 1 / clip_len frame that the segment spans, frame floor(t). Every frame of the
    segment is then equally likely when clip_len divides n; a frame the segment shares with its neighbour
    counts by its share. Fewer than clip_len frames: segments fall inside one frame, which repeats."""
    if n_frames < 1:
        raise ValueError(f"a video needs at least one frame, got {n_frames}")
    segment = np.arange(clip_len, dtype=np.int64)[None, :]
    if rng is None:
        view = np.arange(clips, dtype=np.int64)[:, None]
        numerator = n_frames * (2 * segment * clips + 2 * view + 1)
        frames = numerator // (2 * clip_len * clips)
    else:
        steps = rng.integers(0, n_frames, size=(clips, clip_len), dtype=np.int64)
        frames = (n_frames * segment + steps) // clip_len
    return np.minimum(frames, n_frames - 1)
