"""Evaluation: extract video embeddings (cached, sharded under torchrun), score every split the
protocol names, audit compliance, account for every video, and write one result record per test
dataset. Embeddings from any other model come in through a features file (`evaluate_features`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from zslbench.core.errors import EXIT_FAILED, ZslbenchError
from zslbench.core.hashing import file_fingerprint
from zslbench.evaluation.embeddings_file import read_features
from zslbench.evaluation.metrics import class_distances, score_protocol, unusable_embedding
from zslbench.evaluation.records import (
    SCHEMA,
    claim_record,
    environment,
    incomplete_reason,
    maker,
    record_path,
    save_record,
)
from zslbench.models.checkpoint import training_summary
from zslbench.protocol.overlap import compute_overlap
from zslbench.protocol.spec import Protocol, load_protocol
from zslbench.text import TextEmbedder, load_embedder
from zslbench.text.class_vectors import embed_class_lists
from zslbench.text.vocab import ClassList
from zslbench.video.dataset import LoaderOptions

DEFAULT_FAILURE_BUDGET = 0.005  # share of a dataset's videos that may fail before a run is incomplete


@dataclass
class EvalConfig:
    weights: Path
    data: dict[str, Path]
    protocol: str | None = None  # default: the protocol the checkpoint was trained under
    model: str | None = None  # when given, must be the checkpoint's
    label: str | None = None  # results/<label>/...; default: the model name
    datasets: list[str] | None = None  # a subset of the protocol's test datasets
    results: Path = Path("results")
    batch_size: int = 8
    workers: int = 0
    device: str = "auto"
    failure_budget: float = DEFAULT_FAILURE_BUDGET
    loading: LoaderOptions = field(default_factory=LoaderOptions)  # decoder backend, pinned memory, prefetch
    overwrite: bool = False  # replace records that another model's weights made


@dataclass
class EvalOutcome:
    records: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """No record is incomplete (`results.incomplete_reason`)."""
        return not any(incomplete_reason(record) for _, record in self.records)

    @property
    def exit_code(self) -> int:
        return 0 if self.complete else EXIT_FAILED


class CheckpointModel:
    """A trained checkpoint, ready to embed a protocol's test datasets: videos through the
    VideoEncoder (cached, sharded under torchrun), or features files for a model of kind features."""

    def __init__(
        self,
        weights: Path,
        model: str | None,
        protocol: str | None,
        device: str = "auto",
        loading: LoaderOptions | None = None,
    ) -> None:
        from zslbench.core.distributed import setup
        from zslbench.evaluation.encoder import VideoEncoder, sampling_identity
        from zslbench.models import build_model, model_spec
        from zslbench.models.checkpoint import load_checkpoint, weights_sha256
        from zslbench.video.sampler import ClipSpec

        self.weights = Path(weights)
        self.state = load_checkpoint(weights)
        name = self.state["model"]["name"]
        if model and model != name:
            raise ZslbenchError(
                f"{weights} is a checkpoint of {name!r}, not {model!r}", f"pass --model {name} or another checkpoint"
            )
        self.protocol = _checkpoint_protocol(self.state, protocol)
        self.context = setup(device)
        self.clips = ClipSpec.from_protocol(self.protocol.data["clips"])
        self.is_features = self.state["model"].get("input") == "features"
        if self.is_features:  # a method over backbone features: --data names features files
            self.identity = {
                "model": {"name": name, "options": self.state["model"]["options"],
                          "weights_sha256": weights_sha256(self.state["state_dict"])},
                "backbone": self.state["backbone"],
            }  # fmt: skip
            return
        spec = model_spec(name)
        options = {**self.state["model"]["options"], "init": None}  # the checkpoint holds the weights
        module = build_model(name, self.state["model"]["embed_dim"], **options)
        module.load_state_dict(self.state["state_dict"])
        self.identity = {
            "model": {
                "name": name,
                "options": self.state["model"]["options"],
                "embed_dim": self.state["model"]["embed_dim"],
                "weights_sha256": weights_sha256(self.state["state_dict"]),
            },
            **sampling_identity(self.protocol.data["clips"], spec.mean, spec.std, (loading or LoaderOptions()).decoder),
        }
        self.encoder = VideoEncoder(module, self.identity, self.clips, spec.mean, spec.std, self.context, loading)

    def reading(self) -> dict[str, Any] | None:
        """How the last `embed`'s videos were read: decoder identity, videos per read mode, prepared data."""
        if self.is_features:
            return None
        return self.encoder.reading()

    def ignored(self) -> dict[str, Any] | None:
        """Manifest rows the last `embed` left out (repeated rows, labels of other datasets), and why."""
        return None if self.is_features else self.encoder.ignored

    def embed(self, test: ClassList, data: dict[str, Path], batch_size: int, workers: int, progress=None):
        """(records, embeddings or None per record, failure reason per record index); all ranks call it."""
        if self.is_features:
            from zslbench.training.on_features import embed_feature_file

            return embed_feature_file(self.state, self.protocol, test, data)
        return self.encoder.encode(test, data, batch_size, workers, progress)

    def close(self) -> None:
        from zslbench.core.distributed import teardown

        teardown(self.context)


