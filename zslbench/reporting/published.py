"""The published-number registry: protocols/published/*.yaml, validated on load.

Each number names its method and backbone, test dataset, split, metric and value (and std when
given), where it was published, either the zslbench protocol it was made under or a note saying how
its protocol differs, and its protocol card (reporting/cards.py): the training classes, split family,
frames x views, backbone and templates it was made with, so it is compared only like for like.
`model` names the zslbench model that reproduces the setting, for `check`.

A number under a zslbench protocol has that protocol's card (`cards.protocol_card`): its training
classes and splits, and, when it names a card, that card's frames, views and templates (a video-text
method reads its own input under any protocol). Any other number has its file's `card`, or one of the
file's named `cards` (`card: NAME`), whose fields left out are the file's `card`'s; so a card is
written once however many numbers share it. No two numbers may share
method, backbone, dataset, split, metric and card: each number is registered once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from zslbench.core.errors import ZslbenchError, did_you_mean
from zslbench.core.paths import data_dir
from zslbench.core.schema import Field, ListOf, Section, load_yaml
from zslbench.metrics import metric_choices
from zslbench.reporting.cards import INHERIT, ProtocolCard, card_from_yaml, card_schema, protocol_card

# kinetics600_new: the 220 classes Kinetics-600 adds to Kinetics-400 (ER-ZSAR's test set, "K600")
DATASET_NAMES = ("ucf101", "hmdb51", "activitynet200", "kinetics400", "kinetics600", "kinetics600_new")
SPLITS = ("random_half", "official", "random_subset", "all", "unseen", "gzsl")

SCHEMA = Section(
    {
        "source": Field(str, doc="where the numbers come from"),
        "embedding": Field(str, default="", doc="the class-name vectors the numbers were made with"),
        "protocol_note": Field(str, default="", doc="how the numbers' protocol differs, unless a number says"),
        "card": card_schema(named=False),
        "cards": ListOf(card_schema(named=True), default=()),
        "numbers": ListOf(
            Section(
                {
                    "method": Field(str),
                    "backbone": Field(str, default="unknown", doc="e.g. ViT-B/16, R(2+1)D-18"),
                    "model": Field(str, default="", doc="the zslbench model that reproduces this setting"),
                    "protocol": Field(str, default="", doc="a zslbench protocol name"),
                    "version": Field(int, default=1, min=1),
                    "protocol_note": Field(str, default="", doc="how the protocol differs, when there is no id"),
                    "card": Field(str, default="", doc="one of the file's named cards (default: the file's card)"),
                    "dataset": Field(str, choices=DATASET_NAMES),
                    "split": Field(str, choices=SPLITS),
                    "metric": Field(str, choices=metric_choices()),
                    "value": Field(float, min=0.0, max=100.0),
                    "std": Field(float, default=None, min=0.0, nullable=True),
                    "table": Field(str, doc="where in the source, e.g. Table 1"),
                    "notes": Field(str, default=""),
                }
            ),
            min_items=1,
        ),
    }
)


@dataclass(frozen=True)
class PublishedNumber:
    """One registered published number (module docstring): the method and backbone, its protocol or a note
    on how it differs, dataset, split, metric, value and std in percent, where it was published, and its card."""

    method: str
    backbone: str
    model: str
    protocol: str
    version: int
    protocol_note: str
    dataset: str
    split: str
    metric: str
    value: float
    std: float | None
    source: str
    table: str
    embedding: str
    notes: str
    card: ProtocolCard

    @property
    def protocol_label(self) -> str:
        """`name@vN` for a zslbench protocol, else `other (<protocol note>)`."""
        return f"{self.protocol}@v{self.version}" if self.protocol else f"other ({self.protocol_note})"

    @property
    def label(self) -> str:
        """The method, with its backbone unless the method's name already says it: `Open-VCLIP (ViT-L/14)`."""
        if self.backbone in ("", "unknown") or self.backbone in self.method:
            return self.method
        return f"{self.method} ({self.backbone})"

    @property
    def identity(self) -> tuple:
        """What makes a number one number: no two registered numbers share it."""
        return (self.method, self.backbone, self.dataset, self.split, self.metric, self.card)


