"""Training a registered model on a protocol's source classes: one process, or many under torchrun.

Before the first step the source classes are filtered by the protocol's rule (or a given class list
is audited); a list that breaks the rule is refused unless `allow_overlap`, which is then recorded in
every checkpoint. Each item's randomness comes from (seed, epoch, index) and the shuffling from
(seed, epoch); checkpoints are written between steps and carry every rank's RNG states and the
gradient scaler, so `resume` continues bit for bit (see zslbench.training.state). Videos that fail to
decode are dropped from their batch and judged against a failure budget, overall and per class: a run
that never saw a class finishes, but is not complete.

The run reads top to bottom: `_set_up`, then `_run_epoch` until the last epoch is done or a step
ends the run early (`--max-steps`, or Ctrl-C: `EpochEnd` says which), then `_finish`. Ctrl-C is no
exception to the caller: the result says which signal stopped the run (`TrainResult.interrupted_by`).
"""

from __future__ import annotations

import enum
import functools
import itertools
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from zslbench import __version__
from zslbench.core.distributed import Context, barrier, gather, setup, sync_buffers, teardown
from zslbench.core.errors import ZslbenchError, named
from zslbench.models import ANY_BACKBONE, ModelSpec, build_model, model_spec, provenance_key
from zslbench.models.checkpoint import (
    CHECKPOINT,
    load_checkpoint,
    save_checkpoint,
    weights_sha256,
)
from zslbench.models.losses import build_loss
from zslbench.protocol.compliance import training_classes
from zslbench.protocol.snapshot import write_snapshot
from zslbench.protocol.spec import Protocol, load_protocol
from zslbench.text import load_embedder
from zslbench.text.class_vectors import embed_class_lists
from zslbench.text.vocab import ClassList
from zslbench.training.config import TrainConfig, TrainResult
from zslbench.training.loggers import Trackers, check_trackers, open_trackers
from zslbench.training.objective import FixedClasses, Objective
from zslbench.training.selection import SelectionOnTest
from zslbench.training.settings import protocol_reference, resolve_settings, steps_per_epoch
from zslbench.training.state import (
    DataAccount,
    MetricsLog,
    StopSignals,
    TrainingState,
    check_resumable,
    quiet_worker,
    rng_states,
    videos_identity,
)
from zslbench.training.video_text import ClassTexts, VideoEmbeddings, VideoTextParts, freeze_all_but, video_text_parts
from zslbench.video.dataset import VideoClipDataset, make_loader
from zslbench.video.decode import decoder_identity
from zslbench.video.manifest import Manifest
from zslbench.video.sampler import ClipSpec
from zslbench.video.sources import check_data_names, dataset_videos
from zslbench.video.transforms import to_model_input

Progress = Callable[[dict[str, Any]], None]  # called with each step's record, on the main rank


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


class Stop(enum.Enum):
    """Why an epoch's loop returned."""

    EPOCH_DONE = "epoch done"  # every batch of the epoch was trained on
    MAX_STEPS = "max steps"  # `--max-steps` reached: a resumable checkpoint, then the usual finish
    SIGNAL = "signal"  # Ctrl-C on some rank: a resumable checkpoint, and nothing more


@dataclass(frozen=True)
class EpochEnd:
    """What `_run_epoch` returns: why it stopped, and with `Stop.SIGNAL` which signal (SIGINT: 2)."""

    stop: Stop
    signum: int | None = None


