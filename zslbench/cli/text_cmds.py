"""`zslbench embeddings` and `zslbench classes`: what the text side offers and does to names."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from zslbench.cli.app import app
from zslbench.cli.common import JsonOpt, command, console, print_json


@app.command()
@command
def embeddings(json_out: JsonOpt = False) -> None:
    """The text embeddings zslbench can use, and how to name them in --embedding."""
    from zslbench.text import EMBEDDERS

    rows = [
        {"name": e.name, "usage": e.info.get("usage", e.name), "summary": e.info.get("summary", "")} for e in EMBEDDERS
    ]
    if json_out:
        print_json(rows)
        return
    table = Table(header_style="bold")
    for column in ("--embedding", "what"):
        table.add_column(column)
    for row in rows:
        table.add_row(Text(row["usage"]), Text(row["summary"]))
    console.print(table)


@app.command()
@command
def classes(
    dataset: Annotated[str, typer.Argument(help="Dataset name or class-list file")],
    embedding: Annotated[
        str | None,
        typer.Option("--embedding", "-e", help="Check words against these vectors", show_default="glove-6b-50d"),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """A class list with the words each name is embedded as, and any words the vectors lack."""
    from zslbench.text import DEFAULT_EMBEDDING, load_embedder
    from zslbench.text.class_vectors import embed_class_lists
    from zslbench.text.vocab import load_class_list

    class_list = load_class_list(dataset)
    embedder = load_embedder(embedding or DEFAULT_EMBEDDING)
    (vectors,) = embed_class_lists([class_list], embedder)
    rows = [
        {"name": name, "words": list(words), "oov": list(oov)}
        for name, words, oov in zip(vectors.names, vectors.words, vectors.oov, strict=True)
    ]
    if json_out:
        print_json({"dataset": class_list.name, "embedding": embedder.id, "classes": rows})
        return
    title = Text(f"{class_list.name}: {len(rows)} classes, words checked against {embedder.kind}")
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in ("#", "class", "words", "unknown words"):
        table.add_column(column)
    for i, row in enumerate(rows, start=1):
        cells = map(Text, (row["name"], " ".join(row["words"]), " ".join(row["oov"])))
        table.add_row(str(i), *cells, style="yellow" if row["oov"] else None)
    console.print(table)
