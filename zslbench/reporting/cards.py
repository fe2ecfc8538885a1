"""The protocol card of a number: how it was made, in the terms today's papers differ by, so a result is
compared only with published numbers made the same way.

The CLIP-era numbers differ in their training classes, test splits, frames and views, backbone and
text templates, and none of that is in the number itself (../shared/reference/clip_era.md, "How the
numbers differ in practice"; issue 22). Every field of a card is text:

- `training`: the dataset of the classes the model was trained (or fine-tuned) on: a dataset name
  (`kinetics400`), `none` (no video training), or `unknown`.
- `filter`: how those classes were kept apart from the test classes: `none` (all of them),
  `brattoli2020 tau T` (Brattoli et al., CVPR 2020, Eq. 3: no training class within cosine distance T
  of a test class), `own` (a method's own rule), or `unknown`.
- `splits`: the test split family beyond its kind (the number's `split`): `usual` (`USUAL_SPLITS`),
  `R draws` or `R draws of C classes` when otherwise, or `unknown`.
- `frames`: frames per clip; `views`: clips per video x crops per clip (temporal views x spatial crops).
- `backbone`: e.g. `ViT-B/16`, `R(2+1)D-18`.
- `templates`: what a class name becomes before it is embedded: a zslbench template set (`bare`: the
  class name alone; `actionclip`: ActionCLIP's 16 templates, ...), `rephrased` (FROSTER's rephrased
  names), `descriptions` (generated descriptions), `word vectors` (the protocol's class-name word
  vectors, no text tower), or `unknown`.

Two cards agree when every field both declare agrees (`differences`). A field left empty ("") is not
declared (a record whose identity holds no vision config says nothing of its backbone) and is not
compared; `unknown` and `own` agree with nothing, so such a number is shown but never compared;
other values agree when equal. Training classes thus agree when they come from the same dataset and
both are unfiltered, or both filtered by the same rule at the same tau.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from zslbench.core.schema import Field, Section

UNKNOWN = "unknown"
NONE = "none"
OWN = "own"
RULE = "brattoli2020"  # Brattoli et al. (CVPR 2020), Sec. 3, Eq. 3: the only rule zslbench applies
FILTERS = (NONE, RULE, OWN, UNKNOWN)
AGREES_WITH_NOTHING = (UNKNOWN, OWN)
WORD_VECTORS = "word vectors"  # a model scored against the protocol's class vectors (no text tower)
USUAL = "usual"
INHERIT = "(the file's card)"  # a named card's field left out: the file-level card's value
# The usual family of each split kind: (draws, classes per draw); None: the kind's own classes.
USUAL_SPLITS: dict[str, tuple[int, int | None]] = {
    "random_half": (10, None),  # Brattoli et al. (CVPR 2020), Sec. 4: 10 seeded draws of half the classes
    "official": (3, None),  # the dataset's 3 official test splits (UCF101, HMDB51; K600's new classes: ER-ZSAR's)
    "random_subset": (3, 160),  # ER-ZSAR (ICCV 2021): 3 draws of 160 of Kinetics-600's 220 new classes
    "all": (1, None),  # the whole test set, once ("full" in the CLIP-era papers)
    "unseen": (1, None),
    "gzsl": (1, None),
}
# ViT sizes by (width, layers) (Dosovitskiy et al. 2021, Table 1), for a record's backbone
VIT_SIZES = {(768, 12): "B", (1024, 24): "L", (1280, 32): "H"}


@dataclass(frozen=True)
class ProtocolCard:
    """How a number was made (see the module docstring for each field); "" = not declared."""

    training: str = UNKNOWN
    filter: str = UNKNOWN
    splits: str = UNKNOWN
    frames: str = UNKNOWN
    views: str = UNKNOWN
    backbone: str = UNKNOWN
    templates: str = UNKNOWN

    def differences(self, other: ProtocolCard) -> list[str]:
        """`field ours vs theirs` for every field both declare that does not agree ([] = like for like);
        the training classes (`training` and `filter`) as one: `training A unfiltered vs A filtered ...`."""
        differing: list[str] = []
        for item in fields(self):
            ours, theirs = getattr(self, item.name), getattr(other, item.name)
            name = "training" if item.name == "filter" else item.name
            if ours and theirs and (ours != theirs or ours in AGREES_WITH_NOTHING) and name not in differing:
                differing.append(name)
        return [
            f"training: {self.training_words()} vs {other.training_words()}"
            if name == "training"
            else f"{name} {getattr(self, name)} vs {getattr(other, name)}"
            for name in differing
        ]

    def summary(self) -> str:
        """One line, e.g. `kinetics400 unfiltered, 32 f x 1, ViT-B/16, templates bare` ("?": unknown)."""
        parts = [self.training_words()]
        if self.splits and self.splits != USUAL:
            parts.append(f"splits {_shown(self.splits)}")
        if self.frames or self.views:
            parts.append(f"{_shown(self.frames)} f x {_shown(self.views)}")
        if self.backbone:
            parts.append(self.backbone if self.backbone != UNKNOWN else "backbone ?")
        if self.templates:
            parts.append(f"templates {_shown(self.templates)}")
        return ", ".join(part for part in parts if part)

    def training_words(self) -> str:
        """The training classes in words: `kinetics700 filtered at tau 0.05 (brattoli2020)`, ..."""
        if self.training == NONE:
            return "no video training"
        if self.training == UNKNOWN and self.filter in (UNKNOWN, ""):
            return "training ?"
        if self.filter.startswith(f"{RULE} tau "):
            how = f"filtered at tau {self.filter.split(' tau ')[1]} ({RULE})"
        else:
            how = {NONE: "unfiltered", OWN: "own filtering", UNKNOWN: "filter ?"}.get(self.filter, self.filter)
        return f"training ? ({how})" if self.training == UNKNOWN else f"{self.training} {how}".strip()


def _shown(value: str) -> str:
    return "?" if value == UNKNOWN else value


def rule_filter(tau: float) -> str:
    """The `filter` of classes kept by Brattoli et al.'s rule at `tau`: `brattoli2020 tau 0.05`; `none`
    at tau 0, which keeps every class (every cosine distance is >= 0), as the CLIP-era papers train."""
    return f"{RULE} tau {tau:g}" if tau > 0 else NONE


def split_family(kind: str, draws: int | None, classes: int | None = None) -> str:
    """The `splits` field: `usual` when `draws` (and, for a kind with its own class count, `classes`)
    are the kind's usual ones, else `R draws [of C classes]`; `unknown` when `draws` is None."""
    if draws is None:
        return UNKNOWN
    usual_draws, usual_classes = USUAL_SPLITS.get(kind, (None, None))
    if draws == usual_draws and (usual_classes is None or classes == usual_classes):
        return USUAL
    return f"{draws} draws" + (f" of {classes} classes" if classes and usual_classes else "")


