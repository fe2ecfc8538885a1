"""`zslbench train`: a thin face over zslbench.training.trainer (also under `torchrun -m zslbench train`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from zslbench.cli.app import app
from zslbench.cli.bounds import DeviceOpt, bounded
from zslbench.cli.common import (
    DecoderOpt,
    PinMemoryOpt,
    PrefetchOpt,
    command,
    console,
    err_console,
    loader_options,
    parse_options,
    print_json,
)
from zslbench.core.bounds import COUNT, DROPOUT, LEARNING_RATE, SEED, SHARE, WIDTH, WORKERS
from zslbench.models.checkpoint import CLASS_FAILURE_BUDGET, FAILURE_BUDGET


@app.command()
@command
def train(
    model: Annotated[str, typer.Option("--model", "-m", help="Registered model (zslbench models list)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder: checkpoint.pt, metrics.jsonl")],
    data: Annotated[
        list[str] | None, typer.Option("--data", help="NAME=PATH: the source dataset's manifest or folder")
    ] = None,
    features: Annotated[
        Path | None, typer.Option("--features", help="Backbone features of the source dataset (zslbench extract)")
    ] = None,
    option: Annotated[
        list[str] | None, typer.Option("--option", help="KEY=VALUE: a model option (zslbench models show NAME)")
    ] = None,
    protocol: Annotated[str | None, typer.Option("--protocol", "-p", help="Protocol name or YAML file")] = None,
    epochs: Annotated[
        int | None, bounded(COUNT, "--epochs", help="Epochs [default: the protocol's]", kind="int")
    ] = None,
    batch_size: Annotated[
        int | None, bounded(COUNT, "--batch-size", help="Videos per step [default: the protocol's]", kind="int")
    ] = None,
    lr: Annotated[
        float | None, bounded(LEARNING_RATE, "--lr", help="Adam learning rate [default: the protocol's]")
    ] = None,
    loss: Annotated[str | None, typer.Option(help="mse, cosine or softmax [default: the protocol's]")] = None,
    seed: Annotated[int | None, bounded(SEED, "--seed", help="[default: the protocol's]", kind="int")] = None,
    workers: Annotated[
        int, bounded(WORKERS, "--workers", "-w", help="Data-loading processes per rank", kind="int")
    ] = 0,
    width: Annotated[
        float | None, bounded(WIDTH, "--width", help="Channel width multiplier (1 = the paper's network)")
    ] = None,
    dropout: Annotated[float | None, bounded(DROPOUT, "--dropout", help="Dropout before the head")] = None,
    init: Annotated[Path | None, typer.Option(help="Backbone weights to start from (torchvision state dict)")] = None,
    pretrained_on: Annotated[
        str | None, typer.Option(help="Dataset the --init weights were trained on (audited at evaluation)")
    ] = None,
    classes: Annotated[str | None, typer.Option(help="Train on this class list (audited) instead of the split")] = None,
    allow_overlap: Annotated[
        bool, typer.Option("--allow-overlap", help="Train on classes that break the rule; recorded as not compliant")
    ] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out where it stopped")] = False,
    device: DeviceOpt = "auto",
    amp: Annotated[bool, typer.Option("--amp/--no-amp", help="Mixed precision on CUDA")] = True,
    amp_dtype: Annotated[
        str, typer.Option("--amp-dtype", help="fp16 or bf16 (1.4x on an H200 with --channels-last)")
    ] = "fp16",
    channels_last: Annotated[
        bool, typer.Option("--channels-last", help="channels_last_3d clips and weights on CUDA")
    ] = False,
    decoder: DecoderOpt = "pyav",
    prefetch: PrefetchOpt = 2,
    pin_memory: PinMemoryOpt = None,
    max_steps: Annotated[
        int | None, bounded(COUNT, "--max-steps", help="Stop after this many steps, resumable", kind="int")
    ] = None,
    failure_budget: Annotated[
        float,
        bounded(
            SHARE,
            "--failure-budget",
            help="Share of the videos that may fail to decode before the run is incomplete (exit 1)",
        ),
    ] = FAILURE_BUDGET,
    class_failure_budget: Annotated[
        float,
        bounded(
            SHARE,
            "--class-failure-budget",
            help="Share of one class's videos that may fail; a class with none decoded always fails",
        ),
    ] = CLASS_FAILURE_BUDGET,
    tensorboard: Annotated[
        bool, typer.Option("--tensorboard", help="Also log to OUT/tensorboard (needs tensorboard)")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Train a model on the protocol's source classes after applying the rule (videos or features).

    Ctrl-C stops at the next step boundary with a checkpoint that --resume continues bit for bit.
    Exit 1 when the run finished but too many videos failed to decode (see --failure-budget)."""
    from zslbench.core.errors import EXIT_FAILED, ZslbenchError
    from zslbench.training.trainer import TrainConfig, TrainingInterrupted
    from zslbench.training.trainer import train as run_training
    from zslbench.video.sources import parse_data_options

    if amp_dtype not in ("fp16", "bf16"):
        raise ZslbenchError(f"unknown --amp-dtype {amp_dtype!r}", "choose fp16 or bf16")
    loading = loader_options(decoder, prefetch, pin_memory)
    if (not data) == (features is None):
        raise ZslbenchError(
            "pass either --data NAME=VIDEOS (train on videos) or --features F.npz (train on backbone features)",
            "see `zslbench models list` for each model's kind",
        )
    options = {
        k: v
        for k, v in {"width": width, "dropout": dropout, "init": str(init) if init else None}.items()
        if v is not None
    }
    options.update(parse_options(option))
    config = TrainConfig(
        model=model, out=out, data=parse_data_options(data or []), protocol=protocol, model_options=options,
        classes=classes, allow_overlap=allow_overlap, pretrained_on=pretrained_on, epochs=epochs,
        batch_size=batch_size, lr=lr, loss=loss, seed=seed, workers=workers, device=device, amp=amp,
        amp_dtype=amp_dtype, channels_last=channels_last, loading=loading,
        resume=resume, max_steps=max_steps, tensorboard=tensorboard, features=features,
        failure_budget=failure_budget, class_failure_budget=class_failure_budget,
    )  # fmt: skip
    main_rank = os.environ.get("RANK", "0") == "0"
    try:
        with _progress(enabled=main_rank and not json_out) as update:
            result = run_training(config, update)
    except TrainingInterrupted as stop:
        if main_rank:
            err_console.print(
                Text(f"interrupted ({stop}): checkpoint {stop.checkpoint} resumes it exactly (the same command "
                     "plus --resume)", style="yellow"),
                soft_wrap=True,
            )  # fmt: skip
        raise typer.Exit(128 + stop.signum) from None
    if not main_rank:
        return
    summary = {key: (str(value) if isinstance(value, Path) else value) for key, value in result.__dict__.items()}
    incomplete = not result.stopped_early and not result.complete
    if json_out:
        print_json(summary)
    else:
        console.print(_summary(result))
        console.print(Text(f"checkpoint {result.checkpoint}"))
        if incomplete:
            err_console.print(Text(f"incomplete: {result.data['why']}", style="bold red"), soft_wrap=True)
            for name in result.data["unseen_classes"][:10]:
                err_console.print(Text(f"never seen (every video failed to decode): {name}", style="yellow"))
    if incomplete:
        raise typer.Exit(EXIT_FAILED)


def _summary(result) -> str:
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


class _progress:
    """A rich progress bar fed with the trainer's per-step records (epoch, step, loss, clips/s, ETA)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and err_console.is_terminal
        self.bar = None
        self.task = None
        self.last: dict[str, Any] | None = None
        self.epoch = None

    def __enter__(self):
        if self.enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            columns = (
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[info]}"),
                TimeRemainingColumn(),
            )
            self.bar = Progress(*columns, console=err_console)
            self.bar.__enter__()
        return self.update

    def update(self, record: dict[str, Any]) -> None:
        if self.bar is None:
            return
        if self.task is None or record["epoch"] != self.epoch:
            if self.task is not None:
                self.bar.remove_task(self.task)
            self.task = self.bar.add_task(f"epoch {record['epoch']}", total=record["steps"], info="")
            self.epoch = record["epoch"]
            self.last = None
        rate = ""
        if self.last is not None:
            seconds = record["elapsed_s"] - self.last["elapsed_s"]
            rate = f"{record['clips'] / seconds:.1f} {record.get('unit', 'clips')}/s" if seconds > 0 else ""
        self.bar.update(self.task, completed=record["step"], info=f"loss {record['loss']:.4f} {rate}")
        self.last = record

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)
