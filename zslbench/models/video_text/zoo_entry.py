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

from zslbench.core.errors import ZslbenchError
from zslbench.models.checkpoint import content_sha256, folder_sha256
from zslbench.models.video_text.declared import Declared
from zslbench.models.weights import (
    WeightsEntry,
    check_id,
    copy_checked,
    entry_taken,
    path_of,
    read_user_zoo,
    verify,
    write_user_zoo,
    zoo_dir,
)


def add_to_zoo(
    file: Path | str,
    name: str | None = None,
    model: str | None = None,
    source: str | None = None,
    notes: str | None = None,
    declared: Declared | None = None,
) -> WeightsEntry:
    """`zslbench weights add`: a video-text model's weights (an HF folder, or a state dict with `model`
    a video-text model) with what `declared` says they saw; anything else as a zslbench checkpoint
    (`weights.add`), where declarations are refused: a checkpoint records its own history."""
    from zslbench.models.video_text.detect import is_video_text, video_text_model_of
    from zslbench.models.weights import add

    video_model = model if model and is_video_text(model) else video_text_model_of(Path(file))
    if video_model:
        return add_video_text(Path(file), video_model, name, source, notes, declared or Declared())
    if declared is not None and declared != Declared():
        raise ZslbenchError(
            "--image-text and --finetuned-on declare a video-text model's history",
            "a zslbench checkpoint records its own training classes",
        )
    return add(file, name, model, source, notes)


def add_video_text(
    src: Path, model: str, name: str | None, source: str | None, notes: str | None, declared: Declared
) -> WeightsEntry:
    """Copy `src` into the zoo as weights of the video-text `model` (after building it once, so an
    entry never fails only at evaluation) and record its sha256, size and declarations."""
    from zslbench.models import build_video_text_model

    module = build_video_text_model(model, src)
    sha256 = content_sha256(src)
    entry_id = check_id(name or f"{model}-{sha256[:12]}")
    entries = read_user_zoo()
    taken = entry_taken(entry_id, sha256, entries)
    if taken is not None:  # the same content again: kept as it is
        if verify(taken).status != "ok":
            _copy(src, path_of(taken), sha256)
        return taken
    target = zoo_dir() / (entry_id if src.is_dir() else f"{entry_id}{src.suffix or '.pt'}")
    _copy(src, target, sha256)
    verdict, why = declared_verdict(declared)
    entry = WeightsEntry(
        id=entry_id,
        model=model,
        file=target.name,
        sha256=sha256,
        size=sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
        if target.is_dir()
        else target.stat().st_size,
        source=source or f"local {'folder' if src.is_dir() else 'file'} {src.resolve()}",
        protocol={},
        classes=_classes_summary(declared),
        compliance=verdict,
        compliance_why=why,
        notes=notes or f"video-text model; input {module.input.frames} frames at {module.input.size}",
        weights_sha256=module.identity().get("weights_sha256", ""),
        image_text=declared.image_text,
        finetuned_on=declared.finetuned_on,
    )
    write_user_zoo([*entries, entry])
    return entry


def _copy(src: Path, target: Path, sha256: str) -> None:
    """A file through `copy_checked`; a folder copied beside the target, checked, then renamed into place."""
    if not src.is_dir():
        copy_checked(src, target, sha256)
        return
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
    from zslbench.protocol.compliance import audit_model
    from zslbench.protocol.spec import DEFAULT_PROTOCOL, load_protocol
    from zslbench.protocol.verdicts import worst_verdict
    from zslbench.text import load_embedder

    protocol = load_protocol(DEFAULT_PROTOCOL)
    embedder = load_embedder(protocol.embedding, word_norm=protocol.word_norm)
    state = declared.state()
    audits = [audit_model(state, test, protocol, embedder) for test in protocol.test_classes()]
    verdict = worst_verdict({audit["verdict"] for audit in audits})
    broken = [f"{v['class']!r} ~ {v['nearest']!r} ({a['dataset']})" for a in audits for v in a["violations"]]
    if broken:
        return verdict, f"under {protocol.name}: {len(broken)} fine-tuning class(es) within tau, e.g. {broken[0]}"
    why = next((audit["why"] for audit in audits if audit.get("why")), "")
    return verdict, f"under {protocol.name}: {why}" if why else f"under {protocol.name}"
