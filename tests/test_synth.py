import numpy as np
import pytest

from zslbench.core.errors import ZslbenchError
from zslbench.protocol.overlap import protocol_overlap
from zslbench.protocol.spec import read_protocol
from zslbench.text.vocab import load_class_list
from zslbench.video.decode import Video
from zslbench.video.manifest import read_manifest
from zslbench.video.synth import FRAMES, make_synth, render


def test_targets_are_unseen_combinations_of_seen_factors(synth_dataset):
    source, target = synth_dataset.source, synth_dataset.target
    assert not {c.name for c in source} & {c.name for c in target}
    for factor in ("colour", "shape", "motion"):
        assert {getattr(c, factor) for c in target} <= {getattr(c, factor) for c in source}


def test_the_synthetic_protocol_obeys_its_own_rule(synth_dataset):
    protocol = read_protocol(synth_dataset.protocol)
    table = protocol_overlap(protocol)
    assert table.kept(protocol.tau).all()  # every source class is >= tau from every target class
    assert load_class_list(synth_dataset.root / "synth-target.txt").classes == tuple(
        c.name for c in synth_dataset.target
    )


def test_manifests_list_real_h264_and_mpeg4_files(synth_dataset):
    manifest = read_manifest(synth_dataset.root / "source.csv")
    assert len(manifest) == 4 * len(synth_dataset.source)
    assert {r.path.suffix for r in manifest.records} == {".mp4", ".avi"}
    codecs = {Video(r.path).index.codec for r in manifest.records[:2]}
    assert codecs == {"h264", "mpeg4"}
    assert Video(manifest.records[0].path).num_frames == FRAMES


def test_same_seed_same_dataset_other_seed_other_dataset(tmp_path):
    a = make_synth(tmp_path / "a", n_classes=8, videos_per_class=2, seed=3)
    b = make_synth(tmp_path / "b", n_classes=8, videos_per_class=2, seed=3)
    c = make_synth(tmp_path / "c", n_classes=8, videos_per_class=2, seed=4)
    assert (a.source, a.target) == (b.source, b.target) != (c.source, c.target)
    files = sorted(p.relative_to(a.root) for p in a.root.rglob("*.mp4"))
    assert all((a.root / f).read_bytes() == (b.root / f).read_bytes() for f in files)


def test_motion_is_in_the_frames():
    from zslbench.video.synth import SynthClass

    frames = render(SynthClass("red", "square", "sliding"), np.random.default_rng(0))
    columns = [np.nonzero((f[..., 0] > 150) & (f[..., 1] < 100))[1].mean() for f in (frames[0], frames[-1])]
    assert abs(columns[1] - columns[0]) > 30


def test_refuses_a_used_folder_and_leaves_nothing_behind(tmp_path):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "file").write_text("x")
    with pytest.raises(ZslbenchError, match="not empty"):
        make_synth(tmp_path / "used")
    with pytest.raises(ZslbenchError, match="n_classes=99"):
        make_synth(tmp_path / "new", n_classes=99)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["used"]


def test_h264_encoding_of_the_same_frames_is_repeatable(tmp_path):
    """The same seed must give the same bytes: x264 with mbtree gave 4 distinct files in 300 encodes of
    these frames (so 500 miss a regression with probability under 1%), about 5 s."""
    import hashlib

    from zslbench.video.encode import write_video
    from zslbench.video.synth import SynthClass

    digests = set()
    for _ in range(500):  # fresh frames each time: the allocation churn that exposed it
        frames = render(SynthClass("blue", "triangle", "sliding"), np.random.default_rng([0, 7, 2, 0]))
        digests.add(hashlib.sha256(write_video(tmp_path / "clip.mp4", frames).read_bytes()).hexdigest())
    assert len(digests) == 1
