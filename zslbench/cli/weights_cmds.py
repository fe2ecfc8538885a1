"""`zslbench weights list|show|add|verify|remove|export`: the weights zoo (zslbench.models.weights)
and shareable safetensors exports of checkpoints (zslbench.models.checkpoint). Nothing downloads."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from zslbench.cli.aliases import renamed
from zslbench.cli.app import app
from zslbench.cli.common import (
    FinetunedOnOpt,
    ImageTextOpt,
    JsonOpt,
    OptionOpt,
    command,
    console,
    err_console,
    parse_options,
    print_json,
    protocol_option,
)
from zslbench.core.errors import EXIT_FAILED

weights_app = typer.Typer(
    help="The weights zoo: trained weights by name, checked by sha256 (`eval --model NAME` uses them); "
    "shareable safetensors exports.",
    no_args_is_help=True,
)
app.add_typer(weights_app, name="weights")
IdArg = Annotated[str, typer.Argument(help="The weights' id (zslbench weights list)", show_default=False)]


@weights_app.command("list")
@command
def list_weights(json_out: JsonOpt = False) -> None:
    """Every entry of the zoo: declared by packages, then added by you.

    `file` says whether its file is in the zoo folder (`weights verify` checks its sha256)."""
    from zslbench.models.weights import list_entries, path_of, zoo_dir
    from zslbench.protocol.verdicts import VERDICT_STYLES, VERDICT_WORDS

    entries = list_entries()
    if json_out:
        print_json([{**entry.describe(), "path": str(path_of(entry))} for entry in entries])
        return
    table = Table(title=Text(f"weights zoo: {zoo_dir()}"), title_justify="left", header_style="bold")
    for column in ("id", "model", "protocol", "classes", "compliance", "MB", "file", "from"):
        table.add_column(column, no_wrap=column != "protocol", overflow="fold")
    for entry in entries:
        present = path_of(entry).exists()
        table.add_row(
            Text(entry.id),
            Text(entry.model),
            Text(_protocol(entry.protocol)),
            str(entry.classes.get("count") if entry.classes.get("count") is not None else "unknown"),
            Text(VERDICT_WORDS.get(entry.compliance, entry.compliance), style=VERDICT_STYLES.get(entry.compliance, "")),
            f"{entry.size / 1e6:.1f}",
            "[green]present[/]" if present else "[yellow]missing[/]",
            Text(entry.origin),
        )
    console.print(table)


@weights_app.command("show")
@command
def show(entry_id: IdArg, json_out: JsonOpt = False) -> None:
    """One entry: its file, sha256, source, protocol, training classes, compliance and notes."""
    from zslbench.models.weights import get_entry, path_of

    entry = get_entry(entry_id)
    shown = {**entry.describe(), "path": str(path_of(entry)), "present": path_of(entry).exists()}
    if json_out:
        print_json(shown)
        return
    grid = Table.grid(padding=(0, 2))
    for key, value in shown.items():
        text = _protocol(value) if key == "protocol" else str(value)
        if key == "classes":
            known = value.get("count") is not None
            text = f"{value['count']} training classes (sha256 of the list {value['sha256']})" if known else "unknown"
        grid.add_row(key, Text(text))
    console.print(grid)


@weights_app.command("add", context_settings=renamed({"--name": "--id"}))
@command
def add(
    file: Annotated[Path, typer.Argument(help="checkpoint.pt, its run folder, or a `weights export` folder or file")],
    entry_id: Annotated[
        str | None, typer.Option("--id", help="The zoo entry's id", show_default="MODEL-<sha256 prefix>")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Expected model name (checked)")] = None,
    source: Annotated[
        str | None, typer.Option("--source", help="Where others get the file (a URL)", show_default="this path")
    ] = None,
    notes: Annotated[
        str | None, typer.Option("--notes", help="Notes kept with the entry", show_default="epochs, steps and options")
    ] = None,
    image_text: ImageTextOpt = None,
    finetuned_on: FinetunedOnOpt = None,
    option: OptionOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Copy a checkpoint into the zoo and record its sha256, protocol, classes and compliance.

    A video-text model's HF folder (or its state dict, with --model, kept with its tokenizer files) is
    copied whole, its sha256 taken over every file; --image-text and --finetuned-on declare what it saw,
    for the audit; --option sets the model's options for the check that it loads (e.g. tokenizer=DIR)."""
    from zslbench.models.video_text.declared import Declared
    from zslbench.models.video_text.zoo_entry import add_to_zoo
    from zslbench.models.weights import path_of
    from zslbench.protocol.verdicts import VERDICT_WORDS

    declared = Declared(image_text, finetuned_on)
    entry = add_to_zoo(file, entry_id, model, source, notes, declared, parse_options(option))
    if json_out:
        print_json({**entry.describe(), "path": str(path_of(entry))})
        return
    verdict = VERDICT_WORDS.get(entry.compliance, entry.compliance)
    console.print(Text(f"added {entry.id}: {entry.model} under {_protocol(entry.protocol)}, {verdict}"))
    console.print(Text(f"file {path_of(entry)} (sha256 {entry.sha256}, {entry.size} bytes)", style="dim"))
    if entry.compliance != "compliant":
        err_console.print(Text(f"compliance {verdict}: {entry.compliance_why}", style="yellow"))


