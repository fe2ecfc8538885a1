"""What a model saw, judged by the rule: the one place that decides compliance.

Brattoli et al. (CVPR 2020), Sec. 3, Eq. 3: a model is zero-shot for a test dataset only if every
class it was trained on, and every class its initial weights were pretrained on, lies at cosine
distance >= tau from every test class. Training applies it before the first step
(`training_classes`), models on backbone features inherit the backbone's pretraining
(`declare`, `checkpoint_as_init`), and evaluation audits a checkpoint per test dataset
(`audit_model`). `zslbench audit` reports the same violations for a class list
(`violations`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zslbench.core.errors import ZslbenchError, named
from zslbench.protocol.overlap import OverlapTable, compute_overlap
from zslbench.protocol.spec import Protocol
from zslbench.protocol.verdicts import COMPLIANT, FINETUNING_COMPLIANT, NOT_COMPLIANT, UNKNOWN
from zslbench.text import TextEmbedder
from zslbench.text.vocab import ClassList, load_class_list

NONE, CLASSES = "none", "classes"


@dataclass(frozen=True)
class Pretraining:
    """What the initial weights saw before the training classes.

    status: "none" (random initial weights), "unknown" (weights of undeclared pretraining) or
    "classes" (then `classes` lists them and `name` says where they come from).
    """

    status: str = NONE
    name: str = ""
    classes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """As checkpoints and features files store it."""
        return {"status": self.status, "name": self.name, "classes": list(self.classes)}


def declare(seen: Pretraining, pretrained_on: str | None) -> Pretraining:
    """`--pretrained-on LIST`: the user declares what the weights were trained on; it adds to what
    is already known (a backbone's own history), and makes the pretraining known."""
    if not pretrained_on:
        return seen
    listed = load_class_list(pretrained_on)
    return Pretraining(CLASSES, listed.name, tuple(dict.fromkeys((*seen.classes, *listed.classes))))


def pretraining_of(state: dict[str, Any]) -> Pretraining:
    """What a checkpoint's model saw before its training classes.

    Models on backbone features carry it from the features file (`pretraining`); end-to-end models
    from their --pretrained-on option, else "unknown" when they started from --init weights.
    """
    if "pretraining" in state:
        known = state["pretraining"]
        return Pretraining(known["status"], known["name"], tuple(known["classes"]))
    if state.get("pretrained_on"):
        return declare(Pretraining(), state["pretrained_on"])
    return Pretraining(UNKNOWN if state["model"].get("options", {}).get("init") else NONE)


def checkpoint_as_init(state: dict[str, Any], name: str) -> Pretraining:
    """What a backbone initialised from a zslbench checkpoint has seen: its training classes and
    whatever it was initialised from itself (unknown stays unknown)."""
    earlier = pretraining_of(state)
    if earlier.status == UNKNOWN or state.get("classes") is None:  # e.g. imported without its class vectors
        return Pretraining(UNKNOWN, name, earlier.classes)
    return Pretraining(CLASSES, name, tuple(dict.fromkeys((*earlier.classes, *state["classes"]))))


def violations(table: OverlapTable, tau: float) -> list[dict[str, Any]]:
    """The classes of `table.source` within tau of a test class, in source order."""
    kept = table.kept(tau)
    return [
        {
            "class": name,
            "nearest": table.nearest[i],
            "dataset": table.nearest_dataset[i],
            "distance": float(table.distance[i]),
        }
        for i, name in enumerate(table.source.classes)
        if not kept[i]
    ]


def training_classes(
    protocol: Protocol, embedder: TextEmbedder, classes: str | None = None, allow_overlap: bool = False
) -> tuple[ClassList, dict[str, Any]]:
    """The classes to train on and the compliance verdict, from the rule applied before any step.

    Without `classes`, the protocol's split: every source class within tau of a test class is
    dropped. A given class list is audited instead, and refused (ZslbenchError) if it breaks the
    rule, unless `allow_overlap`, which keeps every class and records the run as not compliant.
    """
    given = load_class_list(classes) if classes else protocol.source_classes()
    table = compute_overlap(given, protocol.test_classes(), embedder)
    found = violations(table, protocol.tau)
    if classes and found and not allow_overlap:
        first = found[0]
        raise ZslbenchError(
            f"{len(found)} of the {len(given)} training classes break the protocol's rule, e.g. "
            f"{first['class']!r} is {first['distance']:.4f} from {first['nearest']!r} ({first['dataset']})",
            f"remove them ({named(f'`zslbench audit {classes}`', f'zslbench.audit({classes!r})')} lists them), or "
            f"pass {named('--allow-overlap', 'allow_overlap=True')} to train anyway and be recorded as not compliant",
        )
    split = not (classes or allow_overlap)
    kept = table.kept(protocol.tau)
    if split:  # the protocol's split: drop every source class within tau of a test class
        given = ClassList(given.name, tuple(c for c, k in zip(given.classes, kept, strict=True) if k), given.source)
        found = []
    compliance = {
        "compliant": not found,
        "allow_overlap": allow_overlap,
        "tau": protocol.tau,
        "tests": [t.name for t in table.tests],
        "violations": found,
        "removed_by_split": int((~kept).sum()) if split else 0,
    }
    return given, compliance


def audit_model(state: dict[str, Any], test: ClassList, protocol: Protocol, embedder: TextEmbedder) -> dict[str, Any]:
    """Eq. 3 for one test dataset: every training and pretraining class of a checkpoint at
    distance >= tau. The verdict is "unknown" when the training or pretraining classes are.

    A video-text model (`state["image_text"]` present) is audited in tiers: its declared video
    fine-tuning classes (`state["classes"]`, [] for none) with Eq. 3, its image-text pretraining
    declared as text ("none" for none) and never auditable: passing fine-tuning classes then give
    "finetuning_compliant", not "compliant"."""
    verdict: dict[str, Any] = {"tau": protocol.tau, "dataset": test.name, "violations": []}
    video_text = "image_text" in state
    training = state.get("classes")
    if training is None:
        why = "the model's training classes are not known"
        if video_text:
            why = "its video fine-tuning classes are not declared (declare them with --finetuned-on LIST, or none)"
        return {**verdict, "verdict": UNKNOWN, "why": why}
    image_text = state.get("image_text")
    if video_text and not image_text:
        why = "its image-text pretraining is not declared (--image-text 'OpenAI CLIP, 400M image-text pairs', or none)"
        return {**verdict, "verdict": UNKNOWN, "why": why}
    seen = pretraining_of(state)
    if seen.status == UNKNOWN:
        return {
            **verdict,
            "verdict": UNKNOWN,
            "why": "the initial weights' pretraining classes are unknown (declare them with --pretrained-on)",
        }
    trained_role = "fine-tuning" if video_text else "training"
    listed = ClassList(state.get("classes_name") or f"{trained_role} classes", tuple(training), "checkpoint")
    checked = [(trained_role, listed)] if training else []  # a video-text model may declare no fine-tuning
    if seen.status == CLASSES:
        checked.append(("pretraining", ClassList(seen.name or "pretraining classes", seen.classes, "checkpoint")))
    for role, classes in checked:
        table = compute_overlap(classes, [test], embedder)
        verdict["violations"] += [
            {"role": role, "class": v["class"], "nearest": v["nearest"], "distance": v["distance"]}
            for v in violations(table, protocol.tau)
        ]
    verdict["checked"] = [f"{role}: {classes.name} ({len(classes)} classes)" for role, classes in checked]
    verdict["checked"] += [] if training else [f"{trained_role}: none"]
    verdict["verdict"] = NOT_COMPLIANT if verdict["violations"] else COMPLIANT
    if video_text and image_text != NONE:
        verdict["unaudited"] = f"image-text pretraining: {image_text}"
        if not verdict["violations"]:
            verdict["verdict"] = FINETUNING_COMPLIANT
            verdict["why"] = (
                f"the video fine-tuning classes pass Eq. 3; the image-text pretraining ({image_text}) cannot be "
                "audited: its captions are not a class list"
            )
    if protocol.tau == 0 and verdict["verdict"] != NOT_COMPLIANT:  # Eq. 3 at tau 0 holds for every class list
        no_rule = f"protocol {protocol.name} sets tau 0 (no rule): nothing was too close by definition"
        verdict["why"] = f"{verdict['why']}; {no_rule}" if verdict.get("why") else no_rule
    return verdict


def compliant(table: OverlapTable, tau: float) -> bool:
    """A class list obeys the rule: no class within tau of any test class."""
    return not violations(table, tau)
