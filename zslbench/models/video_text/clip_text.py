"""`clip:PATH`: a CLIP text tower as a text embedding, so the rule can be measured in CLIP's space.

Issue 22 (part 3) compares the rule's removed set across embeddings; CLIP-era models score classes in
their own text space, so that space is one to calibrate tau in (`protocol/calibration.py`). The
embedder reads the same weights `clip_frames` does (`load_clip_frames`: an HF CLIP folder, or an
OpenAI-format state dict with CLIP's tokenizer files beside it) and embeds each class phrase alone,
the rule's words joined by spaces (as `sentence:minilm` does; ViFi-CLIP's "bare" template), L2-normalised.

It lives here, not in text/, because text/ comes before models/ in the import order
(docs/architecture.md); text/__init__.py registers it as a lazy "module:Class" string.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from zslbench.core.errors import ZslbenchError
from zslbench.core.hashing import sha256_json
from zslbench.text.base import EMBEDDING, PhraseVectors, TextEmbedder, embedding_example
from zslbench.text.phrases import Phrase

USAGE = (
    f"e.g. {embedding_example('clip:clip-vit-base-patch16')} "
    "(an HF CLIP folder) or clip:model.pth (tokenizer files beside it)"
)


class ClipTextEmbedder(TextEmbedder):
    """A CLIP text tower on each phrase; `id` hashes the text tower's tensors, config and tokenizer
    files (`text_identity`), so another CLIP, or the same one with another tokenizer, is a cache miss."""

    kind = "clip"
    libraries = ("numpy", "torch", "transformers")  # they run the tower

    def __init__(self, path: str, word_norm: bool = True) -> None:
        del word_norm  # the tower reads the phrase as a whole
        if not path:
            raise ZslbenchError("clip needs its weights: clip:PATH", USAGE)
        if importlib.util.find_spec("transformers") is None:
            raise ZslbenchError(
                "clip:PATH runs CLIP's text tower on HF transformers, which is not installed",
                "pip install 'zslbench[video-text]'",
            )
        self.path = Path(path).expanduser()
        if not self.path.exists():
            raise ZslbenchError(
                f"CLIP weights {self.path} do not exist", f"check the path after 'clip:' in {EMBEDDING}"
            )
        self._model = None

    def _load(self):
        """The ClipFrames model of the weights, read once (the vision tower comes along, unused)."""
        if self._model is None:
            from zslbench.models.video_text.clip_frames import load_clip_frames

            self._model = load_clip_frames(self.path)
        return self._model

    @cached_property
    def id(self) -> str:
        """`clip@<hash of text_identity>`: loads the weights on first use to hash the text tower."""
        return f"clip@{sha256_json(self._load().text_identity())[:32]}"

    def embed(self, phrases: Sequence[Phrase]) -> PhraseVectors:
        """Each phrase's words, joined by spaces, through CLIP's text tower: unit float32 [len(phrases), D]."""
        texts = [" ".join(phrase) for phrase in phrases]
        vectors = self._load().encode_text(texts).cpu().numpy().astype(np.float32)
        return PhraseVectors(vectors, tuple(() for _ in phrases))
