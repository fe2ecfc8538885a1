"""Checkpoints: written atomically, read without unpickling arbitrary objects (weights_only=True).

A checkpoint holds the model name and options, its weights, optimizer, scheduler, gradient scaler and
RNG states, the epoch and step, and what the result records need: the protocol fingerprint, the
training classes, the embedder id, the compliance verdict, the pretraining dataset of any initial
weights, the resolved training settings and the account of videos that failed to decode
(`training_summary` says it in one dict).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from zslbench.core.atomic import write_bytes
from zslbench.core.errors import ZslbenchError

FORMAT = "zslbench-checkpoint-v1"
CHECKPOINT = "checkpoint.pt"
FAILURE_BUDGET = 0.005  # share of the training videos that may fail to decode: evaluation's default
CLASS_FAILURE_BUDGET = 0.5  # share of one class's videos that may fail before the class is underrepresented


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
    keys += ("epoch", "step", "finished", "settings", "data")
    return {key: payload.get(key) for key in keys}


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


def weights_sha256(state_dict: dict[str, Any]) -> str:
    """A hash of a model's tensors (names and bytes), the model identity in caches and records."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in sorted(state_dict.items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()
