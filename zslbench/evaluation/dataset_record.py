"""One test dataset's result record: its embeddings scored on every split, the compliance audit,
and an account of every video (scored, unusable, failed, left out when the data was prepared).

The record's layout is documented in docs/results.md; `records.incomplete_reason` reads it back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from zslbench.evaluation.class_space import ClassSpace, WordVectorSpace
from zslbench.evaluation.official import official_count, official_selections
from zslbench.evaluation.overlap_diagnostic import class_scores, overlap_diagnostic
from zslbench.evaluation.records import KIND, SCHEMA, environment
from zslbench.evaluation.scoring import Selection, score_protocol, unusable_embedding
from zslbench.models.checkpoint import training_summary
from zslbench.protocol.compliance import audit_model
from zslbench.protocol.spec import Protocol
from zslbench.protocol.test_side import (
    NEEDS_PARTITION,
    declared_classes,
    needs_partition,
    seen_unseen_split,
    source_against,
)
from zslbench.text import TextEmbedder
from zslbench.text.vocab import ClassList

DEFAULT_FAILURE_BUDGET = 0.005  # share of a dataset's videos that may fail before a run is incomplete
LEFT_OUT_BY_PREPARE = "undecodable: left out by `zslbench data prepare`"


@dataclass
class Embedded:
    """A test dataset's videos as a model embedded them.

    `vectors[i]` is video i's embedding (float [D]) or None when it failed (reason in `failures[i]`);
    `records[i]` is its manifest row (None for a features file), `labels[i]` its class name.
    """

    records: list
    vectors: list
    failures: dict[int, str]
    labels: list[str]
    reading: dict[str, Any] | None = None  # decoder and read modes (`VideoEncoder.reading`)
    ignored: dict[str, Any] | None = None  # manifest rows left out before reading, and why
    clips_per_video: int | None = None
    official: np.ndarray | None = None  # a features file's bool [splits, videos]: the official test lists
    limit: int | None = None  # `eval --limit N`: only the first N videos were read (never a result)


@dataclass
class Maker:
    """Who made the embeddings: the record's label, the checkpoint's state (or what a features file
    says), the exact identity (weights hash or file fingerprint) and the checkpoint path."""

    label: str
    state: dict[str, Any]
    identity: dict[str, Any]
    checkpoint: str | None = None
    failure_budget: float = DEFAULT_FAILURE_BUDGET
    timing: dict[str, float] = field(default_factory=dict)
    space: ClassSpace | None = None  # what the videos are scored against; None: the protocol's class vectors
    card: dict[str, Any] | None = None  # a video-text model's input and text (`video_text_run.card`)
    # a video-text model's text tower on class names (`VideoTextRunner.class_texts`): the overlap
    # diagnostic's text-space distances to training classes the space lacks
    class_texts: Callable[[list[str]], dict[str, np.ndarray]] | None = None


@dataclass(frozen=True)
class Distances:
    """The all-classes distance matrix a record is scored from (every split selects from it).

    `classes`: the test dataset's class names in the protocol's class order (the columns);
    `rows`: the index of each row's video in `Embedded.vectors` (the videos that have an embedding);
    `labels`: int64 [rows], each row's true class as an index into `classes`;
    `matrix`: float64 [rows, classes], cosine distances in [0, 2] (`scoring.class_distances`), a row
    of NaN for an unusable embedding; `unusable`: video index -> why its embedding is unusable;
    `official`: the dataset's official splits as selections of `matrix`, when the protocol scores them.
    """

    classes: list[str]
    rows: list[int]
    labels: np.ndarray
    matrix: np.ndarray
    unusable: dict[int, str]
    official: tuple[Selection, ...] | None = None


def dataset_record(
    protocol: Protocol, test: ClassList, embedder: TextEmbedder, embedded: Embedded, maker: Maker, started: float
) -> dict[str, Any]:
    """The result record of one test dataset (see docs/results.md); `started` is the run's
    `time.perf_counter()` at its start, for the total time."""
    return record_and_distances(protocol, test, embedder, embedded, maker, started)[0]


def record_and_distances(
    protocol: Protocol, test: ClassList, embedder: TextEmbedder, embedded: Embedded, maker: Maker, started: float
) -> tuple[dict[str, Any], Distances]:
    """`dataset_record`, and the distances it was scored from (for the per-video predictions)."""
    t0 = time.perf_counter()
    space = maker.space or WordVectorSpace(embedder)
    distances = test_distances(protocol, test, space, embedded)
    state = maker.state
    metrics = protocol_metrics(protocol, test, embedder, distances, state)
    scored, unusable = distances.rows, distances.unusable
    scores = class_scores(distances.classes, distances.matrix, distances.labels)
    record = {
        "schema": SCHEMA,
        "kind": KIND,
        "model": {
            "label": maker.label,
            "name": state["model"]["name"],
            "options": state["model"].get("options", {}),
            "identity": maker.identity,
            "checkpoint": maker.checkpoint,
            **({"declared": state["declared"]} if "declared" in state else {}),  # a video-text model's history
        },
        "protocol": protocol.describe(),
        "dataset": {"name": test.name, "classes": len(test), "sha256": test.sha256},
        "embedding": {"spec": protocol.embedding, "id": embedder.id},  # the rule's (split, audit, compliance)
        "class_embeddings": space.describe(),  # what the videos were scored against
        "card": maker.card,
        "metrics": metrics,
        "overlap": overlap_diagnostic(protocol, test, embedder, scores, state, space, maker.class_texts),
        "compliance": audit_model(state, test, protocol, embedder),
        "training": training_summary(state) if "settings" in state else None,  # None: a features file
        "data": data_account(embedded, scored, unusable, maker.failure_budget),
        **environment(),
        "timing": {
            **maker.timing,
            "score_s": round(time.perf_counter() - t0, 4),
            "total_s": round(time.perf_counter() - started, 3),
        },
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return record, distances


def protocol_metrics(
    protocol: Protocol,
    test: ClassList,
    embedder: TextEmbedder,
    distances: Distances,
    state: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Every split and metric the protocol names, scored from `distances` (a record's `metrics`); the
    test-side seen / unseen partition is computed when a split needs it, against the classes the
    model's `state` declares it saw (`test_side.declared_classes`), else the protocol's source, and
    `metrics.unseen` / `metrics.gzsl` say which (`against`)."""
    evaluation = protocol.data["evaluation"]
    splits, names = evaluation["splits"], evaluation["metrics"]
    if not needs_partition(splits):
        return score_protocol(
            distances.matrix, distances.labels, distances.classes, splits, names, official=distances.official
        )
    against = (declared_classes(state) if state else None) or source_against(protocol)
    seen = seen_unseen_split(protocol, test, embedder, distances.classes, against.classes).seen
    metrics = score_protocol(
        distances.matrix, distances.labels, distances.classes, splits, names, seen, distances.official
    )
    for kind in NEEDS_PARTITION:
        if kind in metrics:
            metrics[kind]["against"] = against.describe()
    return metrics


