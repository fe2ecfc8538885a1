"""Word-vector files read directly: word2vec binary and text (e.g. GoogleNews-vectors-negative300.bin,
the paper's choice) and GloVe text files.

Only the words a split needs are kept, so a 3.6 GB file costs one sequential read and a few MB of
memory, not a full in-memory model; the whole file is still walked so that a truncated file is an
error rather than a silent loss of vectors.

In text files a record's vector is its last `dim` fields and the word is everything before them:
glove.840B.300d.txt holds tokens with spaces in them (`. . .`, `at name@domain.com`), which a
"first field is the word" reader refuses. The dim comes from the word2vec header, or for GloVe
(no header) from the field count most of the first lines share.
"""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np

from zslbench.text.base import FileEmbedder

CHUNK = 64 << 20
SAMPLE = 64 << 10  # bytes read to tell word2vec text from binary
DIM_LINES = 100  # GloVe lines whose majority field count gives the dim
_FLOAT_TEXT = frozenset(b"0123456789.-+eE \t\r\n")


class Word2VecEmbedder(FileEmbedder):
    """`word2vec:PATH`: a header line "<count> <dim>", then binary or text records (auto-detected)."""

    kind = "word2vec"
    file_kind = "word2vec"

    def lookup(self, words: set[str]) -> dict[str, np.ndarray]:
        """Vectors (float32 [dim]) of the `words` the file holds, from one sequential pass over the whole file.

        Binary or text records are told apart from the first record. Raises ZslbenchError (`format_error`)
        for a bad header, a truncated file, a record count that differs from the header, or a non-number."""
        with open(self.path, "rb") as handle:
            header = handle.readline()
            try:
                count, dim = (int(field) for field in header.split())
            except ValueError:
                raise self.format_error(f"first line should be '<count> <dim>', got {header[:40]!r}") from None
            start = handle.tell()
            sample = handle.read(SAMPLE)
            handle.seek(start)
            if _looks_binary(sample, dim):
                return self._scan_binary(handle, count, dim, words)
            return _scan_text(self, handle, dim, words, expected=count)

    def _scan_binary(self, handle, count: int, dim: int, words: set[str]) -> dict[str, np.ndarray]:
        wanted = {word.encode("utf-8"): word for word in words}
        found: dict[str, np.ndarray] = {}
        width = 4 * dim
        buffer = b""
        pos = 0
        for record in range(count):
            while True:
                space = buffer.find(b" ", pos)
                if space >= 0 and len(buffer) >= space + 1 + width:
                    break
                more = handle.read(CHUNK)
                if not more:
                    raise self.format_error(f"the file ends at record {record + 1} of {count} (truncated?)")
                buffer = buffer[pos:] + more
                pos = 0
            word = buffer[pos:space].lstrip(b"\n")
            if word in wanted:
                found[wanted[word]] = np.frombuffer(buffer, "<f4", dim, space + 1).copy()
            pos = space + 1 + width
        if (buffer[pos:] + handle.read()).strip():
            raise self.format_error(f"data after the {count} records the header announces")
        return found


class GloveTextEmbedder(FileEmbedder):
    """`glove:PATH`: GloVe's text format, "word v1 ... vd" per line, no header."""

    kind = "glove"
    file_kind = "GloVe text"

    def lookup(self, words: set[str]) -> dict[str, np.ndarray]:
        """Vectors (float32 [dim]) of the `words` the file holds, from one pass over the whole file.

        dim is one less than the field count most of the first 100 lines share (GloVe has no header).
        Raises ZslbenchError (`format_error`) when those lines hold no vectors, or a line has too few values
        or a value that is not a number."""
        with open(self.path, "rb") as handle:
            counts = Counter(len(line.rstrip().split(b" ")) for line in itertools.islice(handle, DIM_LINES))
            dim = counts.most_common(1)[0][0] - 1 if counts else 0
            if dim < 1:
                raise self.format_error("the first lines hold no vectors")
            handle.seek(0)
            return _scan_text(self, handle, dim, words, expected=None)


def _looks_binary(sample: bytes, dim: int) -> bool:
    """Text records end in `dim` numbers (a word may hold spaces); binary floats almost never do.
    When the first record is longer than the sample, the bytes after the first space decide."""
    first, newline, _ = sample.partition(b"\n")
    if newline:
        return not _ends_in_numbers(first.rstrip().split(b" "), dim)
    space = sample.find(b" ")
    values = sample[space + 1 : space + 1 + min(4 * dim, 64)]
    return not set(values) <= _FLOAT_TEXT


def _ends_in_numbers(fields: list[bytes], dim: int) -> bool:
    if len(fields) <= dim:
        return False
    try:
        [float(value) for value in fields[-dim:]]
    except ValueError:
        return False
    return True


def _scan_text(owner: FileEmbedder, handle, dim: int, words: set[str], expected: int | None) -> dict[str, np.ndarray]:
    wanted = {word.encode("utf-8"): word for word in words}
    found: dict[str, np.ndarray] = {}
    lines = 0
    for lines, line in enumerate(handle, start=1):
        fields = line.rstrip().split(b" ")
        if len(fields) < dim + 1:
            raise owner.format_error(f"line {lines + (expected is not None)} has {len(fields) - 1} values, not {dim}")
        word = fields[0] if len(fields) == dim + 1 else b" ".join(fields[:-dim])  # a token with spaces
        if word in wanted:
            try:
                found[wanted[word]] = np.array(fields[-dim:], dtype=np.float32)
            except ValueError:
                raise owner.format_error(
                    f"line {lines + (expected is not None)} holds a value that is not a number"
                ) from None
    if expected is not None and lines != expected:
        raise owner.format_error(f"the header announces {expected} words, the file has {lines} (truncated?)")
    return found
