"""Dataset layouts on disk -> manifests.

Each layout lists (file, label as found on disk, split) candidates; one shared step maps the found
labels to the vocabulary's official names, drops files that cannot be videos (empty, unreadable,
non-UTF-8 names, named pipes, folders and devices with a video's name) and accounts for everything it
drops. A symbolic link found inside the dataset folder whose target lies outside it is not indexed
(a manifest would list its target, e.g. a system file, as a video): it is listed in `outside`. Links
that stay inside the folder are fine.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from zslbench.core.errors import ZslbenchError, named
from zslbench.core.files import file_problem, read_regular_bytes
from zslbench.core.registry import Registry
from zslbench.datasets import dataset_spec, is_dataset
from zslbench.text.vocab import ClassList, load_class_list
from zslbench.video.manifest import Manifest, VideoRecord

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".webm", ".mov")
SPLIT_FOLDERS = {
    **dict.fromkeys(("train", "training"), "train"),
    **dict.fromkeys(("val", "valid", "validate", "validation"), "val"),
    **dict.fromkeys(("test", "testing"), "test"),
}
Candidate = tuple[Path, str, str]  # file, label as found, split


@dataclass
class IndexOptions:
    """What a layout may need beside its root: a vocabulary, an official split number, an annotations CSV."""

    classes: str | None = None  # vocabulary for the folder / csv layouts
    split: int | None = None  # official split number (ucf101, hmdb51)
    annotations: Path | None = None  # official CSV (kinetics, activitynet)


@dataclass
class IndexReport:
    """A dataset indexed into a manifest, and every file left out: labels not in the vocabulary,
    unusable files, annotated videos absent from disk, and links whose target lies outside the folder."""

    manifest: Manifest
    vocabulary: ClassList
    unknown_labels: Counter[str] = field(default_factory=Counter)  # label on disk -> videos skipped
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    missing: list[tuple[str, str]] = field(default_factory=list)  # annotated but absent: (name, label)
    outside: list[tuple[str, str]] = field(default_factory=list)  # (link in the folder, its target outside)

    @property
    def empty_classes(self) -> list[str]:
        """The vocabulary's classes with no video in the manifest, in vocabulary order."""
        counts = self.manifest.counts()
        return [name for name in self.vocabulary.classes if not counts[name]]


Layout = Callable[[Path, IndexOptions], tuple[str, Iterator[Candidate], list[tuple[str, str]]]]
LAYOUTS: Registry[Layout] = Registry("layout")


def index_dataset(layout: str, root: Path | str, options: IndexOptions | None = None) -> IndexReport:
    """Find the videos of a dataset laid out as `layout` under `root`.

    `layout` may also name a registered dataset that is not a layout: its spec's layout is used,
    with the dataset as the vocabulary unless `options.classes` says otherwise.
    """
    options = options or IndexOptions()
    root = Path(root).expanduser()
    if layout not in LAYOUTS and is_dataset(layout):
        layout, options = dataset_layout(layout, options)
    list_candidates = LAYOUTS.get(layout)
    if not root.exists():
        raise ZslbenchError(f"{root} does not exist", f"pass the folder (or CSV) that holds the {layout} videos")
    vocabulary_ref, candidates, missing = list_candidates(root, options)
    return _build(layout, root, vocabulary_ref, list(candidates), missing)


def dataset_layout(name: str, options: IndexOptions) -> tuple[str, IndexOptions]:
    """(layout, options) that index dataset `name`'s folder tree, from its spec (zslbench.datasets)."""
    spec = dataset_spec(name)
    if spec.layout is None:
        raise ZslbenchError(
            f"dataset {spec.name!r} names no layout for its folder tree",
            f"index it with a layout: zslbench data index folder ROOT --classes {spec.name}",
        )
    return spec.layout, dataclasses.replace(options, classes=options.classes or spec.name)


