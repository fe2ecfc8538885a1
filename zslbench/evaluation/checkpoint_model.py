"""A trained checkpoint, ready to embed a protocol's test datasets.

End-to-end models embed videos through the `VideoEncoder` (cached, sharded under torchrun); models
of kind `features` map a test dataset's backbone features file. A checkpoint is evaluated only
under the protocol it was trained with (same training fingerprint: splits and metrics may change).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zslbench.core.distributed import setup, teardown
from zslbench.core.errors import ZslbenchError, named
from zslbench.evaluation.encoder import VideoEncoder, sampling_identity
from zslbench.models.checkpoint import load_checkpoint, load_weights, weights_sha256
from zslbench.protocol.snapshot import scores_as_trained, trained_protocol
from zslbench.protocol.spec import Protocol, identity_data, load_protocol
from zslbench.text.vocab import ClassList
from zslbench.video.dataset import LoaderOptions
from zslbench.video.sampler import ClipSpec


class CheckpointModel:
    """A trained checkpoint, ready to embed a protocol's test datasets: videos through the
    VideoEncoder (cached, sharded under torchrun), or features files for a model of kind features."""

    space = None  # scored against the protocol's class vectors
    card = None  # its input is the protocol's clips

    def __init__(
        self,
        weights: Path,
        model: str | None,
        protocol: str | Protocol | None,
        device: str = "auto",
        loading: LoaderOptions | None = None,
        clips: ClipSpec | None = None,
        state: dict[str, Any] | None = None,
    ) -> None:
        """`clips`: read the test videos with these clip settings instead of the protocol's (see
        evaluation.test_clips: no record may claim the protocol then); `state`: the checkpoint, when the
        caller has read it already."""
        self.weights = Path(weights)
        self.state = state if state is not None else load_checkpoint(weights)
        name = self.state["model"]["name"]
        if model and model != name:
            raise ZslbenchError(
                f"{weights} is a checkpoint of {name!r}, not {model!r}",
                f"pass {named(f'--model {name}', f'model={name!r}')} or another checkpoint",
            )
        self.protocol = checkpoint_protocol(self.state, protocol)
        self.context = setup(device)
        self.clips = clips or ClipSpec.from_protocol(self.protocol.data["clips"])
        self.is_features = self.state["model"].get("input") == "features"
        if self.is_features:  # a method over backbone features: --data names features files
            self.identity = {"model": self._model_identity(), "backbone": self.state["backbone"]}
            return
        self.encoder = self._video_encoder(loading or LoaderOptions())
        self.identity = self.encoder.identity

    def _model_identity(self, **extra: Any) -> dict[str, Any]:
        """The model as records and cache keys name it: name, options, weights, and a plugin's version."""
        from zslbench.models import provenance_key

        model = self.state["model"]
        return {
            "name": model["name"],
            "options": model["options"],
            **extra,
            "weights_sha256": weights_sha256(self.state["state_dict"]),
            **provenance_key(model["name"]),
        }

    def _video_encoder(self, loading: LoaderOptions) -> VideoEncoder:
        from zslbench.models import build_from_checkpoint, model_spec

        model = self.state["model"]
        spec = model_spec(model["name"])
        module = build_from_checkpoint(model)  # the checkpoint holds the weights
        load_weights(module, self.state["state_dict"], str(self.weights))
        identity = {
            "model": self._model_identity(embed_dim=model["embed_dim"]),
            **sampling_identity(clip_identity(self.clips), spec.mean, spec.std, loading.decoder),
        }
        return VideoEncoder(module, identity, self.clips, spec.mean, spec.std, self.context, loading)

    def reading(self) -> dict[str, Any] | None:
        """How the last `embed`'s videos were read: decoder identity, videos per read mode, prepared data."""
        return None if self.is_features else self.encoder.reading()

    def ignored(self) -> dict[str, Any] | None:
        """Manifest rows the last `embed` left out (repeated rows, labels of other datasets), and why."""
        return None if self.is_features else self.encoder.ignored

    def embed(self, test: ClassList, data: dict[str, Path], batch_size: int, workers: int, progress=None, limit=None):
        """(records, embeddings or None per record, failure reason per record index); all ranks call it.
        `limit`: the first `limit` videos only."""
        if self.is_features:
            from zslbench.evaluation.on_features import embed_feature_file

            records, vectors, failures = embed_feature_file(self.state, self.protocol, test, data)
            kept = len(records) if limit is None else limit
            return records[:kept], vectors[:kept], {i: why for i, why in failures.items() if i < kept}
        return self.encoder.encode(test, data, batch_size, workers, progress, limit)

    def close(self) -> None:
        """Leave the process group `setup` joined (no-op when run alone)."""
        teardown(self.context)


def clip_identity(clips: ClipSpec) -> dict[str, Any]:
    """The clip settings as cache keys name them (settings at their old defaults left out)."""
    return identity_data({"clips": dataclasses.asdict(clips)})["clips"]


def checkpoint_protocol(state: dict[str, Any], ref: str | Protocol | None, sets: Sequence[str] = ()) -> Protocol:
    """The protocol to score a checkpoint under: `ref`, or the one it was trained under (its file, its
    shipped name, or the snapshot it carries; `protocol.snapshot`), with `sets` applied. Any protocol
    whose training settings differ (its `training_fingerprint`) is refused: only the scoring settings
    (splits, metrics, class order) may change without retraining."""
    trained = state["protocol"]
    given = ref is not None
    if isinstance(ref, Protocol) and sets:
        raise ZslbenchError(
            "overrides apply when a protocol is loaded", "pass the protocol by name or path with the overrides"
        )
    if ref is None:
        protocol = trained_protocol(trained, tuple(sets))
    else:
        protocol = load_protocol(ref, sets=tuple(sets)) if not isinstance(ref, Protocol) else ref
    if not scores_as_trained(protocol, trained):
        trained_sets = "".join(" " + named(f"--set {item}", f"with {item}") for item in trained.get("sets", ()))
        raise ZslbenchError(
            f"the checkpoint was trained under {trained['name']} v{trained['version']}{trained_sets} "
            f"(fingerprint {trained['fingerprint'][:12]}), not {protocol.name} v{protocol.version} "
            f"({protocol.fingerprint[:12]}), and not only in its scoring settings",
            "evaluate under the protocol the model was trained with; only evaluation.* and published_as may change"
            + (f" (leave out {named('--protocol', 'protocol')} to use it)" if given else ""),
        )
    return protocol
