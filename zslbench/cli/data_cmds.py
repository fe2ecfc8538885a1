"""`zslbench data index|check|add|list` and `zslbench synth`: datasets on disk become accounted
manifests, and each dataset's root is set once (`data add`) instead of `--data` on every run."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from zslbench.cli.aliases import renamed
from zslbench.cli.app import app
from zslbench.cli.bounds import bounded
from zslbench.cli.common import JsonOpt, command, console, err_console, print_json, workers_option
from zslbench.cli.progress import counting
from zslbench.core.bounds import SEED
from zslbench.core.errors import EXIT_FAILED, ZslbenchError

data_app = typer.Typer(help="Index datasets into manifests, check them, and set their roots.", no_args_is_help=True)
app.add_typer(data_app, name="data")
PER_CLASS_ROWS = 60
DEFAULT_TIMEOUT = 120.0


@data_app.command("index")
@command
def index(
    layout: Annotated[str, typer.Argument(help="ucf101, hmdb51, kinetics400/600/700, activitynet200, folder or csv")],
    root: Annotated[Path, typer.Argument(help="Dataset folder (a CSV file for the csv layout)")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Manifest to write", show_default="runs/manifests/LAYOUT.csv")
    ] = None,
    classes: Annotated[
        str | None, typer.Option("--classes", help="Vocabulary for folder/csv: dataset name or class-list file")
    ] = None,
    split: Annotated[
        int | None, typer.Option("--split", help="Official split number (ucf101: 1-3, hmdb51: 1-3)")
    ] = None,
    annotations: Annotated[
        Path | None, typer.Option("--annotations", help="Official CSV (kinetics) or path,label CSV (activitynet200)")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Find a dataset's videos, map their labels to the vocabulary, and write a manifest."""
    from zslbench.video.layouts import IndexOptions, index_dataset
    from zslbench.video.manifest import write_manifest

    report = index_dataset(layout, root, IndexOptions(classes, split, annotations))
    path = write_manifest(report.manifest, out or Path("runs") / "manifests" / f"{layout}.csv")
    counts = report.manifest.counts()
    summary = {
        "layout": layout,
        "root": str(root),
        "manifest": str(path),
        "vocabulary": report.manifest.vocabulary or report.vocabulary.name,
        "videos": len(report.manifest),
        "classes_with_videos": len(counts),
        "classes_in_vocabulary": len(report.vocabulary),
        "per_class": {name: counts[name] for name in report.vocabulary.classes},
        "empty_classes": report.empty_classes,
        "unknown_labels": dict(report.unknown_labels),
        "skipped": [{"path": p, "reason": r} for p, r in report.skipped],
        "outside_links": [{"path": p, "target": t} for p, t in report.outside],
        "missing": [{"name": n, "label": label} for n, label in report.missing],
        "splits": dict(Counter(r.split or "-" for r in report.manifest.records)),
    }
    if json_out:
        print_json(summary)
    else:
        _render_index(summary)


def _render_index(summary: dict[str, Any]) -> None:
    grid = Table.grid(padding=(0, 2))
    grid.add_row("manifest", Text(summary["manifest"]))
    grid.add_row("vocabulary", Text(f"{summary['vocabulary']} ({_classes(summary['classes_in_vocabulary'])})"))
    grid.add_row("videos", f"[bold]{summary['videos']}[/] in {_classes(summary['classes_with_videos'])}")
    grid.add_row("splits", Text(", ".join(f"{k}: {v}" for k, v in sorted(summary["splits"].items()))))
    console.print(grid)
    per_class = summary["per_class"]
    if len(per_class) <= PER_CLASS_ROWS:
        table = Table(title="Videos per class", title_justify="left", header_style="bold")
        table.add_column("class")
        table.add_column("videos", justify="right")
        for name, count in per_class.items():
            table.add_row(Text(name), str(count), style="red" if not count else None)
        console.print(table)
    else:
        values = sorted(per_class.values())
        console.print(
            f"videos per class: min {values[0]}, median {values[len(values) // 2]}, max {values[-1]} "
            "(--json lists every class)"
        )
    _warn("vocabulary classes with no videos", summary["empty_classes"])
    unknown = [f"{label} ({count} videos)" for label, count in summary["unknown_labels"].items()]
    _warn("labels not in the vocabulary, skipped", unknown)
    _warn("unusable files, skipped", [f"{s['path']}: {s['reason']}" for s in summary["skipped"]])
    _warn(
        "links to outside the dataset folder, not indexed",
        [f"{link['path']} -> {link['target']}" for link in summary["outside_links"]],
    )
    _warn("annotated videos not found", [f"{m['name']} ({m['label']})" for m in summary["missing"]])