def _build(
    layout: str, root: Path, vocabulary_ref: str | None, found: list[Candidate], missing: list[tuple[str, str]]
) -> IndexReport:
    """Map found labels to the vocabulary, drop unusable files, and account for both."""
    if not found and not missing:
        raise ZslbenchError(
            f"no videos ({', '.join(VIDEO_SUFFIXES)}) under {root} in the {layout} layout",
            "check the folder and the layout; `zslbench data index --help` lists the layouts",
        )
    if vocabulary_ref is None:  # folder/csv without --classes: the labels found are the vocabulary
        vocabulary = ClassList(root.name, tuple(sorted({label for _, label, _ in found})), "found")
    else:
        vocabulary = load_class_list(vocabulary_ref)
    official = label_matcher(vocabulary)
    records, skipped, unknown, outside = [], [], Counter(), []
    inside = _inside_check(root)
    for path, raw_label, split in found:
        label = official(raw_label)
        if (target := inside(path)) is not None:
            outside.append((_shown(path), _shown(target)))
            continue
        problem = _file_problem(path)
        if label is None:
            unknown[raw_label] += 1
        elif problem:
            skipped.append((_shown(path), problem))
        else:
            records.append(VideoRecord(path, label, split))
    if not records and unknown:
        examples = ", ".join(repr(label) for label in list(unknown)[:3])
        raise ZslbenchError(
            f"none of the {len(unknown)} labels under {root} ({examples}, ...) is a {vocabulary.name} class",
            f"check the layout name, or give the folder layout a vocabulary with {named('--classes', 'classes')}",
        )
    records.sort(key=lambda r: (r.label, str(r.path)))
    # a class-list file is named absolutely here; write_manifest stores it relative to the manifest
    vocabulary_name = (
        vocabulary.name if vocabulary.builtin else str(Path(vocabulary.source).absolute()) if vocabulary_ref else ""
    )
    return IndexReport(Manifest(tuple(records), vocabulary_name), vocabulary, unknown, skipped, missing, outside)


def _inside_check(root: Path) -> Callable[[Path], Path | None]:
    """`check(path)` -> the target of a path found inside `root` that resolves outside it, else None.
    Paths named from outside (a CSV's rows pointing elsewhere) are the user's choice and pass."""
    if not root.is_dir():
        return lambda path: None
    lexical_root, real_root = Path(os.path.abspath(root)), root.resolve()

    def check(path: Path) -> Path | None:
        if not Path(os.path.abspath(path)).is_relative_to(lexical_root):
            return None
        target = path.resolve()
        return None if target.is_relative_to(real_root) else target

    return check


def _shown(path: Path) -> str:
    """A path as text a report can hold (a non-UTF-8 name gets replacement characters)."""
    return os.fsdecode(path).encode("utf-8", "replace").decode()


def label_matcher(vocabulary: ClassList) -> Callable[[str], str | None]:
    """Map a label as found on disk to the official name, ignoring case, spaces, underscores and
    punctuation: `passing_American_football_(in_game)` and `HandStandPushups` find their class."""
    table = {_label_key(name): name for name in vocabulary.classes}
    return lambda found: table.get(_label_key(found))


def _label_key(label: str) -> str:
    return re.sub(r"[^0-9a-z]", "", label.lower())


def _file_problem(path: Path) -> str | None:
    try:
        os.fsdecode(path).encode("utf-8")
    except UnicodeEncodeError:
        return "file name is not valid UTF-8"
    problem = file_problem(path)  # a pipe, folder or device is named as such, never opened
    if problem:
        return problem
    if not os.access(path, os.R_OK):
        return "not readable (permissions)"
    return None


def _videos_in(folder: Path) -> Iterator[Path]:
    """Everything named like a video, files or not: a named pipe or a folder called `x.mp4` is
    reported as skipped with its kind rather than silently passed over."""
    with os.scandir(folder) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name.lower().endswith(VIDEO_SUFFIXES):
                yield Path(entry.path)


def _class_folders(root: Path) -> Iterator[Path]:
    if not root.is_dir():
        raise ZslbenchError(f"{root} is not a folder", "this layout expects ROOT/<class>/<video files>")
    with os.scandir(root) as entries:
        yield from (Path(e.path) for e in sorted(entries, key=lambda e: e.name) if e.is_dir())


def _folder_tree(root: Path, split: str = "") -> Iterator[Candidate]:
    """ROOT/<label>/<video>, or ROOT/<split>/<label>/<video> when the top folders are split names."""
    folders = list(_class_folders(root))
    if not split and folders and all(f.name.lower() in SPLIT_FOLDERS for f in folders):
        for folder in folders:
            yield from _folder_tree(folder, SPLIT_FOLDERS[folder.name.lower()])
        return
    for folder in folders:
        for video in _videos_in(folder):
            yield video, folder.name, split


