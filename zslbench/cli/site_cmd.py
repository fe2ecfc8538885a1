"""`zslbench report`: result records as a static, self-contained results page (`reporting/site.py`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from zslbench.cli.app import app
from zslbench.cli.common import command, console, print_json
from zslbench.cli.report_cmds import ResultsArg


@app.command()
@command
def report(
    results: ResultsArg = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder the page is written to (as index.html), or a .html file")
    ] = Path("site"),
    published: Annotated[
        bool, typer.Option("--published/--no-published", help="Compare with the published numbers, as `check` does")
    ] = True,
    title: Annotated[str, typer.Option("--title", help="The page's title")] = "zslbench results",
    json_out: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON")] = False,
) -> None:
    """Write the results as one static, self-contained HTML page (OUT/index.html).

    Tables, plots, compliance verdicts, protocol cards, the comparison with published numbers and,
    for records evaluated with --log-samples, per-class results. The page loads nothing from the network."""
    from zslbench.reporting.site import build_site, page_path

    page = page_path(out)  # a bad --out is refused before any work
    site = build_site(results or [Path("results")], published, title)
    site.write(page)
    if json_out:
        print_json({"page": str(page), **site.summary()})
        return
    size = site.summary()["bytes"] / 1024
    models = f"{len(site.models)} model(s) on {len(site.datasets)} dataset(s)"
    console.print(Text(f"wrote {page}: {site.records} record(s) of {models}, {size:.0f} KiB, self-contained"))
    if published:
        counts = ", ".join(f"{n} {status}" for status, n in site.check.items()) or "no number of these models"
        console.print(Text(f"against published numbers: {counts}"))
    console.print(Text(f"open {page.resolve().as_uri()}"))
