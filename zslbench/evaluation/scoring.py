"""Zero-shot scoring: nearest class vector by cosine distance, top-k and mean per-class accuracy,
the reference implementation's seeded half-class splits, seeded class subsets of any size, and the
datasets' official test splits.

All splits are scored from one distance matrix: a split selects rows (its classes' videos, or an
official split's test videos) and columns (its classes), the same ranking the reference gets from a
scipy cdist per split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from zslbench.metrics import BUILTIN_METRICS, gzsl_scores, metric, per_class_top1


def half_class_splits(n_classes: int, repeats: int = 10, first_seed: int = 0) -> list[np.ndarray]:
    """The reference's splits: for seed k, `np.random.seed(k); np.random.permutation(C)[:C // 2]`."""
    return class_subsets(n_classes, n_classes // 2, repeats, first_seed)


def class_subsets(n_classes: int, size: int, repeats: int, first_seed: int = 0) -> list[np.ndarray]:
    """Seeded draws of `size` of `n_classes` class indices, the reference's rule for any size: for seed k
    in first_seed .. first_seed + repeats - 1, `np.random.seed(k); np.random.permutation(C)[:size]`, so a
    draw of C // 2 is the reference's half (Brattoli et al. 2020, Sec. 4) and a draw of 160 of
    Kinetics-600's 220 new classes is an ER-ZSAR-style split (Chen & Huang 2021) from a known seed.

    Uses the legacy global generator on purpose (its exact stream), restoring its state afterwards.
    Raises ValueError when size is not in 0..n_classes."""
    if not 0 <= size <= n_classes:
        raise ValueError(f"cannot draw {size} of {n_classes} classes")
    saved = np.random.get_state()
    try:
        splits = []
        for seed in range(first_seed, first_seed + repeats):
            np.random.seed(seed)
            splits.append(np.random.permutation(n_classes)[:size])
        return splits
    finally:
        np.random.set_state(saved)


@dataclass(frozen=True)
class Selection:
    """What one split scores of the distance matrix [videos, classes]: `rows`, bool [videos], its
    videos (None: every video of its classes); `classes`, int indices of its columns (None: all)."""

    rows: np.ndarray | None = None
    classes: np.ndarray | None = None


@dataclass(frozen=True)
class SplitScore:
    """One split's scores: metric -> percent (NaN without videos), class index -> top-1 percent, videos scored."""

    metrics: dict[str, float]  # metric name -> percent (NaN for a split without videos), in the order asked
    per_class: dict[int, float]  # class index -> top-1 of its videos
    videos: int


def unusable_embedding(vector: np.ndarray) -> str | None:
    """Why a video embedding has no direction to score, or None when it has one.

    A zero or non-finite vector gives NaN cosine distances, and a ranking that trusts NaN comparisons
    counts it as a hit (a collapsed model scoring 100). Such a video is a miss in every metric and a
    failed video in the record's accounting.
    """
    vector = np.asarray(vector, dtype=np.float64)
    if not np.all(np.isfinite(vector)):
        return "embedding is not finite (NaN or inf)"
    if not np.any(vector):
        return "embedding is all zeros (no direction to score)"
    return None


def class_distances(embeddings: np.ndarray, class_vectors: np.ndarray) -> np.ndarray:
    """Cosine distance of every video embedding to every class vector, float64 [videos, classes].

    The same formula as `overlap.cosine_distances` (scipy's cdist), computed row by row as a stack of
    vector-matrix products: a video's distances do not depend on which other videos are scored (a
    failed video or a torchrun shard changes nothing else), and it is 3x faster than einsum here.
    Bitwise-equal class vectors are computed once and share their column, so their distances tie
    exactly (a BLAS product can differ in the last bit by column position) and the tie rule holds.

    A video embedding with no direction (`unusable_embedding`) gets a row of NaN, which `score`
    counts as a miss. Raises ValueError for such a class vector: a class must have a direction.
    """
    videos = np.asarray(embeddings, dtype=np.float64)
    classes = np.asarray(class_vectors, dtype=np.float64)
    for i, row in enumerate(classes):
        if why := unusable_embedding(row):
            raise ValueError(f"class vector {i}: {why}")
    if not len(videos):
        return np.zeros((0, len(classes)))
    unusable = ~np.isfinite(videos).all(axis=1) | ~videos.any(axis=1)  # `unusable_embedding`, for all rows at once
    videos = _power_of_two_scaled(np.where(unusable[:, None], 1.0, videos))  # a stand-in row; NaN below
    unique, column = np.unique(_power_of_two_scaled(classes), axis=0, return_inverse=True)
    dots = (videos[:, None, :] @ unique.T)[:, 0, :]
    norms = np.sqrt(np.einsum("ik,ik->i", videos, videos))[:, None] * np.sqrt(np.einsum("jk,jk->j", unique, unique))
    distances = np.clip(1.0 - dots / norms, 0.0, 2.0)[:, column.reshape(-1)]
    distances[unusable] = np.nan
    return distances


def _power_of_two_scaled(rows: np.ndarray) -> np.ndarray:
    """Each row times the power of two that brings its largest magnitude into [0.5, 1).

    Cosine distance ignores scale, and a power of two scales exactly, so ordinary rows give
    bit-identical distances; rows near float64's limits (1e200, 1e-170, denormals) no longer
    overflow or underflow when squared, which made them all-ties (a hit for the first class) or NaN.
    """
    largest = np.max(np.abs(rows), axis=1, keepdims=True) if rows.size else np.ones((len(rows), 1))
    _, exponent = np.frexp(np.where(largest > 0, largest, 1.0))
    return np.ldexp(rows, -exponent)


def score(
    distances: np.ndarray,
    labels: np.ndarray,
    classes: Sequence[int] | None = None,
    metrics: Sequence[str] = BUILTIN_METRICS,
) -> SplitScore:
    """The registered `metrics` over `classes` (all when None): only those classes' videos, ranked
    against those classes only. Ties go to the class listed first, as a stable argsort would; a
    video whose distances are NaN (no direction, see `class_distances`) is a miss at every k."""
    functions = {name: metric(name).function for name in metrics}
    rank, truth, classes = split_ranks(distances, labels, classes)
    per_class = {int(classes[i]): acc for i, acc in per_class_top1(rank, truth, len(classes)).items()}
    return SplitScore(
        metrics={
            name: function(rank, truth, len(classes)) if len(rank) else float("nan")
            for name, function in functions.items()
        },
        per_class=per_class,
        videos=len(rank),
    )


def split_ranks(
    distances: np.ndarray, labels: np.ndarray, classes: Sequence[int] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rank, truth, classes) of one split, what metric functions score.

    rank: int64 [videos of `classes`], how many of `classes` rank before the video's own (ties go to
    the class listed first; NaN distances give the int64 maximum, a miss at every k). truth: int
    [videos], each video's class as an index into `classes`. classes: the split's class indices
    into the columns of `distances` [videos, all classes].
    """
    labels = np.asarray(labels)
    if classes is None:
        classes = np.arange(distances.shape[1])
        rows, sub, truth = np.arange(len(labels)), distances, labels
    else:
        classes = np.asarray(classes)
        column = np.full(distances.shape[1], -1)
        column[classes] = np.arange(len(classes))
        rows = np.flatnonzero(column[labels] >= 0)
        sub = distances[np.ix_(rows, classes)]
        truth = column[labels[rows]]
    own = sub[np.arange(len(rows)), truth][:, None]
    earlier = np.arange(len(classes))[None, :] < truth[:, None]
    rank = ((sub < own) | ((sub == own) & earlier)).sum(axis=1)
    rank[np.isnan(own[:, 0])] = np.iinfo(rank.dtype).max  # no direction (NaN distances): a miss at every k
    return rank, truth, classes


def summarise(values: Sequence[float]) -> dict[str, Any]:
    """Mean and (population, as the reference's np.std) standard deviation of per-split values."""
    array = np.asarray(values, dtype=np.float64)
    return {"mean": float(array.mean()), "std": float(array.std()), "values": [float(v) for v in array]}


def score_protocol(
    distances: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    splits: Sequence[dict[str, Any]],
    metrics: Sequence[str] = BUILTIN_METRICS,
    seen: np.ndarray | None = None,
    official: Sequence[Selection] | None = None,
) -> dict[str, Any]:
    """Every split the protocol names, scored with the metrics it names (`evaluation.metrics`, in
    that order), from one distance matrix [videos, classes]. `labels` index `class_names`, which are
    in the protocol's class order (the seeded permutations index that order).

    `seen`: bool [classes], the test-side partition (protocol/test_side.py: True for a class within tau
    of a source class); the `unseen` and `gzsl` splits need it (a ValueError without it).
    `official`: the dataset's official splits 1, 2, ... as selections of the matrix
    (evaluation/official.py); the `official` split needs at least its `repeats` of them (else ValueError)."""
    out: dict[str, Any] = {}
    metrics = list(metrics)
    for split in splits:
        kind = split["kind"]
        if kind in ("random_half", "random_subset"):  # the second names its `classes` per draw
            out[kind] = _random_half(distances, labels, len(class_names), split, metrics)
        elif kind == "official":
            if official is None or len(official) < split["repeats"]:
                raise ValueError(f"the 'official' split needs the dataset's first {split['repeats']} official splits")
            chosen = official[: split["repeats"]]
            out[kind] = _repeated(distances, labels, chosen, metrics)
            out[kind]["classes_per_split"] = [len(class_names) if s.classes is None else len(s.classes) for s in chosen]
        elif kind == "all":
            out[kind] = _on_classes(distances, labels, class_names, None, metrics)
        elif seen is None or len(seen) != len(class_names):
            raise ValueError(f"the {kind!r} split needs the seen / unseen partition of the {len(class_names)} classes")
        elif kind == "unseen":
            unseen = np.flatnonzero(~np.asarray(seen, dtype=bool))
            scored = _on_classes(distances, labels, class_names, unseen, metrics)
            out[kind] = {**scored, "seen_classes": len(class_names) - len(unseen)}
        else:
            out[kind] = _gzsl(distances, labels, class_names, np.asarray(seen, dtype=bool))
    return out


def _random_half(
    distances: np.ndarray, labels: np.ndarray, n_classes: int, split: dict[str, Any], metrics: list[str]
) -> dict[str, Any]:
    """Evaluation protocol 1 (Brattoli et al. 2020, Sec. 4): `repeats` seeded random halves, mean and std;
    `random_subset` is the same with `classes` classes per draw."""
    size = split.get("classes") or n_classes // 2
    subsets = class_subsets(n_classes, size, split["repeats"], split["first_seed"])
    scored = _repeated(distances, labels, [Selection(classes=s) for s in subsets], metrics)
    return {"repeats": split["repeats"], "first_seed": split["first_seed"], "classes_per_split": size, **scored}


def _repeated(
    distances: np.ndarray, labels: np.ndarray, selections: Sequence[Selection], metrics: list[str]
) -> dict[str, Any]:
    """Each selection scored on its own (its videos ranked against its classes), then each metric's
    mean and std over them, as `_random_half` reports its halves."""
    scores = []
    for chosen in selections:
        rows = np.ones(len(labels), dtype=bool) if chosen.rows is None else np.asarray(chosen.rows, dtype=bool)
        scores.append(score(distances[rows], np.asarray(labels)[rows], chosen.classes, metrics))
    return {
        "repeats": len(selections),
        **{m: summarise([s.metrics[m] for s in scores]) for m in metrics},
        "videos_per_split": [s.videos for s in scores],
    }


def _on_classes(
    distances: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    classes: np.ndarray | None,
    metrics: list[str],
) -> dict[str, Any]:
    """One split over `classes` (indices; None: all, evaluation protocol 2 of Brattoli et al. 2020), its
    videos ranked against those classes only: the metrics, the class and video counts, per-class top-1."""
    full = score(distances, labels, classes, metrics=metrics)
    return {
        **full.metrics,
        "classes": len(class_names) if classes is None else len(classes),
        "videos": full.videos,
        "per_class": {class_names[i]: acc for i, acc in sorted(full.per_class.items())},
    }


def _gzsl(distances: np.ndarray, labels: np.ndarray, class_names: Sequence[str], seen: np.ndarray) -> dict[str, Any]:
    """Generalized zero-shot (Xian et al., CVPR 2017, Sec. 4.3; TruZe, Gowda et al., GCPR 2021): every
    video ranked against *all* classes; top-1 of the seen classes' videos, of the unseen classes'
    videos, and their harmonic mean (`metrics.gzsl_scores`), with the partition's sizes."""
    rank, truth, _ = split_ranks(distances, labels)
    seen_videos = int(seen[truth].sum()) if len(truth) else 0
    return {
        **gzsl_scores(rank, truth, seen),
        "classes": len(class_names),
        "seen_classes": int(seen.sum()),
        "unseen_classes": int((~seen).sum()),
        "seen_videos": seen_videos,
        "unseen_videos": len(truth) - seen_videos,
        "seen": [name for name, s in zip(class_names, seen, strict=True) if s],
    }
