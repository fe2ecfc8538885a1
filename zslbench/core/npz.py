"""NumPy .npz files: written atomically, read without unpickling anything.

Features files, embeddings files and the class-vector cache share these two functions, so each
reads an .npz the same safe way (`allow_pickle=False`) and reports a bad one in one line.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from zslbench.core.atomic import write_bytes
from zslbench.core.errors import ZslbenchError


def write_npz(path: Path | str, arrays: dict[str, Any]) -> Path:
    """numpy.savez of `arrays` at `path`, atomically (a reader sees the old file or the new one)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_bytes(path, buffer.getvalue())
    return Path(path)


def read_npz(path: Path | str, what: str, hint: str) -> dict[str, np.ndarray]:
    """Every array of an .npz, loaded (no pickled objects). ZslbenchError naming `what` the file
    should be and `hint` (how to write one) when it is missing or not a readable .npz."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except FileNotFoundError:
        raise ZslbenchError(f"{what} {path} does not exist", hint) from None
    except (OSError, ValueError) as err:
        raise ZslbenchError(f"cannot read {path} as .npz: {str(err)[:120]}", hint) from None
