"""Protocols: everything that can move a number, as versioned, validated, fingerprinted data.

A protocol names the source (training) class list, the test datasets, the text embedding, tau,
the evaluation splits and metrics, and the clip sampling. Its fingerprint is the sha256 of the
canonical resolved protocol plus the hashes of the class lists it names and of the word rules
(class_lists/overrides.yaml and the rules version), so any change that can move a result changes it.

A protocol file may start from another one (`include: NAME_OR_PATH`: its keys merge over the base's)
and a caller may override single settings (`sets`, the CLI's `--set clips.clip_len=8`); both are
resolved before validation, so the result is checked, and fingerprinted, as one whole file would be.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from zslbench.core.bounds import (
    INPUT_CROPS,
    INPUT_FRAMES,
    INPUT_SAMPLINGS,
    INPUT_SIZE,
    INPUT_STRIDE,
    INPUT_VIEW_AVERAGES,
    INPUT_VIEWS,
    TAU,
    Bound,
)
from zslbench.core.errors import ZslbenchError, did_you_mean, named, unknown_name_error
from zslbench.core.frozen import freeze, thaw
from zslbench.core.hashing import sha256_json
from zslbench.core.paths import data_dir
from zslbench.core.schema import (
    CommandLine,
    Field,
    ListOf,
    Section,
    apply_override,
    compose_yaml,
    located_error,
    merge_nodes,
    pop_key,
    validate,
)
from zslbench.datasets import dataset_spec, is_dataset
from zslbench.metrics import BUILTIN_METRICS, GZSL_METRICS, metric_choices
from zslbench.text import DEFAULT_EMBEDDING
from zslbench.text.vocab import DATASETS, ClassList, load_class_list, looks_like_path

DEFAULT_PROTOCOL = "brattoli2020-k700-ucf-hmdb"
INCLUDE = "include"  # the top-level key naming a base protocol; never part of the resolved data
# random_half, all: evaluation protocols 1 and 2 (Brattoli et al. 2020, Sec. 4); unseen, gzsl: the
# test-side split (TruZe, Gowda et al. 2021; protocol/test_side.py) and generalized zero-shot on it;
# official: the dataset's published test splits 1..repeats (UCF101's and HMDB51's three train/test
# lists, ER-ZSAR's three 160-class draws of Kinetics-600's new classes); random_subset: seeded draws of
# `classes` classes, as random_half draws half (evaluation/scoring.py, class_subsets)
SPLIT_KINDS = ("random_half", "all", "unseen", "gzsl", "official", "random_subset")
ONE_SHOT_SPLITS = ("all", "unseen", "gzsl")  # split kinds without repeats
PAPER_TAU = 0.05  # Brattoli et al. (CVPR 2020), Sec. 3: the cosine-distance threshold of the rule

BATCH_SCOPES = ("global", "device")
# What a video-text model reads, pinned by the protocol (null: the model's own; models/video_input.py)
MODEL_INPUT_KEYS = ("frames", "sampling", "stride", "size", "views", "crops", "view_average")
# How clips are placed and made (video/sampler.py ClipSpec says what each choice does); the first
# choice of each is zslbench's, "reference" / the second the reference implementation's; "segments" is
# TSN's (Wang et al. 2016), as the CLIP-era video-text models read videos; "centred": dense test clips at
# the centres of equal parts of the video (MMAction2's), so one clip sits in the middle.
TRAIN_POSITIONS = ("uniform", "reference", "segments")
TEST_POSITIONS = ("spread", "reference", "segments", "centred")
RESIZES = ("decoder", "torch_bilinear")
ROUNDINGS = ("round", "floor")
CROP_ROUNDINGS = ("floor", "half_even")
AUGMENTS = ("per_clip", "per_video")
# The settings added after the first protocols, at the values that are what zslbench always did: a
# protocol that leaves one there keeps the fingerprint it had (and its checkpoints, records and feature
# caches stay valid), so these enter the fingerprint only when set to something else.
LATER_SETTINGS: dict[tuple[str, ...], Any] = {
    ("train", "clips_per_epoch"): None,
    ("train", "batch_per"): "global",
    ("clips", "train_position"): "uniform",
    ("clips", "test_position"): "spread",
    ("clips", "resize"): "decoder",
    ("clips", "resize_rounding"): "round",
    ("clips", "crop_rounding"): "floor",
    ("clips", "train_augment"): "per_clip",
    ("clips", "test_crops"): 1,
    ("published_as",): "",
    **{("model_input", key): None for key in MODEL_INPUT_KEYS},
}

# The settings that only score a model: which splits and metrics, the class order, whose published numbers
# to compare with. Changing them at evaluation time needs no retraining, so a checkpoint (and a features
# file) is bound to the `training_fingerprint`, which leaves them out; records carry the full fingerprint.
SCORING_SETTINGS = ("evaluation", "published_as")

_PIN_DOC = "null: the model's own"
SET_OPTION = named("--set", "override")  # how errors name one of `sets`: `--set k=v` in the CLI


def _pin(bound: Bound) -> Field:
    """A nullable `model_input` integer in `bound`'s range (the one `VideoInput.checked` applies)."""
    return Field(int, default=None, nullable=True, min=bound.low, max=bound.high, doc=f"{_PIN_DOC}; else {bound.hint}")