@dataclass
class _Run:
    """A training run once set up: what the epoch, checkpoint and finish functions share."""

    config: TrainConfig
    context: Context
    settings: dict[str, Any]  # resolve_settings: recorded in every checkpoint
    spec: ModelSpec
    identity: dict[str, Any]  # the checkpoint's first keys, which a resume must match
    compliance: dict[str, Any]  # the rule's verdict on the training classes
    classes: int  # how many training classes
    manifest: Manifest  # the training videos
    state: TrainingState
    net: torch.nn.Module  # the Objective (model, class embeddings, loss), or its DDP wrapper under torchrun
    clips_spec: ClipSpec  # how training reads videos: the protocol's clips, or a video-text model's input
    stats: tuple[tuple[float, ...], tuple[float, ...]]  # the model's input mean and std
    sampler: EpochSampler
    loader: DataLoader
    account: DataAccount
    log: MetricsLog
    progress: Progress | None
    started: float  # time.perf_counter() before the first step
    selection: SelectionOnTest | None = None  # --select-on-test: each epoch's checkpoint scored on the test sets
    trackers: Trackers = field(default_factory=Trackers)  # --logger: what metrics.jsonl gets, main rank only

    @property
    def out(self) -> Path:
        return Path(self.config.out)

    @property
    def per_rank(self) -> int:
        """Videos per step on each rank (see settings.per_rank_batch)."""
        return self.settings["batch_per_process"]

    @property
    def epoch_steps(self) -> int:
        """Steps in the epoch under way: every batch, or fewer with clips_per_epoch."""
        return steps_per_epoch(self.settings, len(self.loader) + self.sampler.skip // self.per_rank)

    def elapsed(self) -> float:
        """Seconds since the first step, to the millisecond, as metrics rows give them."""
        return round(time.perf_counter() - self.started, 3)


def train(config: TrainConfig, progress: Progress | None = None) -> TrainResult:
    """Train `config.model` (on videos, or on a features file with `config.features`); see TrainResult.

    A signal (Ctrl-C) stops the run between two steps with a resumable checkpoint, and the result
    says so (`interrupted_by`); a second Ctrl-C raises KeyboardInterrupt at once. Bad input, a
    refused resume or a non-finite loss raise ZslbenchError; so does a tracker (`config.loggers`) whose
    library does not import, before any work."""
    check_trackers(config.loggers)
    if config.features is not None:
        from zslbench.training.on_features import train_on_features

        if config.select_on_test:
            select, features = named("--select-on-test", "select_on_test"), named("--features", "features")
            raise ZslbenchError(f"{select} trains on videos only", f"drop {features} or {select}")
        if config.loggers:
            logger, features = named("--logger", "loggers"), named("--features", "features")
            raise ZslbenchError(
                f"{logger} follows training on videos; a fit on {features} logs no metrics", f"drop {logger}"
            )

        return train_on_features(config, progress)
    spec = model_spec(config.model)
    if spec.kind == "features" and spec.backbone == ANY_BACKBONE:
        from zslbench.evaluation.backbone_features import EXTRACT_HINT

        raise ZslbenchError(
            f"{spec.name} trains on backbone features, not on videos",
            f"pass {named('--features F.npz', 'features=F.npz')}; {EXTRACT_HINT}",
        )
    context = setup(config.device)
    try:
        run = _set_up(config, context, progress)
        run.trackers = _trackers(run)
        try:
            result = _finish(run, _train_epochs(run))
        except BaseException:
            run.trackers.close("failed")
            raise
        run.trackers.close("interrupted" if result.interrupted_by is not None else "finished")
        return result
    finally:
        teardown(context)


def _set_up(config: TrainConfig, context: Context, progress: Progress | None) -> _Run:
    """Everything before the first step, in an order a resumed run repeats: the classes (filtered by
    the rule or audited), the model (a video-text model is read from --init here), their videos, the
    checkpoint to continue (refused unless the same run), the state, the data loader, and last the
    metrics log, which creates OUT."""
    protocol = load_protocol(config.protocol)
    embedder = load_embedder(protocol.embedding, word_norm=protocol.word_norm)
    classes, compliance = training_classes(protocol, embedder, config.classes, config.allow_overlap)
    spec = model_spec(config.model)
    parts = None
    if spec.kind == "video_text":
        parts = video_text_parts(spec, config.model_options, protocol, config.image_text)
    temperature = parts.module.temperature() if parts else None
    settings = resolve_settings(protocol, config, context, temperature, video_text=parts is not None)
    clips = parts.clips if parts else ClipSpec.from_protocol(protocol.data["clips"])
    manifest = _training_videos(protocol, config, classes, clips)
    targets = None if parts else torch.from_numpy(embed_class_lists([classes], embedder)[0].vectors)
    embed_dim = int(parts.width() if parts else targets.shape[1])
    identity = {
        "model": {"name": spec.name, "options": {**spec.options, **config.model_options}, "embed_dim": embed_dim},
        "settings": settings,
        "protocol": protocol_reference(protocol),
        "classes": list(classes.classes),
        "embedder_id": embedder.id,
        "pretrained_on": config.pretrained_on,
        "videos": videos_identity(manifest),
    }
    identity["model"].update(provenance_key(spec.name))  # a plugin's distribution and version
    if parts is not None:
        identity["model"]["kind"] = "video_text"
        identity["video_text"] = parts.record
    if (seen := _init_pretraining(config)) is not None:
        identity["pretraining"] = seen
    saved = _start_state(config, Path(config.out), identity)
    selection = SelectionOnTest.start(config, protocol, context, saved)  # refused here, before the first step
    state = _new_state(config, settings, embed_dim, context, saved, parts)
    objective = _objective(state, classes, targets, parts, settings, context)
    sampler, loader = _data_loader(config, context, settings, clips, manifest, classes)
    if config.channels_last and context.device.type == "cuda" and parts is None:
        state.model.to(memory_format=torch.channels_last_3d)
    if context.is_main:  # every check passed; the run folder evaluates anywhere (RUN/protocol/protocol.yaml)
        write_snapshot(identity["protocol"]["snapshot"], Path(config.out) / "protocol")
    return _Run(
        config=config,
        context=context,
        settings=settings,
        spec=spec,
        identity=identity,
        compliance=compliance,
        classes=len(classes),
        manifest=manifest,
        state=state,
        net=_replicated(objective, context),
        clips_spec=clips,
        stats=(parts.module.input.mean, parts.module.input.std) if parts else (spec.mean, spec.std),
        sampler=sampler,
        loader=loader,
        account=DataAccount(manifest, classes.classes, saved),
        log=_metrics_log(Path(config.out), context, saved),
        progress=progress,
        started=time.perf_counter(),
        selection=selection,
    )


def _objective(
    state: TrainingState,
    classes: ClassList,
    targets: torch.Tensor | None,
    parts: VideoTextParts | None,
    settings: dict[str, Any],
    context: Context,
) -> Objective:
    """What a step differentiates: the model against the protocol's class vectors, or a video-text
    model against its text tower's embeddings of the training classes (frozen or tuned)."""
    if parts is None:
        return Objective(state.model, FixedClasses(targets.to(context.device)), state.loss)
    tuned = settings["text_tower"] == "tuned"
    texts = ClassTexts(parts.module, parts.text.texts(classes.classes), len(classes), tuned)
    return Objective(VideoEmbeddings(parts.module), texts, state.loss)


def _init_pretraining(config: TrainConfig) -> dict[str, Any] | None:
    """What a zslbench checkpoint given as --init saw: its training classes and its own pretraining
    (Eq. 3 covers both), as `extract --init` records it; None for other weights, whose pretraining is
    what --pretrained-on declares, or unknown."""
    from zslbench.models.checkpoint import load_checkpoint
    from zslbench.protocol.compliance import checkpoint_as_init, declare

    init = config.model_options.get("init")
    if not init:
        return None
    try:
        state = load_checkpoint(init)
    except ZslbenchError:  # a torchvision state dict, say
        return None
    seen = checkpoint_as_init(state, f"{state['model']['name']} checkpoint {Path(init).name}")
    return declare(seen, config.pretrained_on).to_dict()


def _training_videos(protocol: Protocol, config: TrainConfig, classes: ClassList, clips: ClipSpec) -> Manifest:
    """The source dataset's videos of the training classes (`--data`), in the manifest's order."""
    check_data_names(config.data, protocol.dataset_names())
    manifest = dataset_videos(protocol.source_classes(), config.data, config.loading.decoder, clips)
    return manifest.only(set(classes.classes))


def _new_state(
    config: TrainConfig,
    settings: dict[str, Any],
    embed_dim: int,
    context: Context,
    saved: dict[str, Any] | None,
    parts: VideoTextParts | None = None,
) -> TrainingState:
    """The model with seeded initial weights (dropout then follows the seed too), or the video-text
    model read from --init with all but its fine-tuned parameters frozen; the loss (a learnable
    temperature is a parameter); Adam with step decay and the gradient scaler (on with fp16 AMP only);
    a resumed run's as its checkpoint left them."""
    torch.manual_seed(settings["seed"])
    if parts is None:
        model = build_model(config.model, embed_dim, **config.model_options).to(context.device)
        trainable = [p for p in model.parameters() if p.requires_grad]
    else:
        model = parts.module.to(context.device)
        trainable = freeze_all_but(model, settings["text_tower"])
    loss = build_loss(settings["loss"], settings.get("temperature"), settings.get("learn_temperature", False))
    loss = loss.to(context.device)
    optimizer = torch.optim.Adam([*trainable, *loss.parameters()], lr=settings["lr"])
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, settings["milestones"], settings["gamma"])
    fp16 = settings["amp"] and _amp_dtype(settings) == torch.float16
    state = TrainingState(model, optimizer, scheduler, torch.amp.GradScaler("cuda", enabled=fp16), loss=loss)
    if saved:
        state.restore(saved, context)
    return state


