"""`--select-on-test`: choose the epoch by its test accuracy, as the reference implementation did.

bbrattoli/ZeroShotVideoClassification (main.py) evaluates the model on the test datasets after every
epoch and keeps the checkpoint whose mean top-1 over the test datasets (each over all of its classes)
is strictly the best so far. The test set then chooses the model, so its numbers are optimistic;
zslbench does this only when asked, to reproduce the reference, and records that it did.

The per-epoch test is the reference's: one clip per video (dataset.py builds the test sets with
`n_clips = opt.n_clips`, 1 while training; 25 only under `--evaluate`), read with the protocol's
other test-side settings, on the test datasets other than ActivityNet (`get_all_datasets` tests on
UCF101 and HMDB51 while training). After each epoch's checkpoint is written it is scored so
(evaluation.test_clips: no record, since one clip is not the protocol's test); OUT/selection/
selection.json holds each epoch's top-1 per dataset, the criterion and the best epoch, so a resumed
run continues the comparison; the best epoch's checkpoint is copied (atomically, with
`selected_on_test` saying which epoch and its value) to OUT/selected_on_test.pt. OUT/checkpoint.pt
stays the last state, which `--resume` continues.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zslbench.core.atomic import write_text
from zslbench.core.distributed import Context
from zslbench.core.errors import ZslbenchError, named
from zslbench.models.checkpoint import CHECKPOINT, load_checkpoint, save_checkpoint
from zslbench.protocol.spec import Protocol
from zslbench.training.config import TrainConfig
from zslbench.training.settings import TEST_SET_SELECTION
from zslbench.training.state import RESUME_HINT
from zslbench.video.sampler import ClipSpec
from zslbench.video.sources import data_source

SELECTION = "selection"  # OUT/selection/: selection.json
STATE_FILE = "selection.json"
SELECTED = "selected_on_test.pt"
CRITERION = (
    "mean over the test datasets (ActivityNet left out) of top-1 on the `all` split (every class of the "
    "dataset), one clip per video"
)
SELECT_ON_TEST = named("--select-on-test", "select_on_test")  # as errors name the setting
NOT_TESTED_WHILE_TRAINING = ("activitynet200",)  # the reference scored it only under --evaluate


@dataclass
class SelectionOnTest:
    """The comparison across epochs: each evaluated epoch's criterion, and the best one so far."""

    config: TrainConfig
    protocol: Protocol  # the run's, loaded once
    epochs: dict[str, dict[str, Any]] = field(default_factory=dict)  # "3" -> {"value", "top1": {dataset: %}}
    best: dict[str, Any] | None = None  # {"epoch": 3, "value": 41.2}

    @property
    def folder(self) -> Path:
        """OUT/selection/, where the comparison and the selected epoch's checkpoint are kept."""
        return Path(self.config.out) / SELECTION

    @classmethod
    def start(
        cls, config: TrainConfig, protocol: Protocol, context: Context, saved: dict[str, Any] | None
    ) -> SelectionOnTest | None:
        """None without --select-on-test. Otherwise check, before the first step, that selection can run
        (one process, an `all` split with top-1, every test dataset's data), and continue a resumed
        run's comparison; a resume that would switch the flag on or off is refused."""
        was_on = bool(saved) and bool((saved or {}).get("settings", {}).get("select_on_test"))
        if saved is not None and was_on != config.select_on_test:
            path = Path(config.out) / CHECKPOINT
            how = "with" if was_on else "without"
            raise ZslbenchError(f"cannot resume {path}: it was trained {how} {SELECT_ON_TEST}", RESUME_HINT)
        if not config.select_on_test:
            return None
        _check_can_select(protocol, config.data, context)
        selection = cls(config, protocol)
        if saved is not None:
            selection._load()
        return selection

    def catch_up(self, epoch: int, step: int) -> None:
        """A resumed run whose checkpoint ends an epoch the selection never scored (the run stopped
        during that evaluation) scores it now, before training on."""
        if epoch > 0 and step == 0 and str(epoch) not in self.epochs:
            self.after_epoch(epoch)

    def after_epoch(self, epoch: int) -> None:
        """Evaluate OUT/checkpoint.pt (the end of `epoch`, 1-based) on the test datasets; keep it as
        OUT/selected_on_test.pt when its criterion is strictly above the best so far."""
        top1 = {name: float(metrics["all"]["top1"]) for name, metrics in self._evaluate().items()}
        value = sum(top1.values()) / len(top1)
        self.epochs[str(epoch)] = {"value": value, "top1": top1}
        if value > (self.best["value"] if self.best else 0.0):  # main.py: best_acc = 0, then `>`
            self.best = {"epoch": epoch, "value": value}
            _copy_selected(Path(self.config.out), self.best, top1)
        self._store()

    def summary(self) -> dict[str, Any] | None:
        """For TrainResult: the selected epoch, its criterion and its file; None before any epoch."""
        if self.best is None:
            return None
        return {**self.best, "checkpoint": str(Path(self.config.out) / SELECTED)}

    def _evaluate(self) -> dict[str, dict[str, Any]]:
        """OUT/checkpoint.pt's metrics per test dataset, one clip per video, the training's RNG
        untouched (the evaluator builds a model, which draws from it): with or without the flag, the
        same weights."""
        from zslbench.evaluation.test_clips import score_with_clips

        config, protocol = self.config, self.protocol
        one_clip = dataclasses.replace(ClipSpec.from_protocol(protocol.data["clips"]), test_clips=1)
        with _rng_kept():
            return score_with_clips(
                Path(config.out) / CHECKPOINT,
                one_clip,
                config.data,
                selection_datasets(protocol),
                protocol,
                device=config.device,
                loading=config.loading,
                workers=config.workers,
            )

    def _load(self) -> None:
        path = self.folder / STATE_FILE
        if path.is_file():
            saved = json.loads(path.read_text(encoding="utf-8"))
            self.epochs, self.best = saved["epochs"], saved["best"]

    def _store(self) -> None:
        payload = {"criterion": CRITERION, "epochs": self.epochs, "best": self.best}
        write_text(self.folder / STATE_FILE, json.dumps(payload, indent=2) + "\n")


