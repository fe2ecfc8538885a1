"""`zslbench split` and `zslbench audit`: the realistic filter, applied and checked; `split --calibrate-to`
carries tau from one embedding space to another (protocol/calibration.py). Thin faces over
`protocol.split.split` and `evaluation.audit.audit`, which the Python API exports."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from zslbench.cli.app import app
from zslbench.cli.bounds import bounded
from zslbench.cli.common import (
    JsonOpt,
    SetOpt,
    command,
    console,
    err_console,
    from_protocol,
    print_json,
    protocol_option,
    short,
    short_id,
)
from zslbench.core.bounds import TAU
from zslbench.core.errors import EXIT_FAILED, ZslbenchError

if TYPE_CHECKING:
    from zslbench.protocol.calibration import Calibration
    from zslbench.protocol.overlap import OverlapTable
    from zslbench.protocol.spec import Protocol
    from zslbench.protocol.split import AuditResult

ProtocolOpt = Annotated[str | None, protocol_option()]
TestOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--test", help="Test datasets or class-list files; repeat or comma-separate", show_default=from_protocol("test")
    ),
]
ThresholdOpt = Annotated[
    float | None,
    bounded(
        TAU, "--threshold", "-t", help="tau, the cosine-distance threshold", show_default=from_protocol("overlap.tau")
    ),
]
EmbeddingOpt = Annotated[
    str | None,
    typer.Option(
        "--embedding",
        "-e",
        help="glove-6b-50d, fasttext:PATH, word2vec:PATH, glove:PATH, sentence:minilm or clip:PATH",
        show_default=from_protocol("embedding.model"),
    ),
]
CalibrateOpt = Annotated[
    str | None,
    typer.Option(
        "--calibrate-to",
        metavar="REF",
        help="Reference embedding: use the tau in --embedding whose removed set best matches REF's at tau "
        "(--threshold is then REF's tau); prints the agreement and writes the split made at it",
    ),
]
BORDERLINE = 10


@app.command()
@command
def split(
    threshold: ThresholdOpt = None,
    protocol: ProtocolOpt = None,
    sets: SetOpt = None,
    train: Annotated[
        str | None,
        typer.Option(
            "--train", help="Source classes: dataset or class-list file", show_default=from_protocol("train.source")
        ),
    ] = None,
    test: TestOpt = None,
    embedding: EmbeddingOpt = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder", show_default="runs/splits/<protocol>-tau<tau>-<fingerprint>"),
    ] = None,
    sweep: Annotated[
        str | None, typer.Option("--sweep", help="START:STOP:STEP: kept classes per tau, and a plot")
    ] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="PNG for --sweep", show_default="OUT/sweep.png")] = None,
    calibrate_to: CalibrateOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Remove every source class within tau of a test class; write the kept list and a report."""
    from zslbench.protocol.split import resolve_protocol
    from zslbench.protocol.split import split as split_classes

    proto = resolve_protocol(protocol, sets or (), train=train, test=test, embedding=embedding, threshold=threshold)
    if sweep is not None:
        if calibrate_to is not None:
            raise ZslbenchError("--calibrate-to and --sweep cannot be combined", "run the sweep on its own")
        _sweep(proto, sweep, out, plot, json_out)
        return
    with _spinner(json_out, f"embedding class names with {proto.embedding}..."):
        result = split_classes(proto, out=out, calibrate_to=calibrate_to)
    _warn_duplicates(result.table)
    report = result.report
    if json_out:
        print_json(report)
        return
    _render_summary(report, "split")
    if result.calibration is not None:
        _render_calibration(report["calibration"], result.calibration)
    else:
        _render_removed(report)
        _render_borderline(report)
    console.print(Text(f"wrote {result.kept_classes}\nwrote {result.report_path}"))


def _sweep(proto: Protocol, sweep: str, out: Path | None, plot: Path | None, json_out: bool) -> None:
    """`split --sweep START:STOP:STEP`: kept and removed counts per tau, and their plot."""
    from zslbench.protocol.overlap import parse_sweep
    from zslbench.protocol.report import default_split_dir, sweep_report

    taus = parse_sweep(sweep)
    table = _overlap(proto, quiet=json_out)
    report = sweep_report(table, proto, taus, proto.tau)
    report["plot"] = str(_plot_sweep(report, plot or (out or default_split_dir(proto, proto.tau)) / "sweep.png"))
    if json_out:
        print_json(report)
    else:
        _render_sweep(report)


