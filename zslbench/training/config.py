"""What a training run is asked to do (`TrainConfig`) and what it did (`TrainResult`).

Settings left None take the protocol's value (see `zslbench.training.settings.resolve_settings`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zslbench.core.errors import ZslbenchError
from zslbench.core.paths import optional_path
from zslbench.models.checkpoint import CLASS_FAILURE_BUDGET, FAILURE_BUDGET
from zslbench.protocol.spec import Protocol
from zslbench.video.dataset import LoaderOptions


@dataclass
class TrainConfig:
    """What `train()` is asked to do: the model, the output folder, where each dataset's videos are,
    the protocol, and overrides of its training settings (None: the protocol's value, resolved by
    `training.settings.resolve_settings`). Comments on the fields say what each does."""

    model: str
    out: Path | str  # a Path once the config is made (`__post_init__`), as are `data` and `features`
    data: Mapping[str, Path | str]  # dataset name -> its manifest (or folder); only the source's is read
    protocol: str | Protocol | None = None  # a name, a YAML file, or a loaded Protocol (with --set applied)
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
    # experiment trackers fed what metrics.jsonl gets: "tensorboard", "wandb", "mlflow" (training/loggers.py)
    loggers: tuple[str, ...] = ()
    tensorboard: bool = False  # deprecated: the same as "tensorboard" in `loggers`
    features: Path | str | None = None  # a backbone features file: train a model of kind `features` on it
    failure_budget: float = FAILURE_BUDGET  # share of the videos that may fail to decode (run complete)
    class_failure_budget: float = CLASS_FAILURE_BUDGET  # share of one class's videos that may fail
    select_on_test: bool = False  # keep the epoch with the best test top-1, as the reference did (optimistic)
    # video-text models (training/video_text.py): the --init weights' image-text pretraining, declared;
    # the text tower "frozen" (default) or "tuned"; the softmax loss's temperature (default: the model's
    # own, else 0.05) and whether it is learned
    image_text: str | None = None
    text_tower: str | None = None
    temperature: float | None = None
    learn_temperature: bool = False

    def __post_init__(self) -> None:
        """Paths may be given as text from Python: they become Paths here, once; `tensorboard` joins `loggers`."""
        if not isinstance(self.data, Mapping):
            raise ZslbenchError(
                "data is a mapping of dataset name to manifest", 'e.g. data={"kinetics700": "k700.csv"}'
            )
        self.data = {name: Path(path) for name, path in self.data.items()}
        if isinstance(self.loggers, str):  # one tracker named on its own
            self.loggers = (self.loggers,)
        self.out, self.features = optional_path(self.out), optional_path(self.features)
        if self.tensorboard:
            warnings.warn(
                'TrainConfig(tensorboard=True) is deprecated: use loggers=("tensorboard",)', DeprecationWarning, 3
            )
        self.loggers = tuple(dict.fromkeys([*self.loggers, *(["tensorboard"] if self.tensorboard else [])]))


@dataclass
class TrainResult:
    """What a run did. `epochs` counts the epochs done and `steps` every step; a run that stopped
    before its last epoch (`--max-steps`, or a signal) has `stopped_early` and a resumable checkpoint."""

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
    interrupted_by: int | None = None  # the signal (SIGINT: 2) that stopped the run between two steps
    epoch_step: int = 0  # steps done in the epoch after `epochs` (0 at an epoch's end)
    selected_on_test: dict[str, Any] | None = None  # --select-on-test: {"epoch", "value", "checkpoint"}
