"""A manifest: the table of (video path, label, split) a dataset becomes.

Stored as CSV with a `# zslbench-manifest v1` comment line naming the vocabulary the labels come
from, then optional `# KEY: VALUE` note lines (`# prepared: {json}` says the videos were re-encoded by
`zslbench data prepare`, from which manifest and how; readers that predate notes skip them as
comments). Paths are stored relative to the manifest's folder (absolute when they share no prefix),
so a dataset and its manifest can move together. So is a class-list file named as the vocabulary: a
manifest indexed with `--classes lists/c.txt --out man/m.csv` names `../lists/c.txt`, which resolves
from wherever the manifest is read.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zslbench.core.atomic import write_text
from zslbench.core.errors import ZslbenchError
from zslbench.core.files import read_regular_bytes
from zslbench.text.vocab import DATASETS

HEADER = "# zslbench-manifest v1"
COLUMNS = ("path", "label", "split")
NOTE = re.compile(r"^# ([a-z][a-z0-9_]*): (.*)$")


@dataclass(frozen=True)
class VideoRecord:
    """One manifest row: the video file, its label (a vocabulary class name) and its split ("" when none)."""

    path: Path
    label: str
    split: str = ""


@dataclass(frozen=True)
class Manifest:
    """The videos of a dataset (`records`), the vocabulary their labels come from, the file it was read
    from (None when not yet written) and its `# key: value` notes."""

    records: tuple[VideoRecord, ...]
    vocabulary: str = ""  # dataset name or class-list file the labels come from
    path: Path | None = None
    notes: dict[str, str] = field(default_factory=dict)  # one line each; "prepared" holds canonical JSON

    def __len__(self) -> int:
        return len(self.records)

    def counts(self) -> Counter[str]:
        """Videos per label."""
        return Counter(record.label for record in self.records)

    def labels(self) -> list[str]:
        """The distinct labels, sorted."""
        return sorted(self.counts())

    @property
    def vocabulary_ref(self) -> str:
        """The vocabulary as `load_class_list` takes it from anywhere: a dataset name, or the class-list
        file resolved against the manifest's folder (a relative name is relative to that folder)."""
        vocabulary = self.vocabulary
        if not vocabulary or vocabulary in DATASETS or self.path is None or Path(vocabulary).is_absolute():
            return vocabulary
        return os.path.normpath(Path(self.path).resolve().parent / Path(vocabulary).expanduser())

    def only(self, labels: set[str]) -> Manifest:
        """The records whose label is in `labels`."""
        kept = tuple(record for record in self.records if record.label in labels)
        return Manifest(kept, self.vocabulary, self.path, self.notes)

    @property
    def prepared(self) -> dict[str, Any] | None:
        """How `zslbench data prepare` re-encoded these videos (source manifest, settings, versions), or
        None for videos as they came: results can say which pixels a model saw."""
        note = self.notes.get("prepared")
        return json.loads(note) if note else None


def write_manifest(manifest: Manifest, path: Path) -> Path:
    """Write atomically; raises ZslbenchError for a path CSV cannot hold."""
    path = Path(path)
    base = path.resolve().parent
    buffer = io.StringIO()
    buffer.write(f"{HEADER}; vocabulary: {_stored_vocabulary(manifest, base)}\n")
    for key, value in manifest.notes.items():
        if not NOTE.match(f"# {key}: {value}") or "\n" in value or "\r" in value:
            raise ValueError(f"manifest note {key!r} must be a lower-case name and a one-line value")
        buffer.write(f"# {key}: {value}\n")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for record in manifest.records:
        writer.writerow((_relative(record.path, base), record.label, record.split))
    write_text(path, buffer.getvalue())
    return path


def read_manifest(path: Path | str) -> Manifest:
    """Read a manifest CSV; row paths are resolved against the file's folder.

    Raises ZslbenchError for a missing, unreadable or non-UTF-8 file, a bad `prepared` note, a missing
    `path,label` header, a row without a path or label, or a file that lists no videos."""
    path = Path(path)
    try:
        text = read_regular_bytes(path).decode("utf-8")  # a named pipe is refused, not waited on
    except FileNotFoundError:
        raise ZslbenchError(f"manifest {path} does not exist", "write one with `zslbench data index`") from None
    except OSError as err:
        raise ZslbenchError(
            f"cannot read manifest {path}: {err.strerror or err}", "pass the CSV file `zslbench data index` wrote"
        ) from None
    except UnicodeDecodeError as err:
        raise ZslbenchError(f"cannot read manifest {path}: {err}", "it should be a UTF-8 CSV file") from None
    lines = text.splitlines()
    vocabulary = ""
    notes: dict[str, str] = {}
    if lines and lines[0].startswith(HEADER):
        vocabulary = lines[0].partition("vocabulary:")[2].strip()
        lines = lines[1:]
        while lines and (note := NOTE.match(lines[0])):
            notes[note[1]] = note[2]
            lines = lines[1:]
    _check_prepared_note(path, notes)
    rows = list(csv.reader(line for line in lines if line.strip() and not line.startswith("#")))
    if not rows or [c.strip().lower() for c in rows[0][:2]] != ["path", "label"]:
        raise ZslbenchError(f"manifest {path} has no 'path,label' header", "the first row must be: path,label[,split]")
    base = path.resolve().parent
    records = []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            raise ZslbenchError(f"{path}: row {number} needs a path and a label, got {row!r}", "fix or remove the row")
        split = row[2].strip() if len(row) > 2 else ""
        records.append(VideoRecord(base / row[0].strip(), row[1].strip(), split))
    if not records:
        raise ZslbenchError(f"manifest {path} lists no videos", "index a dataset with `zslbench data index`")
    return Manifest(tuple(records), vocabulary, path, notes)


def _check_prepared_note(path: Path, notes: dict[str, str]) -> None:
    if "prepared" not in notes:
        return
    try:
        ok = isinstance(json.loads(notes["prepared"]), dict)
    except ValueError:
        ok = False
    if not ok:
        raise ZslbenchError(
            f"manifest {path}: its '# prepared:' line is not a JSON object",
            "restore the line `zslbench data prepare` wrote, or prepare the source manifest again",
        )


def _stored_vocabulary(manifest: Manifest, base: Path) -> str:
    """The vocabulary as the manifest in folder `base` names it: a dataset name as is, a class-list file
    relative to `base`. A relative name in `manifest` is relative to its own manifest's folder (as read),
    or already to `base` when it has none (as `synth` and `prepare` build them)."""
    vocabulary = manifest.vocabulary
    if not vocabulary or vocabulary in DATASETS:
        return vocabulary
    file = Path(vocabulary).expanduser()
    if not file.is_absolute():
        if manifest.path is None:
            return vocabulary
        file = Path(manifest.path).resolve().parent / file
    return _relative(file, base)


def _relative(path: Path, base: Path) -> str:
    absolute = Path(path).resolve()
    try:
        return os.path.relpath(absolute, base) if os.path.commonpath([absolute, base]) != "/" else str(absolute)
    except ValueError:  # different drives on Windows
        return str(absolute)
