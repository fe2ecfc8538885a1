"""Training a registered model on a protocol's source classes: one process, or many under torchrun.

Before the first step the source classes are filtered by the protocol's rule (or a given class list
is audited); a list that breaks the rule is refused unless `allow_overlap`, which is then recorded in
every checkpoint. Each item's randomness comes from (seed, epoch, index) and the shuffling from
(seed, epoch); checkpoints are written between steps and carry every rank's RNG states and the
gradient scaler, so `resume` continues bit for bit (see zslbench.training.state). Videos that fail to
decode are dropped from their batch and judged against a failure budget, overall and per class: a run
that never saw a class finishes, but is not complete.
"""

from __future__ import annotations

import functools
import json
import math
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset, DistributedSampler

from zslbench import __version__
from zslbench.core.bounds import COUNT, LEARNING_RATE, SEED
from zslbench.core.distributed import Context, barrier, gather, setup, sync_buffers, teardown
from zslbench.core.errors import ZslbenchError
from zslbench.models import ANY_BACKBONE, build_model, model_spec
from zslbench.models.checkpoint import (
    CHECKPOINT,
    CLASS_FAILURE_BUDGET,
    FAILURE_BUDGET,
    load_checkpoint,
    save_checkpoint,
    weights_sha256,
)
from zslbench.models.losses import LOSSES, embedding_loss
from zslbench.protocol.overlap import compute_overlap
from zslbench.protocol.spec import Protocol, load_protocol
from zslbench.text import load_embedder
from zslbench.text.class_vectors import embed_class_lists
from zslbench.text.vocab import ClassList, load_class_list
from zslbench.training.state import (
    DataAccount,
    MetricsLog,
    StopSignals,
    check_resumable,
    quiet_worker,
    restore_rng,
    rng_states,
    videos_identity,
)
from zslbench.video.dataset import LoaderOptions, VideoClipDataset, make_loader
from zslbench.video.decode import decoder_identity
from zslbench.video.sampler import ClipSpec
from zslbench.video.sources import dataset_videos
from zslbench.video.transforms import to_model_input


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
    failure_budget: float = FAILURE_BUDGET  # share of the videos that may fail to decode (run complete)
    class_failure_budget: float = CLASS_FAILURE_BUDGET  # share of one class's videos that may fail


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
    complete: bool = True  # finished within the failure budget, every class seen (see `data`)
    data: dict[str, Any] | None = None  # the failure budget's verdict (checkpoint.failure_verdict)


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped training between two steps, after writing a checkpoint that resumes it exactly."""

    def __init__(self, checkpoint: Path, signum: int, epoch: int, step: int, global_step: int) -> None:
        super().__init__(f"{signal.Signals(signum).name} at epoch {epoch + 1}, step {step}")
        self.checkpoint = checkpoint
        self.signum = signum
        self.epoch = epoch  # epochs done
        self.step = step  # steps done in the epoch after them
        self.global_step = global_step


class EpochSampler(DistributedSampler):
    """DistributedSampler (seeded shuffling per epoch) that can skip the batches a resumed run saw.

    It yields (epoch, index): the epoch travels with each index to whichever process loads it, since
    a persistent loader worker holds its own copy of the dataset, which `set_epoch` never reaches
    (every epoch then drew the first epoch's clips, and a resumed run another epoch's).
    """

    skip = 0

    def __iter__(self):
        indices = list(super().__iter__())
        return iter([(self.epoch, index) for index in indices[self.skip :]])

    def __len__(self) -> int:
        return super().__len__() - self.skip


class EpochItems(Dataset):
    """A dataset read with (epoch, index) keys from an EpochSampler: the item of `index` in `epoch`."""

    def __init__(self, dataset: VideoClipDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        epoch, index = key
        self.dataset.set_epoch(epoch)
        return self.dataset[index]


def train(config: TrainConfig, progress: Callable[[dict[str, Any]], None] | None = None) -> TrainResult:
    if config.features is not None:
        from zslbench.training.on_features import train_on_features

        return train_on_features(config, progress)
    spec = model_spec(config.model)
    if spec.kind == "features" and spec.backbone == ANY_BACKBONE:
        from zslbench.training.on_features import EXTRACT_HINT

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
    settings = resolve_settings(protocol, config, context)
    embedder = load_embedder(protocol.embedding, word_norm=protocol.word_norm)
    classes, compliance = _training_classes(protocol, config, embedder)
    (vectors,) = embed_class_lists([classes], embedder)
    short_side = protocol.data["clips"]["short_side"]
    manifest = dataset_videos(protocol.source_classes(), config.data, config.loading.decoder, short_side)
    manifest = manifest.only(set(classes.classes))
    spec = model_spec(config.model)
    out = Path(config.out)
    identity = {
        "model": {
            "name": spec.name,
            "options": {**spec.options, **config.model_options},
            "embed_dim": int(vectors.vectors.shape[1]),
        },
        "settings": settings,
        "protocol": protocol_reference(protocol),
        "classes": list(classes.classes),
        "embedder_id": embedder.id,
        "pretrained_on": config.pretrained_on,
        "videos": videos_identity(manifest),
    }
    state = _start_state(config, out, identity)
    torch.manual_seed(settings["seed"])  # the initial weights, then dropout, follow the seed
    model = build_model(config.model, vectors.vectors.shape[1], **config.model_options).to(context.device)
    if state:
        model.load_state_dict(state["state_dict"])
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=settings["lr"])
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, settings["milestones"], settings["gamma"])
    amp_dtype = torch.bfloat16 if settings["amp_dtype"] == "bf16" else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=settings["amp"] and amp_dtype == torch.float16)
    if state:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        restore_rng(state["rng"], context)
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
    per_rank = settings["batch_per_process"]
    loader = make_loader(
        EpochItems(dataset), per_rank, config.workers, sampler=sampler, seed=settings["seed"], options=config.loading
    )
    loader.worker_init_fn = functools.partial(quiet_worker, then=loader.worker_init_fn)
    targets = torch.from_numpy(vectors.vectors).to(context.device)
    if config.channels_last and context.device.type == "cuda":
        model.to(memory_format=torch.channels_last_3d)
    decoders: dict[str, int] = dict(state.get("reading", {}).get("videos_read", {})) if state else {}
    epoch, step, global_step = (state["epoch"], state["step"], state["global_step"]) if state else (0, 0, 0)
    account = DataAccount(manifest, classes.classes, state)
    log = _metrics_log(out, context, config.tensorboard, state)
    last_loss = float(state.get("last_loss", math.nan)) if state else math.nan
    stopped_early, started = False, time.perf_counter()

    def save(finished: bool, **extra: Any) -> None:
        """Write the checkpoint as of the last finished step (collective: every rank calls it)."""
        account.merge(context)
        rng = rng_states(context)
        if not context.is_main:
            return
        data = account.verdict(config.failure_budget, config.class_failure_budget)
        save_checkpoint(out / CHECKPOINT, {
            **identity,
            "state_dict": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "rng": rng,
            "epoch": epoch, "step": step, "global_step": global_step, "last_loss": last_loss,
            "compliance": {**compliance, "unseen_classes": data["unseen_classes"]},
            "failures": account.failures, "data": data,
            "reading": {"decoder": decoder_identity(config.loading.decoder), "videos_read": decoders,
                        "prepared": manifest.prepared, "classes_seen": sorted(account.seen)},
            "finished": finished, "zslbench_version": __version__, **extra,
        })  # fmt: skip

    signals = StopSignals()
    try:
        with signals:
            while epoch < settings["epochs"]:
                sampler.set_epoch(epoch)
                sampler.skip = step * per_rank
                net.train()
                for batch in loader:
                    account.add(batch)
                    for decoder in batch["decoders"]:
                        decoders[decoder] = decoders.get(decoder, 0) + 1
                    if len(batch["labels"]):
                        loss = _step(net, batch, targets, optimizer, scaler, spec, settings, config, context)
                        last_loss = _finite(loss, epoch, step, out)
                    step += 1
                    global_step += 1
                    record = {
                        "epoch": epoch + 1, "step": step, "steps": len(loader) + sampler.skip // per_rank,
                        "global_step": global_step, "loss": last_loss, "lr": optimizer.param_groups[0]["lr"],
                        "clips": _clips(batch), "elapsed_s": round(time.perf_counter() - started, 3),
                        "failures": len(account.failures),
                    }  # fmt: skip
                    if progress and context.is_main:
                        progress(record)
                    if step % config.log_every == 0:
                        log.write(record)
                    if config.max_steps is not None and global_step >= config.max_steps:
                        raise _Stop(None)
                    if (signum := signals.agreed(context)) is not None:
                        raise _Stop(signum)
                epoch, step = epoch + 1, 0
                scheduler.step()
                log.write({"epoch": epoch, "epoch_done": True, "global_step": global_step, "loss": last_loss,
                           "elapsed_s": round(time.perf_counter() - started, 3),
                           "failures": len(account.failures)})  # fmt: skip
                if epoch < settings["epochs"]:  # the last epoch's checkpoint is the final one below
                    save(finished=False)
    except _Stop as stop:
        save(finished=False)
        if stop.signum is not None:
            raise TrainingInterrupted(out / CHECKPOINT, stop.signum, epoch, step, global_step) from None
        stopped_early = True
    sync_buffers(context, model)
    hashes = gather(context, weights_sha256(model.state_dict())[:16])
    if not stopped_early:
        save(finished=True, replica_hashes=hashes)
        if context.is_main:
            _write_failures(out, account.failures)
    barrier(context)
    data = account.verdict(config.failure_budget, config.class_failure_budget)
    return TrainResult(
        out / CHECKPOINT, epoch, global_step, last_loss, len(classes), len(manifest), len(account.failures),
        compliance["compliant"], stopped_early, hashes, complete=data["complete"], data=data,
    )  # fmt: skip


def _step(net, batch, targets, optimizer, scaler, spec, settings, config, context) -> torch.Tensor:
    """One optimisation step on a batch of decoded clips; returns the loss. A non-finite loss returns
    before any gradient step, so the last checkpoint's weights stay the last good ones."""
    clips = batch["clips"].to(context.device, non_blocking=True)
    clips = to_model_input(clips, spec.mean, spec.std, config.channels_last)
    labels = batch["labels"].to(context.device, non_blocking=True)
    dtype = torch.bfloat16 if settings["amp_dtype"] == "bf16" else torch.float16
    with torch.autocast(context.device.type, dtype=dtype, enabled=settings["amp"]):
        predicted = net(clips)
    loss = embedding_loss(predicted.float(), labels, targets, settings["loss"])
    if not torch.isfinite(loss):
        return loss
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return loss


