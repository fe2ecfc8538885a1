import shutil

import pytest

from zslbench.core.errors import ZslbenchError
from zslbench.video.manifest import Manifest, VideoRecord, read_manifest, write_manifest


def test_round_trip_with_paths_relative_to_the_manifest(tmp_path):
    data = tmp_path / "data"
    (data / "a b").mkdir(parents=True)
    video = data / "a b" / "clip, 1.mp4"
    video.write_bytes(b"x")
    manifest = Manifest((VideoRecord(video, "a b", "train"), VideoRecord(video, "c,d")), "ucf101")
    path = write_manifest(manifest, data / "m.csv")
    assert "a b/clip, 1.mp4" in path.read_text() and str(tmp_path) not in path.read_text()
    back = read_manifest(path)
    assert back.records == manifest.records and back.vocabulary == "ucf101"
    shutil.move(data, tmp_path / "moved")  # dataset and manifest move together
    assert read_manifest(tmp_path / "moved" / "m.csv").records[0].path == tmp_path / "moved" / "a b" / "clip, 1.mp4"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("file,class\nx.mp4,a\n", "no 'path,label' header"),
        ("path,label\nx.mp4,\n", "row 2 needs a path and a label"),
        ("path,label\n", "lists no videos"),
    ],
)
def test_bad_manifests_are_clear_errors(tmp_path, text, message):
    (tmp_path / "m.csv").write_text(text)
    with pytest.raises(ZslbenchError, match=message):
        read_manifest(tmp_path / "m.csv")
    with pytest.raises(ZslbenchError, match="does not exist"):
        read_manifest(tmp_path / "missing.csv")


def test_a_class_list_file_is_named_relative_to_the_manifest_wherever_it_is_written(tmp_path):
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "c.txt").write_text("a\n")
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x")
    indexed = Manifest((VideoRecord(video, "a"),), str(tmp_path / "lists" / "c.txt"))  # as index makes it
    first = write_manifest(indexed, tmp_path / "man" / "m.csv")
    assert first.read_text().startswith("# zslbench-manifest v1; vocabulary: ../lists/c.txt\n")
    back = read_manifest(first)
    assert back.vocabulary == "../lists/c.txt" and back.vocabulary_ref == str(tmp_path / "lists" / "c.txt")
    second = write_manifest(back, tmp_path / "deeper" / "still" / "m.csv")  # rewritten elsewhere: re-based
    assert read_manifest(second).vocabulary_ref == str(tmp_path / "lists" / "c.txt")
    named = write_manifest(Manifest(indexed.records, "ucf101"), tmp_path / "deeper" / "n.csv")
    assert read_manifest(named).vocabulary_ref == "ucf101"  # a dataset name stays a name
