"""What an evaluation would do, without reading a video or building a network (`eval --dry-run`).

The same checks as the run itself come first (the checkpoint's protocol and its training fingerprint,
the data names, `--limit` against official splits), so a dry run that passes says the run will start.
"""

from __future__ import annotations

from typing import Any

from zslbench.core.distributed import resolve_device
from zslbench.core.errors import ZslbenchError, named
from zslbench.evaluation.checkpoint_model import checkpoint_protocol
from zslbench.evaluation.official import official_count
from zslbench.evaluation.records import record_path
from zslbench.evaluation.run import EvalConfig, check_label, check_limit, checkpoint_state, test_lists
from zslbench.models import model_spec
from zslbench.models.video_text.detect import video_text_model_of
from zslbench.protocol.spec import DEFAULT_PROTOCOL, Protocol, load_protocol
from zslbench.video.sampler import ClipSpec
from zslbench.video.sources import check_data_names, data_source, select_videos


def eval_plan(config: EvalConfig) -> dict[str, Any]:
    """{"model", "weights", "protocol", "datasets", ...}: the resolved protocol (fingerprints, what was
    changed, its splits and metrics, its clips), the model and weights, and per test dataset its
    classes, where its videos come from, how many it has and the record it would write.

    Raises the ZslbenchError the run would raise first: a checkpoint of another model or of another
    protocol's training settings, an unknown model, a device this machine lacks, an unknown dataset,
    `limit` under official splits, a manifest without the dataset's classes. Not checked: whether a
    record another model made is in the way (that needs the weights' hash: the run says so at once)."""
    check_label(config.label)
    state = checkpoint_state(config.weights)
    resolve_device(config.device)
    if state is not None:
        protocol, model = checkpoint_protocol(state, config.protocol, config.sets), state["model"]["name"]
        if config.model and config.model != model:
            hint = f"pass {named(f'--model {model}', f'model={model!r}')}"
            raise ZslbenchError(f"{config.weights} is a checkpoint of {model!r}, not {config.model!r}", hint)
        model_spec(model)  # an unknown model (a plugin not installed here) is refused as the run refuses it
    else:
        model = config.model or video_text_model_of(config.weights)
        protocol = load_protocol(config.protocol if config.protocol is not None else DEFAULT_PROTOCOL, config.sets)
    check_limit(config.limit, protocol)
    tests = test_lists(protocol, config.datasets)
    check_data_names(config.data, protocol.dataset_names())
    clips = ClipSpec.from_protocol(protocol.data["clips"])
    label = config.label or model or "model"
    datasets = []
    for test in tests:
        chosen = select_videos(test, config.data, config.loading.decoder, clips)
        videos = len(chosen.manifest)
        datasets.append(
            {
                "name": test.name,
                "classes": len(test.classes),
                "data": str(data_source(test.name, config.data).path),
                "videos": videos,
                "read": min(videos, config.limit) if config.limit is not None else videos,
                "record": str(record_path(config.results, label, protocol.name, protocol.version, test.name)),
            }
        )
    return {
        "model": model,
        "weights": str(config.weights) if config.weights is not None else "the zoo's",
        "protocol": protocol_plan(protocol),
        "datasets": datasets,
        "limit": config.limit,
        "batch_size": config.batch_size,
        "device": config.device,
    }


def protocol_plan(protocol: Protocol) -> dict[str, Any]:
    """The protocol as a dry run shows it: name, version, both fingerprints, what was changed, and what
    would be scored (splits and metrics) on which clips."""
    evaluation = protocol.data["evaluation"]
    return {
        "name": protocol.name,
        "version": protocol.version,
        "path": str(protocol.path) if protocol.path else None,
        "fingerprint": protocol.fingerprint,
        "training_fingerprint": protocol.training_fingerprint,
        "changed": list(protocol.changed),
        "splits": evaluation["splits"],
        "official_splits": official_count(evaluation["splits"]),
        "metrics": evaluation["metrics"],
        "clips": protocol.data["clips"],
    }
