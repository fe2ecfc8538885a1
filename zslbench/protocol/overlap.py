"""The realistic zero-shot filter (Brattoli et al. 2020, Eq. 3): distances, split, audit, sweep.

A source class may be trained on only if its class-name vector lies at cosine distance >= tau
from every test class (the reference code keeps a class iff its minimum distance >= tau).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from zslbench.core.bounds import MAX_SWEEP_POINTS
from zslbench.core.errors import ZslbenchError, named
from zslbench.protocol.spec import Protocol
from zslbench.text import TextEmbedder, load_embedder
from zslbench.text.class_vectors import embed_class_lists
from zslbench.text.phrases import Phrase
from zslbench.text.vocab import ClassList


def cosine_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise 1 - cos(a_i, b_j) in float64, the formula of scipy's cdist(a, b, 'cosine').

    einsum reduces each pair on its own, unlike a BLAS matrix product whose summation order
    depends on the matrix shapes; so a class keeps its exact distance whether it is audited alone
    or among 700 others (tests/test_overlap.py checks this).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    norms = np.sqrt(np.einsum("ik,ik->i", a, a))[:, None] * np.sqrt(np.einsum("jk,jk->j", b, b))[None, :]
    return np.clip(1.0 - np.einsum("ik,jk->ij", a, b) / norms, 0.0, 2.0)


@dataclass(frozen=True)
class OverlapTable:
    """For every source class, the nearest test class over all test datasets and its distance."""

    source: ClassList
    tests: tuple[ClassList, ...]
    embedder_id: str
    words: tuple[Phrase, ...]
    oov: tuple[tuple[str, ...], ...]
    nearest: tuple[str, ...]  # nearest test class name
    nearest_dataset: tuple[str, ...]  # the test list it belongs to
    distance: np.ndarray  # float64 [n_source]
    test_oov: dict[str, dict[str, tuple[str, ...]]]  # test list -> class -> unknown words

    def kept(self, tau: float) -> np.ndarray:
        """Boolean mask of the source classes the rule allows at `tau`."""
        return self.distance >= tau

    def kept_counts(self, taus: Sequence[float]) -> np.ndarray:
        """int [len(taus)]: how many source classes the rule keeps (distance >= tau) at each tau, for a sweep."""
        ordered = np.sort(self.distance)
        return len(ordered) - np.searchsorted(ordered, np.asarray(taus, dtype=np.float64), side="left")


def compute_overlap(source: ClassList, tests: Sequence[ClassList], embedder: TextEmbedder) -> OverlapTable:
    """Each source class's nearest test class over all `tests`, and its cosine distance (Brattoli et al. 2020, Eq. 4).

    Raises ZslbenchError when `tests` is empty or a class name has no known word in the embedding."""
    if not tests:
        example = named("--test ucf101,hmdb51", "test=['ucf101', 'hmdb51']")
        raise ZslbenchError("no test datasets given", f"pass {example} (dataset names or class-list files)")
    embedded = embed_class_lists([source, *tests], embedder)
    src, test_vectors = embedded[0], embedded[1:]
    all_test = np.concatenate([t.vectors for t in test_vectors])
    names = [name for t in test_vectors for name in t.names]
    datasets = [lst.name for lst, t in zip(tests, test_vectors, strict=True) for _ in t.names]
    distances = cosine_distances(src.vectors, all_test)
    nearest = distances.argmin(axis=1)
    test_oov = {
        lst.name: {name: oov for name, oov in zip(t.names, t.oov, strict=True) if oov}
        for lst, t in zip(tests, test_vectors, strict=True)
    }
    return OverlapTable(
        source=source,
        tests=tuple(tests),
        embedder_id=embedder.id,
        words=src.words,
        oov=src.oov,
        nearest=tuple(names[i] for i in nearest),
        nearest_dataset=tuple(datasets[i] for i in nearest),
        distance=distances[np.arange(len(nearest)), nearest],
        test_oov=test_oov,
    )


def protocol_overlap(protocol: Protocol) -> OverlapTable:
    """The overlap table of a protocol's source classes against its test datasets."""
    embedder = load_embedder(protocol.embedding, word_norm=protocol.word_norm)
    return compute_overlap(protocol.source_classes(), protocol.test_classes(), embedder)


def parse_sweep(text: str) -> np.ndarray:
    """'0:0.3:0.01' -> [0, 0.01, ..., 0.3], both ends included; at most MAX_SWEEP_POINTS taus."""
    example = "write START:STOP:STEP, e.g. " + named("--sweep 0:0.3:0.01", "'0:0.3:0.01'")
    try:
        start, stop, step = (float(part) for part in text.split(":"))
    except ValueError:
        raise ZslbenchError(f"cannot read sweep {text!r}", example) from None
    if not all(math.isfinite(x) for x in (start, stop, step)):
        raise ZslbenchError(f"sweep {text!r} has a number that is not finite", example)
    start, stop = start + 0.0, stop + 0.0  # -0.0 -> 0.0
    if step <= 0 or stop < start or not (start >= 0 and stop <= 2):
        raise ZslbenchError(
            f"sweep {text!r} is empty or outside [0, 2]", "START <= STOP within [0, 2] and STEP > 0, e.g. 0:0.3:0.01"
        )
    points = float(np.floor((stop - start) / step + 1e-9)) + 1  # a float: a tiny STEP may make it inf
    if points > MAX_SWEEP_POINTS:
        raise ZslbenchError(
            f"sweep {text!r} has more than {MAX_SWEEP_POINTS} points",
            f"use a STEP of at least {(stop - start) / (MAX_SWEEP_POINTS - 1):.2g}",
        )
    return np.round(start + step * np.arange(int(points)), 10) + 0.0
