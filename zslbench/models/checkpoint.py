"""Checkpoints: written atomically, read without unpickling arbitrary objects (weights_only=True).

A checkpoint holds the model name and options, its weights, optimizer, scheduler, gradient scaler and
RNG states, the epoch and step, and what the result records need: the protocol fingerprint, the
training classes, the embedder id, the compliance verdict, the pretraining dataset of any initial
weights, the resolved training settings and the account of videos that failed to decode
(`training_summary` says it in one dict).

A checkpoint is a pickle (read with weights_only=True, which refuses code, but still a pickle). To
share weights, `export_checkpoint` writes a folder of two files: `model.safetensors` (the state dict;
a safetensors file is a JSON header and raw tensor bytes, it cannot hold code) and `zslbench.json`
(every other field but the resume state). The same JSON rides in the safetensors header, so the
.safetensors file alone is complete. `load_checkpoint` reads either form and gives the same dict for
evaluation.
"""

from __future__ import annotations

import io
import json
import math
import numbers
from pathlib import Path
from typing import Any

from zslbench.core.atomic import write_bytes
from zslbench.core.errors import ZslbenchError, named

FORMAT = "zslbench-checkpoint-v1"
CHECKPOINT = "checkpoint.pt"
EXPORT_FORMAT = "zslbench-weights-v1"  # the `format` of a safetensors export's header metadata
EXPORT_WEIGHTS = "model.safetensors"
EXPORT_METADATA = "zslbench.json"
RESUME_ONLY = ("optimizer", "scheduler", "scaler", "rng", "loss_state")  # what only a resumed run needs; never exported
FAILURE_BUDGET = 0.005  # share of the training videos that may fail to decode: evaluation's default
CLASS_FAILURE_BUDGET = 0.5  # share of one class's videos that may fail before the class is underrepresented


def save_checkpoint(path: Path, payload: dict[str, Any]) -> Path:
    """Write `payload`, tagged with FORMAT, as a torch pickle at `path`, atomically; returns `path`."""
    import torch

    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **payload}, buffer)
    write_bytes(path, buffer.getvalue())
    return path


