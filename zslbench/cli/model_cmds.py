"""`zslbench models list|show`: what can be trained and evaluated. Imports no torch."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from zslbench.cli.app import app
from zslbench.cli.common import JsonOpt, command, complete_models, console, err_console, print_json

models_app = typer.Typer(help="List and show registered models (built-in and plugins).", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("list")
@command
def list_models(json_out: JsonOpt = False) -> None:
    """Every registered model: kind, backbone, feature size, input normalisation and origin.

    A plugin that fails to load is one warning line on stderr; the other models are still listed."""
    from zslbench.models import all_model_specs

    specs = all_model_specs(
        on_problem=lambda line: err_console.print(Text(f"warning: {line}", style="yellow"), soft_wrap=True)
    )
    if json_out:
        print_json([spec.describe() for spec in specs])
        return
    table = Table(header_style="bold")
    for column in ("model", "kind", "backbone", "features", "input mean / std", "from"):
        table.add_column(column, no_wrap=column in ("model", "features"))
    for spec in specs:
        norm = f"{_fmt(spec.mean)} / {_fmt(spec.std)}"
        table.add_row(*map(Text, (spec.name, spec.kind, spec.backbone, f"{spec.feature_dim}-d", norm, spec.origin)))
    console.print(table)
    video_text = [spec for spec in specs if spec.input is not None]
    if video_text:
        console.print(_video_text_table(video_text))


def _video_text_table(specs) -> Table:
    """What the video-text models read by default (their weights may refine size and statistics),
    and their default templates; the other models read the protocol's clips."""
    table = Table(title="video-text models: default input and text", title_justify="left", header_style="bold")
    for column in ("model", "frames", "sampling", "size", "views x crops", "templates", "ensemble", "phrases"):
        table.add_column(column, no_wrap=column == "model")
    for spec in specs:
        source, text = spec.input, spec.text
        views = f"{source.views} x {source.crops} ({source.view_average})"
        cells = (spec.name, str(source.frames), source.sampling, str(source.size), views)
        table.add_row(*map(Text, (*cells, f"{text.name} ({len(text.templates)})", text.ensemble, text.phrases)))
    return table


@models_app.command("show")
@command
def show(
    name: Annotated[str, typer.Argument(help="Model name", autocompletion=complete_models)], json_out: JsonOpt = False
) -> None:
    """One model's metadata and its options (what --width, --dropout, --init set)."""
    from zslbench.models import model_spec

    spec = model_spec(name)
    if json_out:
        print_json(spec.describe())
        return
    grid = Table.grid(padding=(0, 2))
    for key, value in spec.describe().items():
        if isinstance(value, dict) and key in ("input", "text"):
            value = ", ".join(f"{k}={v}" for k, v in value.items() if k != "fingerprint")
        grid.add_row(key, Text(str(value)))
    console.print(grid)


def _fmt(values) -> str:
    """Two significant digits: 0.43 stays 0.43, and 1/255 (a std on the 0..255 scale) reads 0.0039, not 0.00."""
    return "(" + ",".join(f"{v:#.2g}" for v in values) + ")"