@app.command()
@command
def audit(
    train_classes: Annotated[
        str, typer.Argument(help="Training classes: dataset name or class-list file; or a checkpoint (.pt, run folder)")
    ],
    test: TestOpt = None,
    threshold: ThresholdOpt = None,
    protocol: ProtocolOpt = None,
    sets: SetOpt = None,
    embedding: EmbeddingOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Check a training class list, or a checkpoint's training and pretraining classes, against test
    datasets. Exit 0 compliant, 1 not (or not known), 2 bad input."""
    from zslbench.evaluation.audit import audit as audit_subject

    with _spinner(json_out, "embedding class names..."):
        result = audit_subject(
            train_classes, protocol, sets=sets or (), test=test, embedding=embedding, threshold=threshold
        )
    report = result.report
    if result.table is not None:
        _warn_duplicates(result.table)
    if json_out:
        print_json(report)
    elif result.table is None:
        _render_checkpoint_audit(result)
    else:
        _render_summary(report, "audit")
        if report["compliant"]:
            _render_borderline(report)
        else:
            _render_removed(report)
    if not result.compliant:
        raise typer.Exit(EXIT_FAILED)


def _overlap(proto: Protocol, quiet: bool) -> OverlapTable:
    """The protocol's overlap table, with a spinner on a terminal; says which lists repeat a class."""
    from zslbench.protocol.overlap import protocol_overlap

    with _spinner(quiet, f"embedding class names with {proto.embedding}..."):
        table = protocol_overlap(proto)
    _warn_duplicates(table)
    return table


def _spinner(quiet: bool, what: str) -> AbstractContextManager[Any]:
    """A spinner on stderr while class names are embedded, on a terminal and unless `quiet` (--json)."""
    return nullcontext() if quiet or not err_console.is_terminal else err_console.status(what)


def _warn_duplicates(table: OverlapTable) -> None:
    """Say which class lists name a class more than once (each is kept once)."""
    for class_list in (table.source, *table.tests):
        if class_list.duplicates:
            names = ", ".join(repr(d) for d in class_list.duplicates[:5])
            err_console.print(
                f"[yellow]warning:[/yellow] {escape(class_list.name)} lists {escape(names)} more than once; kept once"
            )


def _render_checkpoint_audit(result: AuditResult) -> None:
    """A checkpoint's verdict per test dataset, why when not plain, and its violations, closest first."""
    from zslbench.protocol.verdicts import VERDICT_STYLES, VERDICT_WORDS

    proto = result.protocol
    grid = Table.grid(padding=(0, 2))
    grid.add_row("checkpoint", Text(result.subject))
    grid.add_row("protocol", Text(f"{proto.name} v{proto.version}  fingerprint {short(proto.fingerprint)}"))
    grid.add_row("tau", f"{result.tau:g}  (every class it saw at cosine distance >= tau from every test class)")
    for dataset, verdict in result.datasets.items():
        grid.add_row(Text(dataset), f"[{VERDICT_STYLES[verdict]}]{VERDICT_WORDS[verdict]}[/]")
    console.print(grid)
    if result.why:
        console.print(Text(f"why: {result.why}", style="dim"))
    if result.violations:
        table = Table(title="Violations: distance < tau, closest first", title_justify="left", header_style="bold")
        for name in ("#", "class", "role", "nearest test class", "dataset", "distance"):
            table.add_column(name, justify="right" if name in ("#", "distance") else "left", overflow="fold")
        for i, v in enumerate(sorted(result.violations, key=lambda v: v.distance), start=1):
            table.add_row(str(i), *map(Text, (v.name, v.role, v.nearest, v.dataset)), f"{v.distance:.4f}")
        console.print(table)


def _render_summary(report: dict[str, Any], kind: str) -> None:
    proto = report["protocol"]
    counts = report["counts"]
    grid = Table.grid(padding=(0, 2))
    changed = f"  [yellow]changed: {', '.join(proto['changed'])}[/]" if proto["changed"] else ""
    name = escape(f"{proto['name']} v{proto['version']}")
    grid.add_row("protocol", f"{name}  fingerprint {short(proto['fingerprint'])}{changed}")
    grid.add_row("source", Text(f"{report['source']['name']} ({report['source']['classes']} classes)"))
    grid.add_row("test", Text(", ".join(f"{t['name']} ({t['classes']})" for t in report["tests"])))
    grid.add_row("embedding", Text(short_id(report["embedding"]["id"])))
    grid.add_row("tau", f"{report['tau']:g}  (keep iff min cosine distance >= tau)")
    if kind in ("split", "sweep"):
        grid.add_row(
            "result", f"[bold green]kept {counts['kept']}[/] / {counts['source']}   removed {counts['removed']}"
        )
    elif report["compliant"]:
        grid.add_row("verdict", f"[bold green]COMPLIANT[/]: all {counts['source']} classes are at distance >= tau")
    else:
        grid.add_row(
            "verdict",
            f"[bold red]NOT COMPLIANT[/]: {counts['removed']} of {counts['source']} classes"
            " lie within tau of a test class",
        )
    console.print(grid)
    oov = [(c["name"], w) for c in report.get("classes", []) for w in c["oov"]]
    oov += [(name, w) for per in report.get("test_oov", {}).values() for name, words in per.items() for w in words]
    if oov:
        listed = ", ".join(f"{w!r} ({name})" for name, w in oov[:8]) + (" ..." if len(oov) > 8 else "")
        console.print(
            f"[dim]{len(oov)} word(s) unknown to the vectors, left out of their class vectors: {escape(listed)}[/dim]"
        )


def _class_table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("#", justify="right", style="dim", no_wrap=True)
    table.add_column("source class", overflow="fold")
    table.add_column("words", style="dim", overflow="fold")
    table.add_column("nearest test class", overflow="fold")
    table.add_column("dataset", style="dim", overflow="fold")
    table.add_column("distance", justify="right", no_wrap=True)
    for i, row in enumerate(rows, start=1):
        table.add_row(
            str(i),
            *map(Text, (row["name"], " ".join(row["words"]), row["nearest"], row["nearest_dataset"])),
            f"{row['distance']:.4f}",
        )
    return table


def _by_distance(report: dict[str, Any], kept: bool) -> list[dict[str, Any]]:
    return sorted((c for c in report["classes"] if c["kept"] == kept), key=lambda c: c["distance"])


def _render_removed(report: dict[str, Any]) -> None:
    rows = _by_distance(report, kept=False)
    if rows:
        label = "Removed" if report["kind"] == "split" else "Violations"
        console.print(_class_table(f"{label}: distance < tau, closest first", rows))


def _render_borderline(report: dict[str, Any]) -> None:
    rows = _by_distance(report, kept=True)[:BORDERLINE]
    if rows:
        console.print(_class_table(f"Borderline: the {len(rows)} kept classes closest to tau", rows))


def _plot_sweep(report: dict[str, Any], path: Path) -> Path:
    import numpy as np

    from zslbench.reporting.plots import plot_sweep

    taus = np.array([row["tau"] for row in report["sweep"]])
    kept = np.array([row["kept"] for row in report["sweep"]])
    tests = " + ".join(t["name"] for t in report["tests"])
    title = f"{report['source']['name']} vs {tests} ({report['embedding']['spec']})"
    plot_sweep(taus, kept, report["source"]["classes"], report["tau"], title, path)
    return path


def _render_sweep(report: dict[str, Any]) -> None:
    _render_summary(report, "sweep")
    table = Table(title="Sweep", title_justify="left", header_style="bold")
    for name in ("tau", "kept", "removed"):
        table.add_column(name, justify="right", no_wrap=True)
    for row in report["sweep"]:
        chosen = abs(row["tau"] - report["tau"]) < 1e-12
        style = "bold" if chosen else None
        tau = f"{row['tau']:g}" + (" <" if chosen else "")
        table.add_row(tau, str(row["kept"]), str(row["removed"]), style=style)
    console.print(table)
    console.print(Text(f"wrote {report['plot']}"))


def _render_calibration(calibration: dict[str, Any], result: Calibration) -> None:
    """The two embeddings' taus and removed counts, the agreement, and the classes that differ."""
    ref, mine, agree = calibration["reference"], calibration["embedding"], calibration["agreement"]
    low, high = result.interval
    span = f"[{0:g}, {high:.4g}]" if low is None else f"({low:.4g}, {high:.4g}]"
    table = Table(title="Calibrated tau", title_justify="left")
    for name, justify in (("", "left"), ("embedding", "left"), ("tau", "right"), ("removed", "right")):
        table.add_column(name, justify=justify, header_style="bold", overflow="fold")
    table.add_row("reference", Text(ref["spec"]), f"{ref['tau']:g}", str(agree["removed_reference"]))
    table.add_row("E", Text(mine["spec"]), f"{calibration['tau']:g}", str(agree["removed"]))
    console.print(table)
    console.print(
        f"best: {calibration['criterion']}\n"
        f"any tau in {span} removes the same set in {escape(mine['spec'])}\n"
        f"removed by both {agree['both']}   precision {_ratio(agree['precision'])}   "
        f"recall {_ratio(agree['recall'])}   F1 {agree['f1']:.3f}   Jaccard {agree['jaccard']:.3f}"
    )
    for key, title in (("only_reference", "Removed only by the reference"), ("only_embedding", "Removed only by E")):
        if calibration[key]:
            console.print(_differ_table(f"{title} ({len(calibration[key])})", calibration[key]))


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _differ_table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("#", justify="right", style="dim", no_wrap=True)
    table.add_column("source class", overflow="fold")
    for space in ("reference", "E"):
        table.add_column(f"nearest ({space})", overflow="fold")
        table.add_column("distance", justify="right", no_wrap=True)
    for i, row in enumerate(rows, start=1):
        cells = [Text(row["name"])]
        for side in (row["reference"], row["embedding"]):
            cells += [Text(side["nearest"]), f"{side['distance']:.4f}"]
        table.add_row(str(i), *cells)
    return table
