"""`zslbench protocols list|show|validate`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from zslbench.cli.app import protocols_app
from zslbench.cli.common import JsonOpt, SetOpt, command, complete_protocols, console, err_console, print_json, short
from zslbench.core.errors import EXIT_BAD_INPUT, ZslbenchError


@protocols_app.command("list")
@command
def list_protocols(json_out: JsonOpt = False) -> None:
    """The shipped protocols."""
    from zslbench.protocol.spec import read_protocol, shipped_protocols

    protocols = [read_protocol(path) for path in shipped_protocols().values()]
    if json_out:
        print_json([_summary(p) for p in protocols])
        return
    table = Table(header_style="bold")
    for name in ("protocol", "source", "test", "tau", "embedding", "fingerprint"):  # names fold, numbers never do
        table.add_column(name, overflow="fold", no_wrap=name in ("tau", "fingerprint"))
    for p in protocols:
        test = ", ".join(p.test)
        cells = (f"{p.name} v{p.version}", p.train_source, test, f"{p.tau:g}", p.embedding, short(p.fingerprint))
        table.add_row(*map(Text, cells))
    console.print(table)


@protocols_app.command("show")
@command
def show(
    protocol: Annotated[str, typer.Argument(help="Protocol name or YAML file", autocompletion=complete_protocols)],
    sets: SetOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """The resolved protocol (includes merged, --set applied, defaults filled in) and its fingerprint."""
    import yaml

    from zslbench.protocol.spec import load_protocol

    proto = load_protocol(protocol, sets or ())
    if json_out:
        print_json({**_summary(proto), "resolved": proto.data})
        return
    changed = f"\n# changed: {', '.join(proto.changed)}" if proto.changed else ""
    console.print(f"# {proto.path}\n# fingerprint: {proto.fingerprint}{changed}", soft_wrap=True)
    console.print(yaml.safe_dump(proto.data, sort_keys=False, width=100).rstrip(), markup=False, soft_wrap=True)


@protocols_app.command("validate")
@command
def validate(
    files: Annotated[list[Path], typer.Argument(help="Protocol YAML files")],
    sets: SetOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Check protocol files (with their includes and any --set); every mistake is named by file, line
    and field, or by the --set. Exit 2 if any is invalid."""
    from zslbench.protocol.spec import read_protocol

    results = []
    for path in files:
        try:
            proto = read_protocol(path, sets or ())
            results.append({"file": str(path), "valid": True, **_summary(proto)})
        except ZslbenchError as err:
            results.append({"file": str(path), "valid": False, "error": err.cli_message, "hint": err.cli_hint})
    if json_out:
        print_json(results)
    else:
        for result in results:
            if result["valid"]:
                console.print(
                    f"[green]ok[/green]  {escape(result['file'])}  ({escape(result['name'])} v{result['version']}, "
                    f"fingerprint {short(result['fingerprint'])})"
                )
            else:
                hint = f" [dim](hint: {escape(result['hint'])})[/dim]" if result["hint"] else ""
                err_console.print(f"[bold red]error:[/bold red] {escape(result['error'])}{hint}", soft_wrap=True)
    if not all(result["valid"] for result in results):
        raise typer.Exit(EXIT_BAD_INPUT)


def _summary(proto) -> dict:
    """A protocol's row in --json output; "sets" and "changed" only when --set was given."""
    summary = {
        "name": proto.name,
        "version": proto.version,
        "path": str(proto.path),
        "source": proto.train_source,
        "test": proto.test,
        "tau": proto.tau,
        "embedding": proto.embedding,
        "fingerprint": proto.fingerprint,
    }
    if proto.sets:
        summary.update(sets=list(proto.sets), changed=list(proto.changed))
    return summary