def _check_can_select(protocol: Protocol, data: dict[str, Path], context: Context) -> None:
    """One-line refusals for a selection that could not run: under torchrun (evaluation would close
    the training's process group), without an `all` split scoring top-1, or without the test data."""
    if context.world_size > 1:
        raise ZslbenchError(
            f"{SELECT_ON_TEST} runs in a single process only", f"drop torchrun, or train without {SELECT_ON_TEST}"
        )
    evaluation = protocol.data["evaluation"]
    if "all" not in {split["kind"] for split in evaluation["splits"]} or "top1" not in evaluation["metrics"]:
        raise ZslbenchError(
            f"{SELECT_ON_TEST} compares top-1 on the `all` split, which {protocol.name} does not score",
            "add `{kind: all}` to evaluation.splits and top1 to evaluation.metrics "
            f"({named('--set', 'load_protocol(..., sets=...)')}), or drop {SELECT_ON_TEST}",
        )
    for name in selection_datasets(protocol):
        try:
            path = data_source(name, data).path
        except ZslbenchError as err:
            message = f"{SELECT_ON_TEST} evaluates on {name} after every epoch: {named(err.cli_message, err.message)}"
            raise ZslbenchError(message, named(err.cli_hint, err.hint) if err.hint else None) from None
        if not path.exists():
            raise ZslbenchError(
                f"{SELECT_ON_TEST} evaluates on {name} after every epoch, but {path} does not exist",
                f"pass {named(f'--data {name}=PATH', f'data={{{name!r}: PATH}}')} with its videos' manifest or folder",
            )


def selection_datasets(protocol: Protocol) -> list[str]:
    """The test datasets the per-epoch test scores: all but ActivityNet (all, if that is all there is)."""
    names = [test.name for test in protocol.test_classes()]
    return [name for name in names if name not in NOT_TESTED_WHILE_TRAINING] or names


def _copy_selected(out: Path, best: dict[str, Any], top1: dict[str, float]) -> None:
    """OUT/checkpoint.pt to OUT/selected_on_test.pt, written atomically, saying which epoch it is."""
    state = load_checkpoint(out / CHECKPOINT)
    state.pop("format", None)  # save_checkpoint writes it first
    state["selected_on_test"] = {**best, "criterion": CRITERION, "top1": top1}
    # the note every record of these weights carries; the run's other checkpoints were not selected
    state["settings"] = {**state["settings"], "model_selection": f"{TEST_SET_SELECTION}: epoch {best['epoch']}"}
    save_checkpoint(out / SELECTED, state)


@contextmanager
def _rng_kept() -> Iterator[None]:
    """Run a block and put every RNG the training draws from back as it was."""
    python, numpy = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=range(torch.cuda.device_count()) if torch.cuda.is_available() else []):
        yield
    random.setstate(python)
    np.random.set_state(numpy)
