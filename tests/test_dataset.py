import shutil

import pytest
import torch

from zslbench.video.dataset import Failure, VideoClipDataset, make_loader
from zslbench.video.manifest import read_manifest
from zslbench.video.sampler import ClipSpec
from zslbench.video.transforms import to_model_input

SPEC = ClipSpec(clip_len=8, train_clips=1, test_clips=3, crop=56, short_side=64)


def dataset(manifest, mode, **kwargs):
    return VideoClipDataset(manifest.records, manifest.labels(), SPEC, mode, **kwargs)


def test_items_have_the_protocol_shape(synth_dataset):
    manifest = read_manifest(synth_dataset.root / "target.csv")
    train, test = dataset(manifest, "train"), dataset(manifest, "test")
    assert train[0]["clips"].shape == (1, 8, 56, 56, 3) and train[0]["clips"].dtype == torch.uint8
    assert test[0]["clips"].shape == (3, 8, 56, 56, 3)  # uint8 across processes, normalised on the device
    assert test[0]["label"] == manifest.labels().index(manifest.records[0].label)
    assert to_model_input(test[0]["clips"]).shape == (3, 3, 8, 56, 56)


@pytest.mark.parametrize("backend", ["pyav", "pyav-sequential"])
def test_the_exact_backends_give_the_same_items_and_say_how_they_read(synth_dataset, backend):
    manifest = read_manifest(synth_dataset.root / "target.csv")
    reference = dataset(manifest, "train", seed=3, backend="pyav-sequential")
    data = dataset(manifest, "train", seed=3, backend=backend)
    for i in (0, 5):
        assert torch.equal(data[i]["clips"], reference[i]["clips"])
    modes = {data[i]["decoder"] for i in range(len(manifest))}
    suffixes = {record.path.suffix for record in manifest.records}
    expected = {"sequential"} if backend == "pyav-sequential" else {".mp4": "seek", ".avi": "sequential"}
    assert modes == (expected if backend == "pyav-sequential" else {expected[s] for s in suffixes})


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
        assert batch["clips"].shape[0] == len(batch["labels"]) == len(batch["indices"]) == len(batch["decoders"])
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
