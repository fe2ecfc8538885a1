"""decord as a reader with the exact reader's interface, for manifests verified for it.

decord 0.6 seeks by itself and measurably returns wrong frames on some files (mpeg4 with B-frames,
h264 in AVI, stale tail frames on real AVIs; see docs/data.md), so the dataset uses it only on a
manifest that passed `zslbench data check --verify-decoder decord`, and falls back to the exact
reader on any DecodeError raised here.

What this wrapper guarantees on its own, per video: frame numbers are the exact frame index's (a
player's), so a file where decord counts other frames (an mp4 edit list hides packets decord
decodes) is refused rather than read shifted; decord applies the display rotation itself
(measured bit-identical to the exact reader at 90, 180 and 270 degrees); any decord error (it fails
at output widths 8, 12, 16, 24, 48 and 72, dmlc/decord#336) becomes a DecodeError, and frames of
another shape or type are refused. Pixels at native size
were bit-identical to the exact reader's wherever the frame was right; scaled, they differ slightly
(decord's scaler is not PyAV's: mean 0.02-0.45, max 5-28 grey levels at short side 128).
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from zslbench.core.errors import ZslbenchError
from zslbench.video.decode import scaled_size
from zslbench.video.frame_index import DecodeError, FrameIndex, load_index

INSTALL_HINT = 'pip install "zslbench[decord]"'


def import_decord() -> ModuleType:
    """The decord module, or a ZslbenchError saying how to install it."""
    try:
        import decord
    except ImportError as err:
        raise ZslbenchError(
            f"the decord backend needs the decord package, which does not import ({err})", INSTALL_HINT
        ) from None
    return decord


def _first_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return f"{type(err).__name__}: {lines[-1] if lines else ''}"[:200]


def open_reader(path: Path | str, width: int = -1, height: int = -1, threads: int = 0) -> Any:
    """A decord VideoReader (output `width` x `height` after rotation; -1: native); raises DecodeError."""
    decord = import_decord()
    try:
        return decord.VideoReader(str(path), width=width, height=height, num_threads=threads)
    except Exception as err:  # decord raises DECORDError, RuntimeError and others
        raise DecodeError(path, f"decord cannot open it ({_first_line(err)})") from None


class DecordVideo:
    """`Video`'s interface read by decord: `read(indices)` gives uint8 RGB [*indices.shape, H, W, 3].

    `num_frames` and `size` come from the exact frame index, so both readers agree on what frame i
    is and how big it comes out; each read opens a fresh decord reader, as the verification did.
    `threads`: decord's decoding threads (0: automatic); one, as the dataset decodes, is what the
    verification reads with (plus automatic threads in its tail probes).
    """

    mode = "decord"

    def __init__(
        self,
        path: Path | str,
        short_side: int | None = None,
        index: FrameIndex | None = None,
        *,
        threads: int = 1,
        rounding: str = "round",
    ) -> None:
        self.path = Path(path)
        self.threads = threads
        self.index = index or load_index(self.path)
        self.num_frames = self.index.frames
        self.fallbacks = 0  # the exact reader's count of re-reads; decord never re-reads
        coded = (self.index.width, self.index.height)
        coded_size = scaled_size(*coded, short_side, rounding) if short_side else coded
        self.size = coded_size[::-1] if self.index.rotation in (90, 270) else coded_size
        self._scaled = short_side is not None
        self._reader = self._open()

    @staticmethod
    def import_backend() -> None:
        """Import decord now (ZslbenchError with the install hint when it is missing)."""
        import_decord()

    @staticmethod
    def probe(path: Path | str) -> int:
        """decord's own frame count of the file, opened without the exact index; raises DecodeError."""
        return len(open_reader(path))

    def _open(self) -> Any:
        width, height = self.size if self._scaled else (-1, -1)
        reader = open_reader(self.path, width, height, self.threads)
        if len(reader) != self.num_frames:
            raise DecodeError(
                self.path,
                f"decord counts {len(reader)} frames where a player shows {self.num_frames} "
                "(an edit list or dropped frames): its frame numbers would not be the player's",
            )
        return reader

    def read(self, indices: np.ndarray) -> np.ndarray:
        """uint8 RGB frames [*indices.shape, H, W, 3]; each distinct index is decoded once."""
        unique, inverse = np.unique(np.asarray(indices).ravel(), return_inverse=True)
        if unique.size and (unique[0] < 0 or unique[-1] >= self.num_frames):
            raise DecodeError(self.path, f"frame {unique[-1]} asked of a video with {self.num_frames} frames")
        width, height = self.size
        expected = (len(unique), height, width, 3)
        if not unique.size:
            return np.empty((*np.shape(indices), height, width, 3), np.uint8)
        reader, self._reader = self._reader or self._open(), None
        try:
            batch = reader.get_batch(unique.tolist())
            frames = batch.asnumpy() if hasattr(batch, "asnumpy") else np.asarray(batch)  # any decord bridge
        except Exception as err:
            message = f"decord failed reading frames {unique[0]}-{unique[-1]} ({_first_line(err)})"
            raise DecodeError(self.path, message) from None
        if frames.shape != expected or frames.dtype != np.uint8:
            shape = f"{frames.dtype} frames {frames.shape[1:]}, not {expected[1:]}"
            raise DecodeError(self.path, f"decord returned {shape}")
        return frames[inverse].reshape(*np.shape(indices), height, width, 3)
