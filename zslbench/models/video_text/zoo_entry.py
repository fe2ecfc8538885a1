"""A video-text model's weights in the user's zoo: an HF model folder (copied whole, its sha256 taken
over every file) or an OpenAI-CLIP-format state dict file, with what their owner declares they saw.

Such weights were trained under no zslbench protocol, so their entry names none and fits every
protocol; its compliance is judged against the default protocol's test datasets for the listing,
and again per test dataset by every evaluation.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from zslbench.core.errors import ZslbenchError, named
from zslbench.models.checkpoint import folder_sha256
from zslbench.models.video_text.declared import Declared
from zslbench.models.weights import (
    WeightsEntry,
    check_id,
    entry_taken,
    path_of,
    protocol_verdict,
    read_user_zoo,
    verify,
    write_user_zoo,
    zoo_dir,
)
from zslbench.models.zoo import BUNDLED_TOKENIZER


def add_to_zoo(
    file: Path | str,
    name: str | None = None,
    model: str | None = None,
    source: str | None = None,
    notes: str | None = None,
    declared: Declared | None = None,
    options: dict[str, Any] | None = None,
) -> WeightsEntry:
    """`zslbench weights add`: a video-text model's weights (an HF folder, or a state dict with `model`
    a video-text model, kept with its tokenizer files) with what `declared` says they saw; anything
    else as a zslbench checkpoint (`weights.add`), where declarations and options are refused: a
    checkpoint records its own history and options."""
    from zslbench.models.video_text.detect import is_video_text, video_text_model_of
    from zslbench.models.weights import add

    video_model = model if model and is_video_text(model) else video_text_model_of(Path(file))
    if video_model:
        return add_video_text(Path(file), video_model, name, source, notes, declared or Declared(), options or {})
    if (declared is not None and declared.given) or options:
        raise ZslbenchError(
            f"{named('--image-text, --finetuned-on and --option', 'declared and options')} are for a video-text "
            "model's weights",
            "a zslbench checkpoint records its own training classes and options",
        )
    return add(file, name, model, source, notes)


def add_video_text(
    src: Path,
    model: str,
    name: str | None,
    source: str | None,
    notes: str | None,
    declared: Declared,
    options: dict[str, Any],
) -> WeightsEntry:
    """Copy `src` into the zoo as weights of the video-text `model` (after building it once, so an
    entry never fails only at evaluation) and record its sha256, size and declarations, the fine-tuning
    classes read now. A state dict file goes in as a folder with its tokenizer files (`bundle`). The
    same content under its id again takes the new declarations."""
    from zslbench.models import build_video_text_model

    declared = declared.resolved()
    with tempfile.TemporaryDirectory(prefix=".zslbench-add-") as staging:
        folder = src if src.is_dir() else bundle(src, options.get("tokenizer"), Path(staging))
        module = build_video_text_model(model, folder, **{k: v for k, v in options.items() if k != "tokenizer"})
        sha256 = folder_sha256(folder)
        entry_id = check_id(name or f"{model}-{sha256[:12]}")
        entries = read_user_zoo()
        taken = entry_taken(entry_id, sha256, entries)
        target = path_of(taken) if taken is not None else zoo_dir() / entry_id
        if taken is None or verify(taken).status != "ok":
            _copy(folder, target, sha256)
    here = f"local {'folder' if src.is_dir() else 'file'} {src.resolve()}"
    source = source or (taken.source if taken is not None else here)
    entry = _entry(entry_id, model, target, sha256, source, notes or (taken.notes if taken else None), declared, module)
    write_user_zoo([e for e in entries if e.id != entry_id] + [entry])
    return entry


def bundle(state_dict: Path, tokenizer: Any, staging: Path) -> Path:
    """A folder holding a state dict file and, in `tokenizer/`, its tokenizer's files and the base
    model's config.json (from `tokenizer`, or beside the file), so the zoo keeps everything the weights
    need: no path outside it is needed later (`zoo.py` reads such a folder)."""
    from zslbench.models.video_text.tokenizer import FILES, TOKENIZER_OPTION, has_tokenizer, tokenizer_folder

    source = tokenizer_folder(tokenizer) or state_dict.parent
    if not has_tokenizer(source):
        raise ZslbenchError(
            f"{source} holds no CLIP tokenizer files for {state_dict.name}",
            f"put vocab.json + merges.txt (or tokenizer.json) beside it, or pass {TOKENIZER_OPTION}",
        )
    folder = staging / "bundle"
    (folder / BUNDLED_TOKENIZER).mkdir(parents=True)
    shutil.copyfile(state_dict, folder / state_dict.name)
    for name in (*FILES, "config.json"):  # the base model's config names what shapes cannot (heads)
        if (source / name).is_file():
            shutil.copyfile(source / name, folder / BUNDLED_TOKENIZER / name)
    return folder


def zoo_declarations(weights: Path) -> Declared:
    """What the zoo entry whose file is `weights` declares (no declaration when none is)."""
    from zslbench.models.weights import list_entries

    where = Path(weights).resolve()
    if zoo_dir().resolve() not in where.parents:  # not in the zoo: nothing declared there
        return Declared()
    for entry in list_entries():
        if declarations(entry).given and path_of(entry).resolve() == where:
            return declarations(entry)
    return Declared()


def declarations(entry: WeightsEntry) -> Declared:
    """An entry's declarations, with the fine-tuning classes as they were read when it was added."""
    classes = tuple(entry.finetuned_classes) if entry.finetuned_classes is not None else None
    return Declared(entry.image_text, entry.finetuned_on, classes)