def load_checkpoint(path: Path | str) -> dict[str, Any]:
    """A zslbench checkpoint: checkpoint.pt (or its run folder), or a safetensors export (its folder
    or its .safetensors file). Anything else, another pickle included, is a ZslbenchError: pickles
    are read with weights_only=True and must carry the checkpoint format."""

    path = checkpoint_file(path)
    if not path.is_file():
        raise ZslbenchError(
            f"checkpoint {path} does not exist",
            "pass a checkpoint.pt written by `zslbench train`, or a folder written by `zslbench weights export`",
        )
    if is_safetensors(path):
        return load_export(path)
    try:
        payload = quiet_torch_load(path)
    except Exception as err:
        raise ZslbenchError(
            f"cannot load {path}: {why_not_loaded(err)}", "is it a zslbench checkpoint? other pickles are never loaded"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ZslbenchError(f"{path} is not a zslbench checkpoint", f"expected format {FORMAT}")
    return payload


def why_not_loaded(err: Exception) -> str:
    """What torch.load's weights-only refusal objects to (the global a pickle names, which never ran),
    without torch's advice to load the file unsafely; any other error's first line."""
    import re

    text = str(err)
    named = re.search(r"GLOBAL ([\w.]+)", text) or re.search(r"but got <class '([\w.]+)'>", text)
    if named:
        return f"its pickle needs {named.group(1)}, which a weights-only load does not allow (nothing in it ran)"
    marker = "WeightsUnpickler error:"
    reason = text.split(marker, 1)[1] if marker in text else text  # torch's own advice comes first
    first = next((line.strip() for line in reason.splitlines() if line.strip()), "")[:160]
    return f"{type(err).__name__}: {first}" if first else f"{type(err).__name__} (an empty or truncated file?)"


def quiet_torch_load(path: Path) -> Any:
    """torch.load(weights_only=True) on the CPU, without the warnings torch prints about old pickles."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.load(path, map_location="cpu", weights_only=True)


def checkpoint_file(path: Path | str) -> Path:
    """The file `load_checkpoint` reads for `path`: a folder's checkpoint.pt, else its
    model.safetensors when it has one (an export); a file as it is."""
    path = Path(path)
    if not path.is_dir():
        return path
    if not (path / CHECKPOINT).is_file() and (path / EXPORT_WEIGHTS).is_file():
        return path / EXPORT_WEIGHTS
    return path / CHECKPOINT


def is_safetensors(path: Path) -> bool:
    """Whether a file is laid out as safetensors (an 8-byte header length, then a JSON header), by
    its bytes rather than its name; a torch.save zip starts `PK` and never passes."""
    with open(path, "rb") as handle:
        head = handle.read(9)
    if len(head) < 9 or head[8:9] != b"{":
        return False
    return 8 + int.from_bytes(head[:8], "little") <= path.stat().st_size


def load_export(path: Path) -> dict[str, Any]:
    """A safetensors export as the checkpoint dict it came from (without the resume state). The
    tensors must hash to the export's `weights_sha256`, and a zslbench.json beside a model.safetensors
    must say what its header says; otherwise a ZslbenchError."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118 (not a dict)
    except Exception as err:  # SafetensorError, a truncated file, a header that is not JSON
        raise ZslbenchError(
            f"cannot load {path}: {type(err).__name__}: {str(err).splitlines()[0][:160]}",
            "pass a model.safetensors written by `zslbench weights export`",
        ) from None
    fields = _export_fields_of(path, metadata)
    beside = path.parent / EXPORT_METADATA
    if path.name == EXPORT_WEIGHTS and beside.is_file() and _json_or_none(beside) != fields:
        raise ZslbenchError(
            f"{beside} does not match the metadata inside {path.name}",
            "one of the two was edited; export the checkpoint again",
        )
    expected = (fields.get("export") or {}).get("weights_sha256")
    if expected != weights_sha256(tensors):
        raise ZslbenchError(
            f"the tensors of {path} do not hash to the export's weights_sha256 {expected}",
            "the file was changed after export; export the checkpoint again",
        )
    return {"format": FORMAT, **fields, "state_dict": tensors}


def _json_or_none(path: Path) -> Any:
    """A JSON file's value; None when it is not JSON (then it cannot match anything)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _export_fields_of(path: Path, metadata: dict[str, str]) -> dict[str, Any]:
    """The checkpoint fields a safetensors header carries, checked: a zslbench export's format, and
    the fields evaluation needs (model name, options, embed_dim; the protocol)."""
    try:
        fields = json.loads(metadata.get("zslbench", "null"))
    except ValueError:
        fields = None
    if not isinstance(fields, dict) or (fields.get("export") or {}).get("format") != EXPORT_FORMAT:
        raise ZslbenchError(
            f"{path} is a safetensors file but not a zslbench export (no {EXPORT_FORMAT} metadata)",
            "`zslbench weights export RUN --out DIR` writes one from a checkpoint",
        )
    model = fields.get("model")
    if not (isinstance(model, dict) and isinstance(model.get("name"), str) and isinstance(model.get("options"), dict)):
        raise ZslbenchError(f"{path}: its metadata names no model with options", "export the checkpoint again")
    if not isinstance(fields.get("protocol"), dict):
        raise ZslbenchError(f"{path}: its metadata names no protocol", "export the checkpoint again")
    return fields


def export_checkpoint(source: Path | str, out: Path | str, overwrite: bool = False) -> Path:
    """Write OUT/model.safetensors (the state dict, with the metadata in its header) and
    OUT/zslbench.json (every field but the tensors and the resume state, as JSON, its protocol snapshot
    included) and OUT/protocol/ (that snapshot as a protocol file and its class lists), together or not
    at all. Returns OUT. An existing export is replaced only with `overwrite` (ZslbenchError)."""
    import torch
    from safetensors.torch import save

    from zslbench import __version__
    from zslbench.core.atomic import write_files
    from zslbench.protocol.snapshot import snapshot_files

    state = load_checkpoint(source)
    out = Path(out)
    if not overwrite and any((out / name).exists() for name in (EXPORT_WEIGHTS, EXPORT_METADATA)):
        raise ZslbenchError(
            f"{out} already holds an export",
            f"choose another {named('--out', 'out')}, or pass {named('--overwrite', 'overwrite=True')}",
        )
    tensors = {name: value.detach().cpu().contiguous().clone() for name, value in state["state_dict"].items()}
    if not all(isinstance(value, torch.Tensor) for value in tensors.values()):
        raise ZslbenchError(f"{source}: the state dict holds values that are not tensors", "it cannot be exported")
    fields = export_fields(state)
    fields["export"] = {
        "format": EXPORT_FORMAT,
        "weights_sha256": weights_sha256(tensors),
        "checkpoint_sha256": file_sha256(checkpoint_file(source)),
        "zslbench_version": __version__,
    }
    text = json.dumps(fields, indent=2, ensure_ascii=False, allow_nan=False)
    header = json.dumps(fields, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    blob = save(tensors, metadata={"zslbench": header})  # one key: safetensors writes a map's keys in any order
    files: dict[Path | str, str | bytes] = {out / EXPORT_WEIGHTS: blob, out / EXPORT_METADATA: text + "\n"}
    if isinstance(state.get("protocol"), dict) and "snapshot" in state["protocol"]:  # readable beside the weights
        files.update(snapshot_files(state["protocol"]["snapshot"], out / "protocol"))
    write_files(files)
    return out


def export_fields(state: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's fields without the state dict and the resume state, as plain JSON values:
    tuples become lists and a non-finite number becomes null (JSON has none). A tensor or another
    object in any other field is a ZslbenchError naming the field."""
    skipped = {"format", "state_dict", *RESUME_ONLY}
    return {key: _plain(value, key) for key, value in state.items() if key not in skipped}


def _plain(value: Any, where: str) -> Any:
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): _plain(item, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise ZslbenchError(
        f"checkpoint field {where} holds a {type(value).__name__}, which an export cannot carry",
        "only the state dict's tensors and plain values are exported",
    )


def tensor_differences(ours: dict[str, Any], theirs: dict[str, Any], where: str = "the model") -> list[str]:
    """What keeps `theirs` (a file's tensors) from loading where `ours` (a module's state dict, meta
    tensors will do) belongs: missing names, unexpected names, then other shapes, each sorted."""
    problems = [f"missing {k}" for k in sorted(set(ours) - set(theirs))]
    problems += [f"unexpected {k}" for k in sorted(set(theirs) - set(ours))]
    problems += [
        f"{k}: {tuple(theirs[k].shape)} in the file, {tuple(ours[k].shape)} in {where}"
        for k in sorted(set(ours) & set(theirs))
        if tuple(getattr(theirs[k], "shape", ())) != tuple(ours[k].shape)
    ]
    return problems


def first_of(problems: list[str], shown: int) -> str:
    """The first `shown` problems on one line, and how many more there are."""
    more = f"; and {len(problems) - shown} more" if len(problems) > shown else ""
    return "; ".join(problems[:shown]) + more


def load_weights(module: Any, state_dict: dict[str, Any], what: str) -> None:
    """`module.load_state_dict(state_dict)`, or one line naming the first differing tensors: a
    checkpoint whose metadata (model, options, embedding size) does not fit its tensors is bad input,
    not a crash."""
    problems = tensor_differences(module.state_dict(), state_dict)
    if problems:
        raise ZslbenchError(
            f"{what}: its tensors do not fit the model its metadata names "
            f"({len(problems)} differ: {first_of(problems, 3)})",
            "the metadata (model, options, embed_dim) was edited, or the file is not what it says; export it again",
        )
    module.load_state_dict(state_dict)


def describe(payload: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint's metadata without tensors, for reports and result records."""
    keys = ("model", "protocol", "classes", "embedder_id", "compliance", "pretrained_on", "pretraining", "backbone")
    keys += ("epoch", "step", "finished", "settings", "data")
    described = {key: payload.get(key) for key in keys}
    if isinstance(described["protocol"], dict):  # its snapshot is the record's `protocol.resolved` already
        described["protocol"] = {k: v for k, v in described["protocol"].items() if k != "snapshot"}
    return described


def failure_verdict(
    videos: dict[str, int],
    failed: dict[str, int],
    seen: set[str],
    budget: float = FAILURE_BUDGET,
    class_budget: float = CLASS_FAILURE_BUDGET,
    unlabelled: tuple[int, int] = (0, 0),
) -> dict[str, Any]:
    """Whether a training run saw its data: a run is complete when at most `budget` of its videos
    failed, no class lost more than `class_budget` of its videos, and every class had at least one
    video decoded (a class never seen is never within budget).

    `videos` and `failed` count the videos of each training class and the distinct ones that failed
    to decode; `seen` holds the classes of which some video was decoded; `unlabelled` is (videos,
    failed) of class unknown (left out by `zslbench data prepare`, or failed at feature extraction),
    which count against the overall budget only.
    """
    total = sum(videos.values()) + unlabelled[0]
    lost = sum(failed.values()) + unlabelled[1]
    unseen = [name for name, n in videos.items() if name not in seen and failed.get(name, 0) >= n]
    short = [
        {"class": name, "videos": n, "failed": failed[name]}
        for name, n in videos.items()
        if name not in unseen and failed.get(name, 0) > class_budget * n
    ]
    why = None
    if unseen:
        why = f"{len(unseen)} training class(es) without one decodable video, e.g. {unseen[0]!r}"
    elif short:
        first = short[0]
        why = (
            f"class {first['class']!r} lost {first['failed']} of its {first['videos']} videos "
            f"(class budget {class_budget:.1%})"
        )
    elif lost > budget * total:
        why = f"{lost} of {total} training videos failed to decode ({lost / max(total, 1):.2%}, budget {budget:.2%})"
    return {
        "videos": total,
        "failed": lost,
        "failure_budget": budget,
        "class_failure_budget": class_budget,
        "unseen_classes": unseen,
        "classes_over_budget": short,
        "complete": why is None,
        "why": why,
    }


def training_summary(state: dict[str, Any]) -> dict[str, Any]:
    """What a result record shows of the training behind a checkpoint: the resolved settings, how far
    it got, and whether it saw its data (the failure budget's verdict). Plain JSON values.

    `complete` is True only for a finished run within its failure budget; None when the checkpoint
    predates failure accounting (its `data` then only counts the failed videos).
    """
    data = state.get("data")
    if data is None:
        data = {
            "failed": len(state.get("failures") or {}),
            "complete": None,
            "why": "the checkpoint predates training failure accounting",
        }
    examples = [{"path": path, "reason": reason} for path, reason in sorted((state.get("failures") or {}).items())]
    finished = bool(state.get("finished"))
    summary = {
        "settings": dict(state.get("settings") or {}),
        "epochs_done": int(state.get("epoch", 0)),
        "steps": int(state.get("global_step", 0)),
        "finished": finished,
        "data": {**data, "failure_examples": examples[:10]},
        "complete": None if data.get("complete") is None else finished and bool(data["complete"]),
    }
    if "fit" in state:
        summary["fit"] = {k: v for k, v in state["fit"].items() if k != "validation"}
    return summary


def file_sha256(path: Path | str) -> str:
    """The sha256 of a file's bytes, as published weights are checked (read in 16 MiB chunks)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(16 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def folder_sha256(folder: Path | str) -> str:
    """The sha256 of a model folder (an HF `save_pretrained` folder): over every regular file's path
    relative to it and its bytes' sha256, in path order, so a renamed, added or changed file changes it.
    A symbolic link or anything but files and folders inside is an error: nothing outside is read."""
    import hashlib

    root = Path(folder)
    lines = []
    for path in sorted(root.rglob("*"), key=lambda p: p.relative_to(root).as_posix()):
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            raise ZslbenchError(f"{path} is a link or a special file", "a model folder holds plain files only")
        if path.is_file():
            lines.append(f"{path.relative_to(root).as_posix()}\0{file_sha256(path)}\n")
    return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


def content_sha256(path: Path | str) -> str:
    """`folder_sha256` of a folder, `file_sha256` of a file."""
    return folder_sha256(path) if Path(path).is_dir() else file_sha256(path)


def weights_sha256(state_dict: dict[str, Any]) -> str:
    """A hash of a model's tensors (names and bytes), the model identity in caches and records."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in sorted(state_dict.items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()
