"""What each `official` split scores of a test dataset's one distance matrix: the dataset's published
test splits (zslbench.datasets `OfficialSplits`) as row and column selections (`scoring.Selection`).

UCF101 and HMDB51 publish three train/test lists (Soomro et al. 2012; Kuehne et al. 2011): split k
scores all classes on the videos of test list k, read from the split files beside the videos
(video/official_splits.py) or, for a features file, from its `official_test` array. The Kinetics-600
new classes publish ER-ZSAR's three draws of 160 classes (Chen & Huang, ICCV 2021): split k scores all
videos of those classes against those classes. The videos are embedded once (the feature cache) and
every split selects from the same distances, as `random_half` selects columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from zslbench.core.errors import ZslbenchError
from zslbench.datasets import OfficialSplits, dataset_spec
from zslbench.evaluation.scoring import Selection
from zslbench.text.vocab import ClassList, load_class_list
from zslbench.video.official_splits import official_membership

FEATURES_KEY = "official_test"  # a features file's bool [splits, videos]: video i is in official test list k + 1


def official_count(splits: Sequence[dict[str, Any]]) -> int:
    """How many official splits the protocol's `evaluation.splits` score (0: none)."""
    return max((split["repeats"] for split in splits if split["kind"] == "official"), default=0)


def official_selections(
    test: ClassList, count: int, order: Sequence[str], records: Sequence[Any], rows: Sequence[int], given: Any = None
) -> tuple[Selection, ...]:
    """Official splits 1..count of dataset `test` as selections of its distance matrix, whose columns are
    the classes in `order` and whose rows are `records[i]` for i in `rows` (the videos with embeddings).

    `given`: bool [>= count, len(records)], which videos each split tests, as a features file holds it
    (its records are None); else it is read from the split files beside the videos. ZslbenchError when
    the dataset has no official splits or they cannot be found (one line)."""
    splits = dataset_spec(test.name).official_splits if test.builtin else None
    if splits is None:
        raise ZslbenchError(f"{test.name} has no official test splits", "use another split kind")
    if splits.class_lists:
        return tuple(_class_selection(splits, number, order) for number in range(1, count + 1))
    membership = _membership(test, count, records, given)
    chosen = np.asarray(rows, dtype=np.int64)
    return tuple(Selection(rows=membership[k, chosen]) for k in range(count))


def _class_selection(splits: OfficialSplits, number: int, order: Sequence[str]) -> Selection:
    """Split `number`'s classes as column indices into `order`."""
    column = {name: i for i, name in enumerate(order)}
    names = load_class_list(str(splits.class_list_path(number))).classes
    unknown = [name for name in names if name not in column]
    if unknown:
        raise ZslbenchError(
            f"official split {number} names {len(unknown)} class(es) the test dataset lacks, e.g. {unknown[0]!r}",
            "its class lists and the dataset's must agree",
        )
    return Selection(classes=np.array(sorted(column[name] for name in names), dtype=np.int64))


def _membership(test: ClassList, count: int, records: Sequence[Any], given: Any) -> np.ndarray:
    """bool [count, len(records)] from a features file's array, else from the split files."""
    if given is not None:
        array = np.asarray(given)
        if array.dtype != bool or array.ndim != 2 or array.shape[0] < count or array.shape[1] != len(records):
            raise ZslbenchError(
                f"{FEATURES_KEY} is {array.dtype} {array.shape}, not bool [{count} or more, {len(records)}]",
                f"write {FEATURES_KEY}[k, i] = whether video i is in official test list k + 1",
            )
        return array[:count]
    if any(record is None for record in records):
        raise ZslbenchError(
            f"the features file does not say which videos {test.name}'s official splits test",
            f"extract it with `zslbench extract` under this protocol, or add {FEATURES_KEY} [splits, videos] (bool)",
        )
    return official_membership(test.name, records, count)


def features_arrays(test: ClassList, splits: Sequence[dict[str, Any]], records: Sequence[Any], kept: Sequence[int]):
    """What a features file of `records[kept]` stores so that `eval --features` can score the protocol's
    `official` split: {FEATURES_KEY: bool [splits, kept]} for a dataset whose splits list videos; {} when
    the protocol scores no official split or the splits list classes (the file's labels say enough)."""
    count = official_count(splits)
    official = dataset_spec(test.name).official_splits if test.builtin and count else None
    if official is None or official.class_lists:
        return {}
    return {FEATURES_KEY: official_membership(test.name, records, count)[:, np.asarray(kept, dtype=np.int64)]}