def evaluate(config: EvalConfig, progress: Callable[[str, int, int], None] | None = None) -> EvalOutcome:
    """Evaluate a checkpoint on the protocol's test datasets (all ranks run this under torchrun)."""
    from zslbench.core.distributed import barrier

    started = time.perf_counter()
    _check_label(config.label)
    runner = CheckpointModel(config.weights, config.model, config.protocol, config.device, config.loading)
    try:
        protocol = runner.protocol
        tests = test_lists(protocol, config.datasets)
        made_by = maker(runner.state["model"]["name"], runner.identity)
        label = config.label or runner.state["model"]["name"]
        for test in tests:  # refuse before extracting, not after
            claim_record(record_path(config.results, label, protocol.name, protocol.version, test.name), made_by,
                         config.overwrite)  # fmt: skip
        embedder = load_embedder(protocol.embedding, word_norm=protocol.word_norm)
        outcome = EvalOutcome()
        for test in tests:
            t0 = time.perf_counter()
            records, vectors, failures = runner.embed(test, config.data, config.batch_size, config.workers, progress)
            if runner.context.is_main:
                record = _score_record(
                    protocol, test, embedder, records, vectors, failures, config, runner.state, runner.identity,
                    runner.clips.test_clips, {"extract_s": round(time.perf_counter() - t0, 3)}, started,
                    reading=runner.reading(), ignored=runner.ignored(),
                )  # fmt: skip
                outcome.records.append((save_record(record, config.results, config.overwrite), record))
            barrier(runner.context)
        return outcome
    finally:
        runner.close()


def evaluate_features(
    features: Path,
    protocol_ref: str | None,
    label: str | None = None,
    dataset: str | None = None,
    results: Path = Path("results"),
    overwrite: bool = False,
    failure_budget: float = DEFAULT_FAILURE_BUDGET,
) -> EvalOutcome:
    """Score precomputed video embeddings (an .npz with `embeddings` [N, D] and `labels` [N] class
    names; optional `training_classes`, `pretrained_on`, `model`) under a protocol."""
    started = time.perf_counter()
    _check_label(label)
    protocol = load_protocol(protocol_ref)
    embedder = load_embedder(protocol.embedding, word_norm=protocol.word_norm)
    data = read_features(features)
    embeddings, labels = data["embeddings"], data["labels"]
    test = _dataset_of(protocol, labels, dataset or (str(data["dataset"]) if "dataset" in data else None), features)
    (vectors,) = embed_class_lists([test], embedder)
    if embeddings.shape[1] != vectors.vectors.shape[1]:
        raise ZslbenchError(
            f"{features}: embeddings are {embeddings.shape[1]}-d but {protocol.embedding} class vectors are "
            f"{vectors.vectors.shape[1]}-d",
            "the embeddings must live in the protocol's class-vector space",
        )
    state = {
        "classes": [str(c) for c in data["training_classes"]] if "training_classes" in data else None,
        "pretrained_on": str(data["pretrained_on"]) if "pretrained_on" in data else None,
        "compliance": {},
        "model": {"name": str(data.get("model", features.stem)), "options": {}},
    }
    identity = {"source": "features", "file": str(features), "file_fingerprint": file_fingerprint(features)}
    records = [None] * len(labels)
    outcome = EvalOutcome()
    source = _FeatureConfig(label or state["model"]["name"], results, failure_budget)
    record = _score_record(
        protocol, test, embedder, records, list(embeddings), {}, source, state, identity, None,
        {"extract_s": 0.0}, started, labels=[str(x) for x in labels],
    )  # fmt: skip
    outcome.records.append((save_record(record, results, overwrite), record))
    return outcome


