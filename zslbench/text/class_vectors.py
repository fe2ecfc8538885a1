"""Class names -> unit vectors, with an on-disk cache keyed by the embedder id and the phrases.

The cache is what makes a second split with a 7 GB fastText file take a second instead of a minute:
the key names the vectors by the file's full-content fingerprint and the versions of the libraries
that compute them, so a changed file or library is a miss, never a stale hit.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from zslbench.core.errors import ZslbenchError
from zslbench.core.hashing import sha256_json
from zslbench.core.npz import write_npz
from zslbench.core.paths import cache_dir
from zslbench.core.versions import pick
from zslbench.text.base import PhraseVectors, TextEmbedder
from zslbench.text.phrases import Overrides, Phrase, default_overrides, phrases_for
from zslbench.text.vocab import ClassList


@dataclass(frozen=True)
class ClassVectors:
    """One class list embedded: names, the words used, unit vectors and unknown words per class."""

    names: tuple[str, ...]
    words: tuple[Phrase, ...]
    vectors: np.ndarray  # float32 [n, d], unit rows
    oov: tuple[tuple[str, ...], ...]


def embed_class_lists(
    class_lists: Sequence[ClassList], embedder: TextEmbedder, overrides: Overrides | None = None
) -> list[ClassVectors]:
    """Embed several class lists with at most one pass over the embedder's vectors."""
    overrides = overrides or default_overrides()
    phrases = [phrases_for(class_list.classes, overrides) for class_list in class_lists]
    results: list[PhraseVectors | None] = [_cache_get(embedder, p) for p in phrases]
    missing = [i for i, result in enumerate(results) if result is None]
    if missing:
        union = sorted({phrase for i in missing for phrase in phrases[i]})
        fresh = embedder.embed(union)
        row_of = {phrase: row for row, phrase in enumerate(union)}
        for i in missing:
            rows = [row_of[phrase] for phrase in phrases[i]]
            results[i] = PhraseVectors(fresh.vectors[rows], tuple(fresh.oov[row] for row in rows))
            _cache_put(embedder, phrases[i], results[i])
    out = []
    for class_list, words, result in zip(class_lists, phrases, results, strict=True):
        _require_known_words(class_list, words, result, embedder, overrides)
        out.append(ClassVectors(class_list.classes, tuple(words), result.vectors, result.oov))
    return out


def _require_known_words(
    class_list: ClassList, words: list[Phrase], result: PhraseVectors, embedder: TextEmbedder, overrides: Overrides
) -> None:
    empty = np.flatnonzero(np.isnan(result.vectors).any(axis=1))
    if len(empty):
        name = class_list.classes[empty[0]]
        others = f" (and {len(empty) - 1} more)" if len(empty) > 1 else ""
        raise ZslbenchError(
            f"class {name!r} of {class_list.name}{others} has no word the {embedder.kind} vectors know "
            f"(words: {' '.join(words[empty[0]])})",
            f"add `{name}: [word, ...]` with known words to {overrides.path}",
        )


def _cache_key(embedder: TextEmbedder, phrases: list[Phrase]) -> str:
    """The vectors' whole recipe: model content, settings, the libraries that compute them, the words."""
    libraries = pick(*embedder.libraries)
    return sha256_json(
        {"embedder": embedder.id, "settings": embedder.settings, "libraries": libraries, "phrases": phrases}
    )


def _cache_get(embedder: TextEmbedder, phrases: list[Phrase]) -> PhraseVectors | None:
    path = cache_dir("class_vectors") / f"{_cache_key(embedder, phrases)}.npz"
    try:
        with np.load(path) as data:
            vectors = data["vectors"]
            oov = json.loads(str(data["oov"]))
    except (OSError, KeyError, ValueError):
        return None
    if vectors.shape[0] != len(phrases) or len(oov) != len(phrases):
        return None
    return PhraseVectors(vectors, tuple(tuple(words) for words in oov))


def _cache_put(embedder: TextEmbedder, phrases: list[Phrase], result: PhraseVectors) -> None:
    arrays = {"vectors": result.vectors, "oov": np.array(json.dumps([list(o) for o in result.oov]))}
    with contextlib.suppress(OSError):  # a read-only cache only costs speed
        write_npz(cache_dir("class_vectors") / f"{_cache_key(embedder, phrases)}.npz", arrays)
