"""Where a test dataset's classes live, and how a video's stored vector becomes its distances to them.

Models trained under the protocol regress its word vectors, so their videos are scored against the
protocol's class vectors (`WordVectorSpace`, Brattoli et al. 2020 Sec. 3.2). A video-text model brings
its own text tower: its videos are scored against its text embeddings of prompts (`TextTowerSpace`),
or, when its class embeddings depend on the video (X-CLIP), the video's stored vector already holds
its similarities to every class (`ConditionedSpace`). Either way a record's distances are cosine
distances in [0, 2], one row per video and one column per class, so every split, metric, GZSL, table
and check works unchanged. The rule (split, audit) always keeps the protocol's word embedding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zslbench.evaluation.scoring import class_distances, unusable_embedding
from zslbench.text import TextEmbedder
from zslbench.text.class_vectors import embed_class_lists
from zslbench.text.vocab import ClassList


@dataclass(frozen=True)
class WordVectorSpace:
    """The protocol's class vectors: what every model trained under the protocol is scored against."""

    embedder: TextEmbedder

    def distances(self, videos: np.ndarray, test: ClassList, order: Sequence[str]) -> np.ndarray:
        """float64 [videos, classes] cosine distances of video embeddings [videos, D] to the classes in `order`."""
        (vectors,) = embed_class_lists([ClassList(test.name, tuple(order), test.source)], self.embedder)
        return class_distances(videos, vectors.vectors)

    def width(self, test: ClassList) -> int:
        """The class vectors' dimension D: the width a stored video embedding must have."""
        (vectors,) = embed_class_lists([test], self.embedder)
        return int(vectors.vectors.shape[1])

    def describe(self) -> dict[str, Any]:
        """`class_space` of the record: the protocol's embedding and its exact id."""
        return {"source": "protocol_embedding", "id": self.embedder.id}


@dataclass(frozen=True)
class TextTowerSpace:
    """A video-text model's own class embeddings: `texts[name]` float32 [templates, D] (rows as its
    text tower gives them, L2-normalised), combined as `ensemble` says; videos are stored as one
    view-averaged embedding [D] (`views` 1) or as `views` L2-normalised embeddings [views x D]."""

    texts: dict[str, np.ndarray]
    ensemble: str
    views: int
    about: dict[str, Any] = field(default_factory=dict)

    def distances(self, videos: np.ndarray, test: ClassList, order: Sequence[str]) -> np.ndarray:
        """float64 [videos, classes]: 1 - cosine similarity, ensembled over templates and views.

        ensemble "embedding" with one stored view is exactly `scoring.class_distances` against the
        mean of each class's normalised template embeddings; otherwise the similarities are averaged:
        1 - mean over views and templates of cos(view, template text), in float64."""
        stack = np.stack([self.texts[name] for name in order]).astype(np.float64)  # [classes, templates, D]
        if self.ensemble == "embedding":
            stack = stack.mean(axis=1, keepdims=True)
        if self.views == 1 and stack.shape[1] == 1:
            return class_distances(videos, stack[:, 0])
        return averaged_distances(videos, stack, self.views)

    def width(self, test: ClassList) -> int:
        """The width of a stored video vector: D, times the stored views."""
        return int(next(iter(self.texts.values())).shape[1]) * self.views

    def describe(self) -> dict[str, Any]:
        """`class_space` of the record: the model's text tower, its text settings and identity."""
        return {"source": "text_tower", **self.about}


@dataclass(frozen=True)
class ConditionedSpace:
    """A model whose class embeddings depend on the video (X-CLIP's prompt generator): each stored
    vector is the video's cosine similarity to every class, in the order `classes` (the protocol's)."""

    classes: tuple[str, ...]
    about: dict[str, Any] = field(default_factory=dict)

    def distances(self, videos: np.ndarray, test: ClassList, order: Sequence[str]) -> np.ndarray:
        """float64 [videos, classes]: 1 - the stored similarities, columns in `order`."""
        column = {name: i for i, name in enumerate(self.classes)}
        similarities = np.asarray(videos, dtype=np.float64)[:, [column[name] for name in order]]
        distances = np.clip(1.0 - similarities, 0.0, 2.0)
        distances[[unusable_embedding(row) is not None for row in similarities]] = np.nan
        return distances

    def width(self, test: ClassList) -> int:
        """The width of a stored vector: one similarity per class."""
        return len(self.classes)

    def describe(self) -> dict[str, Any]:
        """`class_space` of the record: the model's text tower, marked conditioned on the video."""
        return {"source": "text_tower", "conditioned": True, **self.about}


ClassSpace = WordVectorSpace | TextTowerSpace | ConditionedSpace


def averaged_distances(videos: np.ndarray, texts: np.ndarray, views: int) -> np.ndarray:
    """1 - mean cosine similarity over a video's views and a class's templates, float64 [videos, classes].

    videos: [N, views x D]; texts: [classes, templates, D]. A video with no direction (`unusable_embedding`)
    gets a row of NaN, a miss in every metric."""
    rows = np.asarray(videos, dtype=np.float64)
    unusable = np.array([unusable_embedding(row) is not None for row in rows], dtype=bool)
    per_view = rows.reshape(len(rows), views, -1)
    per_view = per_view / np.maximum(np.linalg.norm(per_view, axis=-1, keepdims=True), 1e-300)
    texts = texts / np.maximum(np.linalg.norm(texts, axis=-1, keepdims=True), 1e-300)
    similarity = np.einsum("nvd,ctd->nc", per_view, texts) / (views * texts.shape[1])
    distances = np.clip(1.0 - similarity, 0.0, 2.0)
    distances[unusable] = np.nan
    return distances


def space_arrays(space: ClassSpace) -> dict[str, np.ndarray]:
    """A video-text model's class space as .npz arrays (no pickles), for a features file that
    `eval --features` scores exactly as the extraction's own evaluation would."""
    import json

    if isinstance(space, TextTowerSpace):
        names = sorted(space.texts)
        meta = {"kind": "text_tower", "ensemble": space.ensemble, "views": space.views, "about": space.about}
        arrays = {"class_texts": np.stack([space.texts[name] for name in names]).astype(np.float32)}
    elif isinstance(space, ConditionedSpace):
        names, meta, arrays = list(space.classes), {"kind": "conditioned", "about": space.about}, {}
    else:
        return {}
    return {**arrays, "class_names": np.array(names, dtype=str), "class_space": np.array(json.dumps(meta))}


def space_from_arrays(data: dict[str, np.ndarray], where: str) -> ClassSpace | None:
    """The class space a features file carries (`space_arrays`); None for a file in the protocol's
    class-vector space. A damaged description is a ZslbenchError naming the file."""
    import json

    from zslbench.core.errors import ZslbenchError

    if "class_space" not in data:
        return None
    try:
        meta = json.loads(str(data["class_space"]))
        names = [str(name) for name in data["class_names"]]
        if meta["kind"] == "conditioned":
            return ConditionedSpace(tuple(names), dict(meta["about"]))
        texts = np.asarray(data["class_texts"], dtype=np.float32)
        if texts.ndim != 3 or len(texts) != len(names) or meta["ensemble"] not in ("embedding", "score"):
            raise ValueError(f"class_texts {texts.shape} for {len(names)} classes")
        views = int(meta["views"])
        return TextTowerSpace(dict(zip(names, texts, strict=True)), meta["ensemble"], views, dict(meta["about"]))
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ZslbenchError(f"{where}: its class space is damaged ({err})", "extract it again") from None
