"""`zslbench train`: a thin face over zslbench.training.trainer (also under `torchrun -m zslbench train`)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from zslbench.cli.aliases import renamed, warn_once
from zslbench.cli.app import app
from zslbench.cli.bounds import DeviceOpt, bounded
from zslbench.cli.common import (
    DecoderOpt,
    ImageTextOpt,
    JsonOpt,
    OptionOpt,
    PinMemoryOpt,
    PrefetchOpt,
    SetOpt,
    command,
    complete_models,
    console,
    err_console,
    from_protocol,
    loader_options,
    parse_options,
    print_json,
    protocol_option,
    workers_option,
)
from zslbench.cli.progress import is_main_process, per_epoch
from zslbench.core.bounds import COUNT, DROPOUT, LEARNING_RATE, SEED, SHARE, TEMPERATURE, WIDTH
from zslbench.models.checkpoint import CLASS_FAILURE_BUDGET, FAILURE_BUDGET

if TYPE_CHECKING:
    from zslbench.training.config import TrainConfig, TrainResult


# The options of `zslbench train`, in the order --help lists them.
ModelOpt = Annotated[
    str, typer.Option("--model", "-m", help="Registered model (zslbench models list)", autocompletion=complete_models)
]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Run folder: checkpoint.pt, metrics.jsonl")]
DataOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--data", help="NAME=PATH: the source dataset's manifest or folder", show_default="its `data add` root"
    ),
]
FeaturesOpt = Annotated[
    Path | None, typer.Option("--features", help="Backbone features of the source dataset (zslbench extract)")
]
ProtocolOpt = Annotated[str | None, protocol_option()]
EpochsOpt = Annotated[
    int | None, bounded(COUNT, "--epochs", help="Epochs", kind="int", show_default=from_protocol("train.epochs"))
]
BatchSizeOpt = Annotated[
    int | None,
    bounded(COUNT, "--batch-size", help="Videos per step", kind="int", show_default=from_protocol("train.batch_size")),
]
LrOpt = Annotated[
    float | None, bounded(LEARNING_RATE, "--lr", help="Adam learning rate", show_default=from_protocol("train.lr"))
]
LossOpt = Annotated[
    str | None,
    typer.Option(
        help="mse, cosine or softmax", show_default=from_protocol("train.loss", "; softmax for a video-text model")
    ),
]
SeedOpt = Annotated[
    int | None, bounded(SEED, "--seed", help="Random seed", kind="int", show_default=from_protocol("train.seed"))
]
WorkersOpt = Annotated[int, workers_option("Data-loading processes per rank")]
WidthOpt = Annotated[float | None, bounded(WIDTH, "--width", help="Channel width multiplier (1 = the paper's network)")]
DropoutOpt = Annotated[float | None, bounded(DROPOUT, "--dropout", help="Dropout before the head")]
InitOpt = Annotated[
    Path | None,
    typer.Option(
        help="Weights to start from: a backbone's (torchvision state dict), or a video-text model's image-text "
        "weights (an HF CLIP folder or an OpenAI-format state dict)"
    ),
]
TextTowerOpt = Annotated[
    str | None, typer.Option(help="A video-text model's text tower: frozen or tuned", show_default="frozen")
]
TemperatureOpt = Annotated[
    float | None,
    bounded(
        TEMPERATURE,
        "--temperature",
        help="The softmax loss's temperature",
        show_default="the model's own, else 0.05",
    ),
]
LearnTemperatureOpt = Annotated[
    bool, typer.Option("--learn-temperature", help="Learn the softmax loss's temperature (CLIP's logit scale)")
]
PretrainedOnOpt = Annotated[
    str | None, typer.Option(help="Dataset the --init weights were trained on (audited at evaluation)")
]
ClassesOpt = Annotated[str | None, typer.Option(help="Train on this class list (audited) instead of the split")]
AllowOverlapOpt = Annotated[
    bool, typer.Option("--allow-overlap", help="Train on classes that break the rule; recorded as not compliant")
]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="Continue the run in --out where it stopped")]
AmpOpt = Annotated[bool, typer.Option("--amp/--no-amp", help="Mixed precision on CUDA")]
AmpDtypeOpt = Annotated[str, typer.Option("--amp-dtype", help="fp16 or bf16 (1.4x on an H200 with --channels-last)")]
ChannelsLastOpt = Annotated[bool, typer.Option("--channels-last", help="channels_last_3d clips and weights on CUDA")]
MaxStepsOpt = Annotated[
    int | None, bounded(COUNT, "--max-steps", help="Stop after this many steps, resumable", kind="int")
]
FailureBudgetOpt = Annotated[
    float,
    bounded(
        SHARE,
        "--failure-budget",
        help="Share of the videos that may fail to decode before the run is incomplete (exit 1)",
    ),
]
ClassFailureBudgetOpt = Annotated[
    float,
    bounded(
        SHARE,
        "--class-failure-budget",
        help="Share of one class's videos that may fail; a class with none decoded always fails",
    ),
]
SelectOnTestOpt = Annotated[
    bool,
    typer.Option(
        "--select-on-test",
        help=(
            "Select the model on the test set: score every epoch on the test datasets and keep the best mean "
            "top-1 as OUT/selected_on_test.pt, as the reference implementation did; its numbers are optimistic "
            "(recorded as such). Needs the test datasets' data"
        ),
    ),
]


def complete_loggers(incomplete: str) -> list[str]:
    """Shell completion for --logger: the trackers zslbench knows."""
    from zslbench.training.loggers import TRACKERS

    return [name for name in TRACKERS if name.startswith(incomplete)]


LoggerOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--logger",
        metavar="NAME",
        help="Also log to an experiment tracker: tensorboard, wandb or mlflow (repeatable; each is an extra, "
        "docs/logging.md)",
        autocompletion=complete_loggers,
    ),
]
TensorboardOpt = Annotated[bool, typer.Option("--tensorboard", hidden=True, help="Deprecated: --logger tensorboard")]

NOT_IN_JSON = ("interrupted_by", "epoch_step")  # an interrupted run prints no JSON; the rest is as it was


@app.command(context_settings=renamed({"-w": "-j"}))
@command
def train(
    model: ModelOpt,
    out: OutOpt,
    data: DataOpt = None,
    features: FeaturesOpt = None,
    option: OptionOpt = None,
    protocol: ProtocolOpt = None,
    sets: SetOpt = None,
    epochs: EpochsOpt = None,
    batch_size: BatchSizeOpt = None,
    lr: LrOpt = None,
    loss: LossOpt = None,
    seed: SeedOpt = None,
    workers: WorkersOpt = 0,
    width: WidthOpt = None,
    dropout: DropoutOpt = None,
    init: InitOpt = None,
    pretrained_on: PretrainedOnOpt = None,
    image_text: ImageTextOpt = None,
    text_tower: TextTowerOpt = None,
    temperature: TemperatureOpt = None,
    learn_temperature: LearnTemperatureOpt = False,
    classes: ClassesOpt = None,
    allow_overlap: AllowOverlapOpt = False,
    resume: ResumeOpt = False,
    device: DeviceOpt = "auto",
    amp: AmpOpt = True,
    amp_dtype: AmpDtypeOpt = "fp16",
    channels_last: ChannelsLastOpt = False,
    decoder: DecoderOpt = "pyav",
    prefetch: PrefetchOpt = 2,
    pin_memory: PinMemoryOpt = None,
    max_steps: MaxStepsOpt = None,
    select_on_test: SelectOnTestOpt = False,
    failure_budget: FailureBudgetOpt = FAILURE_BUDGET,
    class_failure_budget: ClassFailureBudgetOpt = CLASS_FAILURE_BUDGET,
    logger: LoggerOpt = None,
    tensorboard: TensorboardOpt = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the kept classes, videos and schedule; train nothing")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Train a model on the protocol's source classes after applying the rule (videos or features).

    Ctrl-C stops at the next step boundary with a checkpoint that --resume continues bit for bit.
    Exit 1 when the run finished but too many videos failed to decode (see --failure-budget)."""
    from zslbench.core.errors import ZslbenchError
    from zslbench.protocol.spec import load_protocol
    from zslbench.training.trainer import TrainConfig
    from zslbench.video.sources import parse_data_options

    if amp_dtype not in ("fp16", "bf16"):
        raise ZslbenchError(f"unknown --amp-dtype {amp_dtype!r}", "choose fp16 or bf16")
    loading = loader_options(decoder, prefetch, pin_memory)
    if data and features is not None:  # no --data: videos from the configured roots (zslbench data add)
        raise ZslbenchError(
            "pass either --data NAME=VIDEOS (train on videos) or --features F.npz (train on backbone features)",
            "see `zslbench models list` for each model's kind",
        )
    options = model_options(width, dropout, init, option)
    config = TrainConfig(
        model=model,
        out=out,
        data=parse_data_options(data or []),
        protocol=load_protocol(protocol, sets=tuple(sets)) if sets else protocol,
        model_options=options,
        classes=classes,
        allow_overlap=allow_overlap,
        pretrained_on=pretrained_on,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        loss=loss,
        seed=seed,
        workers=workers,
        device=device,
        amp=amp,
        amp_dtype=amp_dtype,
        channels_last=channels_last,
        loading=loading,
        resume=resume,
        max_steps=max_steps,
        loggers=chosen_loggers(logger, tensorboard),
        features=features,
        failure_budget=failure_budget,
        class_failure_budget=class_failure_budget,
        select_on_test=select_on_test,
        image_text=image_text,
        text_tower=text_tower,
        temperature=temperature,
        learn_temperature=learn_temperature,
    )
    if dry_run:
        return _show_plan(config, json_out)
    _run(config, json_out)