def _entry(
    entry_id: str,
    model: str,
    target: Path,
    sha256: str,
    source: str,
    notes: str | None,
    declared: Declared,
    module: Any,
) -> WeightsEntry:
    verdict, why = declared_verdict(declared)
    return WeightsEntry(
        id=entry_id,
        model=model,
        file=target.name,
        sha256=sha256,
        size=_size(target),
        source=source,
        protocol={},
        classes=_classes_summary(declared),
        compliance=verdict,
        compliance_why=why,
        notes=notes or f"video-text model; input {module.input.frames} frames at {module.input.size}",
        weights_sha256=module.identity().get("weights_sha256", ""),
        image_text=declared.image_text,
        finetuned_on=declared.finetuned_on,
        finetuned_classes=list(declared.classes) if declared.classes is not None else None,
    )


def _copy(src: Path, target: Path, sha256: str) -> None:
    """A folder copied beside the target, checked, then renamed into place."""
    folder_sha256(src)  # refuses links and special files before anything is copied
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        copied = staging / "model"
        shutil.copytree(src, copied)
        if folder_sha256(copied) != sha256:
            raise ZslbenchError(f"{src} changed while it was copied", "add it again once nothing writes to it")
        if target.exists():
            shutil.rmtree(target)
        copied.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _size(path: Path) -> int:
    """Bytes of a file, or of every file in a folder."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def _classes_summary(declared: Declared) -> dict:
    from zslbench.core.hashing import sha256_json

    classes = declared.state()["classes"]
    if classes is None:
        return {"count": None, "sha256": None}
    return {"count": len(classes), "sha256": sha256_json(list(classes)), "name": declared.finetuned_on}


def declared_verdict(declared: Declared) -> tuple[str, str]:
    """(verdict, why) of the declarations against the default protocol's test datasets."""
    from zslbench.protocol.spec import DEFAULT_PROTOCOL, load_protocol
    from zslbench.text import load_embedder

    protocol = load_protocol(DEFAULT_PROTOCOL)
    embedder = load_embedder(protocol.embedding, word_norm=protocol.word_norm)
    verdict, why = protocol_verdict(declared.state(), protocol, embedder)
    return verdict, f"under {protocol.name}: {why}"
