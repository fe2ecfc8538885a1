"""Which of a run's videos each official test split tests, from the split files the dataset's authors
publish: UCF101's `ucfTrainTestlist/testlistNN.txt` (Soomro et al. 2012) and HMDB51's
`testTrainMulti_7030_splits/<class>_test_splitN.txt`, mark 2 (Kuehne et al. 2011).

The files are found as `zslbench data index --split N` finds them (`layouts.split_file_folders`): in
the dataset's folder, the one that holds its class folders, or beside it, each also in the authors'
subfolder. The dataset's folder is where the run's videos are (the parent of their class folders),
whether they were named by `--data`, a configured root or a manifest. A video is matched by its class
and its file name without the extension, so re-encoded copies (`zslbench data prepare`) still match.
The `official` split kind (evaluation/official.py) scores the rows this selects.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

import numpy as np

from zslbench.core.errors import ZslbenchError
from zslbench.datasets import dataset_spec
from zslbench.text.vocab import load_class_list
from zslbench.video.layouts import hmdb_split_marks, label_matcher, ucf_split_entries
from zslbench.video.manifest import VideoRecord

Video = tuple[str, str]  # (class as the split file writes it, file name without extension, lower case)
HMDB_TEST = "2"  # HMDB51's mark of a test video (1 train, 0 unused)


def _ucf_test_videos(root: Path, number: int) -> dict[Video, str]:
    """UCF101's testlist<number>: entries `Class/v_Class_gXX_cYY.avi`."""
    found = {}
    for entry in ucf_split_entries(root, "testlist", number):
        path = PurePosixPath(entry)
        found[(path.parent.name, path.stem.lower())] = entry
    return found


def _hmdb_test_videos(root: Path, number: int) -> dict[Video, str]:
    """HMDB51's <class>_test_split<number>.txt: the videos marked 2."""
    marks = hmdb_split_marks(root, number)
    return {
        (label, PurePosixPath(video).stem.lower()): f"{label}/{video}"
        for (label, video), mark in marks.items()
        if mark == HMDB_TEST
    }


# `OfficialSplits.files` -> the reader of one split's test videos: (dataset folder, number) -> each
# listed video, as matched (`Video`) and as its file writes it
TEST_LISTS: dict[str, Callable[[Path, int], dict[Video, str]]] = {
    "ucf101": _ucf_test_videos,
    "hmdb51": _hmdb_test_videos,
}


def dataset_folder(records: Sequence[VideoRecord]) -> Path:
    """The folder that holds the videos' class folders (`ROOT/<class>/<video>`): the most common one
    when a manifest gathers videos from several."""
    if not records:
        raise ZslbenchError("no videos to take official test splits from", "read the dataset's videos")
    return Counter(Path(record.path).absolute().parent.parent for record in records).most_common(1)[0][0]


def official_membership(dataset: str, records: Sequence[VideoRecord], count: int) -> np.ndarray:
    """bool [count, len(records)]: whether record i is a test video of official split k + 1 (k < count).

    ZslbenchError (one line) when the dataset publishes no split files, when they are not in or beside
    the videos' folder, when a split lists a video that is not among `records` (the splits test every
    video they list, so a partial copy of the dataset cannot give their number), or when a split lists
    no test video of a class that has videos (a split file is missing)."""
    spec = dataset_spec(dataset)
    splits = spec.official_splits
    if splits is None or splits.files not in TEST_LISTS:
        raise ZslbenchError(f"{dataset} has no official split files zslbench reads", "use another split kind")
    root = dataset_folder(records)
    official = label_matcher(load_class_list(spec.name))
    ours = [(record.label, Path(record.path).stem.lower()) for record in records]
    present = set(ours)
    membership = np.zeros((count, len(records)), dtype=bool)
    for number in range(1, count + 1):
        written = {
            (official(label) or label, stem): entry
            for (label, stem), entry in TEST_LISTS[splits.files](root, number).items()
        }
        _check_listed(dataset, number, written, present, root)
        membership[number - 1] = [video in written for video in ours]
    return membership


def _check_listed(dataset: str, number: int, written: dict[Video, str], present: set[Video], root: Path) -> None:
    """Every listed video is among the run's, and every class with videos has test videos listed."""
    listed = set(written)
    absent = sorted(listed - present)
    if absent:
        raise ZslbenchError(
            f"{dataset} official split {number} lists {len(absent)} test video(s) that are not among the "
            f"{len(present)} videos read from {root}, e.g. {written[absent[0]]}",
            "read the whole dataset: an official split tests every video its file lists",
        )
    unlisted = sorted({label for label, _ in present if label} - {label for label, _ in listed})
    if unlisted:
        raise ZslbenchError(
            f"{dataset} official split {number} lists no test video of {len(unlisted)} class(es) that have "
            f"videos in {root}, e.g. {unlisted[0]}",
            "check that the dataset's official split files are complete",
        )
