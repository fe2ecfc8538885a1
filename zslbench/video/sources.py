"""`--data NAME=PATH`: where a dataset of the protocol lives, as a manifest or a folder to index."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from zslbench.errors import ZslbenchError
from zslbench.video.layouts import LAYOUTS, IndexOptions, index_dataset
from zslbench.video.manifest import Manifest, read_manifest
from zslbench.vocab import ClassList


def parse_data_options(items: Iterable[str]) -> dict[str, Path]:
    sources = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ZslbenchError(
                f"--data {item!r} is not NAME=PATH", "e.g. --data ucf101=/data/ucf101 or --data synth-target=target.csv"
            )
        sources[name.strip()] = Path(path.strip()).expanduser()
    return sources


def dataset_videos(
    class_list: ClassList, sources: dict[str, Path], decoder: str = "pyav", short_side: int | None = None
) -> Manifest:
    """The videos of `class_list`'s dataset: a manifest CSV, or a folder indexed with the dataset's
    layout (its name when it is a layout, else `folder` with the class list as vocabulary).

    A decoder that is not exact (decord) is allowed only on a manifest verified for it
    (`zslbench data check --verify-decoder`); raises ZslbenchError otherwise. So is a prepared
    manifest whose short side is not the protocol's `short_side` (its frames would be scaled twice)."""
    if class_list.name not in sources:
        given = ", ".join(sources) or "none"
        raise ZslbenchError(
            f"no --data for {class_list.name} (given: {given})",
            f"pass --data {class_list.name}=PATH (a manifest CSV or the dataset's folder)",
        )
    path = sources[class_list.name]
    if path.is_file():
        manifest = read_manifest(path)
    elif class_list.name in LAYOUTS:
        manifest = index_dataset(class_list.name, path).manifest
    else:
        vocabulary = class_list.name if class_list.builtin else class_list.source
        manifest = index_dataset("folder", path, IndexOptions(classes=vocabulary)).manifest
    prepared = manifest.prepared
    if prepared and short_side is not None and prepared["settings"]["short_side"] != short_side:
        raise ZslbenchError(
            f"{path} was prepared at short side {prepared['settings']['short_side']}, the protocol reads {short_side}",
            f"prepare the source manifest again with --short-side {short_side}",
        )
    if decoder == "decord":
        from zslbench.video.verify import require_verified

        require_verified(manifest, decoder)
    videos = manifest.only(set(class_list.classes))
    if not len(videos):
        raise ZslbenchError(
            f"{path} has no videos of the {len(class_list)} {class_list.name} classes",
            "check the path and that its labels are the dataset's class names",
        )
    return videos
