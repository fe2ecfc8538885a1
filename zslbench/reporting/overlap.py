"""The overlap diagnostic of result records (`evaluation/overlap_diagnostic.py`) binned by distance,
as rows for a table and JSON, and a plot of per-class top-1 against distance.

Each test class sits at some cosine distance from the nearest class the model declares it saw. In the
protocol's word embedding the bins start with [0, tau), the classes the rule calls seen (Brattoli et
al. 2020, Eq. 3), then fixed edges above tau, so records of one embedding share bins. A video-text
model's own text space has no tau (its distances between unrelated names are of another scale, issue
22 item 3), so its bins are the quartiles of the record's distances: four bins of about equal class
counts.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zslbench.core.errors import ZslbenchError
from zslbench.reporting.plots import save_png

SPACES = ("protocol_embedding", "text_tower")
SPACE_WORDS = {"protocol_embedding": "protocol embedding", "text_tower": "model's text space"}
ABOVE_TAU = (0.1, 0.2, 0.3, 0.5)  # bin edges above tau in the protocol's embedding (cosine distance)
TOP = 2.0  # the largest cosine distance: the last bin is closed


@dataclass(frozen=True)
class Bin:
    """Test classes whose distance to the nearest declared class lies in [low, high) ([low, 2] for
    the last bin): how many, their videos, the mean of their per-class top-1 (percent, over the
    classes with videos; None when none has), and its closest class: {class, nearest, distance}."""

    low: float
    high: float
    classes: int
    videos: int
    top1: float | None
    example: dict[str, Any] | None

    def label(self, tau: float | None = None) -> str:
        """e.g. "[0, 0.05) < tau", "[0.5, 2]"."""
        text = f"[{self.low:.3g}, {self.high:.3g}{']' if self.high >= TOP else ')'}"
        return text + (" < tau" if tau is not None and self.high == tau and self.low == 0 else "")


@dataclass(frozen=True)
class RecordOverlap:
    """One record's diagnostic, read back: who, where, against what, and each space's bins and points
    (distance, top-1 or None) per class."""

    label: str
    dataset: str
    path: str
    against: dict[str, Any]
    tau: float
    classes: int
    within_tau: int
    bins: dict[str, list[Bin]]
    points: dict[str, list[tuple[float, float | None]]]
    unavailable: dict[str, str]
    tau_source: str = ""  # where tau comes from when not the protocol's (a protocol of tau 0: the paper's)

    def to_json(self) -> dict[str, Any]:
        """Plain values for `--json`: record, model, dataset, against, tau, counts and each space's bins (no points)."""
        bins = {space: [asdict(b) for b in chosen] for space, chosen in self.bins.items()}
        return {
            "record": self.path,
            "model": self.label,
            "dataset": self.dataset,
            "against": self.against,
            "tau": self.tau,
            **({"tau_source": self.tau_source} if self.tau_source else {}),
            "classes": self.classes,
            "within_tau": self.within_tau,
            "bins": bins,
            "unavailable": self.unavailable,
        }


def bin_edges(space: str, distances: np.ndarray, tau: float) -> list[float]:
    """Ascending bin edges from 0 to 2: [0, tau, 0.1, 0.2, 0.3, 0.5, 2] (the fixed edges above tau)
    in the protocol's embedding; 0, the quartiles of the finite `distances`, 2 in a text space."""
    if space == "protocol_embedding":
        inner = [tau, *(edge for edge in ABOVE_TAU if edge > tau)]
    else:
        finite = distances[np.isfinite(distances)]
        inner = list(np.quantile(finite, [0.25, 0.5, 0.75])) if len(finite) else []
    return sorted({0.0, *(float(edge) for edge in inner if 0 < edge < TOP), TOP})