def _replicated(model: torch.nn.Module, context: Context) -> torch.nn.Module:
    """The model to step: wrapped in DistributedDataParallel under torchrun, else itself."""
    if not context.distributed:
        return model
    device_ids = [context.device] if context.device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def _data_loader(
    config: TrainConfig,
    context: Context,
    settings: dict[str, Any],
    clips: ClipSpec,
    manifest: Manifest,
    classes: ClassList,
) -> tuple[EpochSampler, DataLoader]:
    """This rank's share of the training clips, `batch_per_process` at a time; loader workers ignore
    Ctrl-C (see quiet_worker), so a stop always finishes the step under way."""
    dataset = VideoClipDataset(
        records=manifest.records,
        classes=classes.classes,
        spec=clips,
        mode="train",
        seed=settings["seed"],
        decode_threads=1 if config.workers else 0,
        backend=config.loading.decoder,
    )
    sampler = EpochSampler(dataset, context.world_size, context.rank, shuffle=True, seed=settings["seed"])
    loader = make_loader(
        EpochItems(dataset),
        settings["batch_per_process"],
        config.workers,
        sampler=sampler,
        seed=settings["seed"],
        options=config.loading,
    )
    loader.worker_init_fn = functools.partial(quiet_worker, then=loader.worker_init_fn)
    return sampler, loader


