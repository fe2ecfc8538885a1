"""`zslbench table` and `zslbench check`: pure reductions over result records, thin faces over
`reporting.tables.results_table` and `reporting.gate.check`, which the Python API exports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from zslbench.cli.app import app
from zslbench.cli.bounds import bounded
from zslbench.cli.common import command, console, err_console, print_json
from zslbench.core.bounds import COUNT, STD_K, TOLERANCE
from zslbench.core.errors import EXIT_FAILED, ZslbenchError

ResultsArg = Annotated[list[Path] | None, typer.Argument(help="Result files or folders", show_default="results/")]


@app.command()
@command
def table(
    results: ResultsArg = None,
    published: Annotated[bool, typer.Option("--published", help="Add the published numbers")] = False,
    fmt: Annotated[str, typer.Option("--format", "-f", help="md, csv, latex or html")] = "md",
    metric: Annotated[list[str] | None, typer.Option("--metric", help="Only these metrics (top1, top5, ...)")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the table here")] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot", help="PNG bar chart (half-class top-1, std as error bars); with --overlap: top-1 by distance"
        ),
    ] = None,
    allow_mixed: Annotated[
        bool, typer.Option("--allow-mixed", help="Let different protocol fingerprints share a column")
    ] = False,
    confusion: Annotated[
        Path | None,
        typer.Option("--confusion", help="A record's most confused class pairs instead (needs eval --log-samples)"),
    ] = None,
    top: Annotated[
        int | None, bounded(COUNT, "--top", help="With --confusion: how many pairs (default 10)", kind="int")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="With --confusion or --overlap: print machine-readable JSON")
    ] = False,
    overlap: Annotated[
        bool,
        typer.Option(
            "--overlap", help="Each record's top-1 per class binned by distance to its declared training classes"
        ),
    ] = False,
) -> None:
    """Rows: models and published methods. Columns: protocol x dataset x split x metric.

    --confusion RECORD.json: that record's most confused class pairs (true class -> predicted top-1).
    --overlap: each record's test classes binned by their distance to the classes the model declares it
    saw, with their top-1 (--plot: per-class top-1 against that distance)."""
    from zslbench.core.atomic import write_text
    from zslbench.core.errors import ZslbenchError
    from zslbench.reporting.tables import FORMATS, plot_bars, results_table

    if confusion is not None:
        _refuse_with_confusion(
            {
                "RESULTS": bool(results),
                "--published": published,
                "--format": fmt != "md",
                "--metric": bool(metric),
                "--out": out is not None,
                "--plot": plot is not None,
                "--allow-mixed": allow_mixed,
                "--overlap": overlap,
            }
        )
        _confusion(confusion, 10 if top is None else top, json_out)
        return
    if overlap:
        given = {"--published": published, "--format": fmt != "md", "--metric": bool(metric), "--out": bool(out)}
        _overlap(results, plot, json_out, {**given, "--allow-mixed": allow_mixed, "--top": top is not None})
        return
    if top is not None or json_out:
        raise ZslbenchError("--top and --json go with --confusion", "zslbench table --confusion RECORD.json --top 5")
    if fmt not in FORMATS:
        raise ZslbenchError(f"unknown format {fmt!r}", f"choose one of {', '.join(FORMATS)}")
    made = results_table(results or ["results"], published=published, metrics=metric, allow_mixed=allow_mixed)
    text = made.text(fmt)
    if out:
        write_text(out, text)
        console.print(Text(f"wrote {out}"))
    else:
        console.print(text, markup=False, highlight=False, soft_wrap=True, end="")
    if plot:
        plot_bars(made.observations, plot)
        console.print(Text(f"wrote {plot}"))


def _overlap(results: list[Path] | None, plot: Path | None, json_out: bool, given: dict[str, bool]) -> None:
    """Print (or --json) the overlap diagnostic of every record that has one; --plot writes its plot.
    `given`: the table's other options, which do not apply here."""
    from zslbench.cli.overlap_view import print_overlap
    from zslbench.evaluation.records import find_records
    from zslbench.reporting.overlap import plot_overlap, record_overlap

    if clash := [name for name, present in given.items() if present]:
        raise ZslbenchError(
            f"{clash[0]} does not go with --overlap", "zslbench table [RESULTS] --overlap [--plot PNG] [--json]"
        )
    records = find_records(results or [Path("results")])
    overlaps = [found for record in records if (found := record_overlap(record))]
    if not overlaps:
        raise ZslbenchError(
            f"none of the {len(records)} record(s) has an overlap diagnostic",
            "it needs a model that declares its training classes (a checkpoint, --finetuned-on, training_classes)",
        )
    if json_out:
        print_json([o.to_json() for o in overlaps])
    else:
        print_overlap(overlaps)
    if plot:
        plot_overlap(overlaps, plot)
        (err_console if json_out else console).print(Text(f"wrote {plot}"))


