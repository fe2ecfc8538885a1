"""Test-side splits: the rule turned around, to divide a test dataset's classes into seen and unseen.

Brattoli et al. (CVPR 2020, Sec. 3, Eq. 3) filter the *source* classes: a source class is kept iff
its cosine distance to every test class is >= tau. TruZe (Gowda et al., GCPR 2021, Sec. 3) instead
divides each *test* dataset's classes: those that overlap the source (Kinetics-400) classes, and the
rest, on which zero-shot is evaluated. zslbench applies its own rule to the test side: a test class c_t
is "seen" (overlapping) iff min over source classes c_s of d(c_t, c_s) < tau, and "unseen" otherwise,
with d the cosine distance of the protocol's class-name vectors (Eq. 4) and the protocol's tau.

So a source class the protocol's split keeps (distance >= tau to every test class) is never within
tau of an unseen test class: the unseen part is zero-shot for a model trained on *all* source classes.
The evaluation split kinds `unseen` and `gzsl` (evaluation/scoring.py) use this partition. It is
computed against the classes the model declares it saw (`declared_classes`: a checkpoint's training
classes, a video-text model's `--finetuned-on` list, a features file's `training_classes`, with any
declared pretraining classes, as Eq. 3 counts them), so a checkpoint fine-tuned on all of Kinetics-400
gets its honest zero-shot number (issue 22); against the protocol's `train.source` when the model
declares nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from zslbench.protocol.compliance import CLASSES, UNKNOWN, pretraining_of
from zslbench.protocol.overlap import cosine_distances
from zslbench.protocol.spec import Protocol
from zslbench.text import TextEmbedder
from zslbench.text.class_vectors import embed_class_lists
from zslbench.text.vocab import ClassList

NEEDS_PARTITION = ("unseen", "gzsl")  # evaluation split kinds scored on the seen / unseen partition


@dataclass(frozen=True)
class Against:
    """The classes a test dataset is divided against: what the model declares it saw, or the protocol's source.

    `classes`: their union (first occurrence kept); `declared`: True when they come from the model;
    `parts`: what they are made of, as text (e.g. "fine-tuning: kinetics400 (400 classes)");
    `note`: what is left out and why ("" when nothing is)."""

    classes: ClassList
    declared: bool
    parts: tuple[str, ...]
    note: str = ""

    def describe(self) -> dict[str, Any]:
        """As a record holds it (`metrics.unseen.against`, `metrics.gzsl.against`, `overlap.against`)."""
        described = {"name": self.classes.name, "classes": len(self.classes), "declared": self.declared}
        return {**described, "parts": list(self.parts), **({"note": self.note} if self.note else {})}


def source_against(protocol: Protocol) -> Against:
    """The protocol's `train.source`: what the partition is computed against when a model declares nothing."""
    source = protocol.source_classes()
    return Against(source, False, (f"protocol source: {source.name} ({len(source)} classes)",))


def declared_classes(state: dict[str, Any]) -> Against | None:
    """The classes a model declares it saw, from its checkpoint-like `state`: its training classes
    (`state["classes"]`: a checkpoint's kept classes, a video-text model's declared fine-tuning list,
    [] for "none", a features file's `training_classes`) and its known pretraining classes (Eq. 3 of
    Brattoli et al. 2020 counts both). None when the training classes are not declared; unknown
    pretraining is left out and said so in `note`."""
    training = state.get("classes")
    if training is None:
        return None
    role = "fine-tuning" if "image_text" in state else "training"
    named = state.get("classes_name")
    counted = f"{named} ({len(training)} classes)" if named else f"{len(training)} classes"
    parts = [f"{role}: {counted}" if training else f"{role}: none"]
    name = named or f"{role} classes"
    classes, note = list(training), ""
    seen = pretraining_of(state)
    if seen.status == CLASSES:
        parts.append(f"pretraining: {seen.name or 'pretraining classes'} ({len(seen.classes)} classes)")
        classes += seen.classes
    elif seen.status == UNKNOWN:
        note = "the initial weights' pretraining classes are unknown (declare them with --pretrained-on): left out"
    listed = ClassList(name if len(parts) == 1 else "declared classes", tuple(dict.fromkeys(classes)), "declared")
    return Against(listed, True, tuple(parts), note)


@dataclass(frozen=True)
class SeenUnseenSplit:
    """A test dataset's classes divided by the rule against a class list.

    `classes`: the test classes, in the order given; `against`: that list's name;
    `distance`: float64 [classes], each test class's minimum cosine distance (in [0, 2]) to a class of
    it (+inf when it is empty); `nearest`: that class's name ("" when empty), per test class; `tau`: the
    threshold.
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
        """The test classes the rule calls seen (min distance < tau), in the given order."""
        return [c for c, s in zip(self.classes, self.seen, strict=True) if s]

    def unseen_classes(self) -> list[str]:
        """The test classes the rule calls unseen (min distance >= tau), in the given order."""
        return [c for c, s in zip(self.classes, self.seen, strict=True) if not s]


def seen_unseen_split(
    protocol: Protocol,
    test: ClassList,
    embedder: TextEmbedder,
    classes: Sequence[str] | None = None,
    against: ClassList | None = None,
) -> SeenUnseenSplit:
    """`test`'s classes (or `classes`, a reordering of them, e.g. the protocol's class order) divided
    by the rule against `against` (default: the protocol's source classes) at the protocol's tau: seen
    iff the minimum cosine distance (Brattoli et al. 2020, Eq. 4) to a class of `against` is < tau
    (Eq. 3 turned to the test side, as TruZe, Gowda et al. 2021, Sec. 3, divides the test classes).
    An empty `against` (a model declared to have seen no class) leaves every test class unseen."""
    source = against if against is not None else protocol.source_classes()
    order = tuple(classes) if classes is not None else tuple(test.classes)
    if not len(source) or not order:
        return SeenUnseenSplit(order, source.name, np.full(len(order), np.inf), ("",) * len(order), protocol.tau)
    source_vectors, test_vectors = embed_class_lists([source, ClassList(test.name, order, test.source)], embedder)
    distances = cosine_distances(test_vectors.vectors, source_vectors.vectors)  # [test, source]
    nearest = distances.argmin(axis=1)
    return SeenUnseenSplit(
        classes=order,
        against=source.name,
        distance=distances[np.arange(len(order)), nearest],
        nearest=tuple(source.classes[i] for i in nearest),
        tau=protocol.tau,
    )


def needs_partition(splits: Sequence[dict]) -> bool:
    """Whether any of a protocol's `evaluation.splits` is scored on the seen / unseen partition."""
    return any(split["kind"] in NEEDS_PARTITION for split in splits)
