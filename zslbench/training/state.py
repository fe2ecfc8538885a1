"""What a training run carries across a stop, so that `--resume` continues it bit for bit.

- Ctrl-C (SIGINT) only asks for a stop; the loop honours it between two steps, on every rank at the
  same step, so the checkpoint never holds a half-done step (batch-norm statistics moved, dropout
  drawn, no optimizer step). A second Ctrl-C stops at once and keeps the last checkpoint.
- Every rank's CPU and CUDA RNG states are saved and restored (dropout draws from them), with the
  model, optimizer, scheduler, gradient scaler and step counters (`TrainingState`).
- A resumed run must be the same run: any setting that would change its numbers is refused.
- metrics.jsonl loses the rows written after the checkpoint, so a resumed run never repeats one.
- Videos that failed to decode are counted per class over all ranks, for the failure budget.
"""

from __future__ import annotations

import hashlib
import json
import math
import signal
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import torch
import torch.distributed as dist

from zslbench.core.distributed import Context, gather
from zslbench.core.errors import ZslbenchError, named
from zslbench.models.checkpoint import failure_verdict
from zslbench.video.manifest import Manifest

OUT = named("--out", "out")  # as errors name the run folder
RESUME_HINT = (
    "pass the settings of the run being resumed ("
    + named("its command plus --resume", "its TrainConfig with resume=True")
    + f"), or start a new {OUT}"
)


class StopSignals:
    """SIGINT during training: the first one sets `received`; a second raises KeyboardInterrupt at once.

    Installed only in the main thread (Python delivers signals there); elsewhere Ctrl-C keeps its
    usual meaning.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            raise KeyboardInterrupt
        self.received = signum

    def agreed(self, context: Context) -> int | None:
        """The signal any rank received, on every rank (an all-reduce per step under torchrun)."""
        if not context.distributed:
            return self.received
        flag = torch.tensor([self.received or 0], dtype=torch.int64, device=context.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return int(flag.item()) or None


def quiet_worker(worker_id: int, then: Callable[[int], None] | None = None) -> None:
    """A loader worker ignores Ctrl-C: a terminal (and torchrun) signals the whole process group, and
    a worker that died would break the step the trainer finishes before it stops. `then`: the
    loader's own worker_init_fn (use functools.partial, which pickles for spawned workers)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if then is not None:
        then(worker_id)


def rng_states(context: Context) -> dict[str, Any]:
    """Every rank's RNG states (CPU, and CUDA on a GPU), gathered on every rank."""
    mine: dict[str, Any] = {"torch": torch.get_rng_state()}
    if context.device.type == "cuda":
        mine["cuda"] = torch.cuda.get_rng_state(context.device)
    ranks = gather(context, mine)
    return {"torch": ranks[0]["torch"], "ranks": ranks}


def restore_rng(saved: dict[str, Any], context: Context) -> None:
    """Set this rank's RNG states from `rng_states`' answer (an older checkpoint holds one CPU state)."""
    mine = saved["ranks"][context.rank] if "ranks" in saved else {"torch": saved["torch"]}
    torch.set_rng_state(mine["torch"])
    if "cuda" in mine and context.device.type == "cuda":
        torch.cuda.set_rng_state(mine["cuda"], context.device)