def _finite(loss: torch.Tensor, epoch: int, step: int, out: Path) -> float:
    """The loss as a float; a NaN or inf loss stops the run (before its step moved any weight)."""
    value = float(loss.detach())
    if not math.isfinite(value):
        raise ZslbenchError(
            f"the loss became {value} at epoch {epoch + 1}, step {step + 1}; training stopped",
            f"the last good checkpoint is {out / CHECKPOINT}; lower the learning rate (--lr)",
        )
    return value


def _clips(batch: dict[str, Any]) -> int:
    clips = batch["clips"]
    return int(clips.shape[0] * clips.shape[1]) if clips.ndim == 6 else 0


def protocol_reference(protocol: Protocol) -> dict[str, Any]:
    """How a checkpoint names its protocol: evaluation refuses any other fingerprint."""
    return {"name": protocol.name, "version": protocol.version, "fingerprint": protocol.fingerprint,
            "path": str(protocol.path)}  # fmt: skip


class _Stop(Exception):
    """Leave the loop at a step boundary: `--max-steps` (signum None) or a signal."""

    def __init__(self, signum: int | None) -> None:
        super().__init__(signum)
        self.signum = signum


def _per_rank_batch(batch_size: int, world_size: int) -> int:
    """The protocol's batch is the global batch of one step, whatever the number of processes."""
    if batch_size % world_size:
        raise ZslbenchError(
            f"a batch of {batch_size} videos does not split over {world_size} processes",
            f"pass --batch-size as a multiple of {world_size}; it is the global batch of one step",
        )
    return batch_size // world_size


