"""tau across embedding spaces: the tau in one embedding whose removed set best matches another's.

The rule (Brattoli et al., CVPR 2020, Sec. 3, Eq. 3) removes every source class whose class-name
vector lies within cosine distance tau of a test class; the paper's tau = 0.05 was chosen with
word2vec. The same number means something else in another space (CLIP text embeddings of unrelated
phrases are far more similar than GloVe's), so comparing splits across embeddings at one tau compares
nothing. `calibrate` finds the tau in an embedding E that removes the set of source classes most
like the set the reference embedding removes at its tau (issue 22, part 3).

"Most like" is the F1 of the two removed sets, 2 |both| / (|E's| + |REF's|). The Jaccard index
|both| / |either| = F1 / (2 - F1) rises with it, so both pick the same set. The search is exact: as
tau grows past each distinct nearest-test-class distance of E, E's removed set gains the classes at
that distance, so those distances (and "remove all") are every removed set E can make; each is scored
and the best kept, ties going to the smallest tau (the fewest classes removed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from zslbench.core.bounds import TAU
from zslbench.protocol.overlap import OverlapTable, protocol_overlap
from zslbench.protocol.spec import Protocol

CRITERION = "max F1 of the removed sets (= max Jaccard); ties -> the set of the smallest tau"


@dataclass(frozen=True)
class Agreement:
    """How E's removed set R_E agrees with the reference's R_REF (both sets of source classes)."""

    removed_reference: int  # |R_REF|
    removed: int  # |R_E|
    both: int  # |R_E and R_REF|
    precision: float | None  # |both| / |R_E|; None when E removes nothing
    recall: float | None  # |both| / |R_REF|; None when the reference removes nothing
    f1: float  # 2 |both| / (|R_E| + |R_REF|); 1 when both are empty
    jaccard: float  # |both| / |R_E or R_REF|; 1 when both are empty


def agreement(reference: np.ndarray, other: np.ndarray) -> Agreement:
    """The agreement of two boolean masks of removed classes (same length, same class order)."""
    ref, mine = int(reference.sum()), int(other.sum())
    both = int((reference & other).sum())
    either = ref + mine - both
    return Agreement(
        removed_reference=ref,
        removed=mine,
        both=both,
        precision=both / mine if mine else None,
        recall=both / ref if ref else None,
        f1=2 * both / (ref + mine) if ref + mine else 1.0,
        jaccard=both / either if either else 1.0,
    )


@dataclass(frozen=True)
class Calibration:
    """The tau in E that best reproduces the reference's removed set, and how well it does."""

    reference: OverlapTable  # the source classes' nearest test classes in the reference embedding
    other: OverlapTable  # ... in E (same source classes, same order)
    reference_tau: float  # tau in the reference embedding (the protocol's)
    tau: float  # the calibrated tau in E: the shortest decimal in `interval`
    interval: tuple[float | None, float]  # (low, high]: every tau in it removes the same set in E;
    # low None: [0, high]
    agreement: Agreement

    @property
    def removed_reference(self) -> np.ndarray:
        """bool [n_source]: removed by the reference embedding at reference_tau."""
        return ~self.reference.kept(self.reference_tau)

    @property
    def removed(self) -> np.ndarray:
        """bool [n_source]: removed by E at the calibrated tau."""
        return ~self.other.kept(self.tau)


def calibrate(reference: OverlapTable, other: OverlapTable, tau: float) -> Calibration:
    """The tau in `other`'s embedding whose removed set best matches `reference`'s at `tau` (see the
    module docstring for "best"). Both tables must list the same source classes in the same order
    (ValueError otherwise: they come from one protocol); the test lists may differ only in embedding."""
    if reference.source.classes != other.source.classes:
        raise ValueError("the two overlap tables must list the same source classes in the same order")
    target = ~reference.kept(tau)
    low, high = _best_interval(other.distance, target)
    chosen = shortest_decimal(low, high)
    return Calibration(
        reference=reference,
        other=other,
        reference_tau=tau,
        tau=chosen,
        interval=(low, high),
        agreement=agreement(target, ~other.kept(chosen)),
    )