def _check_label(label: str | None) -> None:
    """An empty --name would silently become the model name; say so instead."""
    if label is not None and not label.strip():
        raise ZslbenchError("--name is empty", "give the results a name, or leave --name out to use the model's")


@dataclass
class _FeatureConfig:
    label: str
    results: Path
    failure_budget: float = DEFAULT_FAILURE_BUDGET


def _score_record(
    protocol: Protocol,
    test: ClassList,
    embedder: TextEmbedder,
    records: list,
    vectors: list,
    failures: dict[int, str],
    config,
    state: dict[str, Any],
    identity: dict[str, Any],
    clips_per_video: int | None,
    timing: dict[str, float],
    started: float,
    labels: list[str] | None = None,
    reading: dict[str, Any] | None = None,
    ignored: dict[str, Any] | None = None,
) -> dict[str, Any]:
    t0 = time.perf_counter()
    order = sorted(test.classes) if protocol.data["evaluation"]["class_order"] == "sorted" else list(test.classes)
    (class_vectors,) = embed_class_lists([ClassList(test.name, tuple(order), test.source)], embedder)
    labels = labels or [record.label for record in records]
    scored = [i for i, vector in enumerate(vectors) if vector is not None]
    unusable = {i: why for i in scored if (why := unusable_embedding(vectors[i]))}  # scored as misses
    index = {name: i for i, name in enumerate(order)}
    matrix = np.stack([vectors[i] for i in scored]) if scored else np.zeros((0, class_vectors.vectors.shape[1]))
    label_ids = np.array([index[labels[i]] for i in scored], dtype=np.int64)
    metrics = score_protocol(
        class_distances(matrix, class_vectors.vectors), label_ids, order, protocol.data["evaluation"]["splits"]
    )
    budget = getattr(config, "failure_budget", DEFAULT_FAILURE_BUDGET)
    failed = [
        {"index": i, "path": None if records[i] is None else str(records[i].path), "label": labels[i], "reason": why}
        for i, why in sorted({**failures, **unusable}.items())
    ]
    left_out = int(((reading or {}).get("prepared") or {}).get("left_out", 0))
    failed += [
        {"index": None, "path": None, "label": None, "reason": "undecodable: left out by `zslbench data prepare`"}
    ] * left_out
    expected = len(vectors) + left_out  # a prepared manifest lacks the videos preparing could not read
    return {
        "schema": SCHEMA,
        "kind": "zslbench-result",
        "model": {
            "label": config.label or state["model"]["name"],
            "name": state["model"]["name"],
            "options": state["model"].get("options", {}),
            "identity": identity,
            "checkpoint": str(getattr(config, "weights", "")) or None,
        },
        "protocol": protocol.describe(),
        "dataset": {"name": test.name, "classes": len(test), "sha256": test.sha256},
        "embedding": {"spec": protocol.embedding, "id": embedder.id},
        "metrics": metrics,
        "compliance": _compliance(state, test, protocol, embedder),
        "training": training_summary(state) if "settings" in state else None,  # None: a features file
        "data": {
            "expected": expected,
            "scored": len(scored),  # including unusable embeddings, scored as misses
            "unusable_embeddings": len(unusable),
            "failed": len(failed),
            "failures": failed,
            "clips_per_video": clips_per_video,
            "failure_budget": budget,
            "complete": len(failed) <= budget * expected,
            "reading": reading,
            "ignored": ignored,
        },
        **environment(),
        "timing": {
            **timing,
            "score_s": round(time.perf_counter() - t0, 4),
            "total_s": round(time.perf_counter() - started, 3),
        },
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _compliance(state: dict[str, Any], test: ClassList, protocol: Protocol, embedder: TextEmbedder) -> dict[str, Any]:
    """Eq. 3 for this test dataset: every training and pretraining class at distance >= tau."""
    from zslbench.models.checkpoint import pretraining_of

    verdict: dict[str, Any] = {"tau": protocol.tau, "dataset": test.name, "violations": []}
    training = state.get("classes")
    if training is None:
        return {**verdict, "verdict": "unknown", "why": "the model's training classes are not known"}
    status, name, pretraining = pretraining_of(state)
    if status == "unknown":
        return {
            **verdict,
            "verdict": "unknown",
            "why": "the initial weights' pretraining classes are unknown (declare them with --pretrained-on)",
        }
    checked = [("training", ClassList("training classes", tuple(training), "checkpoint"))]
    if status == "classes":
        checked.append(("pretraining", ClassList(name or "pretraining classes", pretraining, "checkpoint")))
    for role, classes in checked:
        table = compute_overlap(classes, [test], embedder)
        kept = table.kept(protocol.tau)
        verdict["violations"] += [
            {"role": role, "class": cls, "nearest": table.nearest[i], "distance": float(table.distance[i])}
            for i, cls in enumerate(classes.classes)
            if not kept[i]
        ]
    verdict["checked"] = [f"{role}: {classes.name} ({len(classes)} classes)" for role, classes in checked]
    verdict["verdict"] = "not_compliant" if verdict["violations"] else "compliant"
    return verdict


def _checkpoint_protocol(state: dict[str, Any], ref: str | None) -> Protocol:
    trained = state["protocol"]
    if ref is None:
        path = trained.get("path")
        ref = path if path and Path(path).is_file() else trained["name"]
    protocol = load_protocol(ref)
    if protocol.fingerprint != trained["fingerprint"]:
        raise ZslbenchError(
            f"the checkpoint was trained under {trained['name']} v{trained['version']} "
            f"(fingerprint {trained['fingerprint'][:12]}), not {protocol.name} v{protocol.version} "
            f"({protocol.fingerprint[:12]})",
            "evaluate under the protocol the model was trained with",
        )
    return protocol


def test_lists(protocol: Protocol, wanted: list[str] | None) -> list[ClassList]:
    tests = protocol.test_classes()
    if not wanted:
        return tests
    names = {t.name: t for t in tests}
    unknown = [w for w in wanted if w not in names]
    if unknown:
        raise ZslbenchError(
            f"{unknown[0]!r} is not a test dataset of {protocol.name}", f"choose from {', '.join(names)}"
        )
    return [names[w] for w in wanted]


def _dataset_of(protocol: Protocol, labels: np.ndarray, wanted: str | None, path: Path) -> ClassList:
    names = {str(label) for label in labels}
    tests = test_lists(protocol, [wanted] if wanted else None)
    fitting = [t for t in tests if names <= set(t.classes)]
    if len(fitting) == 1:
        return fitting[0]
    if not fitting:
        best = min(tests, key=lambda t: len(names - set(t.classes)))
        unknown = sorted(names - set(best.classes))
        raise ZslbenchError(
            f"{path}: {len(unknown)} label(s) are not classes of {best.name} or any test dataset of {protocol.name}, "
            f"e.g. {unknown[0]!r}",
            "labels must be the official class names of one of the protocol's test datasets",
        )
    raise ZslbenchError(f"{path}: the labels fit several test datasets", "name one with --dataset")
