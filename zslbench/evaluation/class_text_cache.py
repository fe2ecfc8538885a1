"""The class-embedding cache of video-text models: a text tower's embeddings of prompt texts, on disk.

Keyed by everything the embeddings depend on: the text tower (its tensors' and tokenizer files'
hashes, `VideoTextModel.text_identity`), every text in order (so a changed template, phrase or class
is a miss, never a stale hit) and the versions of torch and transformers. 400 classes x 48 templates
take a ViT-B/16 text tower minutes on a CPU; the cache makes every later evaluation free.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np
import torch

from zslbench.core.atomic import write_bytes
from zslbench.core.hashing import sha256_json
from zslbench.core.paths import cache_dir
from zslbench.core.versions import pick

TEXT_BATCH = 256  # texts per call to the text tower


def text_key(text_identity: dict[str, Any], texts: list[str]) -> str:
    """The cache key of `texts` embedded by a text tower."""
    return sha256_json({"text_tower": text_identity, "texts": texts, "libraries": pick("torch", "transformers")})


@torch.no_grad()
def text_embeddings(model: Any, texts: list[str], text_identity: dict[str, Any] | None = None) -> np.ndarray:
    """float32 [len(texts), D]: `model.encode_text` of every text, from the cache when it holds them
    (`text_identity`: the model's, when the caller has it already; computing it hashes the text tower)."""
    identity = text_identity if text_identity is not None else model.text_identity()
    path = cache_dir("class_text") / f"{text_key(identity, texts)}.npy"
    try:
        cached = np.load(path, allow_pickle=False)
        if cached.shape[0] == len(texts):
            return cached
    except (OSError, ValueError):
        pass
    batches = (texts[i : i + TEXT_BATCH] for i in range(0, len(texts), TEXT_BATCH))
    embeddings = np.concatenate([model.encode_text(batch).float().cpu().numpy() for batch in batches])
    embeddings = embeddings.astype(np.float32)
    buffer = io.BytesIO()
    np.save(buffer, embeddings)
    with contextlib.suppress(OSError):  # a read-only or full cache only costs time
        write_bytes(path, buffer.getvalue())
    return embeddings
