"""Progress bars for long work: on stderr, only in a terminal, only in the main process.

Every command's bar comes from here, so they look alike and never reach a pipe, a file or the
`--json` output. Under torchrun only RANK 0 draws (`is_main_process`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from zslbench.cli.common import err_console


def is_main_process() -> bool:
    """True unless torchrun started this process as another rank than 0 (RANK)."""
    return os.environ.get("RANK", "0") == "0"


def shows_progress(enabled: bool = True) -> bool:
    """Whether a bar would be seen: asked for, in a terminal, and the main process."""
    return enabled and err_console.is_terminal and is_main_process()


@contextmanager
def counting(label: str, total: int, enabled: bool = True, eta: bool = True) -> Iterator[Callable[..., None]]:
    """A bar "label ━━━ done/total ETA"; yields `advance(n=1)`, a no-op when not shown."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns: list[Any] = [TextColumn(label), BarColumn(), MofNCompleteColumn()]
    if eta:
        columns.append(TimeRemainingColumn())
    with Progress(*columns, console=err_console, disable=not shows_progress(enabled)) as bar:
        task = bar.add_task(label, total=total)

        def advance(n: int = 1) -> None:
            bar.advance(task, n)

        yield advance


@contextmanager
def per_dataset(label: str, enabled: bool = True) -> Iterator[Callable[[str, int, int], None]]:
    """One bar per dataset, "label DATASET ━━━ done/total ETA"; yields `update(dataset, done, total)`
    (the callback `evaluate` and the extractors report to)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn(f"{label} {{task.description}}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    tasks: dict[str, Any] = {}
    with Progress(*columns, console=err_console, disable=not shows_progress(enabled)) as bar:

        def update(dataset: str, done: int, total: int) -> None:
            if dataset not in tasks:
                tasks[dataset] = bar.add_task(dataset, total=total)
            bar.update(tasks[dataset], completed=done)

        yield update


@contextmanager
def per_epoch(enabled: bool = True) -> Iterator[Callable[[dict[str, Any]], None]]:
    """One bar per epoch, "epoch N ━━━ loss L R clips/s ETA", fed with the trainer's per-step records
    (keys epoch, step, steps, loss, clips, elapsed_s, and unit: "clips" or "videos")."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"), TimeRemainingColumn())
    shown: dict[str, Any] = {"task": None, "epoch": None, "last": None}
    with Progress(*columns, console=err_console, disable=not shows_progress(enabled)) as bar:

        def update(record: dict[str, Any]) -> None:
            if shown["task"] is None or record["epoch"] != shown["epoch"]:
                if shown["task"] is not None:
                    bar.remove_task(shown["task"])
                shown.update(task=bar.add_task(f"epoch {record['epoch']}", total=record["steps"], info=""))
                shown.update(epoch=record["epoch"], last=None)
            bar.update(
                shown["task"],
                completed=record["step"],
                info=f"loss {record['loss']:.4f} {_rate(shown['last'], record)}",
            )
            shown["last"] = record

        yield update


def _rate(last: dict[str, Any] | None, record: dict[str, Any]) -> str:
    """Clips (or videos) per second since the last record; '' for an epoch's first."""
    seconds = record["elapsed_s"] - last["elapsed_s"] if last else 0
    return f"{record['clips'] / seconds:.1f} {record.get('unit', 'clips')}/s" if seconds > 0 else ""
