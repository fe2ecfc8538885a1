"""Real, tiny word-vector files written the way their own tools write them (no mocks)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np

WORDS = [
    "play",
    "guitar",
    "piano",
    "violin",
    "flute",
    "dance",
    "ballet",
    "salsa",
    "swim",
    "pool",
    "ocean",
    "run",
    "marathon",
    "ski",
    "snow",
    "horse",
    "ride",
]


def random_vectors(words: list[str], dim: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {word: rng.normal(size=dim).astype(np.float32) for word in words}


def write_word2vec_binary(path: Path, vectors: dict[str, np.ndarray]) -> Path:
    """The original word2vec C tool's format: 'count dim\\n', then 'word ' + float32s + '\\n'."""
    dim = len(next(iter(vectors.values())))
    with open(path, "wb") as handle:
        handle.write(f"{len(vectors)} {dim}\n".encode())
        for word, vector in vectors.items():
            handle.write(word.encode("utf-8") + b" " + np.asarray(vector, "<f4").tobytes() + b"\n")
    return path


def write_word2vec_text(path: Path, vectors: dict[str, np.ndarray]) -> Path:
    dim = len(next(iter(vectors.values())))
    lines = [f"{len(vectors)} {dim}"] + [f"{w} " + " ".join(repr(float(x)) for x in v) for w, v in vectors.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_glove_text(path: Path, vectors: dict[str, np.ndarray]) -> Path:
    lines = [f"{w} " + " ".join(repr(float(x)) for x in v) for w, v in vectors.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def train_fasttext(path: Path, words: list[str] = WORDS, dim: int = 20, seed: int = 0) -> Path:
    """A real fastText skipgram model trained on a generated corpus (small bucket: a small .bin).

    fastText 0.9.2 initialises its input matrix in 10 fixed blocks of (rows x dim) // 10 values,
    one per thread: fewer than 10 threads leave blocks unset, and when rows x dim is not a multiple
    of 10 the last few values are never set. Such a value holds whatever the allocator reused,
    and one garbage subword row turns every vector to NaN. So: 10+ threads and dim a multiple of 10.
    """
    import fasttext

    rng = random.Random(seed)
    corpus = path.with_suffix(".corpus.txt")
    corpus.write_text("\n".join(" ".join(rng.choice(words) for _ in range(12)) for _ in range(2000)) + "\n")
    model = fasttext.train_unsupervised(
        str(corpus), model="skipgram", dim=dim, epoch=2, minCount=1, bucket=10_000,
        thread=max(10, os.cpu_count() or 1), verbose=0,
    )  # fmt: skip
    model.save_model(str(path))
    return path