def _refuse_with_confusion(given: dict[str, bool]) -> None:
    """--confusion reads one record's samples; the table's own inputs and options do not apply."""
    from zslbench.core.errors import ZslbenchError

    clash = [name for name, present in given.items() if present]
    if clash:
        raise ZslbenchError(
            f"{clash[0]} does not go with --confusion",
            "--confusion reads one record: zslbench table --confusion RECORD.json [--top N] [--json]",
        )


def _confusion(path: Path, top: int, json_out: bool) -> None:
    """Print the most confused class pairs of the record at `path` (`samples.confusion`)."""
    from zslbench.evaluation.records import load_record
    from zslbench.evaluation.samples import confusion, read_samples

    record = load_record(path)
    summary = confusion(read_samples(record), top)
    recorded = (record["metrics"].get("all") or {}).get("top1")
    if summary["top1"] is not None and recorded is not None and abs(summary["top1"] - recorded) > 1e-9:
        raise ZslbenchError(
            f"{path}: its samples give top-1 {summary['top1']:.2f}, the record {recorded:.2f}",
            "the samples file belongs to another run; evaluate again with --log-samples",
        )
    samples = path.with_name(record["data"]["samples"])
    if json_out:
        print_json({"record": str(path), "samples": str(samples), **summary})
        return
    top1 = "" if summary["top1"] is None else f" (top-1 {summary['top1']:.2f}%)"
    console.print(
        Text(
            f"{record['model']['label']} on {record['dataset']['name']}: {summary['misclassified']} misclassified, "
            f"of {summary['scored']} scored videos{top1}"
        )
    )
    if summary["pairs"]:
        grid = Table(header_style="bold")
        for column in ("true class", "predicted top-1", "videos", "share of true class"):
            number = column in ("videos", "share of true class")
            grid.add_column(column, justify="right" if number else "left", no_wrap=number, overflow="fold")
        for pair in summary["pairs"]:
            share = f"{pair['share']:.1f}% of {pair['videos']}"
            grid.add_row(Text(pair["true"]), Text(pair["predicted"]), str(pair["count"]), share)
        console.print(grid)
    if summary["unusable"] or summary["failed"]:
        console.print(
            Text(
                f"{summary['unusable']} unusable embedding(s) (misses without a prediction), "
                f"{summary['failed']} failed video(s) (not scored)"
            )
        )
    console.print(Text(f"per-video predictions: {samples}", style="dim"))


@app.command()
@command
def check(
    results: ResultsArg = None,
    against: Annotated[str, typer.Option("--against", help="published, or a baseline JSON file")] = "published",
    tolerance: Annotated[float, bounded(TOLERANCE, "--tolerance", help="Allowed difference in accuracy points")] = 1.0,
    std_k: Annotated[float, bounded(STD_K, "--std-k", help="...or this many standard deviations, if larger")] = 2.0,
    junit: Annotated[Path | None, typer.Option(help="Write a JUnit XML report")] = None,
    summary: Annotated[Path | None, typer.Option(help="Write a Markdown summary (e.g. $GITHUB_STEP_SUMMARY)")] = None,
    write_baseline: Annotated[Path | None, typer.Option(help="Record these results as a baseline and exit")] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Also fail on missing and stale references, and when nothing compares")
    ] = False,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="table (for people), md (Markdown, for logs and PRs) or json")
    ] = "table",
    json_out: Annotated[
        bool, typer.Option("--json", help="Print machine-readable JSON (same as --format json).")
    ] = False,
) -> None:
    """Compare results with published numbers or a baseline. Exit 1 on any fail or incomplete run."""
    from zslbench.core.atomic import write_text
    from zslbench.reporting.gate import check as run_gate
    from zslbench.reporting.gate import write_baseline as save_baseline
    from zslbench.reporting.results import observations_of

    fmt = _check_format(fmt, json_out)
    given = results or ["results"]
    if write_baseline:
        observations = observations_of(given)
        save_baseline(observations, write_baseline)
        console.print(Text(f"wrote baseline {write_baseline} ({len(observations)} numbers)"))
        return
    gate = run_gate(given, against, tolerance=tolerance, std_k=std_k, strict=strict)
    rows = gate.comparisons
    if junit:
        write_text(junit, gate.junit())
    if summary:
        summary.parent.mkdir(parents=True, exist_ok=True)
        with open(summary, "a", encoding="utf-8") as handle:  # $GITHUB_STEP_SUMMARY is appended to
            handle.write(gate.markdown())
    if fmt == "json":
        print_json(gate.to_json())
    elif fmt == "md":
        console.print(gate.markdown(), markup=False, highlight=False, soft_wrap=True, end="")
    elif not rows:
        used = ", ".join(gate.protocols)
        message = f"nothing to compare: no reference numbers for {used}"
        (err_console if strict else console).print(Text(message + (" (--strict fails)" if strict else "")))
    else:
        _render(rows)
        if strict and all(r.status == "other_card" for r in rows):
            err_console.print(Text("nothing compared like for like: every reference has another card (--strict fails)"))
    if not gate.passed:
        raise typer.Exit(EXIT_FAILED)