def _dataset_word(source: str) -> str:
    """A protocol's `train.source` as a card names it: the dataset's name, or the class-list file's."""
    from zslbench.datasets import dataset_spec, is_dataset

    return dataset_spec(source).name if is_dataset(source) else Path(source).name


def protocol_card(data: dict[str, Any], split: str, backbone: str = "") -> ProtocolCard:
    """The card of a number made under resolved protocol `data` (`Protocol.data`) on `split`: its source
    kept by the rule at its tau, its split entry, its clips (`clip_len` frames, `test_clips` x
    `test_crops` views) and its class-name word vectors. A published number naming a zslbench protocol
    has this card; a result's card starts from it (`record_card`)."""
    entry = next((s for s in data["evaluation"]["splits"] if s["kind"] == split), None) or {}
    drawn = split in ("random_half", "official", "random_subset")  # the entry says how many draws
    splits = split_family(split, entry.get("repeats"), _subset_size(entry)) if drawn else USUAL
    clips = data["clips"]
    return ProtocolCard(
        training=_dataset_word(data["train"]["source"]),
        filter=rule_filter(data["overlap"]["tau"]),
        splits=splits,
        frames=str(clips["clip_len"]),
        views=str(clips["test_clips"] * clips.get("test_crops", 1)),
        backbone=backbone,
        templates=WORD_VECTORS,
    )


def record_card(record: dict[str, Any], split: str) -> ProtocolCard:
    """The card of a result record's `split` numbers, from what the record holds: the protocol (splits,
    clips, source and tau), the compliance verdict or the declared fine-tuning classes (`training`),
    a video-text model's `card` (frames, views and crops, template set) and the vision config in its
    identity (backbone; "" when there is none, e.g. a features file)."""
    data = record["protocol"].get("resolved") or {}
    base = protocol_card(data, split) if data.get("evaluation") else ProtocolCard(backbone="", templates="")
    training, how = _record_training(record, base)
    video = record.get("card") or {}
    frames, views, templates = base.frames, base.views, base.templates
    if video.get("input"):
        shown = video["input"]
        frames, views = str(shown["frames"]), str(shown.get("views", 1) * shown.get("crops", 1))
        templates = str((video.get("text") or {}).get("template_set") or UNKNOWN)
    splits = _record_splits(record["metrics"].get(split), split, base.splits)
    backbone = _backbone((record["model"].get("identity") or {}).get("model") or {})
    return replace(
        base,
        training=training,
        filter=how,
        splits=splits,
        frames=frames,
        views=views,
        backbone=backbone,
        templates=templates,
    )