@LAYOUTS.register("folder", summary="ROOT/<class>/*.{mp4,avi,mkv,webm,mov}; vocabulary from --classes or the folders")
def folder_layout(root: Path, options: IndexOptions):
    """ROOT/<class>/<video> (or ROOT/<split>/<class>/<video>); the vocabulary is `--classes`, else the folder names."""
    return options.classes, _folder_tree(root), []


@LAYOUTS.register("csv", summary="a CSV file with path,label[,split] columns; paths relative to the file")
def csv_layout(root: Path, options: IndexOptions):
    """A CSV file `root` with path,label[,split] columns, paths relative to it; the vocabulary as in `folder_layout`."""
    return options.classes, _csv_rows(root), []


def _csv_rows(path: Path) -> Iterator[Candidate]:
    text = _read_text(path, "CSV", "the csv layout takes a CSV file with path,label[,split] columns")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames or not {"path", "label"} <= {f.strip().lower() for f in reader.fieldnames}:
        raise ZslbenchError(f"{path} has no path,label header", "the first row must name the columns: path,label")
    for row in reader:
        row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
        yield path.parent / row["path"], row["label"], row.get("split", "")


def _read_text(path: Path, what: str, hint: str) -> str:
    """A UTF-8 text file, or a ZslbenchError; a named pipe or folder is refused by kind, never waited on."""
    try:
        return read_regular_bytes(path).decode("utf-8-sig")
    except FileNotFoundError:
        raise ZslbenchError(f"{what} {path} does not exist", hint) from None
    except OSError as err:
        raise ZslbenchError(f"cannot read {what} {path}: {err.strerror or err}", hint) from None
    except UnicodeDecodeError as err:
        raise ZslbenchError(f"{what} {path} is not UTF-8 text (byte {err.start})", hint) from None


@LAYOUTS.register("ucf101", summary="ROOT/<Class>/v_<Class>_gXX_cYY.avi; --split N reads trainlistNN/testlistNN")
def ucf101_layout(root: Path, options: IndexOptions):
    """UCF101's folders, vocabulary `ucf101`; with `options.split`, each video's train/test from the official
    trainlistNN / testlistNN files (ZslbenchError when they are not found)."""
    splits = _ucf_splits(root, options.split) if options.split else {}
    candidates = (
        (path, label, splits.get(f"{label}/{path.name}".lower(), "")) for path, label, _ in _folder_tree(root)
    )
    return "ucf101", candidates, []


def _ucf_splits(root: Path, number: int) -> dict[str, str]:
    """Each `class/video` (lower case) -> train/test from UCF101's official trainlistNN / testlistNN."""
    found = {}
    for kind, split in (("trainlist", "train"), ("testlist", "test")):
        found.update(dict.fromkeys((entry.lower() for entry in ucf_split_entries(root, kind, number)), split))
    return found


UCF_SPLIT_FOLDER = "ucfTrainTestlist"  # the folder UCF101's split archive unpacks to
HMDB_SPLIT_FOLDER = "testTrainMulti_7030_splits"  # HMDB51's
SPLIT_FILE_HINT = "put the dataset's official split files in its folder or beside it"


def split_file_folders(root: Path, subfolder: str) -> list[Path]:
    """Where a dataset's official split files are looked for, in order: in the dataset's folder `root`
    (the folder holding its class folders) or beside it, each also in the authors' `subfolder`."""
    return [root, root / subfolder, root.parent, root.parent / subfolder]


def ucf_split_entries(root: Path, kind: str, number: int) -> list[str]:
    """The entries of UCF101's official list `kind` ("trainlist" or "testlist") number `number`, as
    written (`ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi`; backslashes made '/', a trailing class index
    dropped), from `{kind}{number:02d}.txt` found in or beside `root`. ZslbenchError when it is not there."""
    name = f"{kind}{number:02d}.txt"
    folders = split_file_folders(root, UCF_SPLIT_FOLDER)
    path = next((folder / name for folder in folders if (folder / name).is_file()), None)
    if path is None:
        raise ZslbenchError(
            f"split file {name} not found in {root}, {root.parent} or their {UCF_SPLIT_FOLDER}/", SPLIT_FILE_HINT
        )
    text = _read_text(path, "split file", SPLIT_FILE_HINT)
    return [line.split()[0].replace("\\", "/") for line in text.splitlines() if line.strip()]