@dataclass
class TrainingState:
    """What a checkpoint carries of the optimisation itself: the model, its optimizer, scheduler and
    gradient scaler, and where the run is. `epoch` counts the epochs done, `step` the steps done in
    the epoch after them, `global_step` every step so far; `last_loss` is NaN before the first step."""

    model: torch.nn.Module  # never the DDP wrapper: its state dict has no `module.` prefix
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    loss: torch.nn.Module | None = None  # the loss, whose state (a learned temperature) the checkpoint keeps
    epoch: int = 0
    step: int = 0
    global_step: int = 0
    last_loss: float = math.nan

    def to_checkpoint(self, rng: dict[str, Any]) -> dict[str, Any]:
        """The checkpoint's keys for this state, in the checkpoint's order; `rng` is `rng_states`'
        answer (a collective, so every rank gathers it before the main one writes)."""
        return {
            "state_dict": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            **({"loss_state": loss_state} if (loss_state := self._loss_state()) else {}),
            "rng": rng,
            "epoch": self.epoch,
            "step": self.step,
            "global_step": self.global_step,
            "last_loss": self.last_loss,
        }

    def _loss_state(self) -> dict[str, Any]:
        return dict(self.loss.state_dict()) if self.loss is not None else {}

    def restore(self, saved: dict[str, Any], context: Context) -> None:
        """Continue from checkpoint `saved` (checked by `check_resumable`): weights, optimizer,
        scheduler, scaler (absent or empty when it was off), this rank's RNG states and counters."""
        self.model.load_state_dict(saved["state_dict"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        if saved.get("scaler"):
            self.scaler.load_state_dict(saved["scaler"])
        if self.loss is not None and saved.get("loss_state"):
            self.loss.load_state_dict(saved["loss_state"])
        restore_rng(saved["rng"], context)
        self.epoch, self.step, self.global_step = saved["epoch"], saved["step"], saved["global_step"]
        self.last_loss = float(saved.get("last_loss", math.nan))


def videos_identity(manifest: Manifest) -> dict[str, Any]:
    """The training videos as a resumed run must see them: count, and a hash of (file name, label,
    size, mtime) in order. Names, not paths, so a dataset may move between a stop and its resume
    (a move keeps size and mtime); size and mtime catch a video replaced in place, at the cost of
    a stat per video (hashing every video's content would read the whole dataset at each resume)."""
    digest = hashlib.sha256()
    for record in manifest.records:
        try:
            info = Path(record.path).stat()
            stamp = f"{info.st_size}\t{info.st_mtime_ns}"
        except OSError:
            stamp = "missing"  # counted as a failed video when read; a resume must see it missing too
        digest.update(f"{Path(record.path).name}\t{record.label}\t{stamp}\n".encode())
    return {"count": len(manifest), "sha256": digest.hexdigest()}


def check_resumable(path: Path, state: dict[str, Any], ours: dict[str, Any]) -> None:
    """Refuse, in one line naming the first difference, a resume whose settings differ from the
    checkpoint's; `ours` holds this run's values under the checkpoint's keys. Epochs may change
    (nothing in a run depends on its total), as long as some are left to train, or the run stopped
    after its last epoch but before it finished (its final checkpoint and `--select-on-test`'s last
    scoring are then done)."""
    for what, theirs, mine in _comparisons(state, ours):
        if theirs is not _ABSENT and theirs != mine:
            raise ZslbenchError(f"cannot resume {path}: {_difference(what, theirs, mine)}", RESUME_HINT)
    done, epochs = int(state["epoch"]), ours["settings"]["epochs"]
    if epochs < done or (epochs == done and state.get("finished")):  # unfinished at its end: finish it
        finished = "is a finished run" if state.get("finished") else "has trained"
        given = named(f"--epochs {epochs}", f"epochs={epochs}")
        raise ZslbenchError(
            f"{path} {finished} of {done} epoch(s); {given} leaves nothing to train",
            f"pass {named('--epochs', 'epochs')} above {done} to train further, or start a new {OUT}",
        )


_ABSENT = object()  # a key an older checkpoint lacks: not compared


def _comparisons(state: dict[str, Any], ours: dict[str, Any]):
    model, theirs_model = ours["model"], state["model"]
    yield "model", theirs_model["name"], model["name"]
    options = theirs_model.get("options", {})
    for key in sorted(set(options) | set(model["options"])):
        yield f"model option {key}", options.get(key), model["options"].get(key)
    yield "embedding size", theirs_model.get("embed_dim", _ABSENT), model["embed_dim"]
    init = ours.get("video_text", {}).get("init", {}).get("sha256")
    yield (
        named("--init weights (sha256)", "init weights (sha256)"),
        state.get("video_text", {}).get("init", {}).get("sha256", _ABSENT),
        init,
    )
    yield "protocol fingerprint", state["protocol"]["fingerprint"], ours["protocol"]["fingerprint"]
    yield "embedding", state["embedder_id"], ours["embedder_id"]
    yield "training classes", state["classes"], ours["classes"]
    yield named("--pretrained-on", "pretrained_on"), state.get("pretrained_on", _ABSENT), ours["pretrained_on"]
    yield "training videos", state.get("videos", _ABSENT), ours["videos"]
    settings = state.get("settings", {})
    for key, value in ours["settings"].items():
        if key != "epochs":
            yield f"setting {key}", settings.get(key, _ABSENT), value


def _difference(what: str, theirs: Any, mine: Any) -> str:
    if what == "training classes":
        only = [c for c in theirs if c not in set(mine)] or [c for c in mine if c not in set(theirs)]
        where = "the checkpoint's" if only and only[0] in theirs else "this run's"
        example = f"; e.g. {only[0]!r} is only in {where}" if only else " (the same names in another order)"
        return f"its {len(theirs)} training classes differ from this run's {len(mine)}{example}"
    if what == "training videos":
        return (
            f"its {theirs['count']} training videos differ from this run's {mine['count']} "
            f"(names, labels or order; check {named('--data', 'data')})"
        )
    return f"its {what} is {theirs!r}, this run's is {mine!r}"


class DataAccount:
    """Which training videos failed to decode (path -> reason) and which classes had a video decoded;
    each rank sees its share, `merge` unites them (idempotent, so merged state may be merged again).
    `videos_read` counts the videos this rank read, per decoder (the main rank's count is the one saved)."""

    def __init__(self, manifest: Manifest, classes: tuple[str, ...], state: dict[str, Any] | None) -> None:
        self.classes = classes
        self.label_of = {str(record.path): record.label for record in manifest.records}
        counts = Counter(record.label for record in manifest.records)
        self.videos = {name: counts.get(name, 0) for name in classes}
        self.left_out = int((manifest.prepared or {}).get("left_out", 0))
        self.failures: dict[str, str] = dict(state.get("failures", {})) if state else {}
        self.seen: set[str] = set((state or {}).get("reading", {}).get("classes_seen", []))
        self.videos_read: dict[str, int] = dict((state or {}).get("reading", {}).get("videos_read", {}))

    def add(self, batch: dict[str, Any]) -> None:
        """Count one batch on this rank: its decoding failures, the classes it holds, how each video was read."""
        for failure in batch["failures"]:
            self.failures[failure.path] = failure.reason
        self.seen.update(self.classes[int(i)] for i in batch["labels"].unique())
        for decoder in batch["decoders"]:
            self.videos_read[decoder] = self.videos_read.get(decoder, 0) + 1

    def merge(self, context: Context) -> None:
        """Unite every rank's failures and seen classes on every rank (idempotent; all ranks must call it)."""
        for failures, seen in gather(context, (self.failures, sorted(self.seen))):
            self.failures.update(failures)
            self.seen.update(seen)

    def verdict(self, budget: float, class_budget: float) -> dict[str, Any]:
        """The failure-budget verdict (`checkpoint.failure_verdict`): complete when at most `budget` of the
        videos failed, at most `class_budget` of any class's, and every class had a video decoded."""
        failed = Counter(self.label_of.get(path) for path in self.failures)
        return failure_verdict(
            videos=self.videos,
            failed={name: failed.get(name, 0) for name in self.classes},
            seen=self.seen,
            budget=budget,
            class_budget=class_budget,
            unlabelled=(self.left_out, self.left_out),
        )


class MetricsLog:
    """OUT/metrics.jsonl, written by rank 0 only (trackers such as TensorBoard get the same rows through
    `training.loggers`). A resumed run first drops the rows written after its checkpoint (a run killed
    after its last checkpoint wrote them), so no row appears twice."""

    def __init__(self, out: Path, enabled: bool, resumed_at: tuple[int, int] | None = None) -> None:
        """`resumed_at`: (global step, epochs done) of the checkpoint a resumed run starts from."""
        self.path = out / "metrics.jsonl"
        self.enabled = enabled
        if enabled:
            out.mkdir(parents=True, exist_ok=True)
        if enabled and resumed_at is not None:
            self._drop_after(resumed_at)

    def write(self, record: dict[str, Any]) -> None:
        """Append `record` as one JSON line (NaN and inf as null). A no-op unless enabled (rank 0 only)."""
        if not self.enabled:
            return
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(clean) + "\n")

    def _drop_after(self, resumed_at: tuple[int, int]) -> None:
        from zslbench.core.atomic import write_text

        if not self.path.exists():
            return
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except ValueError:  # a line cut short by a kill
                continue
            if not isinstance(row, dict):
                continue
            if row.get("epoch_done"):
                keep = row.get("epoch", math.inf) <= resumed_at[1]
            else:
                keep = row.get("global_step", math.inf) <= resumed_at[0]
            if keep:
                kept.append(line)
        write_text(self.path, "".join(f"{line}\n" for line in kept))
