"""The range of every number a user can set, in one place, checked the same way by the library and the CLI.

A number outside its range is a `ZslbenchError` (one line, exit 2), never a silent default, a crash
deep inside torch, or a run that never ends: NaN and infinity are refused wherever a float is read,
and -0.0 becomes 0.0 so it names the same folder and fingerprint as 0.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TypeVar

from zslbench.core.errors import ZslbenchError

N = TypeVar("N", int, float)
INT_MAX = 2**31 - 1  # counts beyond a C int overflow somewhere below us (numpy, torch, the OS)


@dataclass(frozen=True)
class Bound:
    """An interval [low, high]; `open_low` / `open_high` exclude an end. `hint` says what the number is."""

    low: float
    high: float
    hint: str
    open_low: bool = False
    open_high: bool = False

    @property
    def interval(self) -> str:
        """The interval in math notation for messages, e.g. `(0, 1]`."""
        left, right = "(" if self.open_low else "[", ")" if self.open_high else "]"
        return f"{left}{_number(self.low)}, {_number(self.high)}{right}"

    def contains(self, value: float) -> bool:
        """Whether `value` lies in the interval (NaN never does); no error, unlike `check`."""
        above = value > self.low if self.open_low else value >= self.low
        below = value < self.high if self.open_high else value <= self.high
        return above and below

    def check(self, value: N, name: str) -> N:
        """`value` (a float with -0.0 made 0.0) when it lies in the interval (so it is finite: every bound is);
        else a one-line error naming `name`."""
        if isinstance(value, float):
            if math.isnan(value):
                raise ZslbenchError(f"{name} nan is not a number in {self.interval}", self.hint)
            value = value + 0.0  # -0.0 -> 0.0: one value, one fingerprint, one folder name
        if not self.contains(value):
            raise ZslbenchError(f"{name} {_number(value)} is outside {self.interval}", self.hint)
        return value


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


SEED = Bound(0, 2**32 - 1, "a seed is a whole number from 0 to 2^32-1 (the range numpy and torch share)")
WIDTH = Bound(1 / 16, 4, "the channel width multiplier: 1 is the paper's network; below 1/16 no layer gets smaller")
LEARNING_RATE = Bound(0, 1, "Adam's learning rate; the paper uses 1e-3", open_low=True)
TEMPERATURE = Bound(1 / 100, 10, "the softmax loss's temperature; CLIP's trained one is 0.01 (a scale of at most 100)")
DROPOUT = Bound(0, 1, "the probability of dropping a unit; 0 turns dropout off", open_high=True)
SHARE = Bound(0, 1, "a share of the videos, from 0 (none) to 1 (all)")
TOLERANCE = Bound(0, 100, "allowed difference in accuracy points, e.g. 1.0")
STD_K = Bound(0, 100, "a number of standard deviations, e.g. 2")
TAU = Bound(0, 2, "cosine distance lies in [0, 2]; the paper uses 0.05")
DAYS = Bound(0, 1e6, "a number of days, e.g. 30")
COUNT = Bound(1, INT_MAX, "a whole number from 1")  # epochs, batch size, steps, ...
WORKERS = Bound(0, 1024, "processes besides this one; 0 does the work here")
PREFETCH = Bound(1, 1024, "batches each worker prepares ahead, e.g. 2")
# What a video-text model reads (models/video_input.py VideoInput; the protocol's `model_input` pins):
INPUT_FRAMES = Bound(1, 512, "frames per clip, e.g. 8, 16 or 32")
INPUT_STRIDE = Bound(1, 1024, "frames between two read frames of a dense clip; 1 reads consecutive frames")
INPUT_SIZE = Bound(8, 4096, "the square input side in pixels, e.g. 224 for ViT-B/16")
INPUT_VIEWS = Bound(1, 64, "temporal views (clips) per video, e.g. 1 or 3")
# "segments": the video cut into `frames` equal segments, one frame from each (TSN, Wang et al. 2016;
# what ViFi-CLIP, X-CLIP and Open-VCLIP test with); "dense": `frames` frames `stride` apart.
INPUT_SAMPLINGS = ("segments", "dense")
# How a video's views become one score: the mean of their L2-normalised embeddings ("embedding"),
# or the mean of their cosine similarities to each class ("score", as MMAction2 averages views).
INPUT_VIEW_AVERAGES = ("embedding", "score")
INPUT_CROPS = (1, 3)  # one centre crop, or three along the long side (left, centre, right)
MAX_SWEEP_POINTS = 10_001  # 0:2:0.0002; a finer sweep only takes minutes to say the same

_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
DEVICES = "auto, cpu, cuda, cuda:N or mps"


def check_device_name(device: str) -> str:
    """The device string, if it is one zslbench understands (whether it exists is checked where torch is)."""
    if not isinstance(device, str) or not _DEVICE.fullmatch(device):
        raise ZslbenchError(f"unknown device {device!r}", f"choose {DEVICES}")
    return device
