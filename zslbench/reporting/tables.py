"""Comparison tables over result records (and published numbers): pandas, rendered as Markdown,
CSV, LaTeX or HTML, and a bar chart with error bars.

Rows are models (published methods labelled as such); columns are protocol x dataset x split x
metric. Records made under different protocol fingerprints never share a column unless
`allow_mixed`, and then the column says so. A number from an incomplete run (more failed videos
than its budget) carries "(incomplete)" in its cell.

With published numbers, a `card` column gives each row's protocol card (reporting/cards.py), and a
published number stands beside a result only like for like: a number of no zslbench protocol moves
into the column of a result whose card agrees with its own; a row none of whose numbers agrees with a
result's card reads `other card: ...`, and a published number that shares a column with results of
another card carries "(other card)" in its cell.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zslbench.metrics import metric_sort_key
from zslbench.reporting.observations import Observation
from zslbench.reporting.plots import save_png
from zslbench.reporting.results import ResultsLike, observations_of

if TYPE_CHECKING:
    import pandas as pd

SPLIT_SHORT = {
    "random_half": "half",
    "official": "official",
    "random_subset": "subset",
    "all": "all",
    "unseen": "unseen",
    "gzsl": "gzsl",
}
INCOMPLETE_MARK = "(incomplete)"  # a run that lost more videos than its failure budget
OTHER_CARD_MARK = "(other card)"  # a published number beside results made another way
OTHER_CARD = "other card: "  # a published row none of whose numbers agrees with a result's card
FORMATS = ("md", "csv", "latex", "html")


def column_keys(observations: Sequence[Observation], allow_mixed: bool) -> dict[Observation, str]:
    """The column of every observation: protocol (with its fingerprint when several share a name and
    version), dataset, split, metric. A published number of no zslbench protocol goes beside a result
    whose card agrees (`like_results`); the others share "other protocols"."""
    fingerprints: dict[tuple, set[str]] = defaultdict(set)
    for o in observations:
        if not o.published:
            fingerprints[(o.protocol, o.version)].add(o.fingerprint)
    keys = {}
    for o in observations:
        protocol = f"{o.protocol}@v{o.version}" if o.protocol else "other protocols"
        if o.protocol and len(fingerprints.get((o.protocol, o.version), ())) > 1:
            if allow_mixed:
                protocol += " (mixed protocols)"
            else:
                protocol += f" #{o.fingerprint[:8]}" if o.fingerprint else " (published)"
        keys[o] = f"{protocol} · {o.dataset} · {SPLIT_SHORT[o.split]} · {o.metric}"
    results = [o for o in observations if not o.published]
    for o in observations:
        like = like_results(o, results) if o.published and not o.protocol else []
        if like:  # like for like: beside the result (the first such column)
            keys[o] = min((keys[r] for r in like), key=_column_order)
    return keys


def like_results(published: Observation, results: Sequence[Observation]) -> list[Observation]:
    """The results a published number compares with: the same dataset, split and metric, under its
    protocol (or one published as it) when it names one, and a card that agrees with its card (a
    result without a card agrees only with a number under a protocol, as before cards)."""
    out = []
    for r in results:
        if (r.dataset, r.split, r.metric) != (published.dataset, published.split, published.metric):
            continue
        if published.protocol and r.compared_as != published.protocol:
            continue
        if r.protocol_card is None or published.protocol_card is None:
            agrees = bool(published.protocol)
        else:
            agrees = not r.protocol_card.differences(published.protocol_card)
        if agrees:
            out.append(r)
    return out


def build_table(observations: Sequence[Observation], allow_mixed: bool = False, metrics: Sequence[str] | None = None):
    """A DataFrame: one row per model (then published methods), one column per comparable setting; with
    published numbers also a `card` column (the module docstring says how cards place and mark them).
    Cells are text ("73.8 ± 8.8"); `tabulate` gives the numbers too."""
    return tabulate(observations, allow_mixed, metrics).cells


@dataclass(frozen=True)
class ResultsTable:
    """A comparison table, as numbers and as the text `zslbench table` prints.

    Rows are models (label; published methods as "[published] NAME"), setting columns are
    "protocol@vN · dataset · split · metric". `frame` holds the `protocol`, `compliance` (and, with
    published numbers, `card`) columns, then one float column per setting: the mean in percent (NaN
    where a row has no number; a cell holding several numbers keeps the first). `std` has the same
    rows and setting columns (NaN for a split scored once). `cells` is the printed table, text cells
    ("73.8 ± 8.8 (incomplete)"); `text(fmt)` renders it as md, csv, latex or html."""

    frame: pd.DataFrame
    std: pd.DataFrame
    cells: pd.DataFrame
    observations: tuple[Observation, ...] = field(repr=False)

    def text(self, fmt: str = "md") -> str:
        """The table as `zslbench table --format FMT` prints it: md, latex or html as text cells; csv as
        numbers, for spreadsheets and pandas (`numeric`)."""
        return self.numeric().to_csv() if fmt == "csv" else render(self.cells, fmt)

    def numeric(self) -> pd.DataFrame:
        """`frame` with each setting's standard deviation beside it ("SETTING · std") and, where a cell
        says more than its number ("(incomplete)", "(other card)"), a "SETTING · note" column with that."""
        settings = [c for c in self.frame.columns if c in self.std.columns]
        out = self.frame.drop(columns=settings)
        for column in settings:
            out[column] = self.frame[column]
            out[f"{column} · std"] = self.std[column]
            notes = self.cells[column].map(_cell_note) if column in self.cells.columns else None
            if notes is not None and notes.astype(bool).any():
                out[f"{column} · note"] = notes
        return out


def _cell_note(cell: Any) -> str:
    """What a text cell says besides its number: "73.8 ± 8.8 (incomplete)" -> "incomplete"."""
    text = str(cell)
    return text[text.index("(") + 1 : text.rindex(")")] if "(" in text and text.endswith(")") else ""


def tabulate(
    observations: Sequence[Observation], allow_mixed: bool = False, metrics: Sequence[str] | None = None
) -> ResultsTable:
    """`observations` (filtered to `metrics`) as a `ResultsTable`: `build_table`'s cells and their numbers."""
    import pandas as pd

    chosen = [o for o in observations if metrics is None or o.metric in metrics]
    keys = column_keys(chosen, allow_mixed)
    results = [o for o in chosen if not o.published]
    rows: dict[str, dict[str, str]] = defaultdict(dict)
    numbers: dict[str, dict[str, tuple[float, float | None]]] = defaultdict(dict)
    compliance: dict[str, set[str]] = defaultdict(set)
    protocols: dict[str, set[str]] = defaultdict(set)
    cards: dict[str, list[str]] = defaultdict(list)
    compared: dict[str, bool] = defaultdict(bool)  # a published row with a number beside a result of its card
    for o in chosen:
        label = f"[published] {o.who}" if o.published else o.who
        cell = f"{o.value:.1f}" if o.std is None else f"{o.value:.1f} ± {o.std:.1f}"
        cell += f" {INCOMPLETE_MARK}" if o.incomplete else ""
        column = keys[o]
        if o.published:
            like = [r for r in like_results(o, results) if keys[r] == column]
            compared[label] |= bool(like)
            cell += f" {OTHER_CARD_MARK}" if not like and any(keys[r] == column for r in results) else ""
        if column in rows[label] and rows[label][column] != cell:
            rows[label][column] += f" / {cell}"
        else:
            rows[label][column] = cell
        numbers[label].setdefault(column, (o.value, o.std))
        compliance[label].add(o.compliance)
        protocols[label].add(o.protocol_label if o.protocol_note else f"{o.protocol}@v{o.version}")
        summary = o.protocol_card.summary() if o.protocol_card else ""
        cards[label] += [summary] if summary not in cards[label] else []
    columns = sorted({keys[o] for o in chosen}, key=_column_order)
    ordered = sorted(rows, key=lambda label: (label.startswith("[published]"), label))

    def frame_of(cell: Callable[[str, str], Any], dtype: str | None = None) -> pd.DataFrame:
        table = pd.DataFrame(
            [{c: cell(label, c) for c in columns} for label in ordered], index=ordered, columns=columns
        )
        table.index.name = "model"
        return table.astype(dtype) if dtype else table

    info = {"protocol": ["; ".join(sorted(protocols[label])) for label in ordered]}
    info["compliance"] = [_verdict(compliance[label]) for label in ordered]
    if any(o.published for o in chosen):
        info["card"] = [_card_cell(label, cards[label], compared[label]) for label in ordered]
    text = frame_of(lambda label, c: rows[label].get(c, ""))
    values = frame_of(lambda label, c: numbers[label].get(c, (math.nan, None))[0], "float64")
    std = frame_of(lambda label, c: _nan_if_none(numbers[label].get(c, (math.nan, None))[1]), "float64")
    for position, (name, cells) in enumerate(info.items()):
        text.insert(position, name, cells)
        values.insert(position, name, cells)
    return ResultsTable(values, std, text, tuple(observations))