def resolve_settings(protocol: Protocol, config: TrainConfig, context: Context | None = None) -> dict[str, Any]:
    """Every setting that shapes the run's numbers, resolved (the protocol's unless given): recorded in
    each checkpoint, and a resumed run must repeat them. Workers, decoder and layout do not count."""
    train = protocol.data["train"]

    def given(value: Any, default: Any) -> Any:
        return default if value is None else value

    world_size = context.world_size if context else 1
    amp = config.amp and context is not None and context.device.type == "cuda"
    settings = {
        "epochs": given(config.epochs, train["epochs"]),
        "batch_size": given(config.batch_size, train["batch_size"]),
        "processes": world_size,
        "lr": given(config.lr, train["lr"]),
        "optimizer": "adam",
        "milestones": list(train["lr_milestones"]),
        "gamma": train["lr_gamma"],
        "loss": given(config.loss, train["loss"]),
        "seed": given(config.seed, train["seed"]),
        "amp": amp,
        "amp_dtype": config.amp_dtype if amp else None,
    }
    for name, bound in (("epochs", COUNT), ("batch_size", COUNT), ("lr", LEARNING_RATE), ("seed", SEED)):
        settings[name] = bound.check(settings[name], name)  # also for Python callers and protocol files
    settings["batch_per_process"] = _per_rank_batch(settings["batch_size"], world_size)
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


def _start_state(config: TrainConfig, out: Path, identity: dict[str, Any]) -> dict[str, Any] | None:
    """The checkpoint to continue (refused unless it is the same run), or None for a new run."""
    path = out / CHECKPOINT
    if not config.resume:
        if path.exists():
            raise ZslbenchError(f"{path} exists", "pass --resume to continue that run, or choose a new --out")
        return None
    if not path.exists():
        raise ZslbenchError(f"nothing to resume: {path} does not exist", "drop --resume to start a new run")
    state = load_checkpoint(path)
    check_resumable(path, state, identity)
    return state


def _metrics_log(out: Path, context: Context, tensorboard: bool, state: dict[str, Any] | None) -> MetricsLog:
    # a new run starts at step 0: rows of a run killed before its first checkpoint are dropped too
    resumed_at = (int(state["global_step"]), int(state["epoch"])) if state else (0, 0)
    return MetricsLog(out, context.is_main, tensorboard, resumed_at)


def _write_failures(out: Path, failures: dict[str, str]) -> None:
    from zslbench.core.atomic import write_text

    write_text(out / "decode_failures.json", json.dumps(failures, indent=2, sort_keys=True) + "\n")
