"""Still images made into short clips by a random pan and zoom, and folders of such images.

Brattoli et al. (CVPR 2020), Sec. 4 ("Augment", Table 3): the network is first trained on SUN397
still images turned into 16-frame videos by a random pan-and-zoom. A clip here is a crop box that
moves and scales linearly from a random start box to a random end box, each frame resampled
(bilinear) to the clip size; the boxes are drawn from (seed, image index, epoch) only, so the same
three numbers always give the same clip. An image folder is ROOT/<class name>/<image files>: the
folder names are the class names, audited by the rule like any training classes (Eq. 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zslbench.core.errors import ZslbenchError, named

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
FRAMES = 16  # the paper's clip length (Sec. 4)
MIN_SCALE = 0.6  # the smallest crop box, as a share of the largest box of the clip's aspect ratio


@dataclass(frozen=True)
class ImageFolder:
    """ROOT/<class>/<image>: the classes (sorted folder names) and each class's images (sorted)."""

    root: Path
    images: dict[str, tuple[Path, ...]]

    @property
    def classes(self) -> tuple[str, ...]:
        """The class names (the sorted folder names)."""
        return tuple(self.images)

    def __len__(self) -> int:
        return sum(len(paths) for paths in self.images.values())


def image_folder(root: Path | str) -> ImageFolder:
    """The classes and images under `root` (one folder per class; other files are ignored).

    A missing root, or one with no class folder holding an image, is a ZslbenchError."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ZslbenchError(
            f"{named(f'--images {root}', f'images {str(root)!r}')} is not a folder",
            "pass ROOT with one folder of images per class",
        )
    images = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        found = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if found:
            images[folder.name] = tuple(found)
    if not images:
        raise ZslbenchError(
            f"{root} has no class folder with images ({', '.join(IMAGE_SUFFIXES)})",
            "lay it out as ROOT/<class name>/<image files>",
        )
    return ImageFolder(root, images)


def image_reader() -> str:
    """Which library reads the images: Pillow when installed, else PyAV (FFmpeg's decoders)."""
    try:
        import PIL  # noqa: F401
    except ImportError:
        return "pyav"
    return "pillow"


def read_image(path: Path | str) -> np.ndarray:
    """An image file as RGB uint8 [H, W, 3]; an unreadable file is a ZslbenchError."""
    try:
        if image_reader() == "pillow":
            from PIL import Image

            with Image.open(path) as image:
                return np.asarray(image.convert("RGB"), dtype=np.uint8)
        import av

        with av.open(str(path)) as container:
            return next(container.decode(video=0)).to_ndarray(format="rgb24")
    except Exception as err:  # each library raises its own errors for a bad file
        raise ZslbenchError(f"cannot read image {path}: {err}", "remove or replace the file") from None


def clip_size(short_side: int, aspect: float = 4 / 3) -> tuple[int, int]:
    """(height, width) of a clip whose short side is `short_side` pixels, both even (h264 needs it)."""
    height = short_side + short_side % 2
    width = round(short_side * aspect / 2) * 2
    return height, max(width, height)


def pan_zoom_boxes(
    image_hw: tuple[int, int], clip_hw: tuple[int, int], frames: int, seed: int, index: int, epoch: int = 0
) -> np.ndarray:
    """The crop boxes of one clip: float64 [frames, 4] as (top, left, height, width) in image pixels.

    The start and end boxes have the clip's aspect ratio and a random scale in [MIN_SCALE, 1] of the
    largest such box, at a random position inside the image; the frames in between interpolate them
    linearly (pan = the move, zoom = the change of scale). Drawn from (seed, index, epoch) only."""
    rng = np.random.default_rng([seed, index, epoch])
    height, width = image_hw
    aspect = clip_hw[1] / clip_hw[0]
    full_h = min(height, width / aspect)
    ends = []
    for _ in range(2):
        box_h = full_h * rng.uniform(MIN_SCALE, 1.0)
        box_w = box_h * aspect
        ends.append((rng.uniform(0, height - box_h), rng.uniform(0, width - box_w), box_h, box_w))
    start, end = np.array(ends[0]), np.array(ends[1])
    t = np.linspace(0.0, 1.0, frames)[:, None]
    return start + t * (end - start)


def pan_zoom_clip(
    image: np.ndarray, clip_hw: tuple[int, int], frames: int = FRAMES, seed: int = 0, index: int = 0, epoch: int = 0
) -> np.ndarray:
    """One image [H, W, 3] uint8 as a clip [frames, clip_h, clip_w, 3] uint8 (see `pan_zoom_boxes`)."""
    boxes = pan_zoom_boxes(image.shape[:2], clip_hw, frames, seed, index, epoch)
    return np.stack([_resample(image, box, clip_hw) for box in boxes])


def _resample(image: np.ndarray, box: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """The crop `box` (top, left, height, width) of `image`, bilinearly resampled to `out_hw`."""
    top, left, box_h, box_w = box
    out_h, out_w = out_hw
    ys = np.clip(top + (np.arange(out_h) + 0.5) * box_h / out_h - 0.5, 0, image.shape[0] - 1)
    xs = np.clip(left + (np.arange(out_w) + 0.5) * box_w / out_w - 0.5, 0, image.shape[1] - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, image.shape[0] - 1), np.minimum(x0 + 1, image.shape[1] - 1)
    wy, wx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    rows = [image[y].astype(np.float32) for y in (y0, y1)]  # [out_h, W, 3] each: only the rows needed
    top_row, bottom_row = (row[:, x0] * (1 - wx) + row[:, x1] * wx for row in rows)
    return np.clip(np.rint(top_row * (1 - wy) + bottom_row * wy), 0, 255).astype(np.uint8)
