"""The metric registry: what a protocol's `evaluation.metrics` may name, how each metric is computed
from one split's ranking, and how reports label and order it.

A metric is a function `(rank, labels, n_classes) -> percent` of one split (see `register_metric`).
Built-ins: top1, top5, mean_class_accuracy. Other packages add metrics through the `zslbench.metrics`
entry-point group, naming a function that they pass to `register_metric`.

The generalized zero-shot metrics gzsl_seen, gzsl_unseen and gzsl_h are registered too (so records,
tables, baselines and published numbers can name them), but they need the seen / unseen partition of
the test classes that one split's ranking does not carry: the `gzsl` evaluation split computes them
(`gzsl_scores`), and a protocol's `evaluation.metrics` may not list them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from zslbench.core.errors import ZslbenchError
from zslbench.core.registry import Registry

# (rank int64 [videos], labels int [videos] in [0, n_classes), n_classes) -> percent in [0, 100]
MetricFunction = Callable[[np.ndarray, np.ndarray, int], float]
BUILTIN_METRICS = ("top1", "top5", "mean_class_accuracy")  # a protocol's default; reports list them first
GZSL_METRICS = ("gzsl_seen", "gzsl_unseen", "gzsl_h")  # computed by the `gzsl` split; reports list them next


@dataclass(frozen=True)
class Metric:
    """A registered metric: its function plus the words reports use for it."""

    name: str  # what protocols, records and `--metric` say: "mean_class_accuracy"
    function: MetricFunction
    label: str  # for people: "mean class accuracy"
    short: str  # for narrow columns: "mca"
    higher_is_better: bool = True
    origin: str = "zslbench"


METRICS: Registry[MetricFunction] = Registry("metric", entry_point_group="zslbench.metrics")
_SPECS: dict[str, Metric] = {}  # name -> its Metric, filled by `register_metric`


def register_metric(
    name: str,
    function: MetricFunction | None = None,
    *,
    label: str,
    short: str,
    higher_is_better: bool = True,
) -> Any:
    """Register `function(rank, labels, n_classes) -> float` as metric `name`; without `function`,
    a decorator. The function sees one split that has at least one video:

    - `rank`: int64 [videos], how many of the split's classes rank before the video's own class
      (0: a top-1 hit; ties go to the class listed first). A video without an embedding direction
      has the int64 maximum, a miss at every k.
    - `labels`: int [videos], each video's class as an index into the split's classes.
    - `n_classes`: how many classes the split ranks (a class may have no videos).

    It returns a percent (float). A split with no videos scores NaN without calling it.
    """

    def decorate(func: MetricFunction) -> MetricFunction:
        origin = func.__module__.split(".")[0]
        where = f"{func.__module__}:{func.__qualname__}"
        METRICS.add(name, func, origin=origin, target_path=where)
        _SPECS[name] = Metric(name, func, label, short, higher_is_better, origin)
        return func

    return decorate if function is None else decorate(function)


def metric(name: str) -> Metric:
    """A registered metric; an unknown name is a one-line error with suggestions, and a plugin entry
    point that names no `register_metric` function of that name is an error naming the plugin."""
    function = METRICS.get(name)
    spec = _SPECS.get(name)
    if spec is None or spec.function is not function:
        entry = METRICS.entry(name)
        raise ZslbenchError(
            f"{entry.describe()} is not a metric registered under that name",
            f"the entry point must name a function passed to register_metric({name!r}, ...); {entry.fix_hint()}",
        )
    return spec


def metric_sort_key(name: str) -> tuple[int, str]:
    """Reports' metric order: the built-ins in their order, the GZSL metrics in theirs, then the others
    by name."""
    ordered = (*BUILTIN_METRICS, *GZSL_METRICS)
    return (ordered.index(name) if name in ordered else len(ordered), name)


def metric_names() -> list[str]:
    """Every registered metric name (plugins included), in reports' order."""
    return sorted(METRICS.names(), key=metric_sort_key)


def metric_words(name: str) -> tuple[str, str]:
    """(label, short) of a metric for reports; a metric that is not installed (a record made with a
    plugin since removed) or does not load is shown by its name."""
    try:
        spec = metric(name)
    except ZslbenchError:
        return name, name
    return spec.label, spec.short


def record_metrics(record: dict[str, Any]) -> list[str]:
    """The metrics a result record holds, in its protocol's order."""
    resolved = record.get("protocol", {}).get("resolved", {})
    return list(resolved.get("evaluation", {}).get("metrics", BUILTIN_METRICS))


class _RegisteredNames(Sequence[str]):
    """The registered metric names, read at each use, for a schema's `choices`: a metric registered
    after the schema was built (a plugin, a test) is accepted too."""

    def __getitem__(self, index: Any) -> Any:
        return metric_names()[index]

    def __len__(self) -> int:
        return len(metric_names())

    def __iter__(self) -> Iterator[str]:
        return iter(metric_names())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in METRICS

    def __repr__(self) -> str:
        return f"registered metrics {metric_names()}"


