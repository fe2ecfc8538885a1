"""The weights zoo: trained weights by name, each with the sha256 of its file, where to get it, and
the protocol, training classes and compliance verdict it was trained under.

Two kinds of entries. A package may declare pretrained weights for its models (`register_weights`,
at import of the module that registers the model; the built-ins declare none yet). The user's own zoo
is what `zslbench weights add` writes: `user_data_dir("weights")/zoo.json`, with each file copied
beside it. Every entry's file lives in that folder under `entry.file` (`path_of`).

Nothing is ever downloaded. An entry says where its file comes from (`source`), and a file is used only
when its bytes hash to the entry's sha256 (`verified_path`): a missing file is an error naming the
file, its sha256 and its source; a changed one is refused, naming both hashes. `resolve_weights` is
what `zslbench eval --model NAME` without --weights runs.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zslbench.core.atomic import atomic_open, write_text
from zslbench.core.errors import ZslbenchError, named, unknown_name_error
from zslbench.core.hashing import sha256_json
from zslbench.core.paths import path_component, user_data_dir
from zslbench.models.checkpoint import (
    checkpoint_file,
    content_sha256,
    file_sha256,
    is_safetensors,
    load_checkpoint,
    weights_sha256,
)

if TYPE_CHECKING:
    from zslbench.protocol.spec import Protocol

ZOO_FILE = "zoo.json"
ZOO_FORMAT = "zslbench-weights-zoo-v1"
USER = "user"  # the origin of entries that `zslbench weights add` wrote
VERDICTS = ("compliant", "not_compliant", "finetuning_compliant", "unknown")  # protocol/verdicts.py's


@dataclass(frozen=True)
class WeightsEntry:
    """One set of weights in the zoo: enough to find it, check its file and judge what it may claim."""

    id: str  # a plain name: letters, digits and -_.@+
    model: str  # the registered model it is a checkpoint of
    file: str  # its file's name in the zoo folder (`path_of`)
    sha256: str  # of the file's bytes
    size: int  # bytes
    source: str  # where to get the file (a URL, a release, a local run), as text: nothing is downloaded
    protocol: dict[str, Any]  # name, version, fingerprint (and sets) it was trained under
    classes: dict[str, Any]  # its training classes: count and sha256 of the list (None: unknown)
    compliance: str  # the rule's verdict over the protocol's test datasets: one of VERDICTS
    compliance_why: str = ""  # what the verdict rests on (violations, unknown pretraining)
    notes: str = ""
    origin: str = USER  # USER, or the package that declared it
    weights_sha256: str = ""  # of the tensors (checkpoint.weights_sha256): a result record's model identity
    image_text: str | None = None  # a video-text model's declared image-text pretraining (`video_text.declared`)
    finetuned_on: str | None = None  # a video-text model's declared video fine-tuning classes
    finetuned_classes: list[str] | None = None  # those classes as read when the entry was added

    def describe(self) -> dict[str, Any]:
        """Every field as plain values: the entry's form in zoo.json and in `--json`."""
        return asdict(self)


DECLARED: dict[str, WeightsEntry] = {}


def register_weights(entry: WeightsEntry) -> WeightsEntry:
    """Declare published weights of a model (from the module that registers it). The same id twice
    must be the same entry (ZslbenchError otherwise); `entry.file` is looked for in the zoo folder."""
    check_id(entry.id)
    check_file(entry)
    if entry.compliance not in VERDICTS:
        raise ZslbenchError(f"weights {entry.id}: compliance {entry.compliance!r}", f"one of {', '.join(VERDICTS)}")
    known = DECLARED.get(entry.id)
    if known is not None and known != entry:
        raise ZslbenchError(f"weights {entry.id!r} are declared twice, differently", f"first by {known.origin}")
    DECLARED[entry.id] = entry
    return entry


def zoo_dir() -> Path:
    """The folder of the user's zoo and of every entry's file: user_data_dir("weights")."""
    return user_data_dir("weights")


def path_of(entry: WeightsEntry) -> Path:
    """Where `entry`'s file is expected: its `file` in the zoo folder (not checked to exist)."""
    return zoo_dir() / entry.file