def _show_plan(config: TrainConfig, json_out: bool) -> None:
    """`train --dry-run`: the plan (`training.plan.train_plan`) as JSON, or a few lines."""
    from zslbench.training.plan import train_plan

    plan = train_plan(config)
    if json_out:
        print_json(plan)
        return
    proto, classes, s = plan["protocol"], plan["classes"], plan["settings"]
    options = ", ".join(f"{k}={v}" for k, v in plan["options"].items() if v is not None)
    videos = f"{plan['videos']} from {plan['data']}" if plan["videos"] is not None else f"features {plan['data']}"
    lines = [
        "dry run: no video read, nothing written",
        f"model     {plan['model']} ({options})",
        f"protocol  {proto['name']} v{proto['version']} (fingerprint {proto['fingerprint'][:12]}, "
        f"training {proto['training_fingerprint'][:12]})",
        f"classes   {classes['kept']} of {classes['total']} {classes['source']} classes kept at tau {classes['tau']} "
        f"({classes['removed']} removed by the rule); {'compliant' if classes['compliant'] else 'NOT compliant'}",
        f"videos    {videos}",
        f"schedule  {s['epochs']} epochs, batch {s['batch_size']}, lr {s['lr']}, loss {s['loss']}, seed {s['seed']}",
        f"out       {plan['out']}",
    ]
    for line in lines:
        console.print(Text(line))