def _nan_if_none(value: float | None) -> float:
    return math.nan if value is None else value


def results_table(
    results: ResultsLike = "results",
    *,
    published: bool = False,
    metrics: Sequence[str] | None = None,
    allow_mixed: bool = False,
) -> ResultsTable:
    """The comparison table of result records (paths of files or folders, or `Result`s), as
    `zslbench table` makes it: with `published`, the published numbers beside them (like for like,
    by protocol card); `metrics` keeps only those (top1, top5, ...); `allow_mixed` lets results of
    different protocol fingerprints share a column (marked "(mixed protocols)"). Raises
    ZslbenchError for a path that does not exist or a metric neither registered nor in the results."""
    from zslbench.reporting.observations import from_published
    from zslbench.reporting.published import published_numbers

    observations = observations_of(results)
    if published:
        observations += [from_published(n) for n in published_numbers()]
    check_metric_names(metrics or (), observations)
    return tabulate(observations, allow_mixed, metrics)


def check_metric_names(wanted: Sequence[str], observations: Sequence[Observation]) -> None:
    """Each name in `wanted` is a registered metric or one the observations hold: a typo is a
    ZslbenchError, not an empty table."""
    from zslbench.core.errors import unknown_name_error
    from zslbench.metrics import metric_names

    known = {*metric_names(), *(o.metric for o in observations)}
    for name in wanted:
        if name not in known:
            raise unknown_name_error("metric", name, known, f"known metrics: {', '.join(sorted(known))}")


