"""`zslbench data prepare`: re-encode a manifest's videos once, small and with frequent keyframes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from zslbench.cli.aliases import renamed
from zslbench.cli.common import JsonOpt, command, console, err_console, print_json, workers_option
from zslbench.cli.data_cmds import data_app, print_failures
from zslbench.cli.progress import counting
from zslbench.core.errors import EXIT_FAILED


@data_app.command("prepare", context_settings=renamed({"-w": "-j"}))
@command
def prepare(
    manifest: Annotated[Path, typer.Argument(help="Manifest CSV written by `zslbench data index` or `zslbench synth`")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the prepared videos and the new manifest")],
    short_side: Annotated[int, typer.Option("--short-side", help="Shorter side in pixels (even, >= 16)")] = 128,
    keyframe_every: Annotated[int, typer.Option("--keyframe-every", help="A keyframe every N frames")] = 16,
    crf: Annotated[int, typer.Option("--crf", help="x264 quality, 0 (lossless) .. 51; lower is closer")] = 17,
    workers: Annotated[int, workers_option("Parallel processes (0: this one)")] = 0,
    json_out: JsonOpt = False,
) -> None:
    """Re-encode every video once (h264, short side 128, a keyframe every 16 frames) so training reads are cheap.

    Writes OUT/<manifest>.csv. Resumable. Exit 1 if any video fails."""
    from zslbench.video.manifest import read_manifest
    from zslbench.video.prepare import prepare_manifest, validate_settings

    validate_settings(short_side, keyframe_every, crf)
    loaded = read_manifest(manifest)
    with counting("preparing", len({record.path for record in loaded.records}), not json_out) as advance:
        report = prepare_manifest(loaded, out, short_side, keyframe_every, workers, lambda _: advance(), crf=crf)
    summary = report.summary()
    if json_out:
        print_json(summary)
    else:
        _render(summary)
    if summary["failed"]:
        raise typer.Exit(EXIT_FAILED)


def _render(summary: dict[str, Any]) -> None:
    settings = summary["settings"]
    before, after = summary["bytes"]["before"], summary["bytes"]["after"]
    failed = len(summary["failed"])
    table = Table(title="Prepared videos", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("value")
    table.add_row("videos", f"{summary['prepared']} prepared, {summary['skipped']} already done, {failed} failed")
    table.add_row(
        "settings",
        f"short side {settings['short_side']}, keyframe every {settings['keyframe_every']}, "
        f"h264 crf {settings['crf']} {settings['pix_fmt']}",
    )
    if before:
        table.add_row("size", f"{_size(before)} -> {_size(after)} ({after / before:.0%})")
    table.add_row("time", f"{summary['seconds']:.1f} s")
    console.print(table)
    print_failures("Failed, left out of the new manifest", summary["failed"])
    if summary["manifest"]:
        console.print(Text(f"manifest {summary['manifest']}"))
    else:
        err_console.print(Text("no video could be prepared: no manifest written", style="red"))


def _size(count: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"
