"""Training a registered model on a protocol's source classes: one process, or many under torchrun.

Before the first step the source classes are filtered by the protocol's rule (or a given class list
is audited); a list that breaks the rule is refused unless `allow_overlap`, which is then recorded in
every checkpoint. Each item's randomness comes from (seed, epoch, index) and the shuffling from
(seed, epoch), and checkpoints carry the RNG state, so `resume` continues bit for bit.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DistributedSampler

from zslbench import __version__
from zslbench.checkpoint import CHECKPOINT, load_checkpoint, save_checkpoint, weights_sha256
from zslbench.distributed import Context, barrier, gather, setup, sync_buffers, teardown
from zslbench.errors import ZslbenchError
from zslbench.losses import LOSSES, embedding_loss
from zslbench.models import ANY_BACKBONE, build_model, model_spec
from zslbench.overlap import compute_overlap
from zslbench.protocol import Protocol, load_protocol
from zslbench.text import load_embedder
from zslbench.text.class_vectors import embed_class_lists
from zslbench.video.dataset import LoaderOptions, VideoClipDataset, make_loader
from zslbench.video.decode import decoder_identity
from zslbench.video.sampler import ClipSpec
from zslbench.video.sources import dataset_videos
from zslbench.video.transforms import to_model_input
from zslbench.vocab import ClassList, load_class_list


@dataclass
class TrainConfig:
    model: str
    out: Path
    data: dict[str, Path]
    protocol: str | None = None
    model_options: dict[str, Any] = field(default_factory=dict)
    classes: str | None = None  # an explicit training class list, audited instead of the protocol's split
    allow_overlap: bool = False
    pretrained_on: str | None = None  # the dataset the --init weights were trained on
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    loss: str | None = None
    seed: int | None = None
    workers: int = 0
    device: str = "auto"
    amp: bool = True
    amp_dtype: str = "fp16"  # fp16 (with a gradient scaler) or bf16 (no scaler), on CUDA only
    channels_last: bool = False  # the channels_last_3d layout for the clips (faster convolutions on CUDA)
    loading: LoaderOptions = field(default_factory=LoaderOptions)  # decoder backend, pinned memory, prefetch
    resume: bool = False
    max_steps: int | None = None  # stop (with a resumable checkpoint) after this many steps in all
    log_every: int = 10
    tensorboard: bool = False  # also write OUT/tensorboard (needs the tensorboard package)
    features: Path | None = None  # a backbone features file: train a model of kind `features` on it


@dataclass
class TrainResult:
    checkpoint: Path
    epochs: int
    steps: int
    last_loss: float
    classes: int
    videos: int
    failures: int
    compliant: bool
    stopped_early: bool
    replica_hashes: list[str]
    fit: dict[str, Any] | None = None  # models on features: what the fit chose (epochs, regularisers)


class EpochSampler(DistributedSampler):
    """DistributedSampler (seeded shuffling per epoch) that can skip the batches a resumed run saw."""

    skip = 0

    def __iter__(self):
        indices = list(super().__iter__())
        return iter(indices[self.skip :])

    def __len__(self) -> int:
        return super().__len__() - self.skip


def train(config: TrainConfig, progress: Callable[[dict[str, Any]], None] | None = None) -> TrainResult:
    if config.features is not None:
        from zslbench.feature_models import train_on_features

        return train_on_features(config, progress)
    spec = model_spec(config.model)
    if spec.kind == "features" and spec.backbone == ANY_BACKBONE:
        from zslbench.feature_models import EXTRACT_HINT

        raise ZslbenchError(
            f"{spec.name} trains on backbone features, not on videos", f"pass --features F.npz; {EXTRACT_HINT}"
        )
    context = setup(config.device)
    try:
        return _train(config, context, progress)
    finally:
        teardown(context)


def _train(config: TrainConfig, context: Context, progress) -> TrainResult:
    protocol = load_protocol(config.protocol)
    settings = _settings(protocol, config)
    embedder = load_embedder(protocol.embedding, word_norm=protocol.word_norm)
    classes, compliance = _training_classes(protocol, config, embedder)
    (vectors,) = embed_class_lists([classes], embedder)
    short_side = protocol.data["clips"]["short_side"]
    manifest = dataset_videos(protocol.source_classes(), config.data, config.loading.decoder, short_side)
    manifest = manifest.only(set(classes.classes))
    spec = model_spec(config.model)
    out = Path(config.out)
    state = _start_state(config, out, protocol, classes, embedder.id, spec.name)
    torch.manual_seed(settings["seed"])  # the initial weights, then dropout, follow the seed
    model = build_model(config.model, vectors.vectors.shape[1], **config.model_options).to(context.device)
    if state:
        model.load_state_dict(state["state_dict"])
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=settings["lr"])
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, settings["milestones"], settings["gamma"])
    if state:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if config.lr is not None:  # an explicit --lr wins over the resumed optimizer's
            for group in optimizer.param_groups:
                group["lr"] = config.lr
        torch.set_rng_state(state["rng"]["torch"])
    net = model
    if context.distributed:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[context.device] if context.device.type == "cuda" else None
        )
    clip_spec = ClipSpec.from_protocol(protocol.data["clips"])
    dataset = VideoClipDataset(
        manifest.records, classes.classes, clip_spec, "train", settings["seed"],
        decode_threads=1 if config.workers else 0, backend=config.loading.decoder,
    )  # fmt: skip
    sampler = EpochSampler(dataset, context.world_size, context.rank, shuffle=True, seed=settings["seed"])
    per_rank = _per_rank_batch(settings["batch_size"], context.world_size)
    loader = make_loader(
        dataset, per_rank, config.workers, sampler=sampler, seed=settings["seed"], options=config.loading
    )
    targets = torch.from_numpy(vectors.vectors).to(context.device)
    use_amp = config.amp and context.device.type == "cuda"
    amp_dtype = torch.bfloat16 if config.amp_dtype == "bf16" else torch.float16
    if config.channels_last and context.device.type == "cuda":
        model.to(memory_format=torch.channels_last_3d)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    decoders: dict[str, int] = dict(state.get("reading", {}).get("videos_read", {})) if state else {}
    epoch, step, global_step = (state["epoch"], state["step"], state["global_step"]) if state else (0, 0, 0)
    failures: dict[str, str] = dict(state.get("failures", {})) if state else {}
    log = _MetricsLog(out, context.is_main, config.tensorboard)
    last_loss, stopped_early, started = float("nan"), False, time.perf_counter()

    def payload(finished: bool) -> dict[str, Any]:
        return {
            "model": {
                "name": spec.name,
                "options": {**spec.options, **config.model_options},
                "embed_dim": int(targets.shape[1]),
            },
            "state_dict": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": {"torch": torch.get_rng_state()},
            "epoch": epoch,
            "step": step,
            "global_step": global_step,
            "settings": settings,
            "protocol": protocol_reference(protocol),
            "classes": list(classes.classes),
            "embedder_id": embedder.id,
            "compliance": compliance,
            "pretrained_on": config.pretrained_on,
            "failures": failures,
            "reading": {
                "decoder": decoder_identity(config.loading.decoder),
                "videos_read": decoders,
                "prepared": manifest.prepared,
            },
            "finished": finished,
            "zslbench_version": __version__,
        }

    try:
        while epoch < settings["epochs"]:
            dataset.set_epoch(epoch)
            sampler.set_epoch(epoch)
            sampler.skip = step * per_rank
            net.train()
            for batch in loader:
                for failure in batch["failures"]:
                    failures[failure.path] = failure.reason
                for decoder in batch["decoders"]:
                    decoders[decoder] = decoders.get(decoder, 0) + 1
                if len(batch["labels"]):
                    clips = batch["clips"].to(context.device, non_blocking=True)
                    clips = to_model_input(clips, spec.mean, spec.std, config.channels_last)
                    labels = batch["labels"].to(context.device, non_blocking=True)
                    with torch.autocast(context.device.type, dtype=amp_dtype, enabled=use_amp):
                        predicted = net(clips)
                    loss = embedding_loss(predicted.float(), labels, targets, settings["loss"])
                    if not torch.isfinite(loss):
                        raise ZslbenchError(
                            f"the loss became {loss.item()} at epoch {epoch + 1}, step {step + 1}; training stopped",
                            f"the last good checkpoint is {out / CHECKPOINT}; lower the learning rate (--lr)",
                        )
                    optimizer.zero_grad(set_to_none=True)
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                    last_loss = float(loss.detach())
                step += 1
                global_step += 1
                record = {
                    "epoch": epoch + 1, "step": step, "steps": len(loader) + sampler.skip // per_rank,
                    "global_step": global_step, "loss": last_loss, "lr": optimizer.param_groups[0]["lr"],
                    "clips": int(batch["clips"].shape[0] * batch["clips"].shape[1]) if batch["clips"].ndim == 6 else 0,
                    "elapsed_s": round(time.perf_counter() - started, 3), "failures": len(failures),
                }  # fmt: skip
                if progress and context.is_main:
                    progress(record)
                if step % config.log_every == 0:
                    log.write(record)
                if config.max_steps is not None and global_step >= config.max_steps:
                    stopped_early = True
                    raise _Stop
            epoch, step = epoch + 1, 0
            scheduler.step()
            log.write(
                {
                    "epoch": epoch,
                    "epoch_done": True,
                    "loss": last_loss,
                    "elapsed_s": round(time.perf_counter() - started, 3),
                }
            )
            if context.is_main:
                save_checkpoint(out / CHECKPOINT, payload(finished=epoch == settings["epochs"]))
    except (_Stop, KeyboardInterrupt):
        if context.is_main:
            save_checkpoint(out / CHECKPOINT, payload(finished=False))
        if not stopped_early:
            raise
    sync_buffers(context, model)
    hashes = gather(context, weights_sha256(model.state_dict())[:16])
    if context.is_main and not stopped_early:
        final = payload(finished=True)
        final["replica_hashes"] = hashes
        save_checkpoint(out / CHECKPOINT, final)
        _write_failures(out, failures)
    barrier(context)
    return TrainResult(
        out / CHECKPOINT, epoch, global_step, last_loss, len(classes), len(manifest), len(failures),
        compliance["compliant"], stopped_early, hashes,
    )  # fmt: skip


def protocol_reference(protocol: Protocol) -> dict[str, Any]:
    """How a checkpoint names its protocol: evaluation refuses any other fingerprint."""
    return {"name": protocol.name, "version": protocol.version, "fingerprint": protocol.fingerprint,
            "path": str(protocol.path)}  # fmt: skip


class _Stop(Exception):
    pass


def _per_rank_batch(batch_size: int, world_size: int) -> int:
    """The protocol's batch is the global batch of one step, whatever the number of processes."""
    if batch_size % world_size:
        raise ZslbenchError(
            f"a batch of {batch_size} videos does not split over {world_size} processes",
            f"pass --batch-size as a multiple of {world_size}; it is the global batch of one step",
        )
    return batch_size // world_size