def _classes(count: int) -> str:
    return f"{count} class" if count == 1 else f"{count} classes"


def _warn(title: str, items: list[str], shown: int = 10) -> None:
    if items:
        more = f" ... and {len(items) - shown} more" if len(items) > shown else ""
        err_console.print(Text(f"warning: {len(items)} {title}: " + "; ".join(items[:shown]) + more, style="yellow"))


@data_app.command("check", context_settings=renamed({"-w": "-j"}))
@command
def check(
    manifest: Annotated[Path, typer.Argument(help="Manifest CSV written by `zslbench data index` or `zslbench synth`")],
    workers: Annotated[int, workers_option("Parallel processes")] = 0,
    verify_decoder: Annotated[
        str | None,
        typer.Option(
            "--verify-decoder",
            metavar="NAME",
            help="Instead: compare this decoder's frames with the exact reader's (decord) and keep the verdict",
        ),
    ] = None,
    sample: Annotated[
        int | None, typer.Option("--sample", help="With --verify-decoder: check a seeded sample of N videos")
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="With --verify-decoder: seconds one video may take")
    ] = DEFAULT_TIMEOUT,
    seed: Annotated[
        int, bounded(SEED, "--seed", help="With --verify-decoder: the sample and training positions", kind="int")
    ] = 0,
    json_out: JsonOpt = False,
) -> None:
    """Open every video of a manifest and decode its first and last frame. Exit 1 if any fails.

    With --verify-decoder decord: read every video (or --sample N of them) with decord and with the
    exact reader and compare the frames. Exit 0 when decord is verified for this dataset, 1 when it
    is refused (any wrong frame, failure or hang); training and evaluation refuse decord without it.
    """
    if verify_decoder is not None:
        _verify(manifest, verify_decoder, sample, timeout, seed, workers, json_out)
        return
    given = [name for name, value in (("--sample", sample), ("--timeout", timeout != DEFAULT_TIMEOUT)) if value]
    if given or seed:
        option = given[0] if given else "--seed"
        raise ZslbenchError(f"{option} only applies with --verify-decoder", "e.g. --verify-decoder decord")
    from zslbench.text.vocab import load_class_list
    from zslbench.video.check import check_manifest
    from zslbench.video.manifest import read_manifest

    loaded = read_manifest(manifest)
    unknown = []
    if loaded.vocabulary:  # a class-list file is named relative to the manifest's folder
        vocabulary = set(load_class_list(loaded.vocabulary_ref).classes)
        unknown = sorted(set(loaded.counts()) - vocabulary)
    with counting("checking", len(loaded), not json_out) as advance:
        results = check_manifest(loaded, workers, lambda _: advance())
    failed = [r for r in results if not r.ok]
    frames = [r.frames for r in results if r.ok]
    summary = {
        "manifest": str(manifest),
        "videos": len(results),
        "ok": len(results) - len(failed),
        "failed": [{"path": r.path, "label": r.label, "reason": r.reason} for r in failed],
        "labels_not_in_vocabulary": unknown,
        "frames": {"min": min(frames), "median": sorted(frames)[len(frames) // 2], "max": max(frames)}
        if frames
        else {},
        "codecs": dict(Counter(r.codec for r in results if r.ok)),
        "sizes": dict(Counter(f"{r.width}x{r.height}" for r in results if r.ok).most_common(5)),
    }
    if json_out:
        print_json(summary)
    else:
        _render_check(summary)
    if failed or unknown:
        raise typer.Exit(EXIT_FAILED)


def _verify(
    manifest: Path, backend: str, sample: int | None, timeout: float, seed: int, workers: int, json_out: bool
) -> None:
    """`data check --verify-decoder`: run the verification, print it, exit 1 when refused."""
    from zslbench.video.manifest import read_manifest
    from zslbench.video.verify import check_backend, check_options, verdict_file, verify_decoder

    check_backend(backend)  # bad input fails before any work
    check_options(sample, timeout)
    loaded = read_manifest(manifest)
    total = min(sample or len(loaded), len(loaded))
    with counting(f"verifying {backend}", total, not json_out) as advance:
        run = verify_decoder(loaded, backend, sample, seed, timeout, workers, lambda _: advance())
    summary = _verification_summary(run, str(verdict_file(loaded.path, backend)))
    if json_out:
        print_json(summary)
    else:
        _render_verification(summary)
    if not run.verified:
        raise typer.Exit(EXIT_FAILED)


def _verification_summary(run: Any, saved: str) -> dict[str, Any]:
    from zslbench.video.verify import STATUSES, describe

    def row(verdict: Any) -> dict[str, Any]:
        return {
            "path": verdict.path,
            "status": verdict.status,
            "wrong_frames": verdict.wrong,
            "frames_compared": verdict.frames,
            "first_wrong": list(verdict.first_wrong),
            "max_pixel_diff": verdict.max_diff,
            "detail": describe(verdict),
        }

    return {
        "manifest": run.manifest,
        "backend": run.backend,
        "identity": run.identity,
        "verdict": "VERIFIED" if run.verified else "REFUSED",
        "videos_in_manifest": run.videos,
        "checked": len(run.results),
        "sample": run.sample,
        "seed": run.seed,
        "timeout_s": run.timeout,
        **{status.replace(" ", "_"): run.count(status) for status in STATUSES},
        "frames_compared": sum(v.frames for v in run.results),
        "problems": [row(v) for v in run.results if v.status != "ok"],
        "earlier_refusals": [row(v) for v in run.earlier],
        "verdict_file": saved,
    }


def _shown(path: str) -> str:
    """A path relative to the working folder when it lies below it (tables stay narrow)."""
    import os

    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _render_verification(summary: dict[str, Any]) -> None:
    verified = summary["verdict"] == "VERIFIED"
    table = Table(
        title=f"Decoder check: {summary['backend']} against the exact reader",
        title_justify="left",
        show_header=False,
    )
    table.add_column("what")
    table.add_column("value")
    sampled = f" (seeded sample, seed {summary['seed']})" if summary["checked"] < summary["videos_in_manifest"] else ""
    table.add_row("videos checked", f"{summary['checked']} of {summary['videos_in_manifest']}{sampled}")
    table.add_row("frames compared", str(summary["frames_compared"]))
    for status, label in (
        ("ok", "ok"),
        ("mismatched", "wrong frames"),
        ("failed", "failed"),
        ("timed_out", f"timed out (> {summary['timeout_s']:g} s)"),
        ("unreadable", "unreadable by the exact reader too"),
    ):
        if status == "ok" or summary[status]:
            bad = status in ("mismatched", "failed", "timed_out")
            table.add_row(label, f"[red]{summary[status]}[/]" if bad else str(summary[status]))
    verdict = "[bold green]VERIFIED[/] for this dataset" if verified else "[bold red]REFUSED[/] for this dataset"
    table.add_row("verdict", verdict)
    console.print(table)
    problems = [p for p in summary["problems"] if p["status"] != "unreadable"] + summary["earlier_refusals"]
    if problems:
        listing = Table(title=f"Videos {summary['backend']} got wrong", title_justify="left", header_style="bold")
        listing.add_column("video", overflow="fold")
        listing.add_column("what")
        for problem in summary["problems"]:
            if problem["status"] != "unreadable":
                listing.add_row(Text(_shown(problem["path"])), Text(problem["detail"]))
        for problem in summary["earlier_refusals"]:
            listing.add_row(Text(_shown(problem["path"])), Text(f"in an earlier run: {problem['detail']}"))
        console.print(listing)
    _warn(
        "videos the exact reader cannot read either (see `zslbench data check`)",
        [f"{_shown(p['path'])}: {p['detail']}" for p in summary["problems"] if p["status"] == "unreadable"],
    )
    if not verified:
        err_console.print(
            Text(f"{summary['backend']} stays off for this dataset: training and evaluation read it with pyav")
        )


def _render_check(summary: dict[str, Any]) -> None:
    table = Table(title="Manifest check", title_justify="left", header_style="bold", show_header=False)
    table.add_column("what")
    table.add_column("value")
    ok_style = "green" if summary["ok"] == summary["videos"] else "red"
    table.add_row("videos", f"[{ok_style}]{summary['ok']} of {summary['videos']} readable[/]")
    if summary["frames"]:
        f = summary["frames"]
        table.add_row("frames per video", f"min {f['min']}, median {f['median']}, max {f['max']}")
    table.add_row("codecs", Text(", ".join(f"{k}: {v}" for k, v in summary["codecs"].items())))
    table.add_row("frame sizes", Text(", ".join(f"{k}: {v}" for k, v in summary["sizes"].items())))
    console.print(table)
    print_failures("Unreadable videos", summary["failed"])
    _warn("labels not in the manifest's vocabulary", summary["labels_not_in_vocabulary"])


def print_failures(title: str, rows: list[dict[str, Any]]) -> None:
    """A table of videos and why each failed (nothing when there are none)."""
    if rows:
        failures = Table(title=title, title_justify="left", header_style="bold")
        failures.add_column("video")
        failures.add_column("reason")
        for row in rows:
            failures.add_row(Text(row["path"]), Text(row["reason"]))
        console.print(failures)


@data_app.command("add")
@command
def add(
    name: Annotated[str, typer.Argument(help="Dataset name, as the protocol names it (e.g. ucf101, synth-source)")],
    path: Annotated[Path, typer.Argument(help="Its manifest CSV, or its folder to index")],
    layout: Annotated[
        str | None, typer.Option("--layout", help="Layout of the folder", show_default="the dataset's own, or folder")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Set a dataset's root once, in your datasets.yaml: train, eval and extract then need no --data."""
    from zslbench.datasets.roots import add_root, canonical_name, configured_roots, name_warning
    from zslbench.video.sources import checked_layout, default_layout

    name = canonical_name(name.strip())
    target = path.expanduser().absolute()
    if not target.exists():
        raise ZslbenchError(f"{target} does not exist", "pass the dataset's folder or its manifest CSV")
    checked_layout(name, target, layout)
    winner = configured_roots().get(name)  # first: a malformed roots file stops the command before it writes
    root, replaced = add_root(name, target, layout)
    shadowed = winner.where if winner is not None and winner.file != root.file else None
    summary = {
        **root.describe(),
        "kind": _root_kind(root.path, layout),
        "effective_layout": layout or (default_layout(name) if root.path.is_dir() else None),
        "replaced": replaced.describe() if replaced else None,
        "overridden_by": shadowed,
        "warning": name_warning(name),
    }
    summary.pop("overrides")
    if json_out:
        print_json(summary)
        return
    how = summary["kind"] + (f", layout {summary['effective_layout']}" if summary["effective_layout"] else "")
    console.print(Text(f"{name} -> {root.path} ({how})"))
    same = replaced is not None and (replaced.path, replaced.layout) == (root.path, root.layout)
    change = " (already set)" if same else f", replacing {replaced.path}" if replaced else ""
    console.print(Text(f"saved in {root.where}{change}"))
    if summary["warning"]:
        err_console.print(Text(f"warning: {summary['warning']}", style="yellow"), soft_wrap=True)
    if shadowed:
        message = f"warning: {shadowed} also sets {name} and is nearer, so runs use that one (zslbench data list)"
        err_console.print(Text(message, style="yellow"), soft_wrap=True)


@data_app.command("remove")
@command
def remove(
    name: Annotated[str, typer.Argument(help="Dataset name, as `zslbench data list` shows it")],
    json_out: JsonOpt = False,
) -> None:
    """Forget a dataset's root in your datasets.yaml (what `data add` set); other entries stay as they are."""
    from zslbench.datasets.roots import configured_roots, remove_root

    removed = remove_root(name)
    left = configured_roots().get(removed.name)  # a farther layer's entry, which runs now use
    if json_out:
        print_json({**removed.describe(), "now": left.describe() if left else None})
        return
    console.print(Text(f"removed {removed.name} -> {removed.path} from {removed.file}"))
    if left is not None:
        message = f"{removed.name} is still set in {left.where} ({left.layer}): runs use {left.path}"
        err_console.print(Text(message, style="yellow"), soft_wrap=True)


@data_app.command("list")
@command
def list_roots(json_out: JsonOpt = False) -> None:
    """Every configured dataset root: its path, layout, and the file (layer) that set it."""
    from zslbench.datasets.roots import configured_roots, layers, name_warning
    from zslbench.video.layouts import LAYOUTS
    from zslbench.video.sources import default_layout

    searched = [{"layer": layer.name, "file": str(layer.path), "exists": layer.path.exists()} for layer in layers()]
    rows = []
    for name, root in sorted(configured_roots().items()):
        kind = _root_kind(root.path, root.layout)
        layout = root.layout or (default_layout(name) if kind == "folder" else None)
        warning = name_warning(name)
        if root.layout and root.layout not in LAYOUTS:
            warning = f"{root.where}: unknown layout {root.layout!r} (zslbench data index --help lists them)"
        rows.append({**root.describe(), "kind": kind, "effective_layout": layout, "warning": warning})
    if json_out:
        print_json({"layers": searched, "datasets": rows})
        return
    _render_roots(searched, rows)


def _root_kind(path: Path, layout: str | None) -> str:
    """How a run reads a root: a manifest as written, a folder (or a csv layout's file) indexed, or nothing."""
    if not path.exists():
        return "missing"
    if path.is_file():
        return "manifest" if layout is None else "file"
    return "folder"


def _render_roots(searched: list[dict[str, Any]], rows: list[dict[str, Any]]) -> None:
    for layer in searched:
        state = "" if layer["exists"] else " (absent)"
        line = f"{layer['layer']:<19} {_shown(layer['file'])}{state}"
        console.print(Text(line, style=None if layer["exists"] else "dim"))
    if not rows:
        console.print("no dataset roots configured (set one: zslbench data add NAME PATH)")
        return
    table = Table(title="Dataset roots (nearest layer wins)", title_justify="left", header_style="bold")
    for column in ("dataset", "path", "layout", "from", "overrides"):
        table.add_column(column, overflow="fold")
    for row in rows:
        if row["kind"] == "missing":
            layout = Text("path missing", style="red")
        elif row["kind"] == "manifest":
            layout = Text("manifest")
        else:
            layout = Text(row["layout"] or f"{row['effective_layout']} (default)")
        overrides = "\n".join(f"{o['layer']} {_shown(o['file'])}:{o['line']}" for o in row["overrides"])
        where = f"{row['layer']} {_shown(row['file'])}:{row['line']}"
        table.add_row(Text(row["name"]), Text(_shown(row["path"])), layout, Text(where), Text(overrides))
    console.print(table)
    for row in rows:
        if row["warning"]:
            err_console.print(Text(f"warning: {row['warning']}", style="yellow"), soft_wrap=True)


@app.command()
@command
def synth(
    out: Annotated[Path, typer.Argument(help="New folder for the dataset")],
    classes: Annotated[int, typer.Option("--classes", help="Classes in all; 4 become targets (fewer below 16)")] = 40,
    videos_per_class: Annotated[int, typer.Option("--videos-per-class", help="Videos of each class")] = 4,
    seed: Annotated[int, bounded(SEED, "--seed", help="Everything follows from it", kind="int")] = 0,
    json_out: JsonOpt = False,
) -> None:
    """Write the synthetic zero-shot benchmark: coloured shapes in motion, real h264/mpeg4 files."""
    from zslbench.video.synth import make_synth

    total = classes * videos_per_class
    with counting("writing videos", total, not json_out, eta=False) as advance:
        dataset = make_synth(out, classes, videos_per_class, seed, advance)
    summary = {
        "root": str(dataset.root),
        "videos": dataset.videos,
        "source": [c.name for c in dataset.source],
        "target": [c.name for c in dataset.target],
        "protocol": str(dataset.protocol),
        "manifests": {"source": str(dataset.root / "source.csv"), "target": str(dataset.root / "target.csv")},
    }
    if json_out:
        print_json(summary)
        return
    table = Table(title=f"{dataset.videos} videos in {dataset.root}", title_justify="left", header_style="bold")
    table.add_column(f"source classes ({len(dataset.source)})")
    table.add_column(f"target classes ({len(dataset.target)}, never trained on)")
    for i in range(max(len(dataset.source), len(dataset.target))):
        cells = [
            dataset.source[i].name if i < len(dataset.source) else "",
            dataset.target[i].name if i < len(dataset.target) else "",
        ]
        table.add_row(*cells)
    console.print(table)
    manifests = summary["manifests"]
    console.print(Text(f"protocol  {summary['protocol']}\nmanifests {manifests['source']}, {manifests['target']}"))
