"""Result records as typed values (`Result`) and as one long, numeric table (`results_frame`).

A record (`zslbench eval` writes one per test dataset, evaluation/records.py) is nested JSON; Python
callers get a frozen `Result` with the fields people compare on, every number a float: one `Score`
per split kind and metric, its mean over the split's draws, their standard deviation and count. The
record itself stays readable, read-only, as `Result.raw`. Tables and the gate take paths or Results
alike (`observations_of`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from zslbench.core.errors import ZslbenchError
from zslbench.core.frozen import freeze, thaw
from zslbench.evaluation.records import find_records, incomplete_reason
from zslbench.reporting.observations import Observation, from_record

if TYPE_CHECKING:
    import pandas as pd

# results_frame's columns: which record, which number, and what holds for the record
FRAME_COLUMNS: tuple[str, ...] = ("label", "model", "protocol", "version", "fingerprint", "dataset")
FRAME_COLUMNS += ("split", "metric", "mean", "std", "n")
FRAME_COLUMNS += ("verdict", "complete", "incomplete", "path")


@dataclass(frozen=True)
class Score:
    """One metric on one split kind of a result, in percent: `mean` over the split's `n` draws
    (random_half: 10 half-class draws by default; all, unseen, gzsl: one), `std` their standard
    deviation (None for a split scored once)."""

    split: str  # random_half, all, official, random_subset, unseen or gzsl
    metric: str  # top1, top5, mean_class_accuracy, a plugin's metric, or a GZSL one (seen, unseen, harmonic)
    mean: float
    std: float | None
    n: int


@dataclass(frozen=True)
class Result:
    """One result record: a model's numbers on one test dataset under one protocol.

    `verdict` is the compliance verdict (protocol/verdicts.py: compliant, not_compliant,
    finetuning_compliant, unknown); `incomplete` says why the numbers are not the model's on the
    dataset ("" when they are: see `complete`); `path` is the record's file (None when built from a
    dict); `raw` the whole record, read-only (`copy.deepcopy` gives a plain copy)."""

    label: str  # the results folder's name for the model (eval's label; default: the model name)
    model: str  # the zslbench model name
    protocol: str
    version: int  # the protocol's version
    fingerprint: str  # the protocol's fingerprint (sha256)
    dataset: str
    scores: tuple[Score, ...]
    verdict: str
    incomplete: str
    path: Path | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def complete(self) -> bool:
        """No more failed videos than the budget, trained on every class, not a quick `limit` look."""
        return not self.incomplete

    @property
    def splits(self) -> tuple[str, ...]:
        """The split kinds scored, in the record's order."""
        return tuple(dict.fromkeys(score.split for score in self.scores))

    def score(self, split: str = "random_half", metric: str = "top1") -> Score:
        """The `Score` of `metric` on `split`; ZslbenchError when the record has none."""
        for score in self.scores:
            if (score.split, score.metric) == (split, metric):
                return score
        held = ", ".join(f"{s.split}/{s.metric}" for s in self.scores)
        raise ZslbenchError(f"{self.path or self.label} has no {metric} on split {split}", f"it holds {held}")


def result_from_record(record: Mapping[str, Any]) -> Result:
    """A `Result` from a record dict (as `evaluation.records.load_record` reads it; its `_path` is kept)."""
    rows = from_record(thaw(record))
    path = record.get("_path")
    return Result(
        label=record["model"]["label"],
        model=record["model"]["name"],
        protocol=record["protocol"]["name"],
        version=record["protocol"]["version"],
        fingerprint=record["protocol"]["fingerprint"],
        dataset=record["dataset"]["name"],
        scores=tuple(Score(o.split, o.metric, o.value, o.std, _draws(record, o)) for o in rows),
        verdict=record["compliance"]["verdict"],
        incomplete=incomplete_reason(thaw(record)),
        path=Path(path) if path else None,
        raw=freeze(record),
    )


def _draws(record: Mapping[str, Any], row: Observation) -> int:
    """How many draws a number averages: the values listed, else the split's repeats, else one."""
    entry = record["metrics"].get(row.split, {}).get(row.metric)
    if isinstance(entry, Mapping):
        return len(entry.get("values") or ()) or int(record["metrics"][row.split].get("repeats", 1))
    return 1


# what tables and the gate take: a result file or folder, a Result, or several of them
ResultsLike: TypeAlias = str | Path | Result | Iterable[str | Path | Result]


def load_results(paths: ResultsLike = "results") -> list[Result]:
    """Every result record in the given files and folders (folders searched recursively), as `Result`s
    in a stable order. Results given are passed through. Raises ZslbenchError for a path that does not
    exist or a file that is not a result record."""
    items = [paths] if isinstance(paths, str | Path | Result) else list(paths)
    out: list[Result] = []
    for item in items:
        if isinstance(item, Result):
            out.append(item)
        else:
            out += [result_from_record(record) for record in find_records([item])]
    return out


def observations_of(results: ResultsLike) -> list[Observation]:
    """The rows tables and the gate reduce (`reporting.observations`), from paths or Results."""
    return [row for result in load_results(results) for row in from_record(thaw(result.raw))]


def results_frame(results: ResultsLike = "results") -> pd.DataFrame:
    """Results as one long table: a row per record, split kind and metric, with the columns
    `FRAME_COLUMNS` (label, model, protocol, version, fingerprint, dataset, split, metric, mean, std,
    n, verdict, complete, incomplete, path). `mean` and `std` are floats in percent (std NaN for a
    split scored once), `n` the draws averaged, `complete` a bool. Takes paths or `Result`s."""
    import pandas as pd

    rows = [
        {
            "label": r.label,
            "model": r.model,
            "protocol": r.protocol,
            "version": r.version,
            "fingerprint": r.fingerprint,
            "dataset": r.dataset,
            "split": s.split,
            "metric": s.metric,
            "mean": float(s.mean),
            "std": math.nan if s.std is None else float(s.std),
            "n": s.n,
            "verdict": r.verdict,
            "complete": r.complete,
            "incomplete": r.incomplete,
            "path": str(r.path) if r.path else "",
        }
        for r in load_results(results)
        for s in r.scores
    ]
    frame = pd.DataFrame(rows, columns=list(FRAME_COLUMNS))
    return frame.astype({"mean": "float64", "std": "float64", "n": "int64", "complete": "bool", "version": "int64"})