def _note_undeclared(config: TrainConfig) -> None:
    """A video-text model fine-tuned without --image-text is audited "unknown" until that is declared."""
    from zslbench.models import model_spec

    if config.image_text is None and model_spec(config.model).kind == "video_text":
        message = (
            "note: --image-text not given: the records of this run will say compliance unknown until its "
            "image-text pretraining is declared (at evaluation, with --image-text)"
        )
        err_console.print(Text(message, style="yellow"), soft_wrap=True)


def chosen_loggers(logger: list[str] | None, tensorboard: bool = False) -> tuple[str, ...]:
    """The --logger names, the deprecated --tensorboard as `--logger tensorboard`; each tracker's
    library is imported here, so a missing one is one line (exit 2) before any work."""
    from zslbench.training.loggers import check_trackers

    names = list(logger or [])
    if tensorboard:
        warn_once("--tensorboard", "--logger tensorboard")
        names.append("tensorboard")
    return check_trackers(names)


def model_options(
    width: float | None, dropout: float | None, init: Path | None, option: list[str] | None
) -> dict[str, Any]:
    """The model's options: --width, --dropout and --init where given, then each --option KEY=VALUE."""
    given = {"width": width, "dropout": dropout, "init": str(init) if init else None}
    options = {key: value for key, value in given.items() if value is not None}
    options.update(parse_options(option))
    return options