def binned(rows: list[dict[str, Any]], space: str, tau: float) -> list[Bin]:
    """The bins of one space of a record's `overlap.classes` rows (each with videos, top1 and
    {space: {nearest, distance}})."""
    distances = np.array([row[space]["distance"] for row in rows], dtype=np.float64)
    edges = bin_edges(space, distances, tau)
    where = np.clip(np.searchsorted(edges, distances, side="right") - 1, 0, len(edges) - 2)
    bins = []
    for i, (low, high) in enumerate(itertools.pairwise(edges)):
        members = [rows[j] for j in np.flatnonzero(where == i)]
        scored = [row["top1"] for row in members if row["top1"] is not None]
        closest = min(members, key=lambda row: row[space]["distance"], default=None)
        example = None if closest is None else {"class": closest["class"], **closest[space]}
        videos = sum(row["videos"] for row in members)
        bins.append(Bin(low, high, len(members), videos, float(np.mean(scored)) if scored else None, example))
    return bins


def record_overlap(record: dict[str, Any]) -> RecordOverlap | None:
    """A record's diagnostic binned in each space it was measured in; None when the record has none
    (the model declares no training classes, or the record predates the diagnostic). A damaged one is
    a ZslbenchError naming the record."""
    overlap = record.get("overlap")
    if not overlap:
        return None
    where = record.get("_path", "a record")
    try:
        rows, tau = overlap["classes"], float(overlap["tau"])
        measured = [s for s in SPACES if s in overlap["spaces"] and "unavailable" not in overlap["spaces"][s]]
        unavailable = {s: str(v["unavailable"]) for s, v in overlap["spaces"].items() if "unavailable" in v}
        return RecordOverlap(
            label=record["model"]["label"],
            dataset=record["dataset"]["name"],
            path=str(where),
            against=dict(overlap["against"]),
            tau=tau,
            classes=len(rows),
            within_tau=int(overlap["within_tau"]),
            bins={space: binned(rows, space, tau) for space in measured},
            points={space: [(float(r[space]["distance"]), r["top1"]) for r in rows] for space in measured},
            unavailable=unavailable,
            tau_source=str(overlap.get("tau_source", "")),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise ZslbenchError(f"{where}: its overlap diagnostic is damaged ({err!r})", "evaluate again") from None


def plot_overlap(overlaps: list[RecordOverlap], path: Path) -> Path:
    """PNG: per space a panel of per-class top-1 (percent) against the distance to the nearest declared
    class, one colour per record (the same in every panel), its bins' mean top-1 as steps; tau marked in
    the protocol's embedding."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spaces = [space for space in SPACES if any(space in o.bins for o in overlaps)]
    fig, axes = plt.subplots(1, max(1, len(spaces)), figsize=(5.6 * max(1, len(spaces)), 4.0), dpi=110, squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, space in zip(axes[0], spaces, strict=False):
        for i, o in enumerate(overlaps):  # a record keeps its colour in every panel
            if space not in o.bins:
                continue
            colour = colours[i % len(colours)]
            shown = [(d, t) for d, t in o.points[space] if t is not None and np.isfinite(d)]
            ax.scatter([d for d, _ in shown], [t for _, t in shown], s=14, alpha=0.55, color=colour)
            right = max((d for d, _ in shown), default=TOP) * 1.05  # the last step ends past the farthest class
            for b in (b for b in o.bins[space] if b.top1 is not None):
                ax.hlines(b.top1, b.low, min(b.high, right), color=colour, linewidth=2)
            ax.plot([], [], color=colour, marker="o", label=f"{o.label} · {o.dataset}")
        if space == "protocol_embedding" and overlaps:
            ax.axvline(overlaps[0].tau, color="#d62728", linestyle="--", linewidth=1, label=f"tau {overlaps[0].tau:g}")
        ax.set_xlabel(f"cosine distance to the nearest declared class ({SPACE_WORDS[space]})")
        ax.set_ylabel("top-1 of the test class (%), bin means as steps")
        ax.set_ylim(-3, 103)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    return save_png(fig, path)
