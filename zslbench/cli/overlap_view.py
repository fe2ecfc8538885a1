"""The overlap diagnostic on the terminal: one table per record, as `zslbench eval` and `table --overlap` print it."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from zslbench.cli.common import console
from zslbench.reporting.overlap import SPACE_WORDS, RecordOverlap


def overlap_table(overlap: RecordOverlap) -> Table:
    """Rows: each space's distance bins (an empty bin only for [0, tau), where none is news); columns:
    classes, videos, mean per-class top-1, the closest class."""
    parts = "; ".join(overlap.against["parts"])
    title = Text(f"overlap: {overlap.label} on {overlap.dataset}, against {parts}")
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in ("space", "nearest distance", "classes", "videos", "mean top-1", "closest"):
        number = column in ("classes", "videos", "mean top-1")
        table.add_column(column, justify="right" if number else "left", no_wrap=number, overflow="fold")
    for space, bins in overlap.bins.items():
        tau = overlap.tau if space == "protocol_embedding" else None
        shown = [b for b in bins if b.classes or (tau is not None and b.low == 0)]
        for i, b in enumerate(shown):
            top1 = "" if b.top1 is None else f"{b.top1:.1f}"
            pair = b.example
            closest = "" if pair is None else f"{pair['class']} ~ {pair['nearest']} ({pair['distance']:.3f})"
            name = SPACE_WORDS[space] if i == 0 else ""
            table.add_row(Text(name), b.label(tau), str(b.classes), str(b.videos), top1, Text(closest))
    return table


def print_overlap(overlaps: list[RecordOverlap]) -> None:
    """Each record's table, then what it was measured against and what could not be measured."""
    for overlap in overlaps:
        console.print(overlap_table(overlap))
        within = f"{overlap.within_tau} of {overlap.classes}"
        source = f", {overlap.tau_source}" if overlap.tau_source else ""
        notes = [f"{within} test classes within tau {overlap.tau:g}{source} of a declared class (protocol embedding)"]
        notes += [f"{SPACE_WORDS[space]}: {why}" for space, why in overlap.unavailable.items()]
        notes += [overlap.against["note"]] if overlap.against.get("note") else []
        for note in notes:
            console.print(Text(note, style="dim"), soft_wrap=True)