def _train_epochs(run: _Run) -> EpochEnd:
    """Train until the last epoch is done or a step ends the run early. Ctrl-C only asks for a stop
    meanwhile (StopSignals); its usual meaning is back when this returns."""
    if run.selection is not None:
        run.selection.catch_up(run.state.epoch, run.state.step)
    with StopSignals() as signals:
        while run.state.epoch < run.settings["epochs"]:
            end = _run_epoch(run, signals)
            if end.stop is not Stop.EPOCH_DONE:
                return end
            _end_epoch(run)
    return EpochEnd(Stop.EPOCH_DONE)


def _run_epoch(run: _Run, signals: StopSignals) -> EpochEnd:
    """The rest of epoch `run.state.epoch` (a resumed run skips the batches its checkpoint had seen);
    it returns early, between two steps, on `--max-steps` or a signal that any rank received."""
    state, max_steps = run.state, run.config.max_steps
    run.sampler.set_epoch(state.epoch)
    run.sampler.skip = state.step * run.per_rank
    run.net.train()
    left = run.epoch_steps - state.step  # clips_per_epoch may end the epoch before the data does
    for batch in itertools.islice(run.loader, max(left, 0)):
        _train_step(run, batch)
        _report_step(run, batch)
        if max_steps is not None and state.global_step >= max_steps:
            return EpochEnd(Stop.MAX_STEPS)
        if (signum := signals.agreed(run.context)) is not None:
            return EpochEnd(Stop.SIGNAL, signum)
    return EpochEnd(Stop.EPOCH_DONE)


def _train_step(run: _Run, batch: dict[str, Any]) -> None:
    """Account for the batch's videos and take one step on those that decoded (none: no step)."""
    state = run.state
    run.account.add(batch)
    if len(batch["labels"]):
        state.last_loss = _finite(_optimise(run, batch), state.epoch, state.step, run.out)
    state.step += 1
    state.global_step += 1


def _report_step(run: _Run, batch: dict[str, Any]) -> None:
    """The step's record: to `progress` on the main rank, and every `log_every` steps to metrics.jsonl."""
    state = run.state
    record = {
        "epoch": state.epoch + 1,
        "step": state.step,
        "steps": run.epoch_steps,
        "global_step": state.global_step,
        "loss": state.last_loss,
        "lr": state.optimizer.param_groups[0]["lr"],
        "clips": _clips(batch),
        "elapsed_s": run.elapsed(),
        "failures": len(run.account.failures),
        **_learned(run),
    }
    if run.progress and run.context.is_main:
        run.progress(record)
    if state.step % run.config.log_every == 0:
        _log_row(run, record)


