"""A protocol that travels with its weights: the resolved protocol and the class lists it names.

Training writes one into every checkpoint (and so into every export and zoo copy) and a readable copy
into the run folder, so a model trained under a custom protocol file evaluates on a machine that has
never seen that file. The copy resolves to the same fingerprint: the same data (defaults, `include:`s
and `--set`s already applied), the same class names, the same file names.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from zslbench.core.atomic import write_files
from zslbench.core.errors import ZslbenchError
from zslbench.core.hashing import sha256_json
from zslbench.core.paths import cache_dir
from zslbench.protocol.spec import Protocol, read_protocol

SNAPSHOT_FORMAT = "zslbench-protocol-snapshot-v1"
PROTOCOL_FILE = "protocol.yaml"
HEADER = "# The resolved protocol a model was trained under, saved by zslbench with the class lists it names.\n"
MAX_LISTS = 64  # class-list files one protocol may name
MAX_CLASSES = 100_000  # class names in one list
# where a snapshot's lists live, nowhere else: plain file names, no control character
_LIST_FILE = re.compile(r"lists/[0-9]{1,2}/[^/\\\x00-\x1f\x7f]{1,251}\.txt")


def snapshot(protocol: Protocol) -> dict[str, Any]:
    """{"format", "protocol": the resolved data, "class_lists": {file: [class names]}}: every class-list
    file the protocol names is copied in under its own file name (its stem names the dataset, and the
    fingerprint counts file names, not folders); registered datasets stay names."""
    import copy

    data = copy.deepcopy(protocol.data)
    lists: dict[str, list[str]] = {}

    def saved(ref: str) -> str:
        loaded = protocol.class_list(ref)
        if loaded.builtin:
            return ref  # a registered dataset, known wherever zslbench is
        file = f"lists/{len(lists)}/{Path(loaded.source).name}"
        lists[file] = list(loaded.classes)
        return file

    data["train"]["source"] = saved(data["train"]["source"])
    data["test"] = [saved(ref) for ref in data["test"]]
    return {"format": SNAPSHOT_FORMAT, "protocol": data, "class_lists": lists}


def with_snapshot(protocol: Protocol) -> dict[str, Any]:
    """`protocol.reference()` with its `snapshot`: how a checkpoint names the protocol it was trained under."""
    return {**protocol.reference(), "snapshot": snapshot(protocol)}


def snapshot_files(saved: dict[str, Any], folder: Path | str) -> dict[Path | str, str]:
    """{path: text}: FOLDER/protocol.yaml and the class lists beside it, for `core.atomic.write_files`.
    ZslbenchError for a snapshot that is not one."""
    import yaml

    data, lists = _checked(saved)
    folder = Path(folder)
    files: dict[Path | str, str] = {folder / name: "\n".join(names) + "\n" for name, names in lists.items()}
    files[folder / PROTOCOL_FILE] = HEADER + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    return files


def write_snapshot(saved: dict[str, Any], folder: Path | str) -> Path:
    """Write the snapshot's files into FOLDER, together or not at all; returns protocol.yaml's path
    (`zslbench eval --protocol` reads it)."""
    write_files(snapshot_files(saved, folder))
    return Path(folder) / PROTOCOL_FILE


def load_snapshot(saved: dict[str, Any]) -> Protocol:
    """The protocol a snapshot holds, written once into the cache (named by its content) and read back
    there, validated as any protocol file is."""
    folder = cache_dir("protocols") / sha256_json(saved)[:24]
    path = folder / PROTOCOL_FILE
    if not path.is_file():
        write_snapshot(saved, folder)
    return read_protocol(path)


def _checked(saved: Any) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """(data, class lists) of a snapshot read from a file, checked by type, count and file name, so a
    hand-edited one cannot write outside its folder or fill the disk."""
    bad = ZslbenchError("the checkpoint's protocol snapshot is malformed", "export the checkpoint again")
    if not isinstance(saved, dict) or saved.get("format") != SNAPSHOT_FORMAT:
        raise bad
    data, lists = saved.get("protocol"), saved.get("class_lists")
    if not isinstance(data, dict) or not isinstance(lists, dict) or len(lists) > MAX_LISTS:
        raise bad
    for name, names in lists.items():
        fine = isinstance(name, str) and _LIST_FILE.fullmatch(name) and ".." not in name.split("/")
        if not fine or not isinstance(names, list) or not 0 < len(names) <= MAX_CLASSES:
            raise bad
        if not all(isinstance(n, str) and n and "\n" not in n and "\r" not in n for n in names):
            raise bad
    return data, lists


def trained_protocol(ref: dict[str, Any], sets: tuple[str, ...] = ()) -> Protocol:
    """The protocol a checkpoint's `ref` (`with_snapshot`) names, with the `--set`s it was trained with and
    then `sets` (scoring settings changed now): its file while that still resolves to the fingerprint,
    else the shipped protocol of its name, else its snapshot. None of them resolving as trained: the
    first that loads (the caller's fingerprint check then says what differs)."""
    from zslbench.protocol.spec import load_protocol

    check_reference(ref)
    trained_sets = tuple(ref.get("sets", ()))
    sources: list[Any] = [ref["path"]] if ref.get("path") and Path(ref["path"]).is_file() else []
    sources.append(ref["name"])
    loaded: list[tuple[Any, Protocol]] = []
    for source in sources:
        try:
            loaded.append((source, load_protocol(source, sets=trained_sets)))
        except ZslbenchError:
            continue
    if "snapshot" in ref:
        loaded.append((None, load_snapshot(ref["snapshot"])))
    fitting = [(source, p) for source, p in loaded if p.fingerprint == ref["fingerprint"]] or loaded
    if not fitting:
        return load_protocol(ref["name"], sets=trained_sets)  # its own error: unknown protocol
    source, protocol = fitting[0]
    if not sets:
        return protocol
    return read_protocol(protocol.path, sets) if source is None else load_protocol(source, (*trained_sets, *sets))


def scores_as_trained(protocol: Protocol, ref: dict[str, Any]) -> bool:
    """Whether a model trained under `ref` may be scored under `protocol`: the same fingerprint, or the
    same `training_fingerprint` (only the scoring settings differ: splits, metrics, class order)."""
    check_reference(ref)
    if protocol.fingerprint == ref["fingerprint"]:
        return True
    bound = ref.get("training_fingerprint")
    if bound is None:  # trained before training fingerprints existed: its protocol, when it loads as it was
        try:
            then = trained_protocol(ref)
        except ZslbenchError:
            return False
        bound = then.training_fingerprint if then.fingerprint == ref["fingerprint"] else None
    return bound is not None and protocol.training_fingerprint == bound


def check_reference(ref: Any) -> None:
    """A checkpoint's protocol reference read from a file names a protocol and its fingerprint, as text,
    and its `sets` are text; else one ZslbenchError (never a KeyError deep inside)."""
    fields = ("name", "fingerprint")
    fine = isinstance(ref, dict) and all(isinstance(ref.get(key), str) for key in fields)
    sets = ref.get("sets", ()) if isinstance(ref, dict) else ()
    if not fine or not isinstance(sets, list | tuple) or not all(isinstance(item, str) for item in sets):
        raise ZslbenchError("the checkpoint's protocol reference is malformed", "export the checkpoint again")