def _settings(protocol: Protocol, config: TrainConfig) -> dict[str, Any]:
    train = protocol.data["train"]
    settings = {
        "epochs": config.epochs or train["epochs"],
        "batch_size": config.batch_size or train["batch_size"],
        "lr": config.lr or train["lr"],
        "milestones": list(train["lr_milestones"]),
        "gamma": train["lr_gamma"],
        "loss": config.loss or train["loss"],
        "seed": train["seed"] if config.seed is None else config.seed,
    }
    if settings["loss"] not in LOSSES:
        raise ZslbenchError(f"unknown loss {settings['loss']!r}", f"choose one of {', '.join(LOSSES)}")
    return settings


def _training_classes(protocol: Protocol, config: TrainConfig, embedder) -> tuple[ClassList, dict[str, Any]]:
    """The classes to train on and the compliance verdict, from the rule applied before any step."""
    given = load_class_list(config.classes) if config.classes else protocol.source_classes()
    table = compute_overlap(given, protocol.test_classes(), embedder)
    kept = table.kept(protocol.tau)
    violations = [
        {
            "class": name,
            "nearest": table.nearest[i],
            "dataset": table.nearest_dataset[i],
            "distance": float(table.distance[i]),
        }
        for i, name in enumerate(given.classes)
        if not kept[i]
    ]
    if config.classes and violations and not config.allow_overlap:
        first = violations[0]
        raise ZslbenchError(
            f"{len(violations)} of the {len(given)} training classes break the protocol's rule, e.g. "
            f"{first['class']!r} is {first['distance']:.4f} from {first['nearest']!r} ({first['dataset']})",
            f"remove them (`zslbench audit {config.classes}` lists them), or pass --allow-overlap "
            "to train anyway and be recorded as not compliant",
        )
    if config.classes or config.allow_overlap:
        classes = given
    else:  # the protocol's split: drop every source class within tau of a test class
        classes = ClassList(given.name, tuple(c for c, k in zip(given.classes, kept, strict=True) if k), given.source)
        violations = []
    compliance = {
        "compliant": not violations,
        "allow_overlap": config.allow_overlap,
        "tau": protocol.tau,
        "tests": [t.name for t in table.tests],
        "violations": violations,
        "removed_by_split": int((~kept).sum()) if not (config.classes or config.allow_overlap) else 0,
    }
    return classes, compliance