def _end_epoch(run: _Run) -> None:
    """Count the epoch done, step the learning rate schedule, log the epoch's row and save; the last
    epoch's checkpoint is the final one, which `_finish` writes."""
    state = run.state
    state.epoch, state.step = state.epoch + 1, 0
    state.scheduler.step()
    row = {
        "epoch": state.epoch,
        "epoch_done": True,
        "global_step": state.global_step,
        "loss": state.last_loss,
        "elapsed_s": run.elapsed(),
        "failures": len(run.account.failures),
        **_learned(run),
    }
    _log_row(run, row)
    if state.epoch < run.settings["epochs"]:
        _save(run, finished=False)
        if run.selection is not None:
            run.selection.after_epoch(state.epoch)


def _optimise(run: _Run, batch: dict[str, Any]) -> torch.Tensor:
    """One optimisation step on a batch of decoded clips; returns the loss (a 0-d tensor). A
    non-finite loss returns before any gradient step, so the last checkpoint's weights stay the last
    good ones."""
    context, settings, state = run.context, run.settings, run.state
    clips = batch["clips"].to(context.device, non_blocking=True)
    clips = to_model_input(clips, *run.stats, run.config.channels_last and run.spec.kind != "video_text")
    labels = batch["labels"].to(context.device, non_blocking=True)
    with torch.autocast(context.device.type, dtype=_amp_dtype(settings), enabled=settings["amp"]):
        loss = run.net(clips, labels)
    if not torch.isfinite(loss):
        return loss
    state.optimizer.zero_grad(set_to_none=True)
    state.scaler.scale(loss).backward()
    state.scaler.step(state.optimizer)
    state.scaler.update()
    return loss


def _save(run: _Run, finished: bool, replica_hashes: list[str] | None = None) -> None:
    """Write OUT/checkpoint.pt as of the last finished step. Collective: every rank calls it (the
    failures and RNG states are gathered), the main rank writes. `replica_hashes`: the final one's."""
    run.account.merge(run.context)
    rng = rng_states(run.context)
    if run.context.is_main:
        save_checkpoint(run.out / CHECKPOINT, _checkpoint(run, rng, finished, replica_hashes))


def _checkpoint(run: _Run, rng: dict[str, Any], finished: bool, replica_hashes: list[str] | None) -> dict[str, Any]:
    """The checkpoint's payload, its keys in the order the format has always had."""
    account, config = run.account, run.config
    data = account.verdict(config.failure_budget, config.class_failure_budget)
    payload = {
        **run.identity,
        **run.state.to_checkpoint(rng),
        "compliance": {**run.compliance, "unseen_classes": data["unseen_classes"]},
        "failures": account.failures,
        "data": data,
        "reading": {
            "decoder": decoder_identity(config.loading.decoder),
            "videos_read": account.videos_read,
            "prepared": run.manifest.prepared,
            "classes_seen": sorted(account.seen),
        },
        "finished": finished,
        "zslbench_version": __version__,
    }
    if replica_hashes is not None:
        payload["replica_hashes"] = replica_hashes
    return payload


def _finish(run: _Run, end: EpochEnd) -> TrainResult:
    """A run stopped early saves where it stopped; a signal ends it there. Otherwise the replicas'
    buffers are made to agree and their weights hashed; a finished run then writes its final
    checkpoint and OUT/decode_failures.json."""
    if end.stop is not Stop.EPOCH_DONE:
        _save(run, finished=False)
    if end.signum is not None:
        return _result(run, replica_hashes=[], stopped_early=True, interrupted_by=end.signum)
    stopped_early = end.stop is Stop.MAX_STEPS
    sync_buffers(run.context, run.state.model)
    hashes = gather(run.context, weights_sha256(run.state.model.state_dict())[:16])
    if not stopped_early:
        if run.selection is not None:  # single process only; scored before the run is finished, so
            _save(run, finished=False, replica_hashes=hashes)  # a run killed meanwhile resumes into it
            run.selection.catch_up(run.state.epoch, run.state.step)
        _save(run, finished=True, replica_hashes=hashes)
        if run.context.is_main:
            _write_failures(run.out, run.account.failures)
    barrier(run.context)
    return _result(run, replica_hashes=hashes, stopped_early=stopped_early)