def load_published_file(path: Path) -> list[PublishedNumber]:
    """The numbers of one registry file. Raises ZslbenchError (naming the file, the number and the
    field) for a schema mistake, an unknown protocol or card, a number with neither or both of
    protocol and protocol_note."""
    from zslbench.protocol.spec import shipped_protocols

    data = load_yaml(path, SCHEMA)
    shipped = shipped_protocols()
    cards = _named_cards(path, data)
    numbers = []
    for i, entry in enumerate(data["numbers"]):
        where = f"{path}: numbers[{i}] ({entry['method']})"
        note = entry["protocol_note"] or ("" if entry["protocol"] else data["protocol_note"])
        if bool(entry["protocol"]) == bool(note):
            raise ZslbenchError(
                f"{where} needs exactly one of protocol and protocol_note", "name the protocol, or say how it differs"
            )
        if entry["protocol"] and entry["protocol"] not in shipped:
            raise ZslbenchError(f"{where}: unknown protocol {entry['protocol']!r}", f"shipped: {', '.join(shipped)}")
        card = _card_of(where, entry, cards)
        fields = {**entry, "protocol_note": note, "card": card}
        numbers.append(PublishedNumber(**fields, source=data["source"], embedding=data["embedding"]))
    return numbers


def _named_cards(path: Path, data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The file's cards as YAML fields by name: "" (the file's `card`) and each of `cards` laid over it."""
    cards: dict[str, dict[str, Any]] = {"": data["card"]}
    for i, named in enumerate(data["cards"]):
        if named["name"] in cards:
            raise ZslbenchError(f"{path}: cards[{i}] {named['name']!r} is named twice (or empty)", "name each once")
        given = {key: value for key, value in named.items() if key != "name" and value != INHERIT}
        cards[named["name"]] = {**data["card"], **given}
    return cards


def _card_of(where: str, entry: dict[str, Any], cards: dict[str, dict[str, Any]]) -> ProtocolCard:
    """A number's card. Under a zslbench protocol, the protocol gives the training classes and splits,
    and a named card (`card: NAME`) the method's own input and text (frames, views, templates), which no
    protocol fixes for a video-text model; without one, the protocol's clips and word vectors. Any
    other number: its named card, or the file's."""
    if entry["protocol"] and not entry["card"]:
        return protocol_card(_protocol_data(entry["protocol"]), entry["split"], entry["backbone"])
    if entry["card"] not in cards:
        hint = f"the file names {', '.join(repr(name) for name in cards if name) or 'no cards'}"
        raise ZslbenchError(f"{where}: unknown card {entry['card']!r}.{did_you_mean(entry['card'], cards)}", hint)
    try:
        own = card_from_yaml(cards[entry["card"]], entry["backbone"])
    except ValueError as err:
        raise ZslbenchError(
            f"{where}: card {entry['card'] or '(the file card)'}: {err}", "see docs/results.md"
        ) from None
    if not entry["protocol"]:
        return own
    base = protocol_card(_protocol_data(entry["protocol"]), entry["split"], entry["backbone"])
    return replace(base, frames=own.frames, views=own.views, templates=own.templates)


@cache
def _protocol_data(name: str) -> dict[str, Any]:
    from zslbench.protocol.spec import load_protocol

    return load_protocol(name).data


def check_unique(numbers: tuple[PublishedNumber, ...] | list[PublishedNumber]) -> None:
    """Refuse a number registered twice (same method, backbone, dataset, split, metric and card)."""
    seen: dict[tuple, PublishedNumber] = {}
    for number in numbers:
        first = seen.setdefault(number.identity, number)
        if first is not number:
            raise ZslbenchError(
                f"{number.label} on {number.dataset} ({number.split}, {number.metric}) is registered twice: "
                f"{first.value} ({first.table}) and {number.value} ({number.table})",
                "keep one; a number printed in several papers names the others in `notes`",
            )


@cache
def published_numbers() -> tuple[PublishedNumber, ...]:
    """Every number of the shipped protocols/published/*.yaml files, validated, read once per process.

    Raises ZslbenchError (with file:line) for an invalid file, and for a number registered twice."""
    folder = data_dir("protocols") / "published"
    numbers = tuple(n for path in sorted(folder.glob("*.yaml")) for n in load_published_file(path))
    check_unique(numbers)
    return numbers
