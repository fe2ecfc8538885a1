"""The published-number registry: protocols/published/*.yaml, validated on load.

Each number names its method, test dataset, split, metric and value (and std when given), where it
was published, and either the zslbench protocol it was made under or a note saying how its
protocol differs. `model` names the zslbench model that reproduces the setting, for `check`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from zslbench.core.errors import ZslbenchError
from zslbench.core.paths import data_dir
from zslbench.core.schema import Field, ListOf, Section, load_yaml
from zslbench.metrics import metric_choices

DATASET_NAMES = ("ucf101", "hmdb51", "activitynet200")
SPLITS = ("random_half", "all", "unseen", "gzsl")

SCHEMA = Section(
    {
        "source": Field(str, doc="where the numbers come from"),
        "embedding": Field(str, default="", doc="the class-name vectors the numbers were made with"),
        "numbers": ListOf(
            Section(
                {
                    "method": Field(str),
                    "model": Field(str, default="", doc="the zslbench model that reproduces this setting"),
                    "protocol": Field(str, default="", doc="a zslbench protocol name"),
                    "version": Field(int, default=1, min=1),
                    "protocol_note": Field(str, default="", doc="how the protocol differs, when there is no id"),
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
    method: str
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

    @property
    def protocol_label(self) -> str:
        return f"{self.protocol}@v{self.version}" if self.protocol else f"other ({self.protocol_note})"


def load_published_file(path: Path) -> list[PublishedNumber]:
    from zslbench.protocol.spec import shipped_protocols

    data = load_yaml(path, SCHEMA)
    shipped = shipped_protocols()
    numbers = []
    for i, entry in enumerate(data["numbers"]):
        where = f"{path}: numbers[{i}] ({entry['method']})"
        if bool(entry["protocol"]) == bool(entry["protocol_note"]):
            raise ZslbenchError(
                f"{where} needs exactly one of protocol and protocol_note", "name the protocol, or say how it differs"
            )
        if entry["protocol"] and entry["protocol"] not in shipped:
            raise ZslbenchError(f"{where}: unknown protocol {entry['protocol']!r}", f"shipped: {', '.join(shipped)}")
        numbers.append(PublishedNumber(**entry, source=data["source"], embedding=data["embedding"]))
    return numbers


@cache
def published_numbers() -> tuple[PublishedNumber, ...]:
    folder = data_dir("protocols") / "published"
    return tuple(n for path in sorted(folder.glob("*.yaml")) for n in load_published_file(path))
