"""What a training run would do, without reading a video or building a network (`train --dry-run`).

The rule is applied as the run applies it (Brattoli et al., CVPR 2020, Sec. 3: source classes within
cosine distance tau of a test class removed), so the plan shows the classes the run would train on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zslbench.core.distributed import resolve_device
from zslbench.core.errors import ZslbenchError, named
from zslbench.evaluation.plan import protocol_plan
from zslbench.models import checked_options, model_spec
from zslbench.models.checkpoint import CHECKPOINT
from zslbench.protocol.compliance import training_classes
from zslbench.protocol.spec import load_protocol
from zslbench.text import load_embedder
from zslbench.training.config import TrainConfig
from zslbench.training.loggers import check_trackers
from zslbench.training.settings import resolve_settings
from zslbench.video.sampler import ClipSpec
from zslbench.video.sources import check_data_names, data_source, dataset_videos


def train_plan(config: TrainConfig) -> dict[str, Any]:
    """{"model", "options", "protocol", "classes", "videos", "data", "settings", "out"}: the resolved
    protocol, the classes the rule keeps (how many of the source's, the verdict), how many training
    videos the source's manifest has of them, and the resolved schedule (epochs, batch, lr, loss, seed).

    Raises the ZslbenchError the run would raise first: an unknown model, option or tracker, a device
    this machine lacks, an OUT that holds a run (without resume), an unknown protocol or dataset name,
    a manifest without the source's classes."""
    spec = model_spec(config.model)
    check_trackers(config.loggers)
    resolve_device(config.device)
    if spec.kind != "video_text":
        checked_options(spec, config.model_options)
    checkpoint = Path(config.out) / CHECKPOINT
    if checkpoint.exists() != bool(config.resume):
        resume = named("--resume", "resume=True")
        if config.resume:
            raise ZslbenchError(f"nothing to resume: {checkpoint} does not exist", f"drop {resume} to start a new run")
        raise ZslbenchError(
            f"{checkpoint} exists", f"pass {resume} to continue that run, or choose a new {named('--out', 'out')}"
        )
    protocol = load_protocol(config.protocol)
    embedder = load_embedder(protocol.embedding, word_norm=protocol.word_norm)
    classes, compliance = training_classes(protocol, embedder, config.classes, config.allow_overlap)
    video_text = spec.kind == "video_text"
    settings = resolve_settings(protocol, config, None, None, video_text=video_text)
    if video_text and config.temperature is None:
        settings.pop("temperature", None)  # the model's own, known once its weights are loaded
    source = protocol.source_classes()
    videos, where = None, None
    if config.features is None:
        check_data_names(config.data, protocol.dataset_names())
        clips = ClipSpec.from_protocol(protocol.data["clips"])
        videos = len(dataset_videos(source, config.data, config.loading.decoder, clips).only(set(classes.classes)))
        where = str(data_source(source.name, config.data).path)
    return {
        "model": spec.name,
        "options": {**spec.options, **config.model_options},
        "protocol": protocol_plan(protocol),
        "classes": {
            "source": source.name,
            "total": len(source),
            "kept": len(classes),
            "tau": protocol.tau,
            "removed": compliance["removed_by_split"],
            "compliant": compliance["compliant"],
        },
        "videos": videos,
        "data": where if config.features is None else str(config.features),
        "settings": settings,
        "out": str(config.out),
    }