CHECK_FORMATS = ("table", "md", "json")


def _check_format(fmt: str, json_out: bool) -> str:
    """The output form of `check`; --json is --format json."""
    from zslbench.core.errors import ZslbenchError

    if fmt not in CHECK_FORMATS:
        raise ZslbenchError(f"unknown format {fmt!r}", f"choose one of {', '.join(CHECK_FORMATS)}")
    if json_out and fmt not in ("table", "json"):
        raise ZslbenchError(f"--json and --format {fmt} disagree", "pass one of them")
    return "json" if json_out else fmt


def _render(rows) -> None:
    from zslbench.metrics import BUILTIN_METRICS, metric_names, metric_words
    from zslbench.reporting.gate import SELECTED_MARK, selection_notes

    styles = {
        "pass": "green",
        "fail": "bold red",
        "missing": "yellow",
        "stale": "yellow",
        "other_card": "cyan",
        "incomplete": "bold red",
    }
    table = Table(header_style="bold")
    notes = any(r.reason for r in rows)
    for column in ("status", "model", "protocol", "dataset", "split", "metric", "ours", "reference", "allowed", "note"):
        if column != "note" or notes:  # a narrow terminal folds names; numbers are never cut
            number = column in ("ours", "reference", "allowed")
            table.add_column(
                column, justify="right" if number else "left", no_wrap=number or column == "status", overflow="fold"
            )
    short = {"random_half": "half"}
    for r in rows:
        names = (r.who, r.protocol, r.dataset, short.get(r.split, r.split), metric_words(r.metric)[1])
        ours = "" if r.ours is None else f"{r.ours:.2f}" + (SELECTED_MARK if r.note else "")
        numbers = (ours, r.reference_text, r.allowed_text)
        note = [Text(r.reason)] if notes else []
        table.add_row(f"[{styles[r.status]}]{r.status}[/]", *map(Text, names), *numbers, *note)
    console.print(table)
    for line in selection_notes(rows):  # the marked numbers' models were chosen on the test set: optimistic
        console.print(Text(f"{SELECTED_MARK} {line}", style="yellow"), soft_wrap=True)
    counts = {s: sum(r.status == s for r in rows) for s in styles}
    counts = {s: n for s, n in counts.items() if n or s != "other_card"}  # other cards: only when there are some
    legend = ["half: 10 half-class splits"]
    splits = {r.split for r in rows}
    legend += ["official: the dataset's official test splits"] if "official" in splits else []
    legend += ["unseen: the test classes no source class is within tau of"] if "unseen" in splits else []
    legend += ["gzsl: seen and unseen classes together"] if "gzsl" in splits else []
    legend += (
        ["other_card: made another way (the note says how), shown, not compared"] if "other_card" in counts else []
    )
    shown = {r.metric for r in rows}
    for name in (n for n in metric_names() if n in shown or n in BUILTIN_METRICS):  # short names explained
        label, abbreviation = metric_words(name)
        legend += [f"{abbreviation}: {label}"] if abbreviation != name else []
    console.print(", ".join(f"{n} {s}" for s, n in counts.items()) + f"  ({'; '.join(legend)})")