@LAYOUTS.register("hmdb51", summary="ROOT/<class>/*.avi; --split N reads <class>_test_splitN.txt (1 train, 2 test)")
def hmdb51_layout(root: Path, options: IndexOptions):
    """HMDB51's folders, vocabulary `hmdb51`; with `options.split`, each video's train/test from the official
    `<class>_test_split<N>.txt` files (1 train, 2 test; ZslbenchError when there are none)."""
    splits = _hmdb_splits(root, options.split) if options.split else {}
    candidates = ((path, label, splits.get(path.name, "")) for path, label, _ in _folder_tree(root))
    return "hmdb51", candidates, []


def _hmdb_splits(root: Path, number: int) -> dict[str, str]:
    """video file name -> train/test from the official <class>_test_split<N>.txt files (1 train, 2 test)."""
    meaning = {"1": "train", "2": "test"}
    return {video: meaning.get(mark, "") for (_, video), mark in hmdb_split_marks(root, number).items()}


def hmdb_split_marks(root: Path, number: int) -> dict[tuple[str, str], str]:
    """(class, video file name) -> its mark in HMDB51's official `<class>_test_split<number>.txt` files
    ("0" unused, "1" train, "2" test; Kuehne et al. 2011), the files found in or beside `root`.
    ZslbenchError when there are none."""
    suffix = f"_test_split{number}.txt"
    folders = split_file_folders(root, HMDB_SPLIT_FOLDER)
    files = next((found for folder in folders if (found := sorted(folder.glob(f"*{suffix}")))), [])
    if not files:
        raise ZslbenchError(
            f"no *{suffix} files in {root}, {root.parent} or their {HMDB_SPLIT_FOLDER}/",
            "put HMDB51's official split files in its folder or beside it",
        )
    found = {}
    for path in files:
        for line in _read_text(path, "split file", SPLIT_FILE_HINT).splitlines():
            parts = line.split()
            if len(parts) == 2:
                found[(path.name[: -len(suffix)], parts[0])] = parts[1]
    return found


def _kinetics_layout(version: str) -> Layout:
    def layout(root: Path, options: IndexOptions):
        if options.annotations is None:
            return version, _folder_tree(root), []
        rows = _read_kinetics_csv(options.annotations)
        files = {p.stem: p for p in root.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES}
        ours = label_matcher(load_class_list(version))
        candidates, missing = [], []
        for youtube_id, start, end, label, split in rows:
            name = f"{youtube_id}_{start:06d}_{end:06d}"
            if name in files:
                candidates.append((files[name], label, SPLIT_FOLDERS.get(split.lower(), split)))
            elif ours(label):  # absent videos of the vocabulary's classes only
                missing.append((name, label))
        return version, iter(candidates), missing

    return layout


def _read_kinetics_csv(path: Path) -> list[tuple[str, int, int, str, str]]:
    hint = "expected the official CSV: label,youtube_id,time_start,time_end,split"
    reader = csv.DictReader(io.StringIO(_read_text(path, "Kinetics annotations", hint), newline=""))
    try:
        return [
            (
                row["youtube_id"],
                int(float(row["time_start"])),
                int(float(row["time_end"])),
                row["label"],
                row.get("split", ""),
            )
            for row in reader
        ]
    except (KeyError, ValueError) as err:
        raise ZslbenchError(f"cannot read Kinetics annotations {path}: {err}", hint) from None


for _version in ("kinetics400", "kinetics600", "kinetics700", "kinetics600_new"):  # the last: some K600 classes
    LAYOUTS.add(
        _version,
        _kinetics_layout(_version),
        summary="official CSV (--annotations) + <id>_<start>_<end>.mp4 clips, or ROOT/[<split>/]<label>/*.mp4",
    )


@LAYOUTS.register("activitynet200", summary="trimmed clips in ROOT/<label>/*.mp4, or --annotations CSV with path,label")
def activitynet_layout(root: Path, options: IndexOptions):
    """ActivityNet-200 trimmed clips as ROOT/<label>/<video>, or the rows of an `--annotations` CSV (path,label)."""
    if options.annotations is not None:
        return "activitynet200", _csv_rows(options.annotations), []
    return "activitynet200", _folder_tree(root), []
