"""Content hashes used for fingerprints and cache keys."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

SAMPLE_BYTES = 1 << 20  # 1 MiB from the start, the middle and the end of a file


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: equal values give equal strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_json(value: Any) -> str:
    return sha256_text(canonical_json(value))


def file_fingerprint(path: Path | str) -> str:
    """Identify a (possibly multi-GB) file by its size and a hash of three 1 MiB samples.

    Reading whole embedding files would cost seconds to minutes; size plus head, middle and tail
    catches replaced, truncated and re-exported files, which a path or an mtime does not.
    """
    path = Path(path)
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):  # opening a named pipe would block until a writer came
        raise OSError(errno.EINVAL, "not a regular file (a folder, pipe or device)", str(path))
    size = info.st_size
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as handle:
        for offset in sorted({0, max(0, size // 2 - SAMPLE_BYTES // 2), max(0, size - SAMPLE_BYTES)}):
            handle.seek(offset)
            digest.update(handle.read(SAMPLE_BYTES))
    return f"{size}-{digest.hexdigest()[:16]}"
