"""The settings that shape a training run's numbers, resolved from the protocol and the options.

They are recorded in every checkpoint, and a resumed run must repeat them exactly. The protocol's
`train` section gives the defaults (Brattoli et al., CVPR 2020, Sec. 4: Adam, lr 1e-3 with
step decay, batch 22 per step, 150 epochs for the full-size model).
"""

from __future__ import annotations

from typing import Any

from zslbench.core.bounds import COUNT, LEARNING_RATE, SEED
from zslbench.core.distributed import Context
from zslbench.core.errors import ZslbenchError
from zslbench.models.losses import LOSSES
from zslbench.protocol.spec import Protocol
from zslbench.training.config import TrainConfig


def protocol_reference(protocol: Protocol) -> dict[str, Any]:
    """How a checkpoint names its protocol (with the --set overrides it was trained with): evaluation
    reloads it and refuses any other fingerprint."""
    return protocol.reference()


def per_rank_batch(batch_size: int, world_size: int) -> int:
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
    settings["batch_per_process"] = per_rank_batch(settings["batch_size"], world_size)
    if settings["loss"] not in LOSSES:
        raise ZslbenchError(f"unknown loss {settings['loss']!r}", f"choose one of {', '.join(LOSSES)}")
    return settings