def list_entries() -> list[WeightsEntry]:
    """Every entry: those packages declare (each model's module is imported first; a broken plugin
    is left out, as `zslbench models list` reports), then the user's, in the order they were added."""
    from zslbench.models import all_model_specs

    all_model_specs(on_problem=lambda problem: None)
    return [*DECLARED.values(), *read_user_zoo()]


def get_entry(entry_id: str) -> WeightsEntry:
    """The entry named `entry_id`; an unknown id is a ZslbenchError listing the known ones."""
    entries = {entry.id: entry for entry in list_entries()}
    if entry_id not in entries:
        raise unknown_name_error("weights", entry_id, entries, "see `zslbench weights list`")
    return entries[entry_id]


def check_file(entry: WeightsEntry) -> WeightsEntry:
    """An entry's file is one plain file name in the zoo folder: a path in zoo.json or in a package's
    declaration must never make zslbench read, write or delete a file elsewhere."""
    if not entry.file or path_component(entry.file) != entry.file:
        raise ZslbenchError(
            f"weights {entry.id!r} name the file {entry.file!r}, which is not a plain name in the zoo folder",
            "a zoo entry's file is a name like ID.pt; repair that entry in zoo.json",
        )
    return entry


def check_id(entry_id: str) -> str:
    """An id is one plain file name (letters, digits and -_.@+, not starting with a dot)."""
    if not entry_id or path_component(entry_id) != entry_id or entry_id == ZOO_FILE:
        raise ZslbenchError(
            f"{entry_id!r} cannot name weights", "use letters, digits and -_.@+ (not starting with a dot; not zoo.json)"
        )
    return entry_id


def read_user_zoo() -> list[WeightsEntry]:
    """The user's entries from zoo.json (none when it does not exist); a damaged file is a ZslbenchError."""
    path = zoo_dir() / ZOO_FILE
    if not path.is_file():
        return []
    names = {f.name for f in fields(WeightsEntry)}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != ZOO_FORMAT:
            raise ValueError(f"format {data.get('format')!r}, not {ZOO_FORMAT}")
        entries = [WeightsEntry(**{k: v for k, v in row.items() if k in names}) for row in data["entries"]]
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise ZslbenchError(
            f"the weights zoo {path} is damaged: {type(err).__name__}: {err}",
            "repair or delete it (the files beside it stay; `zslbench weights add` them again)",
        ) from None
    seen = [entry.id for entry in entries]
    if len(set(seen)) != len(seen):
        twice = next(entry_id for entry_id in seen if seen.count(entry_id) > 1)
        raise ZslbenchError(f"the weights zoo {path} names {twice!r} twice", "repair zoo.json: one entry per id")
    return [check_file(entry) for entry in entries]


