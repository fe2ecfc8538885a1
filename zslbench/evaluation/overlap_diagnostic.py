"""How much a number owes to overlap: each test class's distance to the classes the model declares it saw.

Brattoli et al. (CVPR 2020, supplementary Table 1) show what overlap is worth for a 3D CNN: UCF101
top-1 over 50 classes is 43.0 when trained on the 664 Kinetics-700 classes the rule keeps, 54.6 on
all 700. Every CLIP-era model is fine-tuned on all of Kinetics-400, so the same question applies to
it (issue 22). For a model that declares its training classes (`protocol.test_side.declared_classes`),
this records, per test class, its nearest declared class and cosine distance in the protocol's word
embedding (the rule's space, Eq. 4) and, for a video-text model, in its own text space, beside the
class's top-1 ranked among all the test classes. `reporting/overlap.py` bins the classes by distance,
as a table and a plot.

The record's key `overlap` (docs/results.md) is None when the model declares no training classes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from zslbench.evaluation.class_space import ClassSpace, ConditionedSpace, TextTowerSpace
from zslbench.evaluation.scoring import score
from zslbench.protocol.overlap import cosine_distances
from zslbench.protocol.spec import PAPER_TAU, Protocol
from zslbench.protocol.test_side import declared_classes, seen_unseen_split
from zslbench.text import TextEmbedder
from zslbench.text.vocab import ClassList

ClassTexts = Callable[[list[str]], dict[str, np.ndarray]]  # class names -> float32 [templates, D] each
PROTOTYPE = "the mean of the class's L2-normalised template embeddings"


@dataclass(frozen=True)
class ClassScores:
    """Top-1 per test class, each class's videos ranked among all the dataset's classes (as `metrics.all`).

    `classes`: names in the protocol's class order; `videos`: int [classes]; `top1`: percent per class,
    None for a class without videos."""

    classes: tuple[str, ...]
    videos: np.ndarray
    top1: tuple[float | None, ...]


def class_scores(classes: Sequence[str], matrix: np.ndarray, labels: np.ndarray) -> ClassScores:
    """From a record's distance matrix [videos, classes] (`dataset_record.Distances`) and its labels
    [videos] (indices into `classes`); a video with NaN distances (no direction) is a miss."""
    per_class = score(matrix, labels, None, ["top1"]).per_class if len(labels) else {}
    videos = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(classes))
    return ClassScores(tuple(classes), videos, tuple(per_class.get(i) for i in range(len(classes))))


def overlap_diagnostic(
    protocol: Protocol,
    test: ClassList,
    embedder: TextEmbedder,
    scores: ClassScores,
    state: dict[str, Any],
    space: ClassSpace | None = None,
    class_texts: ClassTexts | None = None,
) -> dict[str, Any] | None:
    """A record's `overlap`: per test class its videos, top-1, and nearest declared class with the
    cosine distance (in [0, 2]) in the protocol's embedding and, for a video-text model's text space,
    in that space; None when `state` declares no training classes (or declares none were seen).

    `class_texts` embeds classes with the model's text tower (`VideoTextRunner.class_texts`), for the
    training classes `space` lacks; without it their text-space distances are said to be unavailable."""
    against = declared_classes(state)
    if against is None or not len(against.classes):
        return None
    split = seen_unseen_split(protocol, test, embedder, scores.classes, against.classes)
    text = text_space_nearest(space, scores.classes, against.classes.classes, class_texts)
    spaces: dict[str, Any] = {"protocol_embedding": {"spec": protocol.embedding, "id": embedder.id}}
    if isinstance(text, str):
        spaces["text_tower"] = {"unavailable": text}
    elif text is not None:
        spaces["text_tower"] = {"class_embedding": PROTOTYPE}
    rows = []
    for i, name in enumerate(scores.classes):
        row = {"class": name, "videos": int(scores.videos[i]), "top1": scores.top1[i]}
        row["protocol_embedding"] = {"nearest": split.nearest[i], "distance": float(split.distance[i])}
        if text is not None and not isinstance(text, str):
            row["text_tower"] = {"nearest": text[0][i], "distance": float(text[1][i])}
        rows.append(row)
    tau = protocol.tau if protocol.tau > 0 else PAPER_TAU  # tau 0 calls nothing overlap: use the paper's
    return {
        "against": against.describe(),
        "tau": tau,
        **(
            {} if tau == protocol.tau else {"tau_source": f"the paper's (protocol {protocol.name} sets tau 0: no rule)"}
        ),
        "within_tau": int((split.distance < tau).sum()),
        "spaces": spaces,
        "classes": rows,
    }


def text_space_nearest(
    space: ClassSpace | None, classes: Sequence[str], training: Sequence[str], class_texts: ClassTexts | None
) -> tuple[list[str], np.ndarray] | str | None:
    """(nearest training class per test class, float64 cosine distances [classes]) between class
    embeddings (`PROTOTYPE`) in a video-text model's text space; None for a model scored in the
    protocol's word vectors; a reason (str) when the text space cannot be measured."""
    if isinstance(space, ConditionedSpace):
        return "its class embeddings depend on the video (X-CLIP's prompt generator): no fixed text space"
    if not isinstance(space, TextTowerSpace):
        return None
    texts = dict(space.texts)
    missing = [name for name in dict.fromkeys(training) if name not in texts]
    if missing and class_texts is None:
        return (
            f"the text embeddings of {len(missing)} declared training classes are not at hand "
            "(the record's class space holds the test classes' only)"
        )
    if missing:
        texts.update(class_texts(missing))
    distances = cosine_distances(prototypes(texts, classes), prototypes(texts, training))  # [test, training]
    nearest = distances.argmin(axis=1)
    return [training[j] for j in nearest], distances[np.arange(len(classes)), nearest]


def prototypes(texts: dict[str, np.ndarray], classes: Sequence[str]) -> np.ndarray:
    """float64 [classes, D]: each class's template embeddings [templates, D], L2-normalised, averaged
    (CLIP's prompt ensembling, Radford et al. 2021, Sec. 3.1.4)."""
    stack = np.stack([np.asarray(texts[name], dtype=np.float64) for name in classes])  # [classes, templates, D]
    stack = stack / np.maximum(np.linalg.norm(stack, axis=-1, keepdims=True), 1e-300)
    return stack.mean(axis=1)
