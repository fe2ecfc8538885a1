"""Per-video predictions (`zslbench eval --log-samples`): one JSON line per test video beside its
result record, from the very distances the record was scored with, and the most confused class
pairs they show (`zslbench table --confusion`).

The file is `<dataset>.samples.jsonl` next to `<dataset>.json`, and the record names it in
`data.samples`. Each line, in the record's video order (its manifest's or features file's rows):

- `index`: the video's row; `path`: its file (null for a features file); `label`: its true class;
- `status`: `scored`, `unusable` (an embedding without a direction: scored as a miss) or `failed`
  (no embedding: not scored);
- `rank`: how many classes rank before the true one among all the dataset's classes (0: a top-1
  hit; ties go to the class listed first, as in the metrics); null unless `scored`;
- `top5`: the nearest classes (at most 5), each `{"class", "distance"}` (cosine distance in [0, 2]),
  nearest first; empty unless `scored`;
- `reason`: why an `unusable` or `failed` video has no rank (the record's failure reason), else null.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from zslbench.core.atomic import atomic_open
from zslbench.core.errors import ZslbenchError
from zslbench.evaluation.dataset_record import Distances, Embedded
from zslbench.evaluation.records import claim_record, record_maker, record_path, save_record
from zslbench.evaluation.scoring import split_ranks

TOP = 5  # the nearest classes each row lists
SUFFIX = ".samples.jsonl"


def samples_path(record: Path) -> Path:
    """The samples file of the record at `record` (`<dataset>.json` -> `<dataset>.samples.jsonl`)."""
    record = Path(record)
    return record.with_name(record.stem + SUFFIX)


def sample_rows(embedded: Embedded, distances: Distances, top: int = TOP) -> list[dict[str, Any]]:
    """One row per video of `embedded` (see the module docstring), in its order.

    `distances` must be the ones the record was scored from (`record_and_distances`): the rank is the
    metrics' own (`scoring.split_ranks` over all classes), and the nearest classes come from a stable
    argsort of the same row, so `rank == 0` exactly when the first listed class is the true one."""
    ranks, _, _ = split_ranks(distances.matrix, distances.labels)
    width = min(top, len(distances.classes))
    nearest = np.argsort(distances.matrix, axis=1, kind="stable")[:, :width]
    row_of = {video: row for row, video in enumerate(distances.rows)}
    rows = []
    for i, label in enumerate(embedded.labels):
        record = embedded.records[i]
        row: dict[str, Any] = {
            "index": i,
            "path": None if record is None else str(record.path),
            "label": label,
            "status": "scored",
            "rank": None,
            "top5": [],
            "reason": None,
        }
        if i not in row_of:
            row.update(status="failed", reason=embedded.failures.get(i, "no embedding"))
        elif i in distances.unusable:
            row.update(status="unusable", reason=distances.unusable[i])
        else:
            r = row_of[i]
            row["rank"] = int(ranks[r])
            row["top5"] = [
                {"class": distances.classes[j], "distance": float(distances.matrix[r, j])} for j in nearest[r]
            ]
        rows.append(row)
    return rows


def write_samples(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write `rows` as JSON lines to `path`, atomically (a reader sees the old file or the whole new one)."""
    with atomic_open(path, "w") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return Path(path)


def save_result(
    record: dict[str, Any],
    embedded: Embedded,
    distances: Distances,
    root: Path,
    overwrite: bool = False,
    log_samples: bool = False,
) -> Path:
    """Save `record` (`records.save_record`); with `log_samples`, its per-video predictions beside it
    too, and the record gets `data.samples`, the samples file's name (without, nothing else is
    written and the record is unchanged). The record's path is claimed first, so another maker's
    record keeps its samples file (ZslbenchError, as `claim_record`); the samples are written before
    the record, so a record never names a samples file that is not there. Returns the record's path."""
    if not log_samples:
        return save_record(record, root, overwrite)
    protocol = record["protocol"]
    path = record_path(root, record["model"]["label"], protocol["name"], protocol["version"], record["dataset"]["name"])
    claim_record(path, record_maker(record), overwrite)
    samples = write_samples(samples_path(path), sample_rows(embedded, distances))
    record["data"]["samples"] = samples.name
    return save_record(record, root, overwrite)


def read_samples(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-video rows of a record loaded by `records.load_record`.

    Raises ZslbenchError when the record has no samples (made without `--log-samples`), or its
    samples file is missing, unreadable or does not hold one row per video of the record."""
    where = Path(record.get("_path", "."))
    name = record.get("data", {}).get("samples")
    if not name:
        raise ZslbenchError(
            f"{where} has no per-video predictions", "re-run `zslbench eval --log-samples` to write them"
        )
    path = where.parent / name
    try:
        with open(path, encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle if line.strip()]
    except (OSError, ValueError) as err:
        raise ZslbenchError(
            f"cannot read the per-video predictions {path}: {err}", "re-run `zslbench eval --log-samples`"
        ) from None
    expected = record["data"]["expected"] - _left_out(record)
    if len(rows) != expected or any(not isinstance(row, dict) or "status" not in row for row in rows):
        raise ZslbenchError(
            f"{path} does not hold one prediction per video of {where} ({len(rows)} rows, {expected} videos)",
            "re-run `zslbench eval --log-samples`",
        )
    return rows


def _left_out(record: dict[str, Any]) -> int:
    """Videos `data prepare` left out: in the record's count, never embedded, so without a row."""
    return sum(1 for failure in record["data"]["failures"] if failure.get("index") is None)


def confusion(rows: list[dict[str, Any]], top: int = 10) -> dict[str, Any]:
    """The most confused class pairs of per-video `rows` (`read_samples`).

    A pair is (true class, the predicted top-1) over the scored videos the model got wrong; `count`
    is its videos and `share` their percent of the true class's scored videos (`videos`, unusable
    embeddings included, as the metrics count them). Pairs go by count, then share, then names; the
    first `top` are returned, with the totals: videos (rows), scored (unusable included), top1
    (percent of the scored videos, as the record's `metrics.all.top1`; None when none is scored),
    top1_hits, misclassified (scored with a direction, top-1 wrong), unusable and failed."""
    scored = [row for row in rows if row["status"] != "failed"]
    per_class = Counter(row["label"] for row in scored)
    missed = [row for row in scored if row["status"] == "scored" and row["rank"] > 0]
    wrong = Counter((row["label"], row["top5"][0]["class"]) for row in missed)
    pairs = [
        {
            "true": true,
            "predicted": predicted,
            "count": n,
            "videos": per_class[true],
            "share": 100 * n / per_class[true],
        }
        for (true, predicted), n in wrong.items()
    ]
    pairs.sort(key=lambda p: (-p["count"], -p["share"], p["true"], p["predicted"]))
    hits = sum(row["rank"] == 0 for row in scored)
    return {
        "videos": len(rows),
        "scored": len(scored),
        "top1": float(100 * np.mean([row["rank"] == 0 for row in scored])) if scored else None,
        "top1_hits": hits,
        "misclassified": sum(wrong.values()),
        "unusable": sum(row["status"] == "unusable" for row in rows),
        "failed": len(rows) - len(scored),
        "pairs": pairs[:top],
    }
