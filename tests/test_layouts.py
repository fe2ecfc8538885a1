import json
import os
import shutil

import pytest
from video_files import write_index_video

from zslbench.core.errors import ZslbenchError
from zslbench.text.vocab import DATASETS, load_class_list
from zslbench.video.layouts import LAYOUTS, IndexOptions, index_dataset, label_matcher
from zslbench.video.manifest import read_manifest


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_index_video(tmp_path_factory.mktemp("clip") / "clip.mp4", frames=4)


def place(clip, root, *relative):
    for rel in relative:
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(clip, target)


def labels(report):
    return sorted({r.label for r in report.manifest.records})


def test_ucf101_tree_maps_handstand_spelling_and_reads_official_splits(clip, tmp_path):
    place(
        clip,
        tmp_path,
        "HandstandPushups/v_HandStandPushups_g01_c01.avi",
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi",
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi",
        "NotAClass/v_NotAClass_g01_c01.avi",
    )
    (tmp_path / "ucfTrainTestlist").mkdir()
    (tmp_path / "ucfTrainTestlist/trainlist01.txt").write_text(
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\r\nHandstandPushups/v_HandStandPushups_g01_c01.avi 37\r\n"
    )
    (tmp_path / "ucfTrainTestlist/testlist01.txt").write_text("ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\r\n")
    report = index_dataset("ucf101", tmp_path, IndexOptions(split=1))
    splits = {r.path.name: r.split for r in report.manifest.records}
    assert labels(report) == ["ApplyEyeMakeup", "HandstandPushups"]
    assert splits == {
        "v_ApplyEyeMakeup_g01_c01.avi": "test",
        "v_ApplyEyeMakeup_g08_c01.avi": "train",
        "v_HandStandPushups_g01_c01.avi": "train",
    }
    assert report.unknown_labels == {"NotAClass": 1}
    assert len(report.empty_classes) == 99


def test_hmdb51_tree_with_split_files(clip, tmp_path):
    place(clip, tmp_path / "videos", "brush_hair/a.avi", "brush_hair/b.avi", "ride_bike/c.avi")
    splits = tmp_path / "videos" / "testTrainMulti_7030_splits"
    splits.mkdir()
    (splits / "brush_hair_test_split1.txt").write_text("a.avi 1 \nb.avi 2 \n")
    (splits / "ride_bike_test_split1.txt").write_text("c.avi 0 \n")
    report = index_dataset("hmdb51", tmp_path / "videos", IndexOptions(split=1))
    assert [(r.path.name, r.label, r.split) for r in report.manifest.records] == [
        ("a.avi", "brush_hair", "train"),
        ("b.avi", "brush_hair", "test"),
        ("c.avi", "ride_bike", ""),
    ]
    with pytest.raises(ZslbenchError, match="test_split2"):
        index_dataset("hmdb51", tmp_path / "videos", IndexOptions(split=2))


def test_kinetics_official_csv_with_split_label_folders_and_flat_files(clip, tmp_path):
    place(
        clip,
        tmp_path,
        "train/passing_American_football_(in_game)/abc_000010_000020.mp4",
        "val/xyz_000000_000010.mp4",
    )
    csv = tmp_path / "k700.csv"
    csv.write_text(
        "label,youtube_id,time_start,time_end,split\n"
        "passing American football (in game),abc,10,20,train\n"
        "massaging person's head,xyz,0,10,validate\n"
        "abseiling,gone,5,15,train\n"
    )
    report = index_dataset("kinetics700", tmp_path, IndexOptions(annotations=csv))
    assert [(r.label, r.split) for r in report.manifest.records] == [
        ("massaging person's head", "val"),
        ("passing American football (in game)", "train"),
    ]
    assert report.missing == [("gone_000005_000015", "abseiling")]


def test_kinetics_plain_tree_with_underscored_folders(clip, tmp_path):
    place(
        clip, tmp_path, "massaging_persons_head/1.mp4", "skiing_(not_slalom_or_crosscountry)/2.mp4", "dying_hair/3.mp4"
    )
    report = index_dataset("kinetics400", tmp_path)
    assert labels(report) == ["dying hair", "massaging person's head", "skiing (not slalom or crosscountry)"]
    unknown = index_dataset("kinetics700", tmp_path).unknown_labels  # K700 spells "dyeing", has no "(not ...)"
    assert unknown == {"dying_hair": 1, "skiing_(not_slalom_or_crosscountry)": 1}


def test_activitynet_folders_and_csv(clip, tmp_path):
    place(clip, tmp_path, "Playing_flauta/v1.mp4", "Ping-pong/v2.mp4")
    assert labels(index_dataset("activitynet200", tmp_path)) == ["Ping-pong", "Playing flauta"]
    (tmp_path / "anet.csv").write_text("path,label\nPing-pong/v2.mp4,Ping-pong\n")
    report = index_dataset("activitynet200", tmp_path, IndexOptions(annotations=tmp_path / "anet.csv"))
    assert labels(report) == ["Ping-pong"]