def _start_state(config: TrainConfig, out: Path, protocol: Protocol, classes: ClassList, embedder_id: str, model: str):
    path = out / CHECKPOINT
    if not config.resume:
        if path.exists():
            raise ZslbenchError(f"{path} exists", "pass --resume to continue that run, or choose a new --out")
        return None
    if not path.exists():
        raise ZslbenchError(f"nothing to resume: {path} does not exist", "drop --resume to start a new run")
    state = load_checkpoint(path)
    mismatch = [
        what
        for what, ours, theirs in (
            ("model", model, state["model"]["name"]),
            ("protocol", protocol.fingerprint, state["protocol"]["fingerprint"]),
            ("training classes", list(classes.classes), state["classes"]),
            ("embedding", embedder_id, state["embedder_id"]),
        )
        if ours != theirs
    ]
    if mismatch:
        raise ZslbenchError(
            f"cannot resume {path}: its {', '.join(mismatch)} differ from this run's", "resume with the same settings"
        )
    if state.get("finished"):
        raise ZslbenchError(f"{path} is a finished run", "raise --epochs to train further, or start a new --out")
    return state


def _write_failures(out: Path, failures: dict[str, str]) -> None:
    from zslbench.atomic import write_text

    write_text(out / "decode_failures.json", json.dumps(failures, indent=2, sort_keys=True) + "\n")


class _MetricsLog:
    """OUT/metrics.jsonl (and TensorBoard scalars when asked), written by rank 0 only."""

    def __init__(self, out: Path, enabled: bool, tensorboard: bool) -> None:
        self.path = out / "metrics.jsonl"
        self.enabled = enabled
        self.board = None
        if enabled:
            out.mkdir(parents=True, exist_ok=True)
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise ZslbenchError("--tensorboard needs the tensorboard package", "pip install tensorboard") from None
            self.board = SummaryWriter(str(out / "tensorboard"))

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(clean) + "\n")
        if self.board is not None and "global_step" in record:
            self.board.add_scalar("train/loss", record["loss"], record["global_step"])
            self.board.add_scalar("train/lr", record["lr"], record["global_step"])
            self.board.flush()