def calibrate_protocol(protocol: Protocol, reference: str) -> Calibration:
    """Calibrate `protocol.embedding` (E) to the embedding spec `reference`, whose tau is the
    protocol's: the split both make uses the protocol's source and test classes and word_norm."""
    return calibrate(protocol_overlap(protocol.replace(embedding=reference)), protocol_overlap(protocol), protocol.tau)


def _best_interval(distance: np.ndarray, target: np.ndarray) -> tuple[float | None, float]:
    """(low, high] of the taus whose removed set {distance < tau} has the best F1 against `target`.

    Sorting the distances, removing the k smallest is a set E can make only where k = 0, k = n, or
    the k-th and (k+1)-th distances differ; the running sum of `target` in that order gives each
    set's overlap at once. np.argmax keeps the first maximum: the smallest k, so the smallest tau."""
    ordered_idx = np.argsort(distance, kind="stable")
    ordered = distance[ordered_idx]
    n = len(ordered)
    hits = np.concatenate([[0], np.cumsum(target[ordered_idx])])
    cuts = np.flatnonzero(np.r_[True, ordered[1:] > ordered[:-1], True])
    if n and ordered[-1] >= TAU.high:  # no tau in [0, 2] removes a class at distance 2
        cuts = cuts[cuts < n]
    wanted = int(target.sum())
    sizes = cuts + wanted
    f1 = np.where(sizes > 0, 2 * hits[cuts] / np.maximum(sizes, 1), 1.0)
    k = int(cuts[int(np.argmax(f1))])
    low = float(ordered[k - 1]) if k > 0 else None
    high = float(ordered[k]) if k < n else float(TAU.high)
    return low, high


def shortest_decimal(low: float | None, high: float) -> float:
    """The number with the fewest decimals in (low, high] (low None: [0, high]), so the tau printed
    and typed back as --threshold removes exactly the same set; `high` itself when no shorter one fits."""
    for digits in range(18):
        value = math.floor(high * 10**digits) / 10**digits
        if value <= high and (low is None or value > low) and value >= 0:
            return value + 0.0
    return high


def calibration_report(calibration: Calibration, reference_spec: str, spec: str) -> dict[str, Any]:
    """The calibration as plain data (JSON-ready): both embeddings, the taus, the agreement and
    the classes that differ, each with its nearest test class and distance in both spaces."""
    ref, mine = calibration.removed_reference, calibration.removed
    low, high = calibration.interval
    return {
        "reference": {
            "spec": reference_spec,
            "id": calibration.reference.embedder_id,
            "tau": calibration.reference_tau,
        },
        "embedding": {"spec": spec, "id": calibration.other.embedder_id},
        "tau": calibration.tau,
        "tau_interval": {"above": low, "up_to": high},
        "criterion": CRITERION,
        "source_classes": len(ref),
        "agreement": vars(calibration.agreement),
        "only_reference": _differing(calibration, ref & ~mine, by_reference=True),
        "only_embedding": _differing(calibration, mine & ~ref, by_reference=False),
    }


def _differing(calibration: Calibration, mask: np.ndarray, by_reference: bool) -> list[dict[str, Any]]:
    """The classes of `mask`, closest first in the space that removed them."""
    ref, mine = calibration.reference, calibration.other
    order = sorted(np.flatnonzero(mask), key=lambda i: (ref if by_reference else mine).distance[i])
    return [
        {
            "name": ref.source.classes[i],
            "reference": _nearest(ref, i),
            "embedding": _nearest(mine, i),
        }
        for i in order
    ]


def _nearest(table: OverlapTable, i: int) -> dict[str, Any]:
    return {"nearest": table.nearest[i], "dataset": table.nearest_dataset[i], "distance": float(table.distance[i])}