@weights_app.command("verify")
@command
def verify(
    entry_id: Annotated[str | None, typer.Argument(help="One entry", show_default="every one")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Hash each entry's file and compare it with its sha256. Exit 1 if one is missing or differs."""
    from zslbench.models.weights import get_entry, list_entries
    from zslbench.models.weights import verify as check

    checks = [check(entry) for entry in ([get_entry(entry_id)] if entry_id else list_entries())]
    if json_out:
        rows = [{"id": c.entry.id, "path": str(c.path), "status": c.status, "sha256": c.entry.sha256} for c in checks]
        print_json([{**row, "actual": c.actual} for row, c in zip(rows, checks, strict=True)])
    else:
        for c in checks:
            style = {"ok": "green", "missing": "yellow"}.get(c.status, "bold red")
            console.print(Text.assemble((f"{c.status:<8}", style), f" {c.entry.id}  {c.path}"))
            if c.status != "ok":
                err_console.print(Text(str(c.error()), style=style), soft_wrap=True)
    if any(c.status != "ok" for c in checks):
        raise typer.Exit(EXIT_FAILED)


@weights_app.command("remove")
@command
def remove(entry_id: IdArg) -> None:
    """Forget one of your entries and delete its file from the zoo folder."""
    from zslbench.models.weights import path_of
    from zslbench.models.weights import remove as forget

    entry = forget(entry_id)
    console.print(Text(f"removed {entry.id} ({path_of(entry)})"))


@weights_app.command("export")
@command
def export(
    run: Annotated[Path, typer.Argument(help="checkpoint.pt, its run folder, or a zoo entry's id")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for model.safetensors and zslbench.json")],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an export already in --out")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Write shareable weights: model.safetensors (nothing to unpickle) and zslbench.json.

    zslbench.json holds the model, protocol, classes, compliance, settings and pretraining; protocol/ holds
    the resolved protocol and its class lists, so the export evaluates where the protocol file is not. The
    resume state (optimizer, RNG) stays behind. `eval --weights`, `extract` and `weights add` take the folder."""
    from zslbench.models.checkpoint import EXPORT_METADATA, EXPORT_WEIGHTS, export_checkpoint, file_sha256
    from zslbench.models.weights import checkpoint_or_entry

    folder = export_checkpoint(checkpoint_or_entry(run), out, overwrite)
    files = {name: folder / name for name in (EXPORT_WEIGHTS, EXPORT_METADATA)}
    summary = {name: {"path": str(p), "bytes": p.stat().st_size, "sha256": file_sha256(p)} for name, p in files.items()}
    if json_out:
        print_json(summary)
        return
    for info in summary.values():
        console.print(Text(f"wrote {info['path']} ({info['bytes']} bytes, sha256 {info['sha256']})"))


# `zslbench weights import-reference` (the paper's released checkpoints, zslbench.models.reference_import)
# is registered on `weights_app` here, below the commands above.


@weights_app.command("import-reference")
@command
def import_reference(
    file: Annotated[Path, typer.Argument(help="A checkpoint.pth.tar released with Brattoli et al. (CVPR 2020)")],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Checkpoint file or folder", show_default="NAME-zslbench/ by FILE"),
    ] = None,
    protocol: Annotated[str | None, protocol_option("opt.dataset's")] = None,
    embedding: Annotated[
        str | None,
        typer.Option(
            "--embedding", "-e", help="Class vectors", show_default="word2vec:GoogleNews-vectors-negative300.bin"
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Import one of the paper's released checkpoints as a zslbench checkpoint (read without running its
    pickle). The reference kept the weights with the best *test* accuracy: model selection on the test set."""
    from zslbench.models.checkpoint import describe, load_checkpoint
    from zslbench.models.reference_import import default_out
    from zslbench.models.reference_import import import_reference as run_import

    path = run_import(file, out or default_out(file), protocol, embedding=embedding)
    state = load_checkpoint(path)
    if json_out:
        print_json({"path": str(path), **describe(state), "imported_from": state["imported_from"]})
        return
    classes = state["classes"]
    count = f"{len(classes)} training classes" if classes is not None else "training classes unknown"
    console.print(Text(f"wrote {path}: {state['model']['name']} under {_protocol(state['protocol'])}; {count}"))
    if state["compliance"].get("why"):
        err_console.print(Text(f"compliance unknown: {state['compliance']['why']}", style="yellow"))
    accuracy = state["imported_from"]["accuracy"]
    err_console.print(Text(f"test accuracy {accuracy}: {state['imported_from']['model_selection']}", style="yellow"))


def _protocol(ref: Any) -> str:
    """`name vN (fingerprint prefix)`, with any --set overrides; "any protocol" for a video-text model's."""
    if not isinstance(ref, dict):
        return str(ref)
    if not ref:
        return "any protocol"
    sets = "".join(f" --set {item}" for item in ref.get("sets", ()))
    return f"{ref.get('name')} v{ref.get('version')} ({str(ref.get('fingerprint'))[:12]}){sets}"
