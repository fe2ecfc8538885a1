"""Where prepared videos go, and what a prepared folder records about how it was made.

An output mirrors its source's path below the manifest's folder, so a prepared dataset looks like the
original; paths are compared as written (not through links), so no `..` or absolute path in a
manifest can place a file outside the folder. The folder's `prepare.json` holds the settings and
encoder it was made with: a run with other settings is refused rather than mixing two encodings.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

from zslbench.core.atomic import write_text
from zslbench.core.errors import ZslbenchError, named
from zslbench.core.hashing import sha256_text
from zslbench.video.manifest import Manifest

SETTINGS_FILE = "prepare.json"
OUT = named("--out", "out_dir")  # as errors name the prepared folder
EXTERNAL = "_external"  # where videos from outside the manifest's folder go, under hashed names


def plan_outputs(manifest: Manifest, out_dir: Path) -> dict[Path, Path]:
    """Each distinct source -> its output under `out_dir`: the source's path below the manifest's
    folder with suffix .mp4. A source outside that folder goes to `_external/<hash>-<name>.mp4`, and
    sources that would share an output (a.avi, a.mp4) each get a hash of their path in the name, so
    no output escapes `out_dir` and no two sources collide."""
    if manifest.path is None:
        raise ValueError("the manifest has no file: read it with read_manifest")
    base, out_dir = lexical(manifest.path.parent), lexical(out_dir)
    relative: dict[Path, str] = {}
    for record in manifest.records:
        source = lexical(record.path)
        if source not in relative:
            rel = os.path.relpath(source, base)
            relative[source] = rel if rel != ".." and not rel.startswith(("../", "/")) else ""
    planned: dict[Path, Path] = {}
    for source, rel in relative.items():
        name = f"{sha256_text(str(source))[:12]}-{source.stem}.mp4"
        planned[source] = Path(rel).with_suffix(".mp4") if rel else Path(EXTERNAL) / name
    sharing: dict[Path, list[Path]] = defaultdict(list)
    for source, output in planned.items():
        sharing[output].append(source)
    for output, sources in sharing.items():
        if len(sources) > 1:
            for source in sources:
                tag = sha256_text(relative[source] or str(source))[:8]
                planned[source] = output.with_name(f"{output.stem}-{tag}.mp4")
    outputs = {source: out_dir / output for source, output in planned.items()}
    if len(set(outputs.values())) != len(outputs):
        raise ZslbenchError("two videos of the manifest map to one prepared file", "rename one of them")
    for source, output in outputs.items():  # (`output in outputs`: the output would replace a source)
        if os.path.commonpath([output, out_dir]) != str(out_dir) or output in outputs:
            raise ZslbenchError(f"{source} would be prepared onto {output}", f"choose another {OUT} folder")
    return outputs


def lexical(path: Path | str) -> Path:
    """Absolute and normalised without following links: what the path says, so `..` cannot escape."""
    return Path(os.path.normpath(os.path.abspath(path)))


def claim_folder(out_dir: Path, settings: dict[str, Any], encoder: dict[str, str | None]) -> dict[str, Any]:
    """The folder's record, written now for a new folder; refuse a folder prepared differently, or a
    non-empty one zslbench did not prepare (its files could be overwritten)."""
    path = out_dir / SETTINGS_FILE
    fresh = {"format": "zslbench-prepared", "settings": settings, "encoder": encoder, "manifests": {}}
    hint = f"prepare into another {OUT} folder, or delete {out_dir} to prepare it again with these settings"
    if not path.exists():
        if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
            raise ZslbenchError(
                f"{OUT} {out_dir} exists and was not prepared by zslbench (no {SETTINGS_FILE})",
                "choose a new or empty folder",
            )
        write_record(out_dir, fresh)
        return fresh
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
        before = {**recorded["settings"], **recorded["encoder"]}
        recorded["manifests"] = dict(recorded.get("manifests") or {})
    except (OSError, ValueError, KeyError, TypeError):
        raise ZslbenchError(f"{path} is not a zslbench prepare record", hint) from None
    now = {**settings, **encoder}
    keys = sorted(now.keys() | before.keys())
    changed = [f"{k} {before.get(k)} (now {now.get(k)})" for k in keys if before.get(k) != now.get(k)]
    if changed:
        raise ZslbenchError(f"{out_dir} was prepared with other settings: {'; '.join(changed)}", hint)
    return recorded


def carry_vocabulary(vocabulary: str, source_dir: Path, out_dir: Path) -> str:
    """A class-list file named relative to the source manifest is copied beside the new one (so the
    prepared folder can move on its own); dataset names and absolute paths stay as they are."""
    from zslbench.text.vocab import DATASETS

    if not vocabulary or vocabulary in DATASETS or Path(vocabulary).is_absolute():
        return vocabulary
    file = source_dir / vocabulary
    if not file.is_file():
        return vocabulary
    rel = os.path.relpath(lexical(file), lexical(source_dir))
    if rel.startswith(".."):
        return str(lexical(file))
    with contextlib.suppress(OSError):
        target = out_dir / rel
        if not target.exists() or target.read_bytes() != file.read_bytes():
            write_text(target, file.read_text(encoding="utf-8"))
        return rel
    return str(lexical(file))


def write_record(out_dir: Path, record: dict[str, Any]) -> None:
    """Write the folder's prepare.json atomically; an OSError becomes a ZslbenchError naming `--out`."""
    try:
        write_text(out_dir / SETTINGS_FILE, json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    except OSError as err:
        raise ZslbenchError(
            f"cannot write to {OUT} {out_dir}: {err.strerror or err}", "choose a folder you can write to"
        ) from None


def remove_empty_claim(out_dir: Path) -> None:
    """Undo a fresh claim when nothing was prepared. Only a folder this run claimed comes here, and
    `claim_folder` claims only a new or empty one, so everything in it was written by this run."""
    shutil.rmtree(out_dir, ignore_errors=True)
