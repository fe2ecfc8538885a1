"""Checkpoints: written atomically, read without unpickling arbitrary objects (weights_only=True).

A checkpoint holds the model name and options, its weights, optimizer, scheduler and RNG state, the
epoch and step, and what the result records need: the protocol fingerprint, the training classes,
the embedder id, the compliance verdict and the pretraining dataset of any initial weights.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from zslbench.atomic import write_bytes
from zslbench.errors import ZslbenchError

FORMAT = "zslbench-checkpoint-v1"
CHECKPOINT = "checkpoint.pt"


def save_checkpoint(path: Path, payload: dict[str, Any]) -> Path:
    import torch

    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **payload}, buffer)
    write_bytes(path, buffer.getvalue())
    return path


def load_checkpoint(path: Path | str) -> dict[str, Any]:
    import torch

    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.is_file():
        raise ZslbenchError(f"checkpoint {path} does not exist", "pass a checkpoint.pt written by `zslbench train`")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ZslbenchError(
            f"cannot load {path}: {type(err).__name__}: {str(err).splitlines()[0][:160]}",
            "is it a zslbench checkpoint? other pickles are never loaded",
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ZslbenchError(f"{path} is not a zslbench checkpoint", f"expected format {FORMAT}")
    return payload


def describe(payload: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint's metadata without tensors, for reports and result records."""
    keys = ("model", "protocol", "classes", "embedder_id", "compliance", "pretrained_on", "pretraining", "backbone")
    keys += ("epoch", "step", "finished")
    return {key: payload.get(key) for key in keys}


def pretraining_of(state: dict[str, Any]) -> tuple[str, str, tuple[str, ...]]:
    """(status, name, classes) of what the model saw before its training classes, for Eq. 3.

    status: "none" (random initial weights), "unknown" (weights of undeclared pretraining) or
    "classes". Models trained on backbone features carry it from the features file; the others
    from their --init and --pretrained-on options.
    """
    from zslbench.vocab import load_class_list

    if "pretraining" in state:
        known = state["pretraining"]
        return known["status"], known["name"], tuple(known["classes"])
    if state.get("pretrained_on"):
        listed = load_class_list(state["pretrained_on"])
        return "classes", listed.name, listed.classes
    return ("unknown" if state["model"].get("options", {}).get("init") else "none"), "", ()


def weights_sha256(state_dict: dict[str, Any]) -> str:
    """A hash of a model's tensors (names and bytes), the model identity in caches and records."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in sorted(state_dict.items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()
