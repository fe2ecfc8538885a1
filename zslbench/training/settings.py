"""The settings that shape a training run's numbers, resolved from the protocol and the options.

They are recorded in every checkpoint, and a resumed run must repeat them exactly. The protocol's
`train` section gives the defaults (Brattoli et al., CVPR 2020, Sec. 4: Adam, lr 1e-3 with
step decay, batch 22 per step, 150 epochs for the full-size model).
"""

from __future__ import annotations

from typing import Any

from zslbench.core.bounds import COUNT, LEARNING_RATE, SEED, TEMPERATURE
from zslbench.core.distributed import Context
from zslbench.core.errors import ZslbenchError, named
from zslbench.models.losses import LOSSES, SOFTMAX_TEMPERATURE
from zslbench.protocol.snapshot import with_snapshot
from zslbench.protocol.spec import Protocol
from zslbench.training.config import TrainConfig

TEXT_TOWERS = ("frozen", "tuned")  # a video-text model's text tower: class embeddings computed once, or trained
TEST_SET_SELECTION = (
    "selected on the test sets: the epoch with the best mean top-1 over all classes of the test datasets "
    "(one clip per video; ActivityNet left out), as the reference implementation did (optimistic)"
)  # settings["model_selection"] of the checkpoint --select-on-test selected (zslbench.training.selection)

TEMPERATURE_OPTION = named("--temperature", "temperature")
TEXT_TOWER = named("--text-tower", "text_tower")


def protocol_reference(protocol: Protocol) -> dict[str, Any]:
    """How a checkpoint names its protocol (with the --set overrides it was trained with, and a snapshot
    of it and its class lists, so the checkpoint evaluates where the file is not): evaluation reloads it
    and refuses any other training fingerprint."""
    return with_snapshot(protocol)


def per_rank_batch(batch_size: int, world_size: int, batch_per: str = "global") -> int:
    """Videos per step on each process. `batch_per: global` (zslbench's default): the protocol's batch
    is one step's, whatever the number of processes. `device`: each process takes the whole batch, as
    the reference's DataParallel did (main.py: `opt.bs = opt.bs * torch.cuda.device_count()`)."""
    if batch_per == "device":
        return batch_size
    if batch_size % world_size:
        raise ZslbenchError(
            f"a batch of {batch_size} videos does not split over {world_size} processes",
            f"pass {named('--batch-size', 'batch_size')} as a multiple of {world_size}; it is the global batch of one "
            "step",
        )
    return batch_size // world_size


def resolve_settings(
    protocol: Protocol,
    config: TrainConfig,
    context: Context | None = None,
    model_temperature: float | None = None,
    video_text: bool = False,
) -> dict[str, Any]:
    """Every setting that shapes the run's numbers, resolved (the protocol's unless given): recorded in
    each checkpoint, and a resumed run must repeat them. Workers, decoder and layout do not count.
    A video-text model (`video_text`) trains with the softmax loss unless told otherwise, at its own
    temperature (`model_temperature`), with its text tower frozen unless tuned."""
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
        "loss": given(config.loss, "softmax" if video_text else train["loss"]),
        "seed": given(config.seed, train["seed"]),
        "clips_per_epoch": train["clips_per_epoch"],
        "batch_per": train["batch_per"],
        "amp": amp,
        "amp_dtype": config.amp_dtype if amp else None,
    }
    for name, bound in (("epochs", COUNT), ("batch_size", COUNT), ("lr", LEARNING_RATE), ("seed", SEED)):
        settings[name] = bound.check(settings[name], name)  # also for Python callers and protocol files
    settings["batch_per_process"] = per_rank_batch(settings["batch_size"], world_size, settings["batch_per"])
    if settings["loss"] not in LOSSES:
        raise ZslbenchError(f"unknown loss {settings['loss']!r}", f"choose one of {', '.join(LOSSES)}")
    settings.update(_loss_settings(config, settings["loss"], model_temperature))
    settings.update(_text_settings(config, video_text))
    if config.select_on_test:  # only then: older checkpoints lack the key, and resume skips what they lack
        settings["select_on_test"] = True  # the selected checkpoint alone gets `model_selection` (selection.py)
    return settings


def _loss_settings(config: TrainConfig, loss: str, model_temperature: float | None) -> dict[str, Any]:
    """The softmax loss's temperature (given, else the model's, else 0.05) and whether it is learned;
    nothing for the other losses, which have no temperature (asking for one is refused)."""
    if loss != "softmax":
        if config.temperature is not None or config.learn_temperature:
            given = (
                TEMPERATURE_OPTION
                if config.temperature is not None
                else named("--learn-temperature", "learn_temperature")
            )
            raise ZslbenchError(
                f"{given} applies to the softmax loss, not {loss}", f"pass {named('--loss softmax', 'loss=softmax')}"
            )
        return {}
    default = SOFTMAX_TEMPERATURE if model_temperature is None else model_temperature
    temperature = default if config.temperature is None else config.temperature
    checked = TEMPERATURE.check(float(temperature), TEMPERATURE_OPTION)
    return {"temperature": checked, "learn_temperature": config.learn_temperature}


def _text_settings(config: TrainConfig, video_text: bool) -> dict[str, Any]:
    """A video-text model's text tower, "frozen" unless "tuned"; it and --image-text are refused for any
    other model."""
    if not video_text:
        for given, option in (
            (config.text_tower, TEXT_TOWER),
            (config.image_text, named("--image-text", "image_text")),
        ):
            if given is not None:
                raise ZslbenchError(
                    f"{option} is for video-text models",
                    f"a 3D CNN's pretraining is {named('--pretrained-on', 'pretrained_on')}; it regresses the "
                    "protocol's class vectors",
                )
        return {}
    tower = config.text_tower or TEXT_TOWERS[0]
    if tower not in TEXT_TOWERS:
        raise ZslbenchError(f"unknown {TEXT_TOWER} {tower!r}", f"choose {' or '.join(TEXT_TOWERS)}")
    return {"text_tower": tower}


def steps_per_epoch(settings: dict[str, Any], batches: int) -> int:
    """Steps in one epoch of `batches` batches per process. With `clips_per_epoch` C the epoch ends
    early by the reference's rule (main.py `train_one_epoch`: after step i, counted from 0, it stops
    once i x B > C, B being one step's videos over all processes): C // B + 2 steps, so C = 100000 and
    B = 22 give 4547 steps (100034 clips with one clip per video). A full pass when that is shorter."""
    limit = settings.get("clips_per_epoch")
    if limit is None:
        return batches
    step_batch = settings["batch_per_process"] * settings["processes"]
    return min(batches, limit // step_batch + 2)
