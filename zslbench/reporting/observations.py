"""Result records and published numbers flattened to one shape: (who, protocol, dataset, split, metric,
value, std). Tables and checks are reductions over these rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zslbench.evaluation.records import incomplete_reason
from zslbench.metrics import GZSL_METRICS, record_metrics
from zslbench.reporting.published import PublishedNumber


@dataclass(frozen=True)
class Observation:
    who: str  # a model label, or a published method
    model: str  # the zslbench model name ("" for published methods without one)
    published: bool
    protocol: str  # protocol name ("" for published numbers of other protocols)
    version: int
    fingerprint: str  # "" for published numbers
    protocol_note: str
    dataset: str
    split: str
    metric: str
    value: float
    std: float | None
    compliance: str  # compliant | not_compliant | unknown | published
    embedding: str
    source: str  # result path, or where the number was published
    incomplete: str = ""  # why the record's run is incomplete (too many failed videos); "" when complete
    published_as: str = ""  # the protocol whose published numbers a result's protocol compares with
    model_selection: str = ""  # how the model was chosen when not by the usual rule (e.g. on the test set)

    @property
    def protocol_label(self) -> str:
        return f"{self.protocol}@v{self.version}" if self.protocol else f"other: {self.protocol_note}"

    @property
    def compared_as(self) -> str:
        """The protocol name published numbers are matched on: a `-reference` variant's base."""
        return self.published_as or self.protocol


def from_record(record: dict[str, Any]) -> list[Observation]:
    """One row per split and metric the record holds (its protocol's metrics, in their order)."""
    protocol, metrics = record["protocol"], record["metrics"]
    common = {
        "who": record["model"]["label"],
        "model": record["model"]["name"],
        "published": False,
        "protocol": protocol["name"],
        "version": protocol["version"],
        "fingerprint": protocol["fingerprint"],
        "protocol_note": "",
        "dataset": record["dataset"]["name"],
        "compliance": record["compliance"]["verdict"],
        "embedding": record["embedding"]["spec"],
        "source": record.get("_path", ""),
        "incomplete": incomplete_reason(record),
        "published_as": (protocol.get("resolved") or {}).get("published_as", ""),
        "model_selection": _model_selection(record),
    }
    rows = []
    for metric in record_metrics(record):
        if "random_half" in metrics:
            summary = metrics["random_half"][metric]
            rows.append(
                Observation(**common, split="random_half", metric=metric, value=summary["mean"], std=summary["std"])
            )
        for split in ("all", "unseen"):  # `unseen`: the test-side split (protocol/test_side.py)
            if split in metrics:
                rows.append(Observation(**common, split=split, metric=metric, value=metrics[split][metric], std=None))
    if "gzsl" in metrics:  # generalized zero-shot: its own metrics, whatever the protocol's list
        rows += [
            Observation(**common, split="gzsl", metric=metric, value=metrics["gzsl"][metric], std=None)
            for metric in GZSL_METRICS
        ]
    return rows


def _model_selection(record: dict[str, Any]) -> str:
    """The training's `model_selection` setting (`train --select-on-test`, imported reference
    checkpoints): a number so chosen is optimistic, and checks say so. "" when not recorded."""
    settings = (record.get("training") or {}).get("settings") or {}
    return str(settings.get("model_selection") or "")


def from_published(number: PublishedNumber) -> Observation:
    return Observation(
        who=number.method,
        model=number.model,
        published=True,
        protocol=number.protocol,
        version=number.version,
        fingerprint="",
        protocol_note=number.protocol_note,
        dataset=number.dataset,
        split=number.split,
        metric=number.metric,
        value=number.value,
        std=number.std,
        compliance="published",
        embedding=number.embedding,
        source=f"{number.source}, {number.table}",
    )