def metric_choices() -> Sequence[str]:
    """A live view of the registered metric names, for `Field(str, choices=metric_choices())`."""
    return _RegisteredNames()


def per_class_top1(rank: np.ndarray, labels: np.ndarray, n_classes: int) -> dict[int, float]:
    """Class index -> top-1 percent of its videos, for the classes that have videos (in index order)."""
    videos = np.bincount(labels, minlength=n_classes)
    correct = np.bincount(labels, weights=rank == 0, minlength=n_classes)
    return {i: float(100 * (correct[i] / videos[i])) for i in range(n_classes) if videos[i]}


@register_metric("top1", label="top-1", short="top1")
def top1(rank: np.ndarray, labels: np.ndarray, n_classes: int) -> float:
    """Percent of videos whose nearest class is their own."""
    return float(100 * np.mean(rank == 0))


@register_metric("top5", label="top-5", short="top5")
def top5(rank: np.ndarray, labels: np.ndarray, n_classes: int) -> float:
    """Percent of videos whose own class is among the 5 nearest."""
    return float(100 * np.mean(rank < 5))


@register_metric("mean_class_accuracy", label="mean class accuracy", short="mca")
def mean_class_accuracy(rank: np.ndarray, labels: np.ndarray, n_classes: int) -> float:
    """Mean over the classes that have videos of their videos' top-1."""
    per_class = per_class_top1(rank, labels, n_classes)
    return float(np.mean(list(per_class.values()))) if per_class else float("nan")


def harmonic_mean(seen: float, unseen: float) -> float:
    """H = 2su / (s + u) of two percents, the generalized zero-shot summary (Xian et al., "Zero-shot
    learning - the good, the bad and the ugly", CVPR 2017, Sec. 4.3; reported by TruZe, Gowda et al.,
    GCPR 2021): high only when both are. 0 when both are 0; NaN when either is NaN (a part without
    videos)."""
    if np.isnan(seen) or np.isnan(unseen):
        return float("nan")
    return float(2 * seen * unseen / (seen + unseen)) if seen + unseen else 0.0


def gzsl_scores(rank: np.ndarray, labels: np.ndarray, seen: np.ndarray) -> dict[str, float]:
    """The generalized zero-shot metrics of one ranking over *all* of a dataset's classes.

    `rank`: int64 [videos], how many classes rank before each video's own (as `register_metric`);
    `labels`: int [videos], class indices; `seen`: bool [classes], True for the test classes that
    overlap the training source. gzsl_seen / gzsl_unseen: top-1 percent of the seen / unseen classes'
    videos (NaN for a part without videos); gzsl_h: their harmonic mean (`harmonic_mean`).
    """
    seen_video = np.asarray(seen, dtype=bool)[np.asarray(labels)]
    hits = np.asarray(rank) == 0
    s = float(100 * hits[seen_video].mean()) if seen_video.any() else float("nan")
    u = float(100 * hits[~seen_video].mean()) if (~seen_video).any() else float("nan")
    return {"gzsl_seen": s, "gzsl_unseen": u, "gzsl_h": harmonic_mean(s, u)}


def _gzsl_only(name: str) -> float:
    """What a GZSL metric's registered function does: one split's ranking lacks the seen / unseen
    partition, so it refuses to be used as an ordinary metric (the `gzsl` split computes it)."""
    raise ZslbenchError(
        f"metric {name!r} needs the seen / unseen partition of the test classes",
        "add `{kind: gzsl}` to the protocol's evaluation.splits instead of listing it in evaluation.metrics",
    )


@register_metric("gzsl_seen", label="GZSL seen top-1", short="gzsl_s")
def gzsl_seen(rank: np.ndarray, labels: np.ndarray, n_classes: int) -> float:
    """Top-1 of the seen test classes' videos ranked against all classes (see `gzsl_scores`)."""
    return _gzsl_only("gzsl_seen")


@register_metric("gzsl_unseen", label="GZSL unseen top-1", short="gzsl_u")
def gzsl_unseen(rank: np.ndarray, labels: np.ndarray, n_classes: int) -> float:
    """Top-1 of the unseen test classes' videos ranked against all classes (see `gzsl_scores`)."""
    return _gzsl_only("gzsl_unseen")


@register_metric("gzsl_h", label="GZSL harmonic mean", short="gzsl_h")
def gzsl_h(rank: np.ndarray, labels: np.ndarray, n_classes: int) -> float:
    """The harmonic mean of gzsl_seen and gzsl_unseen (see `gzsl_scores`, `harmonic_mean`)."""
    return _gzsl_only("gzsl_h")
