"""The TextEmbedder interface and the mean-of-word-vectors embedder most backends share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from zslbench.core.errors import ZslbenchError, named
from zslbench.core.files import file_problem
from zslbench.core.hashing import file_fingerprint
from zslbench.text.phrases import Phrase

EMBEDDING = named("--embedding", "the embedding spec")  # how errors name where a spec was given


def embedding_example(spec: str) -> str:
    """`spec` as a caller would give it, for a hint: `--embedding SPEC`, or `embedding='SPEC'` from Python."""
    return named(f"--embedding {spec}", f"embedding={spec!r}")


@dataclass(frozen=True)
class PhraseVectors:
    """Unit-length vectors, one row per phrase, and each phrase's out-of-vocabulary words.

    A phrase none of whose words is known gets a row of NaN, so no caller can use it by mistake.
    """

    vectors: np.ndarray  # float32 [n, d]
    oov: tuple[tuple[str, ...], ...]


class TextEmbedder(ABC):
    """Turns phrases (tuples of words) into L2-normalised float32 vectors."""

    kind: str  # registry name, e.g. "glove-6b-50d" or "fasttext"
    # Packages (keys of zslbench.core.versions.library_versions) whose version can change the vectors for the
    # same model file: part of every class-vector cache key, and not of `id`, which names the model.
    libraries: tuple[str, ...] = ("numpy",)

    @property
    @abstractmethod
    def id(self) -> str:
        """Names the vectors exactly (full-content fingerprint, not a path); remembered per file, so
        cheap after the first use of a file."""

    @property
    def settings(self) -> dict:
        """Options that change the vectors beside the model itself (part of every cache key)."""
        return {}

    @abstractmethod
    def embed(self, phrases: Sequence[Phrase]) -> PhraseVectors:
        """One unit-length float32 row per phrase ([len(phrases), d]) and each phrase's out-of-vocabulary words."""


class WordVectorEmbedder(TextEmbedder):
    """A phrase is the mean of its words' vectors, each unit-normalised first.

    Normalising the words before the mean follows the reference implementation, which loaded
    word2vec with `init_sims(replace=True)`; `word_norm=False` averages the raw vectors.
    """

    def __init__(self, word_norm: bool = True) -> None:
        self.word_norm = word_norm

    @property
    def settings(self) -> dict:
        """`{"word_norm": ...}`: whether words are unit-normalised before the mean (changes the vectors)."""
        return {"word_norm": self.word_norm}

    @abstractmethod
    def lookup(self, words: set[str]) -> dict[str, np.ndarray]:
        """Vectors of those `words` the model knows (float32 [d] each)."""

    def embed(self, phrases: Sequence[Phrase]) -> PhraseVectors:
        """Each phrase as the mean of its known words' vectors, L2-normalised: float32 [len(phrases), d].

        The mean of word vectors and the L2 normalisation are the paper's W2V(c) (Brattoli et al. 2020,
        Sec. 3). A phrase with no known word is a NaN row, listed in `oov`. Raises ZslbenchError when a
        looked-up vector holds NaN or inf (a corrupt vector file)."""
        known = self.lookup({word for phrase in phrases for word in phrase})
        broken = sorted(word for word, vector in known.items() if not np.isfinite(np.linalg.norm(vector)))
        if broken:
            raise ZslbenchError(
                f"the {self.kind} vectors of {', '.join(map(repr, broken[:5]))} are not finite numbers (NaN or inf)",
                "the vector file is corrupt or was trained badly; re-download or retrain it",
            )
        dim = len(next(iter(known.values()))) if known else 1
        rows = np.full((len(phrases), dim), np.nan, dtype=np.float32)
        oov = []
        for row, phrase in enumerate(phrases):
            vectors = [known[word] for word in phrase if word in known]
            oov.append(tuple(word for word in phrase if word not in known))
            if vectors:
                stack = np.stack(vectors).astype(np.float32)
                if self.word_norm:
                    stack /= np.linalg.norm(stack, axis=1, keepdims=True) + np.float32(1e-12)
                rows[row] = stack.mean(axis=0)
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
        return PhraseVectors(rows, tuple(oov))


class FileEmbedder(WordVectorEmbedder):
    """A word-vector model read from one file named in the spec, e.g. `word2vec:/data/gn.bin`."""

    file_kind = "vectors"  # how errors name the file

    def __init__(self, path: str, word_norm: bool = True) -> None:
        super().__init__(word_norm)
        if not path:
            raise ZslbenchError(
                f"{self.kind} needs a file: {self.kind}:PATH", f"e.g. {embedding_example(f'{self.kind}:vectors.bin')}"
            )
        self.path = Path(path).expanduser()
        problem = file_problem(self.path)
        if problem:  # names a pipe or a folder for what it is, rather than "does not exist"
            problem = "does not exist" if problem == "file not found" else f"is {problem}"
            raise ZslbenchError(
                f"{self.file_kind} file {self.path} {problem}", f"check the path after the ':' in {EMBEDDING}"
            )

    @cached_property
    def id(self) -> str:
        """Computed on first use: hashing a 3.6 GB file the first time takes seconds, and constructing
        an embedder (to list it, or to fail on a missing file) should not."""
        return f"{self.kind}@{file_fingerprint(self.path)}"

    def format_error(self, problem: str) -> ZslbenchError:
        """The one-line ZslbenchError for a malformed vector file: names the file, its expected format and `problem`."""
        return ZslbenchError(
            f"{self.path} is not a valid {self.file_kind} file: {problem}",
            "check that the file is complete and that the prefix (fasttext:, word2vec:, glove:) matches its format",
        )
