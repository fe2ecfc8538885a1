"""Progress of long work on stderr, only in the main process: a bar in a terminal, plain lines elsewhere.

Every command's progress comes from here, so it looks alike everywhere and never reaches stdout or the
`--json` output (with `--json` there is none). In a terminal it is a rich bar. When stderr is a file
or a pipe (SLURM, CI, `2> log`) a bar would be hidden, so the same facts come as plain lines instead:
one line each, no ANSI codes, the first and the last of each phase (a count, a dataset, an epoch)
always and at most one per ZSLBENCH_PROGRESS_INTERVAL seconds between them (default 30; 0: every
update). Under torchrun only RANK 0 reports (`is_main_process`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.text import Text

from zslbench.cli.common import err_console
from zslbench.core.bounds import Bound
from zslbench.core.errors import ZslbenchError

INTERVAL_ENV = "ZSLBENCH_PROGRESS_INTERVAL"
DEFAULT_INTERVAL_S = 30.0
INTERVAL = Bound(0, 86400, f"{INTERVAL_ENV}: seconds between two plain progress lines, e.g. 30; 0 prints each update")


def is_main_process() -> bool:
    """True unless torchrun started this process as another rank than 0 (RANK)."""
    return os.environ.get("RANK", "0") == "0"


def shows_progress(enabled: bool = True) -> bool:
    """Whether a bar would be seen: asked for, in a terminal, and the main process."""
    return enabled and err_console.is_terminal and is_main_process()


def writes_lines(enabled: bool = True) -> bool:
    """Whether progress comes as plain lines: asked for, stderr not a terminal, and the main process."""
    return enabled and not err_console.is_terminal and is_main_process()


def progress_interval() -> float:
    """Seconds between two plain progress lines: $ZSLBENCH_PROGRESS_INTERVAL, else 30. ZslbenchError
    when it is not a number in [0, 86400]."""
    text = os.environ.get(INTERVAL_ENV, "").strip()
    if not text:
        return DEFAULT_INTERVAL_S
    try:
        value = float(text)
    except ValueError:
        raise ZslbenchError(f"{INTERVAL_ENV}={text!r} is not a number of seconds", INTERVAL.hint) from None
    return INTERVAL.check(value, INTERVAL_ENV)


class Lines:
    """Plain progress lines on stderr: `offer` prints a line when `force`d (a phase's first or last)
    or when the interval has passed since the last one printed, else keeps it for `flush`."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.printed_at: float | None = None
        self.pending: str | None = None  # the newest line not printed yet

    def offer(self, line: str, force: bool = False) -> bool:
        """Print `line` now if it is due; returns whether it was printed."""
        now = time.monotonic()
        if not force and self.printed_at is not None and now - self.printed_at < self.interval:
            self.pending = line
            return False
        err_console.print(Text(line), soft_wrap=True)  # not a terminal: no colour, no control codes
        self.printed_at, self.pending = now, None
        return True

    def flush(self) -> None:
        """Print the line kept back, if any: the state at the end of a phase."""
        if self.pending is not None:
            self.offer(self.pending, force=True)


def clock(seconds: float) -> str:
    """Seconds as H:MM:SS, as the bars show times."""
    whole = max(round(seconds), 0)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def count_line(label: str, done: int, total: int, rate: float | None, elapsed: float, eta: bool = True) -> str:
    """'LABEL DONE/TOTAL (P%) R/s ETA H:MM:SS elapsed H:MM:SS'; `rate` in items per second (None: unknown)."""
    parts = [f"{label} {done}/{total} ({100 * done // max(total, 1)}%)"]
    if rate is not None:
        parts.append(f"{rate:.1f}/s")
    if eta:
        parts.append(f"ETA {clock((total - done) / rate) if rate else '-:--:--'}")
    parts.append(f"elapsed {clock(elapsed)}")
    return " ".join(parts)


@contextmanager
def counting(label: str, total: int, enabled: bool = True, eta: bool = True) -> Iterator[Callable[..., None]]:
    """A bar "label ━━━ done/total ETA"; yields `advance(n=1)`, a no-op when not shown."""
    if writes_lines(enabled):
        with _counting_lines(label, total, eta) as advance:
            yield advance
        return
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
def _counting_lines(label: str, total: int, eta: bool) -> Iterator[Callable[..., None]]:
    """`counting` as plain lines; the rate is the average since the count began."""
    lines, started = Lines(progress_interval()), time.monotonic()
    done = 0

    def advance(n: int = 1) -> None:
        nonlocal done
        first, done = done == 0, done + n
        elapsed = time.monotonic() - started
        rate = done / elapsed if elapsed > 0 else None
        lines.offer(count_line(label, done, total, rate, elapsed, eta), force=first or done >= total)

    yield advance
    lines.flush()


@contextmanager
def per_dataset(label: str, enabled: bool = True) -> Iterator[Callable[[str, int, int], None]]:
    """One bar per dataset, "label DATASET ━━━ done/total ETA"; yields `update(dataset, done, total)`
    (the callback `evaluate` and the extractors report to)."""
    if writes_lines(enabled):
        with _per_dataset_lines(label) as update:
            yield update
        return
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
def _per_dataset_lines(label: str) -> Iterator[Callable[[str, int, int], None]]:
    """`per_dataset` as plain lines; a dataset's rate is its average since the previous one ended
    (or the work began)."""
    lines = Lines(progress_interval())
    shown = {"dataset": None, "since": time.monotonic(), "last": time.monotonic()}

    def update(dataset: str, done: int, total: int) -> None:
        now = time.monotonic()
        first = dataset != shown["dataset"]
        if first:
            lines.flush()  # the previous dataset's last state
            shown.update(dataset=dataset, since=shown["last"])
        shown["last"] = now
        elapsed = now - shown["since"]
        rate = done / elapsed if elapsed > 0 else None
        lines.offer(count_line(f"{label} {dataset}", done, total, rate, elapsed), force=first or done >= total)

    yield update
    lines.flush()


@contextmanager
def per_epoch(enabled: bool = True) -> Iterator[Callable[[dict[str, Any]], None]]:
    """One bar per epoch, "epoch N ━━━ loss L R clips/s ETA", fed with the trainer's per-step records
    (keys epoch, step, steps, loss, clips, elapsed_s, and unit: "clips" or "videos"; lr when known)."""
    if writes_lines(enabled):
        with _per_epoch_lines() as update:
            yield update
        return
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


@contextmanager
def _per_epoch_lines() -> Iterator[Callable[[dict[str, Any]], None]]:
    """`per_epoch` as plain lines. Rate and ETA come from the records since the last line printed
    (the first record of a process has neither: nothing before it was timed here)."""
    lines = Lines(progress_interval())
    window = {"seconds": 0.0, "steps": 0, "clips": 0}
    last: dict[str, Any] | None = None

    def update(record: dict[str, Any]) -> None:
        nonlocal last
        new_epoch = last is None or record["epoch"] != last["epoch"]
        if last is not None:
            window["seconds"] += record["elapsed_s"] - last["elapsed_s"]
            window["steps"] += record["step"] - (0 if new_epoch else last["step"])
            window["clips"] += record["clips"]
        if new_epoch:
            lines.flush()  # the previous epoch's last state
        last = record
        if lines.offer(epoch_line(record, **window), force=new_epoch or record["step"] >= record["steps"]):
            window.update(seconds=0.0, steps=0, clips=0)

    yield update
    lines.flush()


def epoch_line(record: dict[str, Any], seconds: float = 0.0, steps: int = 0, clips: int = 0) -> str:
    """'epoch E step S/N (P%) loss L lr LR R clips/s ETA H:MM:SS elapsed H:MM:SS' for a trainer's
    record; rate and ETA over the `seconds`, `steps` and `clips` since the line before (left out
    when nothing was timed)."""
    step, total = record["step"], record["steps"]
    parts = [f"epoch {record['epoch']} step {step}/{total} ({100 * step // max(total, 1)}%)"]
    parts.append(f"loss {record['loss']:.4f}")
    if record.get("lr") is not None:
        parts.append(f"lr {record['lr']:.3g}")
    if seconds > 0:
        parts.append(f"{clips / seconds:.1f} {record.get('unit', 'clips')}/s")
        if steps > 0:
            parts.append(f"ETA {clock((total - step) * seconds / steps)}")
    parts.append(f"elapsed {clock(record['elapsed_s'])}")
    return " ".join(parts)


def _rate(last: dict[str, Any] | None, record: dict[str, Any]) -> str:
    """Clips (or videos) per second since the last record; '' for an epoch's first."""
    seconds = record["elapsed_s"] - last["elapsed_s"] if last else 0
    return f"{record['clips'] / seconds:.1f} {record.get('unit', 'clips')}/s" if seconds > 0 else ""
