"""`zslbench pretrain-images`: a thin face over zslbench.training.pretrain_images (the paper's "Augment")."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from zslbench.cli.aliases import renamed
from zslbench.cli.app import app
from zslbench.cli.bounds import DeviceOpt
from zslbench.cli.common import JsonOpt, OptionOpt, SetOpt, command, console, err_console, print_json
from zslbench.cli.progress import is_main_process, per_epoch
from zslbench.cli.train_cmd import (
    AmpOpt,
    BatchSizeOpt,
    DropoutOpt,
    EpochsOpt,
    LoggerOpt,
    LossOpt,
    LrOpt,
    MaxStepsOpt,
    ModelOpt,
    OutOpt,
    ProtocolOpt,
    ResumeOpt,
    SeedOpt,
    WidthOpt,
    WorkersOpt,
    chosen_loggers,
    model_options,
)

if TYPE_CHECKING:
    from zslbench.training.pretrain_images import PretrainResult

ImagesOpt = Annotated[Path, typer.Option("--images", help="ROOT/<class name>/<images>: the classes are the folders")]
ClipsPerImageOpt = Annotated[int, typer.Option("--clips-per-image", help="Pan-and-zoom clips written per image")]


@app.command("pretrain-images", context_settings=renamed({"-w": "-j"}))
@command
def pretrain_images(
    images: ImagesOpt,
    out: OutOpt,
    model: ModelOpt = "e2e_r2plus1d",
    protocol: ProtocolOpt = None,
    sets: SetOpt = None,
    option: OptionOpt = None,
    width: WidthOpt = None,
    dropout: DropoutOpt = None,
    clips_per_image: ClipsPerImageOpt = 1,
    epochs: EpochsOpt = None,
    batch_size: BatchSizeOpt = None,
    lr: LrOpt = None,
    loss: LossOpt = None,
    seed: SeedOpt = None,
    workers: WorkersOpt = 0,
    resume: ResumeOpt = False,
    device: DeviceOpt = "auto",
    amp: AmpOpt = True,
    max_steps: MaxStepsOpt = None,
    logger: LoggerOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Pretrain on still images made into pan-and-zoom clips, for `train --init OUT` (Brattoli et al., Augment).

    The image classes (folder names) are audited by the protocol's rule like training classes: those
    within tau of a test class are removed. Exit 1 when the run finished incomplete."""
    from zslbench.core.errors import EXIT_FAILED
    from zslbench.protocol.spec import load_protocol
    from zslbench.training.config import TrainConfig
    from zslbench.training.pretrain_images import pretrain_images as run_pretraining

    options = model_options(width, dropout, None, option)
    config = TrainConfig(
        model=model,
        out=out,
        data={},
        protocol=load_protocol(protocol, sets=tuple(sets)) if sets else protocol,
        model_options=options,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        loss=loss,
        seed=seed,
        workers=workers,
        device=device,
        amp=amp,
        resume=resume,
        max_steps=max_steps,
        loggers=chosen_loggers(logger),
    )
    with per_epoch(not json_out) as update:
        result = run_pretraining(images, config, clips_per_image, update)
    if not is_main_process():
        return
    trained = result.train
    if json_out:
        print_json(_summary(result))
    else:
        _render(result, options.get("width"))
    if trained.interrupted_by is not None:
        raise typer.Exit(128 + trained.interrupted_by)
    if not trained.stopped_early and not trained.complete:
        raise typer.Exit(EXIT_FAILED)


def _summary(result: PretrainResult) -> dict[str, Any]:
    trained = result.train
    return {
        "checkpoint": str(trained.checkpoint),
        "pretrained_on": str(result.pretrained_on),
        "epochs": trained.epochs,
        "steps": trained.steps,
        "last_loss": trained.last_loss,
        "complete": trained.complete,
        "stopped_early": trained.stopped_early,
        "stage": {key: value for key, value in result.stage.items() if key != "settings"},
    }


def _render(result: PretrainResult, width: float | None) -> None:
    """The audit (kept and removed classes), the training's end and the next command."""
    stage, trained = result.stage, result.train
    console.print(
        Text(
            f"{len(stage['classes'])} of {len(stage['image_classes'])} image classes kept at tau {stage['tau']}; "
            f"{stage['clips']} clips"
        )
    )
    for removed in stage["removed"]:
        nearest = f"{removed['nearest']!r} ({removed['dataset']})"
        line = f"removed {removed['class']!r}: {removed['distance']:.4f} from {nearest}"
        err_console.print(Text(line, style="yellow"), soft_wrap=True)
    for failed in stage["unreadable"][:10]:
        err_console.print(Text(f"unreadable image skipped: {failed['path']}", style="yellow"), soft_wrap=True)
    state = "stopped early (resumable)" if trained.stopped_early else "finished"
    console.print(Text(f"{state}: {trained.epochs} epochs, {trained.steps} steps, last loss {trained.last_loss:.4f}"))
    console.print(Text(f"checkpoint {trained.checkpoint}"))
    run = trained.checkpoint.parent
    widen = f" --width {width:g}" if width is not None else ""
    console.print(
        Text(f"next: zslbench train --init {run}{widen} --pretrained-on {result.pretrained_on.resolve()} ..."),
        soft_wrap=True,
    )
