"""Result records and published numbers flattened to one shape: (who, protocol, dataset, split, metric,
value, std, protocol card). Tables and checks are reductions over these rows."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from zslbench.evaluation.records import incomplete_reason
from zslbench.metrics import GZSL_METRICS, record_metrics
from zslbench.reporting.cards import ProtocolCard, record_card
from zslbench.reporting.published import SPLITS, PublishedNumber


@dataclass(frozen=True)
class Observation:
    """One number in the common shape: who made it, under which protocol (name, version, fingerprint),
    on which dataset, split and metric, its value (percent) and std, its compliance verdict and where it
    comes from, with what makes it comparable (card, embedding, model selection, completeness)."""

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
    compliance: str  # a verdict of protocol/verdicts.py, or published
    embedding: str
    source: str  # result path, or where the number was published
    incomplete: str = ""  # why the record's run is incomplete (too many failed videos); "" when complete
    published_as: str = ""  # the protocol whose published numbers a result's protocol compares with
    model_selection: str = ""  # how the model was chosen when not by the usual rule (e.g. on the test set)
    unshipped: str = ""  # how a record's protocol differs from the shipped protocol of its name ("" if not)
    card: str = ""  # a video-text model's input and text fingerprint (frames, views, templates); "" for others
    # how the number was made (training classes, splits, frames x views, backbone, templates): a result is
    # compared only with published numbers whose card agrees (reporting/cards.py); None: nothing declared
    protocol_card: ProtocolCard | None = None

    @property
    def protocol_label(self) -> str:
        """`name@vN` for a zslbench protocol, else `other: <protocol note>`."""
        return f"{self.protocol}@v{self.version}" if self.protocol else f"other: {self.protocol_note}"

    @property
    def compared_as(self) -> str:
        """The protocol name published numbers are matched on: a `-reference` variant's base."""
        return self.published_as or self.protocol


def unlike_shipped(protocol: dict[str, Any]) -> str:
    """How a record's protocol (`record["protocol"]`) differs from the shipped protocol of its name,
    apart from the embedding model (compared on its own): "" when it is that protocol. Published
    numbers name shipped protocols, so only their exact content is like for like."""
    shipped = _shipped_data(protocol["name"])
    if shipped is None:
        return f"{protocol['name']} is not a shipped protocol"
    resolved = protocol.get("resolved") or {}
    ours = _comparable(resolved)
    differing = [key for key in sorted(set(ours) | set(shipped)) if ours.get(key) != shipped.get(key)]
    if differing:
        return f"protocol content differs from the shipped {protocol['name']}: {', '.join(differing)}"
    embedding = (resolved.get("embedding") or {}).get("model")
    if embedding and protocol.get("fingerprint") != _shipped_fingerprint(protocol["name"], embedding):
        return f"protocol content differs from the shipped {protocol['name']}: its class lists or word rules"
    return ""


@functools.cache
def _shipped_fingerprint(name: str, embedding: str) -> str:
    """The shipped protocol's fingerprint with `embedding`: it also covers class lists and word rules."""
    import json

    from zslbench.protocol.spec import load_protocol

    return load_protocol(name, sets=[f"embedding.model={json.dumps(embedding)}"]).fingerprint


@functools.cache
def _shipped_data(name: str) -> dict[str, Any] | None:
    from zslbench.protocol.spec import load_protocol, shipped_protocols

    return _comparable(load_protocol(name).data) if name in shipped_protocols() else None


def _comparable(data: dict[str, Any]) -> dict[str, Any]:
    """Resolved protocol data flattened to "section.key" settings, without the embedding model and
    with the later settings at their old defaults left out (so older records compare equal)."""
    from zslbench.protocol.spec import identity_data

    flat = {}
    for key, value in identity_data(data).items():
        if isinstance(value, dict):
            flat.update({f"{key}.{sub}": item for sub, item in value.items() if f"{key}.{sub}" != "embedding.model"})
        else:
            flat[key] = value
    return flat


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
        "unshipped": unlike_shipped(protocol),
        "card": (record.get("card") or {}).get("fingerprint", ""),
    }
    splits = [s for s in SPLITS if s in metrics and s != "gzsl"]  # `unseen`: the test-side split
    cards = {split: record_card(record, split) for split in [*splits, "gzsl"]}
    rows = []
    for metric in record_metrics(record):
        for split in splits:
            value, std = _value(metrics[split][metric])
            rows.append(
                Observation(**common, split=split, metric=metric, value=value, std=std, protocol_card=cards[split])
            )
    if "gzsl" in metrics:  # generalized zero-shot: its own metrics, whatever the protocol's list
        rows += [
            Observation(
                **common,
                split="gzsl",
                metric=metric,
                value=metrics["gzsl"][metric],
                std=None,
                protocol_card=cards["gzsl"],
            )
            for metric in GZSL_METRICS
        ]
    return rows


def _value(entry: Any) -> tuple[float, float | None]:
    """(value, std) of one metric of one split: a split drawn several times holds its `mean` and `std`
    (random_half, official, random_subset), a split scored once the number itself."""
    if isinstance(entry, dict):
        return entry["mean"], entry.get("std")
    return entry, None


def _model_selection(record: dict[str, Any]) -> str:
    """The training's `model_selection` setting (`train --select-on-test`, imported reference
    checkpoints): a number so chosen is optimistic, and checks say so. "" when not recorded."""
    settings = (record.get("training") or {}).get("settings") or {}
    return str(settings.get("model_selection") or "")


def from_published(number: PublishedNumber) -> Observation:
    """A published number as an Observation (compliance "published", source "<source>, <table>")."""
    return Observation(
        who=number.label,
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
        protocol_card=number.card,
    )
