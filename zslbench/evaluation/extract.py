"""`zslbench extract --weights`: a model's embeddings of one test dataset, as a features file that
`zslbench eval --features` scores exactly as the model's own evaluation would.

A checkpoint's embeddings live in its protocol's class-vector space; a video-text model's in its own
text space, so its file also carries its class embeddings (or, for X-CLIP, holds each video's
similarities to the classes), its card and its declarations (`class_space.space_arrays`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from zslbench.evaluation.class_space import space_arrays
from zslbench.evaluation.embeddings_file import write_features
from zslbench.evaluation.official import features_arrays
from zslbench.evaluation.run import EvalConfig, runner_for, test_lists


def extract_embeddings(config: EvalConfig, dataset: str, out: Path) -> dict[str, Any] | None:
    """Embed `dataset` (one of the protocol's test datasets) with `config`'s model and write `out`;
    a summary for people, or None on a torchrun rank other than the main one."""
    runner, _ = runner_for(config)
    try:
        (test,) = test_lists(runner.protocol, [dataset])
        records, vectors, failures = runner.embed(test, config.data, config.batch_size, config.workers)
        if not runner.context.is_main:
            return None
        kept = [i for i, v in enumerate(vectors) if v is not None]
        state = runner.state
        extra = {**space_arrays(runner.space), **_video_text_fields(runner)} if runner.space else {}
        extra |= features_arrays(test, runner.protocol.data["evaluation"]["splits"], records, kept)
        path = write_features(
            out,
            np.stack([vectors[i] for i in kept]) if kept else np.zeros((0, 0), np.float32),
            [records[i].label for i in kept],
            state["model"]["name"],
            test.name,
            state.get("classes") if "image_text" not in state else None,
            state.get("pretrained_on"),
            runner.protocol.fingerprint,
            extra,
            runner.protocol.training_fingerprint,
        )
    finally:
        runner.close()
    dim = len(vectors[kept[0]]) if kept else 0
    return {"path": str(path), "dataset": test.name, "videos": len(kept), "dim": dim, "failed": len(failures)}


def _video_text_fields(runner: Any) -> dict[str, np.ndarray]:
    """A video-text model's card and declarations, as strings in the features file."""
    fields = {"card": np.array(json.dumps(runner.card))}
    for key, value in runner.declared.describe().items():
        if value is not None:
            fields[key] = np.array(value)
    return fields