def _result(
    run: _Run, replica_hashes: list[str], stopped_early: bool, interrupted_by: int | None = None
) -> TrainResult:
    data = run.account.verdict(run.config.failure_budget, run.config.class_failure_budget)
    state = run.state
    return TrainResult(
        checkpoint=run.out / CHECKPOINT,
        epochs=state.epoch,
        steps=state.global_step,
        last_loss=state.last_loss,
        classes=run.classes,
        videos=len(run.manifest),
        failures=len(run.account.failures),
        compliant=run.compliance["compliant"],
        stopped_early=stopped_early,
        replica_hashes=replica_hashes,
        complete=data["complete"],
        data=data,
        interrupted_by=interrupted_by,
        epoch_step=state.step,
        selected_on_test=run.selection.summary() if run.selection is not None else None,
    )


def _learned(run: _Run) -> dict[str, float]:
    """The loss's learned state (its temperature) for metrics rows, when the run learns it."""
    return run.state.loss.describe() if run.settings.get("learn_temperature") else {}


def _amp_dtype(settings: dict[str, Any]) -> torch.dtype:
    return torch.bfloat16 if settings["amp_dtype"] == "bf16" else torch.float16


def _finite(loss: torch.Tensor, epoch: int, step: int, out: Path) -> float:
    """The loss as a float; a NaN or inf loss stops the run (before its step moved any weight)."""
    value = float(loss.detach())
    if not math.isfinite(value):
        raise ZslbenchError(
            f"the loss became {value} at epoch {epoch + 1}, step {step + 1}; training stopped",
            f"the last good checkpoint is {out / CHECKPOINT}; lower the learning rate ({named('--lr', 'lr')})",
        )
    return value


def _clips(batch: dict[str, Any]) -> int:
    """Clips in the batch: videos x clips per video (0 when every video failed to decode)."""
    clips = batch["clips"]
    return int(clips.shape[0] * clips.shape[1]) if clips.ndim == 6 else 0


def _start_state(config: TrainConfig, out: Path, identity: dict[str, Any]) -> dict[str, Any] | None:
    """The checkpoint to continue (refused unless it is the same run), or None for a new run."""
    path = out / CHECKPOINT
    if not config.resume:
        if path.exists():
            resume, new_out = named("--resume", "resume=True"), named("--out", "out")
            raise ZslbenchError(f"{path} exists", f"pass {resume} to continue that run, or choose a new {new_out}")
        return None
    if not path.exists():
        resume = named("--resume", "resume=True")
        raise ZslbenchError(f"nothing to resume: {path} does not exist", f"drop {resume} to start a new run")
    state = load_checkpoint(path)
    check_resumable(path, state, identity)
    return state


def _metrics_log(out: Path, context: Context, state: dict[str, Any] | None) -> MetricsLog:
    # a new run starts at step 0: rows of a run killed before its first checkpoint are dropped too
    resumed_at = (int(state["global_step"]), int(state["epoch"])) if state else (0, 0)
    return MetricsLog(out, context.is_main, resumed_at)  # TensorBoard is a tracker (_trackers)


def _log_row(run: _Run, row: dict[str, Any]) -> None:
    """A metrics row to OUT/metrics.jsonl and to the run's experiment trackers (both on the main rank only)."""
    run.log.write(row)
    run.trackers.row(row)


def _trackers(run: _Run) -> Trackers:
    """The run's experiment trackers (`--logger`), started on the main rank with the run's settings;
    a resumed run logs from the step after its checkpoint's."""
    if not run.config.loggers or not run.context.is_main:
        return Trackers()
    identity = run.identity
    settings = {
        "model": identity["model"],
        "settings": run.settings,
        "protocol": {key: value for key, value in identity["protocol"].items() if key != "snapshot"},
        "embedder_id": identity["embedder_id"],
        "pretrained_on": identity["pretrained_on"],
        "classes": run.classes,
        "videos": len(run.manifest),
        "compliant": run.compliance["compliant"],
        "resumed_at_step": run.state.global_step,
        "out": str(run.out),
    }
    return open_trackers(run.config.loggers, run.out, run.state.global_step + 1, settings)


def _write_failures(out: Path, failures: dict[str, str]) -> None:
    from zslbench.core.atomic import write_text

    write_text(out / "decode_failures.json", json.dumps(failures, indent=2, sort_keys=True) + "\n")