def class_order(protocol: Protocol, test: ClassList) -> list[str]:
    """The test dataset's classes in the protocol's class order (what the seeded splits index)."""
    return sorted(test.classes) if protocol.data["evaluation"]["class_order"] == "sorted" else list(test.classes)


def test_distances(
    protocol: Protocol, test: ClassList, space: ClassSpace | TextEmbedder, embedded: Embedded
) -> Distances:
    """The distances of every video that has an embedding to every class, in the protocol's class
    order, in `space` (a text embedder: the protocol's class vectors). Unusable embeddings (no
    direction) get a row of NaN: scored, as misses."""
    if isinstance(space, TextEmbedder):
        space = WordVectorSpace(space)
    order = class_order(protocol, test)
    vectors = embedded.vectors
    scored = [i for i, vector in enumerate(vectors) if vector is not None]
    unusable = {i: why for i in scored if (why := unusable_embedding(vectors[i]))}
    index = {name: i for i, name in enumerate(order)}
    matrix = np.stack([vectors[i] for i in scored]) if scored else np.zeros((0, space.width(test)))
    label_ids = np.array([index[embedded.labels[i]] for i in scored], dtype=np.int64)
    count = official_count(protocol.data["evaluation"]["splits"])
    official = official_selections(test, count, order, embedded.records, scored, embedded.official) if count else None
    return Distances(order, scored, label_ids, space.distances(matrix, test, order), unusable, official)


def data_account(embedded: Embedded, scored: list[int], unusable: dict[int, str], budget: float) -> dict[str, Any]:
    """Every video accounted for: scored, unusable, failed (with index, path, label and reason), and
    those `zslbench data prepare` could not read; complete iff the failures fit the budget."""
    records, labels = embedded.records, embedded.labels
    failed = [
        {"index": i, "path": None if records[i] is None else str(records[i].path), "label": labels[i], "reason": why}
        for i, why in sorted({**embedded.failures, **unusable}.items())
    ]
    left_out = int(((embedded.reading or {}).get("prepared") or {}).get("left_out", 0))
    failed += [{"index": None, "path": None, "label": None, "reason": LEFT_OUT_BY_PREPARE}] * left_out
    expected = len(embedded.vectors) + left_out  # a prepared manifest lacks the videos preparing could not read
    return {
        "expected": expected,
        "scored": len(scored),  # including unusable embeddings, scored as misses
        "unusable_embeddings": len(unusable),
        "failed": len(failed),
        "failures": failed,
        "clips_per_video": embedded.clips_per_video,
        "failure_budget": budget,
        "complete": len(failed) <= budget * expected,
        "reading": embedded.reading,
        "ignored": embedded.ignored,
        **({"limit": embedded.limit} if embedded.limit is not None else {}),
    }
