"""fastText .bin models (e.g. cc.en.300.bin): subword vectors, so every word has one."""

from __future__ import annotations

import mmap
import struct

import numpy as np

from zslbench.text.base import FileEmbedder

FASTTEXT_MAGIC = 793712314
_ARGS = struct.Struct("<12id")  # dim ws epoch minCount neg wordNgrams loss model bucket minn maxn lrUpdateRate t


class FastTextEmbedder(FileEmbedder):
    """`fasttext:PATH`: a fastText .bin model; subword n-grams give every word a vector, so nothing is OOV.

    The file's layout is checked before the fastText library loads it, so a truncated file is a
    ZslbenchError instead of garbage vectors."""

    kind = "fasttext"
    file_kind = "fastText .bin"
    libraries = ("numpy", "fasttext")  # the library computes every vector, subwords included

    def __init__(self, path: str, word_norm: bool = True) -> None:
        super().__init__(path, word_norm)
        self._model = None

    def lookup(self, words: set[str]) -> dict[str, np.ndarray]:
        """A float32 [d] vector for every word in `words` (from subwords); ZslbenchError for a malformed file."""
        model = self._load()
        return {word: np.asarray(model.get_word_vector(word), dtype=np.float32) for word in words}

    def _load(self):
        if self._model is None:
            self._check_layout()
            import fasttext

            try:
                self._model = fasttext.load_model(str(self.path))
            except ValueError as err:
                raise self.format_error(str(err)) from err
        return self._model

    def _check_layout(self) -> None:
        """Walk the file's header and dictionary and compare its size with the one they imply.

        The fastText library loads a truncated .bin without complaint and returns garbage
        vectors; this walk turns that into an error before it can move a number.
        """
        with open(self.path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            if len(data) < 8 + _ARGS.size or struct.unpack_from("<i", data, 0)[0] != FASTTEXT_MAGIC:
                raise self.format_error("no fastText header (a .vec text file needs word2vec:PATH)")
            dim = _ARGS.unpack_from(data, 8)[0]
            pos = 8 + _ARGS.size
            size, _, _, _, prune = struct.unpack_from("<3iqq", data, pos)
            pos += 28
            for _ in range(size):
                end = data.find(b"\0", pos)
                if end < 0:
                    raise self.format_error("the file ends inside its dictionary (truncated?)")
                pos = end + 1 + 9  # word, NUL, int64 count, int8 entry type
            pos += 8 * max(prune, 0)
            if pos + 1 > len(data):
                raise self.format_error("the file ends after its dictionary (truncated?)")
            if data[pos]:  # quantized (.ftz): its layout is not checked here
                return
            pos = _skip_matrix(data, pos + 1, dim, self)
            if pos + 1 > len(data):
                raise self.format_error("the file ends after its input matrix (truncated?)")
            if not data[pos]:
                pos = _skip_matrix(data, pos + 1, None, self)
                if pos != len(data):
                    raise self.format_error(f"expected {pos} bytes, found {len(data)} (truncated or padded?)")


def _skip_matrix(data: mmap.mmap, pos: int, dim: int | None, owner: FastTextEmbedder) -> int:
    if pos + 16 > len(data):
        raise owner.format_error("the file ends inside a matrix header (truncated?)")
    rows, cols = struct.unpack_from("<qq", data, pos)
    if dim is not None and cols != dim:
        raise owner.format_error(f"input matrix has {cols} columns but the header says dim {dim}")
    end = pos + 16 + rows * cols * 4
    if end > len(data):
        raise owner.format_error(f"a {rows}x{cols} matrix needs {end} bytes, the file has {len(data)} (truncated?)")
    return end
