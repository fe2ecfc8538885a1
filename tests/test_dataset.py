import shutil

import pytest
import torch

from zslbench.video.dataset import Failure, VideoClipDataset, make_loader
from zslbench.video.manifest import read_manifest
from zslbench.video.sampler import ClipSpec

SPEC = ClipSpec(clip_len=8, train_clips=1, test_clips=3, crop=56, short_side=64)


def dataset(manifest, mode, **kwargs):
    return VideoClipDataset(manifest.records, manifest.labels(), SPEC, mode, **kwargs)


def test_items_have_the_protocol_shape(synth_dataset):
    manifest = read_manifest(synth_dataset.root / "target.csv")
    train, test = dataset(manifest, "train"), dataset(manifest, "test")
    assert train[0]["clips"].shape == (1, 3, 8, 56, 56)
    assert test[0]["clips"].shape == (3, 3, 8, 56, 56)
    assert test[0]["label"] == manifest.labels().index(manifest.records[0].label)


def test_training_items_depend_only_on_seed_epoch_and_index(synth_dataset):
    manifest = read_manifest(synth_dataset.root / "source.csv")
    a, b = dataset(manifest, "train", seed=1), dataset(manifest, "train", seed=1)
    assert torch.equal(a[5]["clips"], b[5]["clips"])
    b.set_epoch(1)
    assert not torch.equal(a[5]["clips"], b[5]["clips"])
    test = dataset(manifest, "test")
    assert torch.equal(test[5]["clips"], test[5]["clips"])


def test_undecodable_videos_are_dropped_and_accounted_with_workers(synth_dataset, tmp_path):
    manifest = read_manifest(synth_dataset.root / "target.csv")
    records = list(manifest.records)
    broken = tmp_path / "broken.mp4"
    shutil.copy(records[0].path, broken)
    broken.write_bytes(broken.read_bytes()[:300])  # truncated
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    records[3] = type(records[3])(broken, records[3].label)
    records[7] = type(records[7])(empty, records[7].label)
    data = VideoClipDataset(records, manifest.labels(), SPEC, "test")
    assert isinstance(data[7], Failure) and data[7].reason == "empty file (0 bytes)"
    loader = make_loader(data, batch_size=4, workers=2)
    seen, failures = [], []
    for batch in loader:
        assert batch["clips"].shape[0] == len(batch["labels"]) == len(batch["indices"])
        seen += batch["indices"].tolist()
        failures += batch["failures"]
    assert sorted(seen + [f.index for f in failures]) == list(range(len(records)))
    assert sorted(f.index for f in failures) == [3, 7]
    assert all(f.path in (str(broken), str(empty)) and f.reason for f in failures)


def test_a_batch_of_only_failures_is_empty_not_fake(tmp_path, synth_dataset):
    manifest = read_manifest(synth_dataset.root / "target.csv")
    (tmp_path / "a.mp4").write_bytes(b"not a video")
    record = type(manifest.records[0])(tmp_path / "a.mp4", manifest.records[0].label)
    (batch,) = list(make_loader(VideoClipDataset([record], manifest.labels(), SPEC, "test"), batch_size=2))
    assert batch["clips"].numel() == 0 and len(batch["failures"]) == 1


def test_labels_outside_the_classes_are_refused(synth_dataset):
    manifest = read_manifest(synth_dataset.root / "target.csv")
    with pytest.raises(ValueError, match="labels not among the classes"):
        VideoClipDataset(manifest.records, manifest.labels()[1:], SPEC, "test")