SCHEMA = Section(
    {
        "name": Field(str, doc="the protocol's id, e.g. brattoli2020-k700-ucf-hmdb"),
        "version": Field(int, min=1, doc="bump it whenever a change can move a number"),
        "reference": Field(str, default="", doc="where the protocol comes from"),
        "description": Field(str, default=""),
        "train": Section(
            {
                "source": Field(str, doc="dataset name or class-list file (relative to this file)"),
                "epochs": Field(int, default=150, min=1),
                "batch_size": Field(int, default=22, min=1),
                "lr": Field(float, default=1e-3, min=0.0),
                "lr_milestones": ListOf(Field(int, min=0), default=(60, 120)),
                "lr_gamma": Field(float, default=0.1, min=0.0),
                "loss": Field(str, default="mse", choices=("mse", "cosine", "softmax")),
                "seed": Field(int, default=0, min=0),
                "clips_per_epoch": Field(
                    int,
                    default=None,
                    nullable=True,
                    min=1,
                    doc="end each epoch early, as the reference's `i * batch > C` did (100000); null: whole passes",
                ),
                "batch_per": Field(
                    str,
                    default="global",
                    choices=BATCH_SCOPES,
                    doc="batch_size counts the clips of one step (global) or of each process (device: the reference)",
                ),
            },
            required=True,
        ),
        "test": ListOf(Field(str), min_items=1, doc="dataset names or class-list files"),
        "embedding": Section(
            {
                "model": Field(str, default=DEFAULT_EMBEDDING, doc="an embedding spec, see `zslbench embeddings`"),
                "word_norm": Field(bool, default=True, doc="unit-normalise word vectors before averaging"),
            }
        ),
        "overlap": Section(
            {
                "tau": Field(
                    float, default=PAPER_TAU, min=0.0, max=2.0, doc="the cosine-distance threshold; the paper uses 0.05"
                )
            }
        ),
        "evaluation": Section(
            {
                "class_order": Field(str, default="sorted", choices=("sorted", "file")),
                "splits": ListOf(
                    Section(
                        {
                            "kind": Field(str, choices=SPLIT_KINDS),
                            "repeats": Field(int, default=1, min=1),
                            "first_seed": Field(int, default=0, min=0),
                            "classes": Field(
                                int, default=None, nullable=True, min=1, doc="random_subset: classes per draw"
                            ),
                        }
                    ),
                    default=(
                        {"kind": "random_half", "repeats": 10, "first_seed": 0},
                        {"kind": "all", "repeats": 1, "first_seed": 0},
                    ),
                    min_items=1,
                ),
                "metrics": ListOf(
                    Field(str, choices=metric_choices(), doc="a registered metric, see docs/plugins.md"),
                    default=BUILTIN_METRICS,
                    min_items=1,
                ),
            }
        ),
        "clips": Section(
            {
                "clip_len": Field(int, default=16, min=1),
                "frame_stride": Field(int, default=1, min=1),
                "train_clips": Field(int, default=1, min=1),
                "test_clips": Field(int, default=25, min=1),
                "crop": Field(int, default=112, min=1),
                "short_side": Field(int, default=128, min=1),
                "train_position": Field(str, default="uniform", choices=TRAIN_POSITIONS),
                "test_position": Field(str, default="spread", choices=TEST_POSITIONS),
                "resize": Field(str, default="decoder", choices=RESIZES),
                "resize_rounding": Field(str, default="round", choices=ROUNDINGS),
                "crop_rounding": Field(str, default="floor", choices=CROP_ROUNDINGS),
                "train_augment": Field(str, default="per_clip", choices=AUGMENTS),
                "test_crops": Field(
                    int,
                    default=1,
                    choices=INPUT_CROPS,
                    doc="crops per test clip: the centre one, or 3 along the long side (left, centre, right)",
                ),
            }
        ),
        "model_input": Section(
            {
                "frames": _pin(INPUT_FRAMES),
                "sampling": Field(
                    str,
                    default=None,
                    nullable=True,
                    choices=INPUT_SAMPLINGS,
                    doc=f"{_PIN_DOC}; segments: one frame per TSN segment; dense: frames `stride` apart",
                ),
                "stride": _pin(INPUT_STRIDE),
                "size": _pin(INPUT_SIZE),
                "views": _pin(INPUT_VIEWS),
                "crops": Field(
                    int,
                    default=None,
                    nullable=True,
                    choices=INPUT_CROPS,
                    doc=f"{_PIN_DOC}; 1: the centre crop; 3: left, centre and right along the long side",
                ),
                "view_average": Field(
                    str,
                    default=None,
                    nullable=True,
                    choices=INPUT_VIEW_AVERAGES,
                    doc=f"{_PIN_DOC}; the mean of the views' embeddings, or of their class scores",
                ),
            },
            doc="what a video-text model reads; each null key is the model's own (models/video_input.py)",
        ),
        "published_as": Field(
            str, default="", doc="the protocol whose published numbers `check` compares this one's results with"
        ),
    }
)


