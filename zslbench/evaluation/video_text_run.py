"""A video-text model from a user's weights, ready to embed a protocol's test datasets.

Unlike a checkpoint trained under a protocol, such a model can be evaluated under any protocol: the
protocol gives the classes, splits, tau and metrics, the model its own input (`VideoInput`) unless
the protocol pins it (`model_input`), and its own text tower gives the class embeddings
(`models/video_text/prompts.py` TextSpec). The rule keeps the protocol's word embedding, and what
the weights saw is declared in tiers (`Declared`) for the audit. Videos go through the same
`VideoEncoder` as every model (feature cache, torchrun shards, failure accounting).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from zslbench.core.distributed import setup, teardown
from zslbench.core.errors import ZslbenchError, named
from zslbench.core.hashing import sha256_json
from zslbench.core.versions import pick
from zslbench.evaluation.checkpoint_model import checkpoint_protocol, clip_identity
from zslbench.evaluation.class_space import ClassSpace, ConditionedSpace, TextTowerSpace
from zslbench.evaluation.dataset_record import class_order
from zslbench.evaluation.encoder import VideoEncoder, sampling_identity
from zslbench.models import provenance_key
from zslbench.models.checkpoint import content_sha256
from zslbench.models.video_input import VideoInput
from zslbench.models.video_text.contract import VideoTextModel, average_views
from zslbench.models.video_text.declared import Declared
from zslbench.models.video_text.prompts import TEXT_OPTIONS, TextSpec, text_spec
from zslbench.protocol.spec import SET_OPTION, Protocol
from zslbench.text.vocab import ClassList
from zslbench.video.dataset import LoaderOptions
from zslbench.video.sampler import ClipSpec


def clip_spec(source: VideoInput) -> ClipSpec:
    """The test sampling that reads `source`: `frames` frames per view (TSN segments, or dense with
    `stride`, the views at the centres of equal parts of the video), `views` temporal views, `crops`
    crops of `size` after resizing the short side to `size`."""
    return ClipSpec(
        clip_len=source.frames,
        frame_stride=source.stride,
        test_clips=source.views,
        crop=source.size,
        short_side=source.size,
        test_position="segments" if source.sampling == "segments" else "centred",
        test_crops=source.crops,
    )


def split_options(spec: Any, options: dict[str, Any], protocol: Protocol) -> tuple[dict[str, Any], TextSpec, dict]:
    """(builder options, text spec, the protocol's pins): the text options go to the evaluator; the
    protocol's `model_input` pins fill the model's input options the user left unset. A pin that
    contradicts a given option is refused in one line."""
    given = dict(options)
    text = text_spec(*(given.pop(key, None) for key in TEXT_OPTIONS), default=spec.text)
    pins = protocol.model_input
    for key, value in pins.items():
        if given.get(key) is not None and given[key] != value:
            option = named(f"--option {key}={given[key]}", f"options={{{key!r}: {given[key]!r}}}")
            raise ZslbenchError(
                f"protocol {protocol.name} pins model_input.{key}={value}, but {option} was given",
                f"drop {named(f'--option {key}', f'options[{key!r}]')}, or {SET_OPTION} model_input.{key}=null "
                "to read the model's own input",
            )
        if key in spec.options:
            given[key] = value
    return given, text, pins


def pin_refused(err: ZslbenchError, model: str, given: dict, pins: dict, protocol: Protocol) -> ZslbenchError:
    """A build error caused by the protocol's pins says so (the user set no such option); others pass."""
    import re

    applied = {key: value for key, value in pins.items() if given.get(key) is None}
    hit = [key for key in applied if re.search(rf"\b{key}\b", err.message)]  # "size", not "hidden_size"
    if not hit:  # e.g. a missing tokenizer: not about the pins
        return err
    pinned = ", ".join(f"model_input.{key}={applied[key]}" for key in hit)
    return ZslbenchError(
        f"protocol {protocol.name} pins {pinned}, which {model} cannot read: {named(err.cli_message, err.message)}",
        f"evaluate under a protocol without that pin, or {SET_OPTION} model_input.{hit[0]}=null",
    )


def check_pins(model: str, source: VideoInput, pins: dict[str, Any], protocol: Protocol) -> None:
    """A pinned input the model does not read (e.g. X-CLIP's fixed frame count) is refused in one line."""
    for key, value in pins.items():
        if (actual := getattr(source, key)) != value:
            raise ZslbenchError(
                f"protocol {protocol.name} pins model_input.{key}={value}, but {model} reads {key}={actual}",
                f"evaluate under a protocol without that pin, or {SET_OPTION} model_input.{key}=null",
            )


def card(source: VideoInput, text: TextSpec, pins: dict[str, Any]) -> dict[str, Any]:
    """The "protocol card" of a video-text number: its input and text, and a fingerprint of both, so
    a number is compared only with numbers made the same way."""
    described = text.describe()
    data = {
        "input": {**source.describe(), "pinned_by_protocol": sorted(pins)},
        "text": {k: described[k] for k in ("template_set", "ensemble", "phrases")},
        "templates": len(text.templates),
        "text_fingerprint": described["fingerprint"],
    }
    data["input_fingerprint"] = sha256_json({k: v for k, v in data["input"].items() if k != "pinned_by_protocol"})
    return {**data, "fingerprint": sha256_json([data["input_fingerprint"], data["text_fingerprint"]])}


def init_weights(record: dict[str, Any], where: str, moved_to: Path | None = None) -> Path:
    """The --init weights a fine-tuned checkpoint was built from (or `moved_to`, where they are now),
    checked unchanged by content hash (ZslbenchError)."""
    path = Path(moved_to) if moved_to is not None else Path(record["init"]["path"])
    relocate = f"or pass {named('--option init=PATH', 'options={init: PATH}')} where they are now"
    if not path.exists():
        given = named(f"--option init={path}", f"options['init'] {str(path)!r}")
        raise ZslbenchError(
            f"{where} was fine-tuned from {path}, which no longer exists"
            if moved_to is None
            else f"{given} does not exist",
            f"the checkpoint holds the weights but reads the model's config and tokenizer from its "
            f"{named('--init', 'initial weights')}; "
            f"put them back where they were, {relocate}",
        )
    if content_sha256(path) != record["init"]["sha256"]:
        raise ZslbenchError(
            f"{where} was fine-tuned from {record['init']['path']}, and {path} holds other files now",
            f"give the weights the run started from (sha256 {record['init']['sha256'][:12]}...), {relocate}",
        )
    return path


class ViewAdapter(torch.nn.Module):
    """clips [B, V, 3, T, H, W] -> what the cache stores for a video: the views' averaged embedding
    [B, D] (view_average "embedding"), or every view's embedding [B, V x D] ("score")."""

    def __init__(self, model: VideoTextModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """clips [B, V, 3, T, H, W] -> [B, D] (views averaged) or [B, V x D] (each view), per `view_average`."""
        views = self.model.encode_video(clips)
        return average_views(views) if self.model.input.view_average == "embedding" else views.flatten(1)


class ConditionedAdapter(torch.nn.Module):
    """clips -> the video's cosine similarity to every class [B, C] (X-CLIP: its class embeddings depend
    on the video), from `texts` [C x K, D] class-major, averaged over each class's K templates."""

    def __init__(self, model: VideoTextModel, texts: torch.Tensor, per_class: int) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("texts", texts)
        self.per_class = per_class

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """clips [B, V, 3, T, H, W] -> cosine similarity to every class [B, C], averaged over each class's templates."""
        similarity = self.model.similarity(clips, self.texts)
        return similarity.view(len(clips), -1, self.per_class).mean(dim=-1)


class VideoTextRunner:
    """A video-text model ready to embed test datasets: `embed` as `CheckpointModel.embed`, then
    `space` says what the last dataset's videos are scored against."""

    def __init__(
        self,
        model: str,
        weights: Path | None,
        options: dict[str, Any],
        protocol: Protocol,
        declared: Declared,
        device: str = "auto",
        loading: LoaderOptions | None = None,
        finetuned: dict[str, Any] | None = None,
    ) -> None:
        """`finetuned`: a checkpoint of the model fine-tuned by zslbench (training/video_text.py), whose
        weights replace those read from `weights` (its --init) and whose state the records carry."""
        from zslbench.models import build_video_text_model, model_spec
        from zslbench.models.checkpoint import load_weights

        spec = model_spec(model)
        self.protocol, self.loading = protocol, loading or LoaderOptions()
        build, self.text, pins = split_options(spec, options, protocol)
        try:
            self.module: VideoTextModel = build_video_text_model(model, weights, **build)
        except ZslbenchError as err:
            raise pin_refused(err, model, options, pins, protocol) from None
        if finetuned is not None:
            load_weights(self.module, finetuned["state_dict"], f"{model} checkpoint")
        self.input = self.module.input
        check_pins(model, self.input, pins, protocol)
        self.clips = clip_spec(self.input)
        self.card = card(self.input, self.text, pins)
        recorded = {k: v for k, v in options.items() if v is not None}
        model_state = {"name": model, "kind": "video_text", "options": recorded}
        self.state = {**(finetuned or {}), "model": model_state, **declared.state()}
        self.declared = declared
        self.identity = {
            "model": {"name": model, **self.module.identity(), **provenance_key(model)},
            "card": self.card["fingerprint"],  # input and text: another card is another result
            **sampling_identity(clip_identity(self.clips), self.input.mean, self.input.std, self.loading.decoder),
        }
        self.identity["libraries"] = {**self.identity["libraries"], **pick("transformers")}
        self.text_tower = self.module.text_identity()  # hashes every text tensor: once per run
        self.context = setup(device)
        self.module.to(self.context.device).eval()
        self.encoder: VideoEncoder | None = None
        self.space: ClassSpace | None = None

    def embed(self, test: ClassList, data: dict[str, Path], batch_size: int, workers: int, progress=None, limit=None):
        """(records, vector or None per record, failure reason per record index); all ranks call it.
        Afterwards `space` holds what those vectors are scored against."""
        order = class_order(self.protocol, test)
        texts = self.class_texts(order)
        about = {"text": self.text.describe(), "text_tower": self.text_tower}
        if self.module.conditioned:
            table, per_class = self._conditioned_table(texts, order)
            adapter: torch.nn.Module = ConditionedAdapter(self.module, table, per_class)
            output: dict[str, Any] = {"similarities": sha256_json([order, about["text"]])}
            self.space = ConditionedSpace(tuple(order), about)
        else:  # the video side only: templates, ensembling and phrases share the cached video embeddings
            adapter, output = ViewAdapter(self.module), {"views": self.input.view_average}
            views = 1 if self.input.view_average == "embedding" else self.input.total_views
            self.space = TextTowerSpace(texts, self.text.ensemble, views, about)
        identity = {**self.identity, "card": self.card["input_fingerprint"], "output": output}
        self.encoder = VideoEncoder(
            adapter, identity, self.clips, self.input.mean, self.input.std, self.context, self.loading
        )
        return self.encoder.encode(test, data, batch_size, workers, progress, limit)

    def class_texts(self, classes: list[str]) -> dict[str, np.ndarray]:
        """class -> float32 [templates, D]: the text tower's embeddings of each template around the class's
        phrase, from the per-(text tower, texts) cache (`class_text_cache`)."""
        from zslbench.evaluation.class_text_cache import text_embeddings

        texts = self.text.texts(classes)  # template-major
        rows = text_embeddings(self.module, texts, self.text_tower)
        per_template = rows.reshape(len(self.text.templates), len(classes), -1)
        return {name: per_template[:, i] for i, name in enumerate(classes)}

    def _conditioned_table(self, texts: dict[str, np.ndarray], order: list[str]) -> tuple[torch.Tensor, int]:
        """[C x K, D] class-major rows for `ConditionedAdapter`: each class's template rows (ensemble
        "score"), or their mean (ensemble "embedding", K = 1)."""
        stack = np.stack([texts[name] for name in order])  # [C, templates, D]
        if self.text.ensemble == "embedding":
            stack = stack.mean(axis=1, keepdims=True)
        return torch.from_numpy(np.ascontiguousarray(stack.reshape(-1, stack.shape[-1]))), stack.shape[1]

    def reading(self) -> dict[str, Any] | None:
        """How the last `embed`'s videos were read (as `CheckpointModel.reading`); None before any `embed`."""
        return self.encoder.reading() if self.encoder else None

    def ignored(self) -> dict[str, Any] | None:
        """Manifest rows the last `embed` left out, and why; None before any `embed`."""
        return self.encoder.ignored if self.encoder else None

    def close(self) -> None:
        """Leave the process group `setup` joined (no-op when run alone)."""
        teardown(self.context)


def finetuned_runner(
    path: Path,
    state: dict[str, Any],
    protocol: str | Protocol | None,
    device: str = "auto",
    loading: LoaderOptions | None = None,
    views: int | None = None,
    init: Path | None = None,
    image_text: str | None = None,
) -> VideoTextRunner:
    """A video-text model fine-tuned by `zslbench train` (its checkpoint `state`, read from `path`):
    built from its --init weights (checked unchanged), under the protocol it was trained with, and
    declared as fine-tuned on exactly the classes the rule kept for it. `views`: read that many test
    views instead of its input's (the per-epoch test of --select-on-test reads one); `init`: where its
    --init weights are now; `image_text`: its image-text pretraining, when training did not declare it."""
    protocol = checkpoint_protocol(state, protocol)
    record = state["video_text"]
    weights = init_weights(record, str(path), init)
    options = {k: v for k, v in state["model"]["options"].items() if k != "init"}
    if views is not None:
        options["views"] = views
    kept = f"{protocol.source_classes().name}, as the rule of {protocol.name} keeps it"
    declared = Declared(record.get("image_text") or image_text, kept, tuple(state["classes"]))
    return VideoTextRunner(state["model"]["name"], weights, options, protocol, declared, device, loading, state)