def _record_training(record: dict[str, Any], base: ProtocolCard) -> tuple[str, str]:
    """(training, filter) of a record. A video-text model zslbench did not train: its declared
    `finetuned_on` (a dataset: all of its classes; a class-list file: unknown). Any other model: the
    protocol's source, kept by the rule when the audit passed, unfiltered when it found overlap, unknown
    when the audit could not tell. (Records do not yet name their training class list.)"""
    from zslbench.datasets import dataset_spec, is_dataset
    from zslbench.protocol.verdicts import COMPLIANT, FINETUNING_COMPLIANT, NOT_COMPLIANT

    declared = record["model"].get("declared")
    if declared is not None and record.get("training") is None:
        finetuned = declared.get("finetuned_on")
        if finetuned == NONE:
            return NONE, NONE
        return (dataset_spec(finetuned).name, NONE) if finetuned and is_dataset(finetuned) else (UNKNOWN, UNKNOWN)
    verdict = record["compliance"]["verdict"]
    if verdict in (COMPLIANT, FINETUNING_COMPLIANT) and base.training:
        return base.training, base.filter
    if verdict == NOT_COMPLIANT and base.training:
        return base.training, NONE
    return UNKNOWN, UNKNOWN


def _subset_size(entry: dict[str, Any]) -> int | None:
    """Classes per draw of a split entry or a record's metrics entry, when it says."""
    size = next((entry[key] for key in ("classes_per_split", "classes", "size") if key in entry), None)
    return size if isinstance(size, int) and not isinstance(size, bool) else None


def _record_splits(entry: Any, split: str, fallback: str) -> str:
    """A record's split family from its metrics entry (`repeats`, or how many `values` each metric has,
    and `classes_per_split`) when it says; else the protocol's (`fallback`)."""
    if not isinstance(entry, dict):
        return fallback
    draws = entry.get("repeats")
    if not isinstance(draws, int):
        values = [v["values"] for v in entry.values() if isinstance(v, dict) and isinstance(v.get("values"), list)]
        draws = len(values[0]) if values else None
    if draws is None:
        return fallback
    return split_family(split, draws, _subset_size(entry) if split == "random_subset" else None)


def _backbone(model: dict[str, Any]) -> str:
    """`ViT-B/16` from a video-text model's identity (its vision config); "" when it has none."""
    vision = (model.get("config") or {}).get("vision") or {}
    if not {"hidden_size", "num_hidden_layers", "patch_size"} <= set(vision):
        return ""
    width, layers, patch = vision["hidden_size"], vision["num_hidden_layers"], vision["patch_size"]
    size = VIT_SIZES.get((width, layers))
    return f"ViT-{size}/{patch}" if size else f"ViT {width}-d x {layers} layers/{patch}"


def card_schema(named: bool) -> Section:
    """The YAML form of a card in protocols/published/*.yaml: the file's `card`, with unknown defaults,
    or one of its named `cards`, whose fields left out (`INHERIT`) are the file's `card`'s (`named`)."""

    def field(kind: type, default: Any, doc: str, **limits: Any) -> Field:  # null: unknown, for a number
        return Field(kind, default=INHERIT if named else default, nullable=default is None, doc=doc, **limits)

    schema = {
        "training": field(str, UNKNOWN, "the training classes' dataset (a dataset name), none, or unknown"),
        "filter": field(
            str, UNKNOWN, "none (all its classes), brattoli2020 (Eq. 3 at tau), own, unknown", choices=FILTERS
        ),
        "tau": field(float, None, "brattoli2020's tau (cosine distance)", min=0.0, max=2.0),
        "splits": field(
            str,
            UNKNOWN,
            "usual: each split kind's usual draws (cards.USUAL_SPLITS); or unknown",
            choices=(USUAL, UNKNOWN),
        ),
        "frames": field(int, None, "frames per clip (null: unknown)", min=1),
        "views": field(int, None, "clips per video x crops per clip (null: unknown)", min=1),
        "templates": field(
            str, UNKNOWN, "a template set (bare, actionclip, ...), rephrased, descriptions, word vectors, or unknown"
        ),
    }
    if named:
        schema = {"name": Field(str, doc="how numbers refer to it (`card: NAME`)"), **schema}
    return Section(schema)


def card_from_yaml(entry: dict[str, Any], backbone: str) -> ProtocolCard:
    """A card from its validated YAML fields (`card_schema(named=False)`) and a number's backbone.
    Raises ValueError for a training name that is no dataset or a rule without its tau."""
    from zslbench.datasets import dataset_spec, is_dataset

    training = entry["training"]
    if training == NONE:  # no video training: nothing to filter
        entry = {**entry, "filter": NONE}
    elif training != UNKNOWN:
        if not is_dataset(training):
            raise ValueError(f"training {training!r} is not a dataset name (or none, unknown)")
        training = dataset_spec(training).name
    how = entry["filter"]
    if how == RULE:
        if entry["tau"] is None:
            raise ValueError("filter brattoli2020 needs its tau")
        how = rule_filter(entry["tau"])
    number = {key: UNKNOWN if entry[key] is None else str(entry[key]) for key in ("frames", "views")}
    return ProtocolCard(training, how, entry["splits"], backbone=backbone, templates=entry["templates"], **number)