@dataclass(frozen=True)
class Protocol:
    """A validated protocol. `data` is the resolved YAML (defaults filled in), read-only all the way
    down (`core.frozen`: setting, deleting or appending anywhere raises TypeError), so `fingerprint`
    always describes what the object holds. To change a setting, load it again with `sets`, or use
    `replace`; `copy.deepcopy(protocol.data)` gives a plain, mutable copy."""

    data: dict[str, Any]
    path: Path | None = None  # the file it came from; relative class-list paths start there
    changed: tuple[str, ...] = ()  # settings replaced after loading (e.g. from the command line)
    sets: tuple[str, ...] = ()  # the `key=value` overrides it was loaded with, values resolved (JSON)

    def __post_init__(self) -> None:
        """Freeze `data` (a read-only deep copy; the caller's dict stays theirs)."""
        object.__setattr__(self, "data", freeze(self.data))

    def __repr__(self) -> str:
        """Name, version, file and overrides; `data` (the whole resolved protocol) is left to `describe`."""
        sets = f", sets={self.sets!r}" if self.sets else ""
        return f"Protocol(name={self.name!r}, version={self.version}, path={str(self.path)!r}{sets})"

    @property
    def name(self) -> str:
        """The protocol's id, e.g. `brattoli2020-k700-ucf-hmdb`."""
        return self.data["name"]

    @property
    def version(self) -> int:
        """The protocol's version (>= 1), bumped whenever a change can move a number."""
        return self.data["version"]

    @property
    def train_source(self) -> str:
        """The source classes as written: a dataset name or a class-list file (relative to the protocol file)."""
        return self.data["train"]["source"]

    @property
    def test(self) -> list[str]:
        """The test datasets as written: dataset names or class-list files."""
        return self.data["test"]

    @property
    def embedding(self) -> str:
        """The embedding spec that turns class names into vectors (e.g. `glove-6b-50d`, `word2vec:PATH`)."""
        return self.data["embedding"]["model"]

    @property
    def word_norm(self) -> bool:
        """Whether word vectors are unit-normalised before a name's words are averaged."""
        return self.data["embedding"]["word_norm"]

    @property
    def tau(self) -> float:
        """The rule's threshold: a source class is kept iff its minimum cosine distance over all test classes
        is >= tau (Brattoli et al. 2020, Eq. 3; the paper's tau is 0.05)."""
        return self.data["overlap"]["tau"]

    @property
    def model_input(self) -> dict[str, Any]:
        """The video-text input settings the protocol pins ({"frames": 8, ...}); empty: every model
        reads its own input (its `VideoInput`)."""
        pins = self.data.get("model_input") or {}
        return {key: value for key, value in pins.items() if value is not None}

    @property
    def base_dir(self) -> Path | None:
        """The protocol file's folder, where relative class-list paths start; None when not read from a file."""
        return self.path.parent if self.path else None

    def class_list(self, ref: str) -> ClassList:
        """A dataset name or class-list file of this protocol, loaded (ZslbenchError as in `load_class_list`)."""
        return load_class_list(ref, self.base_dir)

    def source_classes(self) -> ClassList:
        """The source (training candidate) classes, before the rule filters them."""
        return self.class_list(self.train_source)

    def test_classes(self) -> list[ClassList]:
        """Each test dataset's classes, in the protocol's order."""
        return [self.class_list(ref) for ref in self.test]

    def dataset_names(self) -> list[str]:
        """The source dataset's name, then the test datasets' (as `--data NAME=...` names them)."""
        return [self.source_classes().name, *(t.name for t in self.test_classes())]

    @cached_property
    def fingerprint(self) -> str:
        """sha256 of the resolved `data` (name and version included), the class lists' contents and
        the word rules. Only content counts: not the path, not how it was reached (an `include:`
        chain, `sets`, `changed`), so two files that resolve to the same data share a fingerprint,
        and a `--set` moves it exactly when it changes a value."""
        return self._content_sha256(_with_labels(identity_data(self.data)))

    @cached_property
    def training_fingerprint(self) -> str:
        """The fingerprint without the `SCORING_SETTINGS` (splits, metrics, class order, published_as):
        what a checkpoint and a features file are bound to, so a model is rescored with other splits or
        metrics without retraining, and its record still carries the full `fingerprint`."""
        data = identity_data(self.data)
        return self._content_sha256(_with_labels({k: v for k, v in data.items() if k not in SCORING_SETTINGS}))

    def _content_sha256(self, data: dict[str, Any]) -> str:
        """sha256 of `data` with the class lists' contents and the word rules."""
        from zslbench.text.phrases import RULES_VERSION, default_overrides

        lists = {ref: self.class_list(ref).sha256 for ref in [self.train_source, *self.test]}
        return sha256_json(
            {
                "protocol": data,
                "class_lists": {_ref_label(ref): sha for ref, sha in lists.items()},
                "word_rules": {"version": RULES_VERSION, "overrides": default_overrides().sha256},
            }
        )

    def reference(self) -> dict[str, Any]:
        """How a checkpoint names its protocol: {"name", "version", "fingerprint", "path"}, plus "sets"
        (a list of `key=value`) only when it was loaded with some. `load_protocol(ref["path"] or
        ref["name"], sets=ref.get("sets", ()))` loads it again; compare the fingerprint."""
        ref: dict[str, Any] = {"name": self.name, "version": self.version, "fingerprint": self.fingerprint}
        ref["training_fingerprint"] = self.training_fingerprint
        ref["path"] = str(self.path)
        if self.sets:
            ref["sets"] = list(self.sets)
        return ref

    def describe(self) -> dict[str, Any]:
        """The protocol's identity as reports and result records carry it."""
        return {
            "name": self.name,
            "version": self.version,
            "fingerprint": self.fingerprint,
            "training_fingerprint": self.training_fingerprint,
            "changed": list(self.changed),
            "resolved": thaw(self.data),  # plain data: records and checkpoints hold it
        }

    def replace(
        self,
        *,
        train_source: str | None = None,
        test: Sequence[str] | None = None,
        embedding: str | None = None,
        tau: float | None = None,
    ) -> Protocol:
        """A copy with the given settings changed (None or empty: unchanged), noting what changed.

        Class-list files given here are relative to the working directory, not to the protocol.
        """
        if tau is not None:
            tau = check_tau(tau)  # also -0.0 -> 0.0: the same fingerprint and folder as 0
        updates = {
            "train.source": _from_cwd(train_source) if train_source is not None else None,
            "test": [_from_cwd(ref) for ref in test] if test else None,
            "embedding.model": embedding,
            "overlap.tau": tau,
        }
        data = copy.deepcopy(self.data)
        changed = list(self.changed)
        for dotted, value in updates.items():
            *parents, key = dotted.split(".")
            section = functools.reduce(dict.__getitem__, parents, data)
            if value is not None and self._resolve_refs(section[key]) != self._resolve_refs(value):
                section[key] = value
                changed.append(dotted)
        return dataclasses.replace(self, data=data, changed=tuple(dict.fromkeys(changed)))

    def _resolve_refs(self, value: Any) -> Any:
        """Class-list references as absolute paths (datasets stay names), for comparing settings."""
        if isinstance(value, list):
            return [self._resolve_refs(ref) for ref in value]
        if isinstance(value, str) and value not in DATASETS and looks_like_path(value):
            return str((self.base_dir or Path.cwd()).joinpath(value).resolve())
        return value


