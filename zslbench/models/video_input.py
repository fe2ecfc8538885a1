"""What a video-text model reads, as data: frames per clip, how they are sampled, the input size and
statistics, and the views (temporal clips x spatial crops) with how they are averaged.

CLIP-era papers differ mostly here (8, 16 or 32 frames; 1 or 3 views; see
../shared/reference/clip_era.md "Frames and views"), so every record states its `VideoInput` and a
number is compared only with numbers read the same way. Imports no torch: the registry lists it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from zslbench.core.bounds import INPUT_CROPS as CROPS
from zslbench.core.bounds import INPUT_FRAMES as FRAMES
from zslbench.core.bounds import INPUT_SAMPLINGS as SAMPLINGS
from zslbench.core.bounds import INPUT_SIZE as SIZE
from zslbench.core.bounds import INPUT_STRIDE as STRIDE
from zslbench.core.bounds import INPUT_VIEW_AVERAGES as VIEW_AVERAGES
from zslbench.core.bounds import INPUT_VIEWS as VIEWS
from zslbench.core.errors import ZslbenchError

# OpenAI CLIP's input statistics (Radford et al. 2021; its released preprocessing), on pixels in [0, 1]
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

# The ranges and choices of each field live in core/bounds.py, where the protocol's `model_input`
# section (protocol/spec.py, a room before this one) reads them too.


@dataclass(frozen=True)
class VideoInput:
    """One video-text model's input. Frames are resized so the short side is `size`, then `crops`
    square crops of `size` are cut; pixels in [0, 1] are normalised with `mean` / `std`.

    The model receives float32 [B, views x crops, 3, frames, size, size] (views major, crops minor)."""

    frames: int = 8
    sampling: str = "segments"
    stride: int = 1
    size: int = 224
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD
    views: int = 1
    crops: int = 1
    view_average: str = "embedding"

    def checked(self) -> VideoInput:
        """Itself when every field is in range (a ZslbenchError naming the field otherwise)."""
        for name in ("frames", "stride", "size", "views", "crops"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ZslbenchError(
                    f"input {name} {value!r} is not a whole number", f"e.g. {name}={getattr(VideoInput, name)}"
                )
        FRAMES.check(self.frames, "frames")
        STRIDE.check(self.stride, "stride")
        SIZE.check(self.size, "size")
        VIEWS.check(self.views, "views")
        _choice(self.sampling, SAMPLINGS, "sampling")
        _choice(self.view_average, VIEW_AVERAGES, "view_average")
        _choice(self.crops, CROPS, "crops")
        for name in ("mean", "std"):
            values = getattr(self, name)
            numbers = all(isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1 for v in values)
            if len(values) != 3 or not numbers:
                raise ZslbenchError(
                    f"input {name} {values!r} is not three numbers in [0, 1]",
                    "statistics of pixels on the 0..1 scale, e.g. CLIP's mean (0.481, 0.458, 0.408)",
                )
        if self.sampling == "segments" and self.stride != 1:
            raise ZslbenchError(
                f"input stride {self.stride} does not apply to segments sampling (one frame per segment)",
                "set stride with sampling=dense, or leave it out",
            )
        if min(self.std) <= 0:
            raise ZslbenchError(f"input std {self.std!r} has a value <= 0", "a std divides the pixels")
        return self

    @property
    def total_views(self) -> int:
        """Views the model sees per video: temporal views x spatial crops."""
        return self.views * self.crops

    def with_values(self, **values: Any) -> VideoInput:
        """A copy with `values` set (None leaves a field as it is), checked; an unknown field is a ZslbenchError."""
        unknown = sorted(set(values) - {f.name for f in fields(self)})
        if unknown:
            raise ZslbenchError(f"a video input has no field {unknown[0]!r}", f"fields: {', '.join(asdict(self))}")
        return replace(self, **{k: v for k, v in values.items() if v is not None}).checked()

    def describe(self) -> dict[str, Any]:
        """As records and `models show` state it (JSON types)."""
        data = asdict(self)
        data["mean"], data["std"] = list(self.mean), list(self.std)
        return data


def _choice(value: Any, choices: tuple, name: str) -> None:
    if value not in choices:
        listed = ", ".join(map(str, choices))
        raise ZslbenchError(f"input {name} {value!r} is not one of {listed}", f"set {name} to one of them")
