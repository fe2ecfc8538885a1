"""The feature cache: per-video embeddings, content-addressed.

A namespace key names everything that can change an embedding except the video: the model (name,
options, weights hash), the sampling spec and sampler version, the decoder and the library versions
that make its pixels and run the model (zslbench.core.versions). Inside it, each video's file is named by
the video's full-content fingerprint (zslbench.core.hashing), so two same-size videos that differ in one
frame never share an entry. A changed model, protocol clip setting, decoder, library or video file
is a miss, never a stale hit. Files are written atomically, so an interrupted
extraction resumes from what it finished.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zslbench.core.atomic import write_bytes, write_text
from zslbench.core.hashing import file_fingerprint, sha256_json
from zslbench.core.paths import cache_dir


@dataclass(frozen=True)
class FeatureCache:
    """One namespace of the feature cache (`open` names it by identity): under `root`, one .npy
    embedding per video, named by the video's fingerprint (`key`)."""

    namespace: str
    root: Path

    @classmethod
    def open(cls, identity: dict[str, Any], root: Path | None = None) -> FeatureCache:
        """The cache for one model + sampling + decoder identity (written to `identity.json`)."""
        base = Path(root) if root else cache_dir("features")
        namespace = sha256_json(identity)
        cache = cls(namespace, base / namespace)
        if not (cache.root / "identity.json").exists():
            write_text(cache.root / "identity.json", json.dumps(identity, indent=2, sort_keys=True) + "\n")
        return cache

    def key(self, video: Path) -> str:
        """The video's full-content fingerprint: read once, then remembered per stat."""
        return file_fingerprint(video)

    def get(self, key: str) -> np.ndarray | None:
        """The cached embedding under `key`, or None when absent or unreadable (a miss, recomputed)."""
        try:
            return np.load(self.root / f"{key}.npy")
        except (OSError, ValueError):
            return None

    def put(self, key: str, vector: np.ndarray) -> None:
        """Store `vector` as float32 .npy under `key`, atomically (an interrupted run leaves no half file)."""
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(vector, dtype=np.float32))
        write_bytes(self.root / f"{key}.npy", buffer.getvalue())


def cache_summary(root: Path | None = None) -> list[dict[str, Any]]:
    """One row per namespace: what it holds and when it was last used."""
    base = Path(root) if root else cache_dir("features")
    rows = []
    for folder in sorted(p for p in base.glob("*") if p.is_dir()) if base.exists() else []:
        files = list(folder.glob("*.npy"))
        try:
            identity = json.loads((folder / "identity.json").read_text())
        except (OSError, ValueError):
            identity = {}
        stamps = [f.stat().st_mtime for f in files] + [p.stat().st_mtime for p in folder.glob("identity.json")]
        newest = max(stamps, default=folder.stat().st_mtime)
        rows.append(
            {
                "namespace": folder.name,
                "model": identity.get("model", {}).get("name"),
                "videos": len(files),
                "bytes": sum(f.stat().st_size for f in files),
                "last_used_days": round((time.time() - newest) / 86400, 1),
                "path": str(folder),
            }
        )
    return rows


def prune(root: Path | None = None, older_than_days: float | None = None) -> list[str]:
    """Delete namespaces not written for `older_than_days` (all of them when None)."""
    removed = []
    for row in cache_summary(root):
        if older_than_days is None or row["last_used_days"] >= older_than_days:
            shutil.rmtree(row["path"], ignore_errors=True)
            removed.append(row["namespace"])
    return removed


def touch(cache: FeatureCache) -> None:
    """Mark a namespace as used (its age drives `prune --older-than`); a read-only cache is still
    read, only its age stays as it was."""
    with contextlib.suppress(OSError):
        os.utime(cache.root / "identity.json")