def test_folder_and_csv_layouts_with_and_without_a_vocabulary(clip, tmp_path):
    place(clip, tmp_path / "mine", "jumping/a.webm", "running/b.mkv", "running/notes.txt")
    report = index_dataset("folder", tmp_path / "mine")
    assert labels(report) == ["jumping", "running"] and len(report.manifest) == 2
    (tmp_path / "classes.txt").write_text("running\n")
    restricted = index_dataset("folder", tmp_path / "mine", IndexOptions(classes=str(tmp_path / "classes.txt")))
    assert labels(restricted) == ["running"] and restricted.unknown_labels == {"jumping": 1}
    (tmp_path / "list.csv").write_text("path,label,split\nmine/jumping/a.webm,jumping,test\n")
    (record,) = index_dataset("csv", tmp_path / "list.csv").manifest.records
    assert (record.path, record.label, record.split) == (tmp_path / "mine/jumping/a.webm", "jumping", "test")


def test_unusable_files_are_skipped_and_reported(clip, tmp_path):
    place(clip, tmp_path, "a/good.mp4")
    (tmp_path / "a" / "empty.mp4").write_bytes(b"")
    odd = os.fsencode(tmp_path / "a") + b"/caf\xe9.mp4"
    with open(odd, "wb") as handle:
        handle.write(clip.read_bytes())
    report = index_dataset("folder", tmp_path)
    assert [r.path.name for r in report.manifest.records] == ["good.mp4"]
    reasons = sorted(reason for _, reason in report.skipped)
    assert reasons == ["empty file (0 bytes)", "file name is not valid UTF-8"]


@pytest.mark.parametrize(
    ("layout", "make", "message"),
    [
        ("folder", lambda root: None, "does not exist"),
        ("folder", lambda root: (root / "a").mkdir(parents=True), "no videos"),
        ("ucf", lambda root: root.mkdir(), "Did you mean 'ucf101'"),
        ("csv", lambda root: root.mkdir(), r"not a regular file \(a folder\)"),
    ],
)
def test_bad_roots_are_clear_errors(tmp_path, layout, make, message):
    root = tmp_path / "root"
    make(root)
    with pytest.raises(ZslbenchError, match=message):
        index_dataset(layout, root)


@pytest.mark.parametrize("name", DATASETS)
def test_no_two_classes_of_a_vocabulary_share_a_folder_key(name):
    vocabulary = load_class_list(name)
    match = label_matcher(vocabulary)
    assert all(match(c) == c for c in vocabulary.classes)
    assert all(match(c.replace(" ", "_").upper()) == c for c in vocabulary.classes)


def test_every_layout_is_listed():
    assert set(LAYOUTS.names()) == {*DATASETS, "folder", "csv"}


def test_links_that_leave_the_dataset_folder_are_reported_not_indexed(runner, clip, tmp_path):
    """A link to a file outside the root would be written into the manifest as its target (a system
    file listed as a video); one to a whole class folder outside likewise. Links inside are fine."""
    from zslbench.cli import app

    root, outside = tmp_path / "root", tmp_path / "outside"
    place(clip, root, "a/clip.mp4", "b/clip.mp4")
    place(clip, outside, "video.mp4", "classdir/far.mp4")
    (outside / "secret.txt").write_text("root:x:0:0\n")
    links = {
        root / "a" / "secret.mp4": outside / "secret.txt",
        root / "a" / "far.mp4": outside / "video.mp4",
        root / "c": outside / "classdir",
        root / "b" / "alias.mp4": root / "a" / "clip.mp4",  # inside the root: indexed
    }
    for link, target in links.items():
        link.symlink_to(target)
    args = ["data", "index", "folder", str(root), "-o", str(tmp_path / "m.csv")]
    indexed = runner.invoke(app, [*args, "--json"])
    assert indexed.exit_code == 0, indexed.stderr
    summary = json.loads(indexed.stdout)
    assert {(link["path"], link["target"]) for link in summary["outside_links"]} == {
        (str(root / "a" / "secret.mp4"), str(outside / "secret.txt")),
        (str(root / "a" / "far.mp4"), str(outside / "video.mp4")),
        (str(root / "c" / "far.mp4"), str(outside / "classdir" / "far.mp4")),
    }
    paths = [r.path.resolve() for r in read_manifest(tmp_path / "m.csv").records]
    assert len(paths) == 3 and all(path.is_relative_to(root.resolve()) for path in paths)
    assert "outside" not in (tmp_path / "m.csv").read_text() and summary["videos"] == 3
    human = runner.invoke(app, args)
    assert "3 links to outside the dataset folder, not indexed" in human.stderr
    assert f"{root / 'a' / 'secret.mp4'} -> {outside / 'secret.txt'}" in human.stderr


def test_a_pipe_or_folder_named_like_a_video_is_skipped_by_kind(clip, tmp_path):
    place(clip, tmp_path, "a/good.mp4")
    os.mkfifo(tmp_path / "a" / "pipe.mp4")
    (tmp_path / "a" / "folder.avi").mkdir()
    report = index_dataset("folder", tmp_path)
    assert [r.path.name for r in report.manifest.records] == ["good.mp4"]
    assert sorted(report.skipped) == [
        (str(tmp_path / "a" / "folder.avi"), "not a regular file (a folder)"),
        (str(tmp_path / "a" / "pipe.mp4"), "not a regular file (a named pipe)"),
    ]
