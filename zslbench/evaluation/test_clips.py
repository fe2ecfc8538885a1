"""Scores of a checkpoint whose test videos are read with other test-side clip settings.

A result record names exactly one protocol (its fingerprint covers the clip settings), so a
checkpoint's records are made under the protocol it was trained with. Two uses need the same weights
scored with other test clips, and no record: the reference implementation's per-epoch test, one clip
per video (`train --select-on-test`; main.py with dataset.py's `n_clips = opt.n_clips`, 1 while
training), and paired comparisons of test-side settings (benchmarks/reference_settings.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zslbench.evaluation.checkpoint_model import CheckpointModel
from zslbench.evaluation.dataset_record import Embedded, protocol_metrics, test_distances
from zslbench.evaluation.video_text_run import VideoTextRunner, finetuned_runner
from zslbench.protocol.spec import Protocol
from zslbench.text import load_embedder
from zslbench.video.dataset import LoaderOptions
from zslbench.video.sampler import ClipSpec


def score_with_clips(
    weights: Path,
    clips: ClipSpec,
    data: dict[str, Path],
    datasets: Sequence[str] | None = None,
    protocol: str | Protocol | None = None,
    *,
    device: str = "auto",
    loading: LoaderOptions | None = None,
    workers: int = 0,
    batch_size: int = 8,
) -> dict[str, dict[str, Any]]:
    """{test dataset name: metrics} (the protocol's splits and metrics, as in a record's `metrics`)
    of the checkpoint `weights` with its test videos read as `clips` says; `datasets`: a subset of the
    protocol's test datasets (names), all by default. Videos that fail to decode are left out, as
    records leave them out of their metrics. Single process; raises ZslbenchError as `evaluate` does.
    A fine-tuned video-text model reads its own input, with `clips.test_clips` views."""
    runner = _runner(weights, clips, protocol, device, loading)
    try:
        protocol = runner.protocol
        embedder = load_embedder(protocol.embedding, word_norm=protocol.word_norm)
        scores = {}
        for test in protocol.test_classes():
            if datasets is not None and test.name not in datasets:
                continue
            records, vectors, failures = runner.embed(test, data, batch_size, workers)
            labels = [record.label for record in records]
            embedded = Embedded(records, vectors, failures, labels)
            distances = test_distances(protocol, test, runner.space or embedder, embedded)
            scores[test.name] = protocol_metrics(protocol, test, embedder, distances, runner.state)
        return scores
    finally:
        runner.close()


def _runner(
    weights: Path, clips: ClipSpec, protocol: str | Protocol | None, device: str, loading: LoaderOptions | None
) -> CheckpointModel | VideoTextRunner:
    from zslbench.models.checkpoint import load_checkpoint

    state = load_checkpoint(weights)
    if state["model"].get("kind") != "video_text":
        return CheckpointModel(weights, None, protocol, device, loading, clips=clips, state=state)
    return finetuned_runner(Path(weights), state, protocol, device, loading, views=clips.test_clips)
