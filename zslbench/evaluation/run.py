"""Evaluation: extract video embeddings (cached, sharded under torchrun), score every split the
protocol names, audit compliance, account for every video, and write one result record per test
dataset. Embeddings from any other model come in through a features file (`evaluate_features`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from zslbench.core.bounds import COUNT, SHARE, WORKERS
from zslbench.core.distributed import barrier
from zslbench.core.errors import ZslbenchError, named
from zslbench.core.hashing import file_fingerprint
from zslbench.core.paths import optional_path
from zslbench.evaluation.checkpoint_model import CheckpointModel, checkpoint_protocol
from zslbench.evaluation.class_space import ConditionedSpace, TextTowerSpace, WordVectorSpace, space_from_arrays
from zslbench.evaluation.dataset_record import DEFAULT_FAILURE_BUDGET, Embedded, Maker, record_and_distances
from zslbench.evaluation.embeddings_file import read_features
from zslbench.evaluation.official import FEATURES_KEY, official_count
from zslbench.evaluation.records import claim_record, incomplete_reason, maker, record_path
from zslbench.evaluation.samples import save_result
from zslbench.evaluation.video_text_run import VideoTextRunner, finetuned_runner
from zslbench.models.video_text.declared import Declared
from zslbench.models.video_text.detect import is_video_text, video_text_model_of
from zslbench.models.weights import resolve_weights
from zslbench.protocol.spec import Protocol, as_sets, load_protocol
from zslbench.text import load_embedder
from zslbench.text.vocab import ClassList
from zslbench.video.dataset import LoaderOptions
from zslbench.video.sources import check_data_names

# a video-text model's declarations, named as each caller gives them (`Declared` from Python)
IMAGE_TEXT = named("--image-text", "declared.image_text")
FINETUNED_ON = named("--finetuned-on", "declared.finetuned_on")
OPTION = named("--option", "options")
ALL_SPLIT = named("--set 'evaluation.splits=[{kind: all}]'", "sets={'evaluation.splits': [{'kind': 'all'}]}")


@dataclass
class EvalConfig:
    """What `evaluate()` is asked to do: which weights (a checkpoint or a video-text model's), where each
    test dataset's videos are, under which protocol, how to run, and where the records go (`results`).
    Comments on the fields say what each does."""

    # a Path once made, as are `data` and `results`; None: the zoo's verified weights for `model` (resolve_weights)
    weights: Path | str | None
    data: Mapping[str, Path | str]  # dataset name -> its manifest (or folder); only the test datasets' are read
    protocol: str | Protocol | None = None  # default: the protocol the checkpoint was trained under
    model: str | None = None  # when given, must be the checkpoint's
    label: str | None = None  # results/<label>/...; default: the model name
    datasets: list[str] | None = None  # a subset of the protocol's test datasets
    results: Path | str = Path("results")
    batch_size: int = 8
    workers: int = 0
    device: str = "auto"
    failure_budget: float = DEFAULT_FAILURE_BUDGET
    loading: LoaderOptions = field(default_factory=LoaderOptions)  # decoder backend, pinned memory, prefetch
    overwrite: bool = False  # replace records that another model's weights made
    log_samples: bool = False  # also write each record's per-video predictions (`samples.py`)
    options: dict[str, Any] = field(default_factory=dict)  # a video-text model's input and text options
    declared: Declared = field(default_factory=Declared)  # a video-text model's image-text and fine-tuning history
    limit: int | None = None  # only the first N videos of each test dataset: a quick look, marked incomplete
    # scoring settings changed now ("evaluation.metrics=[top1]", or {"evaluation.metrics": ["top1"]}),
    # over the protocol's (a checkpoint's own, when `protocol` is None); training settings may not change
    sets: Sequence[str] | Mapping[str, Any] = ()

    def __post_init__(self) -> None:
        """Paths may be given as text from Python: they become Paths here, once; `sets` become a tuple;
        sizes are checked as the CLI checks them (ZslbenchError naming the field)."""
        if not isinstance(self.data, Mapping):
            raise ZslbenchError("data is a mapping of dataset name to manifest", 'e.g. data={"ucf101": "ucf101.csv"}')
        self.data = {name: Path(path) for name, path in self.data.items()}
        self.weights, self.results = optional_path(self.weights), optional_path(self.results)
        self.sets = as_sets(self.sets)
        COUNT.check(self.batch_size, "batch_size")
        WORKERS.check(self.workers, "workers")
        SHARE.check(self.failure_budget, "failure_budget")
        if self.limit is not None:
            COUNT.check(self.limit, "limit")


@dataclass
class EvalOutcome:
    """What an evaluation wrote: (path, record) of each result record, one per test dataset scored
    (on rank 0; other torchrun ranks write none)."""

    records: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """No record is incomplete (`records.incomplete_reason`)."""
        return not any(incomplete_reason(record) for _, record in self.records)


def evaluate(config: EvalConfig, progress: Callable[[str, int, int], None] | None = None) -> EvalOutcome:
    """Evaluate a checkpoint on the protocol's test datasets (all ranks run this under torchrun).

    Every record path is claimed before any video is read, so a clash with another model's record
    fails fast (ZslbenchError) instead of after the extraction."""
    started = time.perf_counter()
    check_label(config.label)
    runner, weights = runner_for(config)
    try:
        protocol = runner.protocol
        check_limit(config.limit, protocol)
        tests = test_lists(protocol, config.datasets)
        check_data_names(config.data, protocol.dataset_names())
        label = config.label or runner.state["model"]["name"]
        identity = runner.identity if config.limit is None else {**runner.identity, "limit": config.limit}
        made_by = maker(runner.state["model"]["name"], identity, protocol.fingerprint)
        for test in tests:
            path = record_path(config.results, label, protocol.name, protocol.version, test.name)
            claim_record(path, made_by, config.overwrite)
        embedder = load_embedder(protocol.embedding, word_norm=protocol.word_norm)
        outcome = EvalOutcome()
        for test in tests:
            t0 = time.perf_counter()
            read = (config.data, config.batch_size, config.workers, progress, config.limit)
            records, vectors, failures = runner.embed(test, *read)
            if runner.context.is_main:
                embedded = Embedded(
                    records=records,
                    vectors=vectors,
                    failures=failures,
                    labels=[record.label for record in records],
                    reading=runner.reading(),
                    ignored=runner.ignored(),
                    clips_per_video=runner.clips.test_clips * runner.clips.test_crops,
                    limit=config.limit,
                )
                by = Maker(
                    label=label,
                    state=runner.state,
                    identity=identity,
                    checkpoint=str(weights),
                    failure_budget=config.failure_budget,
                    timing={"extract_s": round(time.perf_counter() - t0, 3)},
                    space=runner.space,
                    card=runner.card,
                    class_texts=runner.class_texts if isinstance(runner, VideoTextRunner) else None,
                )
                record, distances = record_and_distances(protocol, test, embedder, embedded, by, started)
                saved = save_result(record, embedded, distances, config.results, config.overwrite, config.log_samples)
                outcome.records.append((saved, record))
            barrier(runner.context)
        return outcome
    finally:
        runner.close()


def runner_for(config: EvalConfig) -> tuple[CheckpointModel | VideoTextRunner, Path]:
    """(runner, weights): a video-text model from its weights (under any protocol, the default one
    when none is given; from the zoo, with its declarations, without --weights), or a checkpoint
    trained under a protocol (a 3D CNN's, or a video-text model fine-tuned under the rule)."""
    state = checkpoint_state(config.weights)
    if config.sets:  # the protocol with the scoring settings changed, checked against the checkpoint's
        loaded = checkpoint_protocol(state, config.protocol, config.sets) if state else None
        config = replace(config, protocol=loaded or load_protocol(config.protocol, config.sets), sets=())
    model = config.model or (None if state else video_text_model_of(config.weights))
    if state is None and model and is_video_text(model):
        from zslbench.models.video_text.zoo_entry import declarations, zoo_declarations
        from zslbench.models.weights import find, verified_path
        from zslbench.protocol.spec import DEFAULT_PROTOCOL

        weights, declared = config.weights, config.declared
        if weights is None:
            entry = find(model)
            weights = verified_path(entry)
            declared = declared if declared.given else declarations(entry)
        elif not declared.given:  # a zoo entry's own folder keeps its declarations
            declared = zoo_declarations(weights)
        protocol = load_protocol(config.protocol if config.protocol is not None else DEFAULT_PROTOCOL)
        options = (config.options, protocol, declared, config.device, config.loading)
        return VideoTextRunner(model, weights, *options), weights
    if state is not None and state["model"].get("kind") == "video_text":
        return _finetuned(config, state, model), config.weights
    if config.options:
        raise ZslbenchError(
            f"{OPTION} {next(iter(config.options))} is for video-text models given by their weights",
            "a checkpoint holds its model's options",
        )
    if config.declared.given:
        raise ZslbenchError(
            f"{named('--image-text and --finetuned-on', 'declared (image_text, finetuned_on)')} declare a video-text "
            "model's history",
            f"a checkpoint records its own training classes (and {named('--pretrained-on', 'pretrained_on')} "
            "at training)",
        )
    weights = config.weights if config.weights is not None else resolve_weights(model, config.protocol)
    return CheckpointModel(weights, model, config.protocol, config.device, config.loading, state=state), weights


def _finetuned(config: EvalConfig, state: dict[str, Any], model: str | None) -> VideoTextRunner:
    """A video-text model zslbench fine-tuned: its options are the checkpoint's, except `--option
    init=PATH` where its --init weights now live (checked by content hash); its training classes are
    the checkpoint's, and its image-text pretraining may be declared now if training did not."""
    name = state["model"]["name"]
    if model and model != name:
        raise ZslbenchError(
            f"{config.weights} is a checkpoint of {name!r}, not {model!r}",
            f"pass {named(f'--model {name}', f'model={name!r}')}",
        )
    if other := sorted(set(config.options) - {"init"}):
        raise ZslbenchError(
            f"{OPTION} {other[0]}: a checkpoint holds its model's options",
            f"only {named('--option init=PATH', 'options={init: PATH}')} applies: where the run's initial "
            "weights are now (the same files)",
        )
    declared = config.declared
    if declared.finetuned_on is not None:
        raise ZslbenchError(
            f"{FINETUNED_ON}: the checkpoint records the classes it was fine-tuned on", f"drop {FINETUNED_ON}"
        )
    known = state["video_text"].get("image_text")
    if declared.image_text is not None and known is not None and declared.image_text != known:
        raise ZslbenchError(
            f"{IMAGE_TEXT}: the checkpoint declares its image-text pretraining already ({known!r})",
            f"drop {IMAGE_TEXT}",
        )
    init = Path(str(config.options["init"])) if config.options.get("init") else None
    where = (config.weights, state, config.protocol, config.device, config.loading)
    return finetuned_runner(*where, init=init, image_text=declared.image_text)


def checkpoint_state(weights: Path | None) -> dict[str, Any] | None:
    """The checkpoint `weights` names when it is a zslbench checkpoint (a run folder, checkpoint.pt or
    an export), read once; None for anything else (an HF folder, a state dict file, nothing)."""
    from zslbench.models.checkpoint import load_checkpoint

    if weights is None or (Path(weights) / "config.json").is_file():
        return None
    try:
        return load_checkpoint(weights)
    except ZslbenchError:
        return None


def evaluate_features(
    features: Path | str,
    protocol_ref: str | Protocol | None,
    label: str | None = None,
    dataset: str | None = None,
    results: Path | str = Path("results"),
    overwrite: bool = False,
    failure_budget: float = DEFAULT_FAILURE_BUDGET,
    log_samples: bool = False,
    declared: Declared | None = None,
) -> EvalOutcome:
    """Score precomputed video embeddings (an .npz with `embeddings` [N, D] and `labels` [N] class
    names; optional `training_classes`, `pretrained_on`, `model`) under a protocol; `log_samples`:
    also write the per-video predictions (`samples.save_result`). `declared`: a video-text model's
    history, in place of what its features file declares (refused for any other features file)."""
    started = time.perf_counter()
    features, results = Path(features), Path(results)
    check_label(label)
    protocol = load_protocol(protocol_ref)
    embedder = load_embedder(protocol.embedding, word_norm=protocol.word_norm)
    data = read_features(features)
    check_extracted_under(features, data, protocol)
    embeddings, labels = data["embeddings"], data["labels"]
    wanted = dataset or (str(data["dataset"]) if "dataset" in data else None)
    test = _dataset_of(protocol, labels, wanted, features)
    space = space_from_arrays(data, str(features)) or WordVectorSpace(embedder)
    check_width(features, embeddings, space, test, protocol)
    state = {
        "classes": [str(c) for c in data["training_classes"]] if "training_classes" in data else None,
        "pretrained_on": str(data["pretrained_on"]) if "pretrained_on" in data else None,
        "compliance": {},
        "model": {"name": str(data.get("model", features.stem)), "options": {}},
    }
    given = declared is not None and declared.given
    if given and "class_space" not in data:
        raise ZslbenchError(
            f"{features} holds no video-text model's embeddings: {IMAGE_TEXT} and {FINETUNED_ON} do not apply",
            "a features file declares its training classes (training_classes) and pretraining (pretrained_on)",
        )
    if "class_space" in data:  # a video-text model's: its declarations, given now or as extracted
        if not given:
            declared = Declared(*(str(data[k]) if k in data else None for k in ("image_text", "finetuned_on")))
        state = {**state, **declared.state()}
    identity = {"source": "features", "file": str(features), "file_fingerprint": file_fingerprint(features)}
    embedded = Embedded(
        records=[None] * len(labels),
        vectors=list(embeddings),
        failures={},
        labels=list(map(str, labels)),
        official=data.get(FEATURES_KEY),  # which videos the official splits test, when it says
    )
    card = json.loads(str(data["card"])) if "card" in data else None
    by = Maker(label or state["model"]["name"], state, identity, None, failure_budget, {"extract_s": 0.0}, space, card)
    record, distances = record_and_distances(protocol, test, embedder, embedded, by, started)
    return EvalOutcome([(save_result(record, embedded, distances, results, overwrite, log_samples), record)])


def check_extracted_under(features: Path, data: dict[str, Any], protocol: Protocol) -> None:
    """A features file `zslbench extract` wrote is scored only under a protocol with its training
    settings (its `training_fingerprint`; older files: its whole fingerprint), so splits and metrics may
    change; a file from elsewhere names no protocol."""
    if "protocol_training_fingerprint" in data:
        extracted_under, ours = str(data["protocol_training_fingerprint"]), protocol.training_fingerprint
    elif "protocol_fingerprint" in data:
        extracted_under, ours = str(data["protocol_fingerprint"]), protocol.fingerprint
    else:
        return
    if extracted_under != ours:
        raise ZslbenchError(
            f"{features} was extracted under protocol {'training ' if ours != protocol.fingerprint else ''}"
            f"fingerprint {extracted_under[:12]}, not {protocol.name} "
            f"v{protocol.version} ({ours[:12]})",
            "score it under the protocol it was extracted with; only evaluation.* and published_as may change",
        )


def check_width(path: Path, embeddings: np.ndarray, space: Any, test: ClassList, protocol: Protocol) -> None:
    """The embeddings fit the space they are scored in (the protocol's class vectors, or the
    video-text model's text space the file carries, whose classes must include the dataset's)."""
    if isinstance(space, ConditionedSpace | TextTowerSpace):
        known = set(space.classes) if isinstance(space, ConditionedSpace) else set(space.texts)
        if missing := sorted(set(test.classes) - known):
            raise ZslbenchError(f"{path}: its class embeddings lack {missing[0]!r} of {test.name}", "extract it again")
        where = "the model's class embeddings need"
    else:
        where = f"{protocol.embedding} class vectors are"
    if embeddings.shape[1] != space.width(test):
        raise ZslbenchError(
            f"{path}: embeddings are {embeddings.shape[1]}-d but {where} {space.width(test)}-d",
            "the embeddings must live in the space they are scored in (extract them again)",
        )


def check_limit(limit: int | None, protocol: Protocol) -> None:
    """`--limit` reads the first N videos: an official split needs every video of its test lists."""
    if limit is not None and official_count(protocol.data["evaluation"]["splits"]):
        raise ZslbenchError(
            f"{named(f'--limit {limit}', f'limit={limit}')} would leave out videos that {protocol.name}'s "
            "official splits list",
            f"add {ALL_SPLIT} for a quick look, or drop {named('--limit', 'limit')}",
        )


def check_label(label: str | None) -> None:
    """An empty --name would silently become the model name; say so instead."""
    if label is not None and not label.strip():
        raise ZslbenchError(
            f"{named('--name', 'label')} is empty",
            f"give the results a name, or leave {named('--name', 'label')} out to use the model's",
        )


def test_lists(protocol: Protocol, wanted: list[str] | None) -> list[ClassList]:
    """The protocol's test datasets, or the `wanted` subset of them (ZslbenchError for another name)."""
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
    raise ZslbenchError(
        f"{path}: the labels fit several test datasets", f"name one with {named('--dataset', 'dataset')}"
    )