def _from_cwd(ref: str) -> str:
    """A path given on the command line, made absolute; dataset names stay names."""
    path = Path(ref).expanduser()
    return str(path.resolve()) if ref not in DATASETS and (path.exists() or looks_like_path(ref)) else ref


def check_tau(tau: float) -> float:
    """tau as a float in [0, 2] (NaN and inf refused, -0.0 made 0.0), or a one-line error."""
    return TAU.check(float(tau), "threshold")


def identity_data(data: dict[str, Any]) -> dict[str, Any]:
    """The resolved protocol as fingerprints and cache keys see it: without the LATER_SETTINGS left at
    the values zslbench used before they existed, and without a section (`model_input`) that this
    leaves empty."""
    out = copy.deepcopy(data)
    emptied = set()
    for path, neutral in LATER_SETTINGS.items():
        *parents, key = path
        section = functools.reduce(lambda node, name: node.get(name, {}), parents, out)
        if key in section and section[key] == neutral:
            del section[key]
            if parents:
                emptied.add(tuple(parents))
    for parents in emptied:
        *above, name = parents
        holder = functools.reduce(lambda node, part: node.get(part, {}), above, out)
        if holder.get(name) == {}:
            del holder[name]
    return out


def _ref_label(ref: str) -> str:
    """Builtin datasets keep their name; files are named by file name only, so the
    fingerprint does not depend on where a checkout lives (their content hash is included)."""
    if "/" in ref or "\\" in ref or ref.endswith(".txt"):
        return "file:" + Path(ref).name
    return dataset_spec(ref).name if is_dataset(ref) else ref  # an alias names its dataset


