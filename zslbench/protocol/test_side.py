"""Test-side splits: the rule turned around, to divide a test dataset's classes into seen and unseen.

Brattoli et al. (CVPR 2020, Sec. 3, Eq. 3) filter the *source* classes: a source class is kept iff
its cosine distance to every test class is >= tau. TruZe (Gowda et al., GCPR 2021, Sec. 3) instead
divides each *test* dataset's classes: those that overlap the source (Kinetics-400) classes, and the
rest, on which zero-shot is evaluated. zslbench applies its own rule to the test side: a test class c_t
is "seen" (overlapping) iff min over source classes c_s of d(c_t, c_s) < tau, and "unseen" otherwise,
with d the cosine distance of the protocol's class-name vectors (Eq. 4) and the protocol's tau.

So a source class the protocol's split keeps (distance >= tau to every test class) is never within
tau of an unseen test class: the unseen part is zero-shot for a model trained on *all* source classes.
The evaluation split kinds `unseen` and `gzsl` (evaluation/scoring.py) use this partition; the
`against` classes are the protocol's `train.source`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from zslbench.protocol.overlap import cosine_distances
from zslbench.protocol.spec import Protocol
from zslbench.text import TextEmbedder
from zslbench.text.class_vectors import embed_class_lists
from zslbench.text.vocab import ClassList

NEEDS_PARTITION = ("unseen", "gzsl")  # evaluation split kinds scored on the seen / unseen partition


@dataclass(frozen=True)
class SeenUnseenSplit:
    """A test dataset's classes divided by the rule against a source class list.

    `classes`: the test classes, in the order given; `against`: the source list's name;
    `distance`: float64 [classes], each test class's minimum cosine distance (in [0, 2]) to a source
    class; `nearest`: that source class's name, per test class; `tau`: the threshold.
    """

    classes: tuple[str, ...]
    against: str
    distance: np.ndarray
    nearest: tuple[str, ...]
    tau: float

    @property
    def seen(self) -> np.ndarray:
        """bool [classes]: True where the class overlaps the source (min distance < tau)."""
        return self.distance < self.tau

    def seen_classes(self) -> list[str]:
        return [c for c, s in zip(self.classes, self.seen, strict=True) if s]

    def unseen_classes(self) -> list[str]:
        return [c for c, s in zip(self.classes, self.seen, strict=True) if not s]


def seen_unseen_split(
    protocol: Protocol, test: ClassList, embedder: TextEmbedder, classes: Sequence[str] | None = None
) -> SeenUnseenSplit:
    """`test`'s classes (or `classes`, a reordering of them, e.g. the protocol's class order) divided
    by the rule against the protocol's source classes at the protocol's tau: seen iff the minimum cosine
    distance (Brattoli et al. 2020, Eq. 4) to a source class is < tau (Eq. 3 turned to the test side,
    as TruZe, Gowda et al. 2021, Sec. 3, divides the test classes)."""
    source = protocol.source_classes()
    order = tuple(classes) if classes is not None else tuple(test.classes)
    source_vectors, test_vectors = embed_class_lists([source, ClassList(test.name, order, test.source)], embedder)
    distances = cosine_distances(test_vectors.vectors, source_vectors.vectors)  # [test, source]
    nearest = distances.argmin(axis=1) if len(order) else np.zeros(0, dtype=int)
    return SeenUnseenSplit(
        classes=order,
        against=source.name,
        distance=distances[np.arange(len(order)), nearest] if len(order) else np.zeros(0),
        nearest=tuple(source.classes[i] for i in nearest),
        tau=protocol.tau,
    )


def needs_partition(splits: Sequence[dict]) -> bool:
    """Whether any of a protocol's `evaluation.splits` is scored on the seen / unseen partition."""
    return any(split["kind"] in NEEDS_PARTITION for split in splits)