def _run(config: TrainConfig, json_out: bool) -> None:
    """Train, and report on the main rank. The exit code says how the run ended: 128 + the signal
    when one interrupted it (130 for Ctrl-C), 1 when it finished incomplete (see --failure-budget)."""
    from zslbench.core.errors import EXIT_FAILED
    from zslbench.training.trainer import train as run_training

    main_rank = is_main_process()
    with per_epoch(not json_out) as update:
        result = run_training(config, update)
    if result.interrupted_by is not None:
        if main_rank:
            _print_interrupted(result)
        raise typer.Exit(128 + result.interrupted_by)
    if not main_rank:
        return
    incomplete = not result.stopped_early and not result.complete
    if json_out:
        shown = {key: value for key, value in result.__dict__.items() if key not in NOT_IN_JSON}
        if shown["selected_on_test"] is None:  # only runs with --select-on-test have the key
            del shown["selected_on_test"]
        print_json({key: _plain(value) for key, value in shown.items()})
    else:
        console.print(_summary(result))
        console.print(Text(f"checkpoint {result.checkpoint}"))
        if (selected := result.selected_on_test) is not None:
            chosen = f"epoch {selected['epoch']}, mean test top-1 {selected['value']:.2f}"
            message = f"selected on the test set ({chosen}; optimistic): {selected['checkpoint']}"
            err_console.print(Text(message, style="yellow"), soft_wrap=True)
        _note_undeclared(config)
        if incomplete:
            err_console.print(Text(f"incomplete: {result.data['why']}", style="bold red"), soft_wrap=True)
            for name in result.data["unseen_classes"][:10]:
                err_console.print(Text(f"never seen (every video failed to decode): {name}", style="yellow"))
    if incomplete:
        raise typer.Exit(EXIT_FAILED)


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


def _print_interrupted(result: TrainResult) -> None:
    """Where the run stopped and how to continue it (stderr)."""
    stopped = f"{signal.Signals(result.interrupted_by).name} at epoch {result.epochs + 1}, step {result.epoch_step}"
    resumes = "resumes it exactly (the same command plus --resume)"
    message = f"interrupted ({stopped}): checkpoint {result.checkpoint} {resumes}"
    err_console.print(Text(message, style="yellow"), soft_wrap=True)


def _summary(result: TrainResult) -> str:
    verdict = "compliant" if result.compliant else "[bold red]NOT compliant[/] (--allow-overlap)"
    data = f"{result.classes} classes, {result.videos} videos"
    fit = result.fit
    if fit is not None and "gamma" in fit:  # a closed-form fit on features
        search = fit.get("validation")
        chosen = f"gamma={fit['gamma']:g}, lam={fit['lam']:g}"
        if search:
            held_out, best = search["held_out_classes"], search["best_top1"]
            chosen += f" (best of the grid on {held_out} held-out classes, top-1 {best:.1f})"
        return f"fitted in closed form in {fit['seconds']:.2f} s: {chosen}; {data}; {verdict}"
    if fit is not None:  # gradient steps on features
        return (
            f"trained in {fit['seconds']:.1f} s: {result.epochs} epochs, {result.steps} steps, last loss "
            f"{result.last_loss:.4f}; {data}; {verdict}"
        )
    state = "stopped early (resumable)" if result.stopped_early else "finished"
    if not result.stopped_early and not result.complete:
        state = "finished [bold red]incomplete[/]"
    return (
        f"{state}: {result.epochs} epochs, {result.steps} steps, last loss {result.last_loss:.4f}; "
        f"{data}, {result.failures} undecodable; {verdict}"
    )