def _with_labels(data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    out["train"] = dict(data["train"], source=_ref_label(data["train"]["source"]))
    out["test"] = [_ref_label(ref) for ref in data["test"]]
    return out


def shipped_protocols() -> dict[str, Path]:
    """Name -> file of every protocol shipped with zslbench (protocols/*.yaml), sorted by file name."""
    return {path.stem: path for path in sorted(data_dir("protocols").glob("*.yaml"))}


def as_sets(overrides: Sequence[str] | Mapping[str, Any] | None) -> tuple[str, ...]:
    """Overrides as `key=value` strings, from such strings or from a mapping of dotted keys to values
    ({"clips.clip_len": 8}; each value written as JSON, which YAML reads back). TypeError for one string."""
    if overrides is None:
        return ()
    if isinstance(overrides, str):
        raise TypeError("sets is a sequence of 'key=value' strings (or a mapping), not one string")
    if isinstance(overrides, Mapping):
        return tuple(f"{key}={json.dumps(value, default=str)}" for key, value in overrides.items())
    return tuple(overrides)


def load_protocol(
    name_or_path: str | Path | Protocol | None = None, sets: Sequence[str] | Mapping[str, Any] = ()
) -> Protocol:
    """A shipped protocol by name, or a protocol YAML file, with `sets` applied (see `read_protocol`;
    `key=value` strings or a mapping, see `as_sets`).

    An already-loaded Protocol is returned unchanged (so configs can carry either); giving `sets`
    with one is a ValueError: apply them when loading."""
    sets = as_sets(sets)
    if isinstance(name_or_path, Protocol):
        if sets:
            raise ValueError("pass sets when loading the protocol, not with a loaded Protocol")
        return name_or_path
    ref = str(name_or_path or DEFAULT_PROTOCOL)
    shipped = shipped_protocols()
    if ref in shipped:
        return read_protocol(shipped[ref], sets)
    path = Path(ref).expanduser()
    if path.is_file():
        return read_protocol(path, sets)
    if path.suffix in (".yaml", ".yml") or "/" in ref:
        raise ZslbenchError(f"protocol file {path} does not exist", "check the path, or use a shipped protocol name")
    raise unknown_name_error("protocol", ref, shipped, "see `zslbench protocols list`, or pass a protocol YAML file")


def read_protocol(path: Path, sets: Sequence[str] = ()) -> Protocol:
    """A protocol file, validated, over the chain of protocols it `include:`s, with `sets` applied.

    Includes: the base (a shipped name, or a path relative to the including file) is read first and
    the file's keys merged over it (mappings merge, lists and scalars replace); bases may include
    others, a cycle is refused. `sets` ("clips.clip_len=8"; YAML values; class-list paths relative to
    the working directory) then apply in order; each that changes a value is listed in `changed`.
    Raises ZslbenchError, naming the file and line (or the `--set`) where a bad value was written."""
    path = Path(path)
    node = _compose_protocol(path, ())
    data = _without_unset_classes(validate(node, SCHEMA, also_known=(INCLUDE,)))
    protocol = Protocol(data, path.resolve())
    if sets:
        protocol = _with_sets(protocol, node, sets)
        data = protocol.data
    for ref in [protocol.train_source, *protocol.test]:
        protocol.class_list(ref)  # a missing class list is a protocol error, found now
    _check_evaluation(_origin(path, protocol.sets, "evaluation"), data["evaluation"], protocol.test_classes())
    _check_clips(_origin(path, protocol.sets, "clips"), data["clips"])
    return protocol


def _without_unset_classes(data: dict[str, Any]) -> dict[str, Any]:
    """`data` without the `classes: null` validation fills into every split: only a random_subset has
    classes, and the other splits resolve (and fingerprint) as they did before it existed."""
    for split in data["evaluation"]["splits"]:
        if "classes" in split and split["classes"] is None:
            del split["classes"]
    return data


def _origin(path: Path, sets: Sequence[str], section: str) -> str:
    """Where a section's values came from, for an error about them: the last override (`--set` on the
    command line) that changed the section, else the file."""
    touched = [item for item in sets if item.split("=", 1)[0].split(".")[0] == section]
    return f"{SET_OPTION} {touched[-1]}" if touched else str(path)


def _check_clips(path: Path | str, clips: dict[str, Any]) -> None:
    """A crop larger than the short side the videos are scaled to would fail on every video, one by
    one, during training; it is a protocol error, found when the protocol loads. So is a frame_stride
    that no placement reads (reference: consecutive frames; segments: one frame per TSN segment)."""
    if clips["crop"] > clips["short_side"]:
        raise ZslbenchError(
            f"{path}: clips.crop {clips['crop']} is larger than clips.short_side {clips['short_side']}",
            "the crop is taken from videos scaled to the short side: crop <= short_side",
        )
    reference = [f"{kind}_position" for kind in ("train", "test") if clips[f"{kind}_position"] == "reference"]
    if reference and clips["frame_stride"] != 1:
        raise ZslbenchError(
            f"{path}: clips.{reference[0]} reference reads consecutive frames, "
            f"clips.frame_stride is {clips['frame_stride']}",
            "set clips.frame_stride to 1, or use zslbench's placement (uniform / spread)",
        )
    if clips["frame_stride"] != 1 and clips["train_position"] == clips["test_position"] == "segments":
        raise ZslbenchError(
            f"{path}: clips.train_position and clips.test_position segments read one frame per segment, "
            f"clips.frame_stride {clips['frame_stride']} would apply to neither",
            "set clips.frame_stride to 1",
        )


def _check_evaluation(path: Path | str, evaluation: dict[str, Any], tests: Sequence[ClassList]) -> None:
    """What the schema cannot say about `evaluation`: a split scored once has repeats 1, and the GZSL
    metrics (which need the seen / unseen partition) come from a `gzsl` split, not `metrics`; the
    `official` and `random_subset` splits must fit every test dataset (`_check_split_fits`)."""
    for split in evaluation["splits"]:
        kind = split["kind"]
        article = "an" if kind[0] in "aeiou" else "a"
        if kind in ONE_SHOT_SPLITS and split["repeats"] != 1:
            raise ZslbenchError(
                f"{path}: {article} '{kind}' split has repeats 1", f"remove `repeats` from the '{kind}' split"
            )
        if ("classes" in split) != (kind == "random_subset"):
            hint = "e.g. {kind: random_subset, classes: 160, repeats: 3}"
            problem = "takes no `classes`" if "classes" in split else "needs `classes`, the classes per draw"
            raise ZslbenchError(f"{path}: {article} '{kind}' split {problem}", hint)
        if split["first_seed"] and kind == "official":
            raise ZslbenchError(f"{path}: an 'official' split is not seeded", "remove `first_seed` from it")
        _check_split_fits(path, split, tests)
    listed = [name for name in evaluation["metrics"] if name in GZSL_METRICS]
    if listed:
        raise ZslbenchError(
            f"{path}: evaluation.metrics lists {', '.join(listed)}, which need the seen / unseen partition",
            "remove it from evaluation.metrics and add `{kind: gzsl}` to evaluation.splits",
        )


def _check_split_fits(path: Path | str, split: dict[str, Any], tests: Sequence[ClassList]) -> None:
    """An `official` split needs test datasets that publish at least `repeats` official splits
    (zslbench.datasets `OfficialSplits`); a `random_subset` draws at most each dataset's class count."""
    for test in tests:
        if split["kind"] == "random_subset" and split["classes"] > len(test):
            raise ZslbenchError(
                f"{path}: a random_subset of {split['classes']} classes, but {test.name} has {len(test)}",
                f"draw at most {len(test)} classes, or test on a larger dataset",
            )
        if split["kind"] != "official":
            continue
        official = dataset_spec(test.name).official_splits if test.builtin else None
        if official is None:
            raise ZslbenchError(
                f"{path}: an 'official' split, but {test.name} has no official test splits",
                "datasets with official splits: " + ", ".join(_with_official_splits()),
            )
        if split["repeats"] > official.count:
            raise ZslbenchError(
                f"{path}: an 'official' split of repeats {split['repeats']}, but {test.name} has {official.count}",
                f"set repeats to at most {official.count} (splits 1..repeats are scored)",
            )


def _with_official_splits() -> list[str]:
    from zslbench.datasets import all_dataset_specs

    return [spec.name for spec in all_dataset_specs(lambda problem: None) if spec.official_splits]


def _compose_protocol(path: Path, chain: tuple[Path, ...]) -> Any:
    """`path` as a YAML node tree with the base it includes (recursively) merged under it; `chain`
    holds the including files so far, to refuse a cycle."""
    node = compose_yaml(path)
    include = pop_key(node, INCLUDE)
    if include is None:
        return node
    base = _include_path(path, include[1])
    chain = (*chain, path)
    if base.resolve() in {link.resolve() for link in chain}:
        cycle = " -> ".join(str(link) for link in (*chain, base))
        raise located_error(include[1], f"include cycle: {cycle}", "remove one of these includes")
    base_node = _compose_protocol(base, chain)
    if base.parent.resolve() != path.parent.resolve():
        _move_class_lists(base_node, lambda ref: _rebased(ref, base.parent, path.parent))
    return merge_nodes(base_node, node)


def _include_path(path: Path, value: Any) -> Path:
    """The file an `include:` value names: a shipped protocol, or a path relative to `path`'s folder."""
    import yaml

    hint = "include a shipped protocol (see `zslbench protocols list`) or a YAML file, relative to this one"
    if not isinstance(value, yaml.ScalarNode) or value.tag != "tag:yaml.org,2002:str" or not value.value:
        raise located_error(value, "include must be a protocol name or a YAML file path", hint)
    shipped = shipped_protocols()
    if value.value in shipped:
        return shipped[value.value]
    base = path.parent / Path(value.value).expanduser()
    if not base.is_file():
        known = did_you_mean(value.value, shipped)
        raise located_error(
            value, f"include {value.value!r} is no shipped protocol, and {base} does not exist.{known}", hint
        )
    return base


def _with_sets(protocol: Protocol, node: Any, sets: Sequence[str]) -> Protocol:
    """`protocol` (read from the composed `node`) with each `key=value` of `sets` applied in order."""
    keys = [apply_override(node, item, SCHEMA, option=SET_OPTION) for item in sets]
    _move_class_lists(node, _from_cwd, only=CommandLine)
    updated = Protocol(_without_unset_classes(validate(node, SCHEMA)), protocol.path)
    changed = [
        key
        for key in keys
        if updated._resolve_refs(_get(updated.data, key)) != protocol._resolve_refs(_get(protocol.data, key))
    ]
    return dataclasses.replace(updated, changed=tuple(dict.fromkeys(changed)), sets=_canonical_sets(updated, keys))


def _canonical_sets(protocol: Protocol, keys: Sequence[str]) -> tuple[str, ...]:
    """Each set key once (the last wins) with its resolved value as JSON, a YAML flow value: class-list
    paths are absolute, so a checkpoint's sets reload the same protocol from any folder."""
    return tuple(f"{key}={json.dumps(_get(protocol.data, key))}" for key in dict.fromkeys(reversed(keys)))[::-1]


def _get(data: dict[str, Any], dotted: str) -> Any:
    return functools.reduce(dict.__getitem__, dotted.split("."), data)


def _move_class_lists(root: Any, move: Callable[[str], str], only: type | None = None) -> None:
    """Rewrite, in a composed protocol, each class-list file path (train.source, test items) with
    `move` (dataset names stay names); with `only`, just the nodes whose mark is of that type."""
    import yaml

    def field(mapping: Any, key: str) -> list[Any]:
        if not isinstance(mapping, yaml.MappingNode):
            return []
        return [value for k, value in mapping.value if isinstance(k, yaml.ScalarNode) and k.value == key]

    nodes = [n for train in field(root, "train") for n in field(train, "source")]
    nodes += [n for test in field(root, "test") if isinstance(test, yaml.SequenceNode) for n in test.value]
    for node in nodes:
        plain = isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:str"
        if plain and node.value not in DATASETS and (only is None or isinstance(node.start_mark, only)):
            node.value = move(node.value)


def _rebased(ref: str, old: Path, new: Path) -> str:
    """A class-list path written relative to folder `old` (an included file's), made relative to
    folder `new` (the including file's). Absolute paths, and names that are no path and no file
    (e.g. a misspelt dataset, reported later as such), stay as written."""
    path = Path(ref).expanduser()
    if path.is_absolute() or not (looks_like_path(ref) or (old / path).exists()):
        return ref
    try:
        return os.path.relpath(old / path, new)
    except ValueError:  # on another drive (Windows): no relative path exists
        return str((old / path).resolve())