def _card_cell(label: str, summaries: list[str], compared: bool) -> str:
    """A row's card(s); `other card: ...` for a published row none of whose numbers stands beside a
    result of its card."""
    text = "; ".join(s for s in summaries if s)
    return OTHER_CARD + text if label.startswith("[published]") and not compared and text else text


def _column_order(column: str) -> tuple:
    """Our protocols first, then other ones; within a dataset: half, all, unseen, gzsl, then the metrics in
    the registry's order (top1, top5, mca, then other metrics by name)."""
    protocol, dataset, split, metric = column.split(" · ")
    splits = list(SPLIT_SHORT.values())
    return (protocol.startswith("other"), protocol, dataset, splits.index(split), metric_sort_key(metric))


def _verdict(verdicts: set[str]) -> str:
    """The most severe verdict of a row's records, in words; "published" for published numbers only."""
    from zslbench.protocol.verdicts import VERDICT_WORDS, VERDICTS, worst_verdict

    known = verdicts & set(VERDICTS)
    return VERDICT_WORDS[worst_verdict(known)] if known else "published"


def render(frame, fmt: str) -> str:
    """A table DataFrame as text in `fmt`: "csv", "html" (escaped), "md" or "latex" (booktabs rules);
    ValueError for another format (the CLI offers only these)."""
    if fmt == "csv":
        return frame.to_csv()
    if fmt == "html":
        return frame.to_html(escape=True)
    header = [frame.index.name or "", *frame.columns]
    body = [[str(index), *map(str, row)] for index, row in zip(frame.index, frame.itertuples(index=False), strict=True)]
    if fmt == "md":
        lines = ["| " + " | ".join(_md(c) for c in header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in body]
        return "\n".join(lines) + "\n"
    if fmt == "latex":
        lines = ["\\begin{tabular}{l" + "l" * len(frame.columns) + "}", "\\toprule"]
        lines.append(" & ".join(_tex(c) for c in header) + " \\\\")
        lines.append("\\midrule")
        lines += [" & ".join(_tex(c) for c in row) + " \\\\" for row in body]
        lines += ["\\bottomrule", "\\end{tabular}"]
        return "\n".join(lines) + "\n"
    raise ValueError(f"unknown format {fmt!r}")


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def _tex(text: str) -> str:
    text = text.replace("\\", "\\textbackslash ")
    for char in "&%_#${}":
        text = text.replace(char, "\\" + char)
    return text.replace("±", "$\\pm$")


def plot_bars(
    observations: Sequence[Observation], path: Path, split: str = "random_half", metric: str = "top1"
) -> Path:
    """Bars per dataset, one per model, with the split's std as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chosen = [o for o in observations if o.split == split and o.metric == metric]
    datasets = sorted({o.dataset for o in chosen})

    def name(o: Observation) -> str:  # a legend entry; an incomplete run says so there too
        return ("[published] " if o.published else "") + o.who + (f" {INCOMPLETE_MARK}" if o.incomplete else "")

    who = sorted({name(o) for o in chosen}, key=lambda w: (w.startswith("["), w))
    width = 0.8 / max(1, len(who))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(datasets) * max(1, len(who)) ** 0.5), 4.2), dpi=120)
    for i, label in enumerate(who):
        values, errors = [], []
        for dataset in datasets:
            match = [o for o in chosen if o.dataset == dataset and name(o) == label]
            values.append(match[0].value if match else np.nan)
            errors.append(match[0].std or 0.0 if match else 0.0)
        ax.bar(np.arange(len(datasets)) + i * width, values, width, yerr=errors, capsize=3, label=label)
    ax.set_xticks(np.arange(len(datasets)) + width * (len(who) - 1) / 2, datasets)
    ax.set_ylabel(f"{metric} accuracy (%), {SPLIT_SHORT[split]} classes")
    ax.legend(fontsize=7, loc="upper right")
    ax.grid(axis="y", alpha=0.3)
    return save_png(fig, path)