def write_user_zoo(entries: list[WeightsEntry]) -> None:
    """Replace the user's zoo.json with `entries`, atomically (OSError when the folder is not writable)."""
    data = {"format": ZOO_FORMAT, "entries": [entry.describe() for entry in entries]}
    write_text(zoo_dir() / ZOO_FILE, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


@dataclass(frozen=True)
class Verification:
    """What an entry's file on disk is: `actual` is its sha256, None when the file is missing."""

    entry: WeightsEntry
    path: Path
    actual: str | None

    @property
    def status(self) -> str:
        """ok, missing or mismatch."""
        if self.actual is None:
            return "missing"
        return "ok" if self.actual == self.entry.sha256 else "mismatch"

    def error(self) -> ZslbenchError | None:
        """The one-line refusal for a missing or changed file; None when the file is the entry's."""
        entry = self.entry
        if self.status == "missing":
            return ZslbenchError(
                f"weights {entry.id}: {self.path} is missing (sha256 {entry.sha256}; get it from {entry.source})",
                f"put the file there with that sha256, then `zslbench weights verify {entry.id}`",
            )
        if self.status == "mismatch":
            return ZslbenchError(
                f"weights {entry.id}: {self.path} has sha256 {self.actual}, but the zoo says {entry.sha256}",
                f"the file was changed or replaced: get it again from {entry.source}, "
                "or add the new file under another name",
            )
        return None


def verify(entry: WeightsEntry) -> Verification:
    """Hash the entry's file as it is on disk now."""
    path = path_of(entry)
    return Verification(entry, path, content_sha256(path) if path.is_file() or path.is_dir() else None)


def verified_path(entry: WeightsEntry) -> Path:
    """The entry's file, once its sha256 is the entry's; a ZslbenchError otherwise (`Verification.error`)."""
    checked = verify(entry)
    problem = checked.error()
    if problem is not None:
        raise problem
    return checked.path


def checkpoint_or_entry(source: Path | str) -> Path:
    """`source` when it exists; else the verified file of the zoo entry of that id (`weights export ID`);
    else `source` as given, for the reader's own error."""
    path = Path(source)
    if path.exists() or str(source) not in {entry.id for entry in list_entries()}:
        return path
    return verified_path(get_entry(str(source)))


def resolve_weights(model: str | None, protocol: str | Protocol | None = None) -> Path:
    """The verified file of the zoo's weights for `model` under `protocol` (`find`): what an
    evaluation without --weights uses."""
    if not model:
        raise ZslbenchError(
            "which weights?",
            f"pass {named('--weights FILE', 'weights=FILE')}, or {named('--model NAME', 'model=NAME')} for its "
            "weights in the zoo",
        )
    return verified_path(find(model, protocol))


def find(model: str, protocol: str | Protocol | None = None) -> WeightsEntry:
    """The entry of `model` trained under `protocol` (same fingerprint). Without a protocol: the
    model's only entry, else its one entry under the default protocol. Entries of the same tensors (a
    checkpoint and its export) count as one. None, or several that fit, is a ZslbenchError naming
    what there is."""
    from zslbench.models import model_spec
    from zslbench.protocol.spec import DEFAULT_PROTOCOL, load_protocol

    spec = model_spec(model)  # an unknown model is its own error; its module may declare weights
    entries = [entry for entry in list_entries() if entry.model == model]
    if not entries:
        raise ZslbenchError(
            f"the weights zoo has no weights of {model}",
            f"pass {named('--weights FILE', 'weights=FILE')}, or add a checkpoint: zslbench weights add RUN --id ID",
        )
    if spec.kind == "video_text":  # trained under no protocol: evaluated under any
        return _only_video_text(model, entries)
    if protocol is None and len({_claims(e) for e in entries}) == 1:
        return _present_first(entries)
    wanted = load_protocol(protocol if protocol is not None else DEFAULT_PROTOCOL)
    fitting = [entry for entry in entries if _trained_under(entry, wanted)]
    if fitting and len({_claims(e) for e in fitting}) == 1:
        return _present_first(fitting)  # one entry, or several files of the same weights and claims
    listed = ", ".join(f"{e.id} ({e.protocol.get('name')} {str(e.protocol.get('fingerprint'))[:12]})" for e in entries)
    if not fitting:
        raise ZslbenchError(
            f"the weights zoo has no weights of {model} under {wanted.name} v{wanted.version} "
            f"({wanted.fingerprint[:12]}); it has {listed}",
            f"pass {named('--protocol', 'protocol')} of one of them, or {named('--weights FILE', 'weights=FILE')}",
        )
    raise ZslbenchError(
        f"several weights of {model} fit {wanted.name} v{wanted.version}: {', '.join(e.id for e in fitting)}",
        f"pass {named('--weights', 'weights')} with one's file (`zslbench weights show ID` prints its path)",
    )


ZOO_PROTOCOL_KEYS = ("name", "version", "fingerprint", "training_fingerprint", "sets")  # what an entry keeps


def _trained_under(entry: WeightsEntry, wanted: Protocol) -> bool:
    """Whether the entry's weights were trained under `wanted` (its scoring settings may differ)."""
    ref = entry.protocol
    same = ref.get("fingerprint") == wanted.fingerprint
    return same or (
        ref.get("training_fingerprint") is not None and ref["training_fingerprint"] == wanted.training_fingerprint
    )


def _only_video_text(model: str, entries: list[WeightsEntry]) -> WeightsEntry:
    """A video-text model's one entry (several files of the same content count as one)."""
    if len({(e.sha256, e.image_text, e.finetuned_on) for e in entries}) == 1:
        return _present_first(entries)
    raise ZslbenchError(
        f"several weights of {model} are in the zoo: {', '.join(e.id for e in entries)}",
        f"pass {named('--weights', 'weights')} with one's folder or file (`zslbench weights show ID` prints its path)",
    )


def _claims(entry: WeightsEntry) -> tuple[str, str, str, str]:
    """What makes two entries the same weights for evaluation: the tensors, the protocol, the training
    classes and the verdict. A checkpoint and its export agree on all four; two files of the same
    tensors that claim other classes or another verdict are different weights to choose between."""
    classes = json.dumps(entry.classes, sort_keys=True)
    return (entry.weights_sha256 or entry.id, str(entry.protocol.get("fingerprint")), classes, entry.compliance)


def _present_first(entries: list[WeightsEntry]) -> WeightsEntry:
    """Of entries with the same claims, one whose file is on disk (a missing copy does not block it)."""
    return next((entry for entry in entries if path_of(entry).exists()), entries[0])


def add(
    file: Path | str,
    name: str | None = None,
    model: str | None = None,
    source: str | None = None,
    notes: str | None = None,
) -> WeightsEntry:
    """Copy a checkpoint (checkpoint.pt, its run folder, or a safetensors export) into the user's zoo
    and record it: sha256 and size of the copy, the protocol reference, training classes and
    compliance from its metadata. Adding the same file under the same id again changes nothing.
    (A video-text model's weights go in through `video_text.zoo_entry.add_to_zoo`.)

    ZslbenchError: not a zslbench checkpoint, another model than `model`, or an id that names
    other weights already."""
    src = checkpoint_file(file)
    state = load_checkpoint(src)
    trained = state["model"]["name"]
    if model and model != trained:
        raise ZslbenchError(
            f"{src} is a checkpoint of {trained!r}, not {model!r}",
            f"pass {named(f'--model {trained}', f'model={trained!r}')}",
        )
    check_fits(state, str(src))
    sha256 = file_sha256(src)
    entry_id = check_id(name or f"{trained}-{sha256[:12]}")
    entries = read_user_zoo()
    taken = entry_taken(entry_id, sha256, entries)
    if taken is not None:  # the same bytes again (or a declared entry's file put in place): kept as it is
        if verify(taken).status != "ok":
            copy_checked(src, path_of(taken), sha256)
        return taken
    target = zoo_dir() / f"{entry_id}{'.safetensors' if is_safetensors(src) else '.pt'}"
    copy_checked(src, target, sha256)
    entry = entry_from_checkpoint(state, entry_id, target, sha256, source or f"local file {src.resolve()}", notes)
    write_user_zoo([*entries, entry])
    return entry


def entry_taken(entry_id: str, sha256: str, entries: list[WeightsEntry]) -> WeightsEntry | None:
    """The entry that already has `entry_id`, when it names the same bytes; None when the id is free.
    An id that names other weights is a ZslbenchError."""
    taken = DECLARED.get(entry_id) or next((e for e in entries if e.id == entry_id), None)
    if taken is not None and taken.sha256 != sha256:
        raise ZslbenchError(
            f"weights {entry_id!r} already name other weights (sha256 {taken.sha256}, from {taken.origin})",
            f"choose another {named('--id', 'name')}, or `zslbench weights remove {entry_id}` first",
        )
    return taken


def check_fits(state: dict[str, Any], what: str) -> None:
    """The tensors fit the video model the metadata names (built without its --init), so a zoo
    entry never fails only at evaluation. Models on features are checked when evaluated."""
    from zslbench.models import build_from_checkpoint
    from zslbench.models.checkpoint import load_weights

    model = state["model"]
    if model.get("input") == "features":
        return
    try:
        module = build_from_checkpoint(model)
    except (KeyError, TypeError, ValueError) as err:
        raise ZslbenchError(f"{what}: its metadata does not build a model ({err})", "export it again") from None
    load_weights(module, state["state_dict"], what)


def copy_checked(src: Path, target: Path, sha256: str) -> None:
    """Copy `src` to `target` atomically, and keep the copy only if it hashes to `sha256`."""
    with open(src, "rb") as reading, atomic_open(target, "wb") as writing:
        shutil.copyfileobj(reading, writing, 16 << 20)
    if file_sha256(target) != sha256:
        target.unlink()
        raise ZslbenchError(f"{src} changed while it was copied", "add it again once nothing writes to it")


def remove(entry_id: str) -> WeightsEntry:
    """Forget one of the user's entries and delete its file; a declared entry cannot be removed."""
    entries = read_user_zoo()
    entry = next((e for e in entries if e.id == entry_id), None)
    if entry is None:
        if entry_id in DECLARED:
            raise ZslbenchError(f"weights {entry_id!r} are declared by {DECLARED[entry_id].origin}", "they stay")
        raise unknown_name_error("weights", entry_id, [e.id for e in entries], "see `zslbench weights list`")
    write_user_zoo([e for e in entries if e.id != entry_id])
    path = path_of(entry)
    if path.is_dir() and not path.is_symlink():  # a video-text model's folder
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    return entry


def entry_from_checkpoint(
    state: dict[str, Any], entry_id: str, path: Path, sha256: str, source: str, notes: str | None = None
) -> WeightsEntry:
    """The zoo entry of a loaded checkpoint stored at `path` (in the zoo folder)."""
    ref = state["protocol"]
    classes = state.get("classes")
    summary: dict[str, Any] = {"count": None, "sha256": None}  # training classes not known (an imported model)
    if classes is not None:
        summary = {"count": len(classes), "sha256": sha256_json(list(classes))}
    verdict, why = training_verdict(state)
    return WeightsEntry(
        id=entry_id,
        model=state["model"]["name"],
        file=path.name,
        sha256=sha256,
        size=path.stat().st_size,
        source=source,
        protocol={
            key: ref[key] for key in ("name", "version", "fingerprint", "training_fingerprint", "sets") if key in ref
        },
        classes=summary,
        compliance=verdict,
        compliance_why=why,
        notes=notes if notes is not None else training_notes(state),
        weights_sha256=weights_sha256(state["state_dict"]),
    )


def training_notes(state: dict[str, Any]) -> str:
    """One line on how far the training behind a checkpoint got, and with which options."""
    model = state["model"]
    options = ", ".join(f"{k}={v}" for k, v in sorted((model.get("options") or {}).items()) if v is not None)
    done = "finished" if state.get("finished") else "unfinished"
    return f"{state.get('epoch', 0)} epoch(s), {state.get('global_step', 0)} steps, {done}; {options}"


def training_verdict(state: dict[str, Any]) -> tuple[str, str]:
    """(verdict, why): the rule (`audit_model`) on the checkpoint's training and pretraining classes
    for every test dataset of its protocol; unknown when the protocol cannot be loaded here with the
    checkpoint's fingerprint, or the pretraining is unknown."""
    from zslbench.protocol.snapshot import trained_protocol
    from zslbench.text import load_embedder

    ref = state["protocol"]
    try:
        protocol = trained_protocol(ref)
        embedder = load_embedder(protocol.embedding, word_norm=protocol.word_norm)
    except ZslbenchError as err:
        return "unknown", f"protocol {ref['name']} cannot be loaded here: {err.message}"
    if protocol.fingerprint != ref["fingerprint"]:
        return "unknown", f"protocol {ref['name']} here is {protocol.fingerprint[:12]}, not {ref['fingerprint'][:12]}"
    return protocol_verdict(state, protocol, embedder)


def protocol_verdict(state: dict[str, Any], protocol: Protocol, embedder: Any) -> tuple[str, str]:
    """(verdict, why): `audit_model` of what `state` saw for every test dataset of `protocol`, the most
    severe verdict, and the first violation or reason."""
    from zslbench.protocol.compliance import audit_model
    from zslbench.protocol.verdicts import worst_verdict

    audits = [audit_model(state, test, protocol, embedder) for test in protocol.test_classes()]
    if not audits:
        return "unknown", f"protocol {protocol.name} names no test dataset"
    verdict = worst_verdict({audit["verdict"] for audit in audits})
    broken = [f"{v['class']!r} ~ {v['nearest']!r} ({a['dataset']})" for a in audits for v in a["violations"]]
    if broken:
        return verdict, f"{len(broken)} class(es) within tau {protocol.tau} of a test class, e.g. {broken[0]}"
    why = next((audit["why"] for audit in audits if audit.get("why")), "")
    return verdict, why or f"every training class at distance >= {protocol.tau} from {len(audits)} test dataset(s)"


__all__ = [
    "Verification",
    "WeightsEntry",
    "add",
    "find",
    "get_entry",
    "list_entries",
    "path_of",
    "register_weights",
    "remove",
    "resolve_weights",
    "verified_path",
    "verify",
    "zoo_dir",
]
