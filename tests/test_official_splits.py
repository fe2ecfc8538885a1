"""Today's papers' test protocols (issue 22, part 4): the `official` split kind (UCF101's and HMDB51's
three published test lists; ER-ZSAR's three 160-class draws of Kinetics-600's new classes), seeded
`random_subset` draws, the `kinetics600_new` dataset and the shipped protocols that use them.

Every expectation is small enough to check by hand: which videos each split lists, which of them a
stand-in model gets right, and so each split's top-1 and their mean and (population) std."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_output import single_error_line
from video_files import write_index_video

from zslbench.cli import app
from zslbench.core.errors import ZslbenchError
from zslbench.datasets import dataset_spec
from zslbench.evaluation.run import evaluate_features
from zslbench.evaluation.scoring import Selection, class_subsets, half_class_splits, score_protocol
from zslbench.protocol.spec import load_protocol, read_protocol, shipped_protocols
from zslbench.text import load_embedder
from zslbench.text.class_vectors import embed_class_lists
from zslbench.text.vocab import load_class_list
from zslbench.video.layouts import index_dataset
from zslbench.video.official_splits import official_membership

CLIP_ERA, ER_ZSAR = "clip-era-k400-ucf-hmdb", "er-zsar-k400-k600"
UCF_CLASSES = ("ApplyEyeMakeup", "Archery", "Basketball")
# UCF101 stand-in: 4 videos (groups g01..g04) of each of 3 classes; split k's test list (testlist0k.txt)
UCF_TESTS = {
    1: [f"{c}/v_{c}_g01_c01.avi" for c in UCF_CLASSES],
    2: [f"{c}/v_{c}_g02_c01.avi" for c in UCF_CLASSES] + ["Archery/v_Archery_g03_c01.avi"],
    3: [f"{c}/v_{c}_g04_c01.avi" for c in UCF_CLASSES],
}
# Kinetics-600 renamed these Kinetics-400 classes: not new activities (class_lists/SOURCES.md)
RENAMED = {
    "balloon blowing": "inflating balloons",
    "baby waking up": "waking up",
    "changing wheel": "changing wheel (not on bike)",
    "opening bottle": "opening bottle (not wine)",
    "making bed": "making the bed",
    "throwing ball": "throwing ball (not baseball or American football)",
    "hugging": "hugging (not baby)",
    "tying tie": "tying necktie",
    "cooking sausages": "cooking sausages (not on barbeque)",
    "garbage collecting": "person collecting garbage",
    "dying hair": "dyeing hair",
    "passing American football (not in game)": "passing american football (not in game)",
}


def ucf_stand_in(root: Path, tests: dict[int, list[str]] = UCF_TESTS) -> Path:
    """ROOT/<Class>/v_<Class>_gNN_c01.avi (12 tiny videos) and ucfTrainTestlist/ beside ROOT."""
    for name in UCF_CLASSES:
        for group in range(1, 5):
            write_index_video(root / name / f"v_{name}_g{group:02d}_c01.avi", frames=8)
    lists = root.parent / "ucfTrainTestlist"
    lists.mkdir(parents=True, exist_ok=True)
    for number, entries in tests.items():
        (lists / f"testlist{number:02d}.txt").write_text("".join(f"{e}\r\n" for e in entries))  # CRLF, as shipped
    return root


def class_vectors(protocol_name: str, dataset: str) -> dict[str, np.ndarray]:
    """The protocol's class vectors of `dataset`'s classes: a video embedded as its class's vector is a hit."""
    protocol = load_protocol(protocol_name)
    embedder = load_embedder(protocol.embedding, word_norm=protocol.word_norm)
    (vectors,) = embed_class_lists([load_class_list(dataset)], embedder)
    return dict(zip(vectors.names, vectors.vectors, strict=True))


# --- the dataset kinetics600_new and its official splits -------------------------------------------


def test_kinetics600_new_is_kinetics600_minus_kinetics400_and_its_renames():
    k400, k600 = (set(load_class_list(name).classes) for name in ("kinetics400", "kinetics600"))
    plain = k600 - k400
    assert len(plain) == 232  # the plain name difference: 12 more than the papers' 220
    assert set(RENAMED) <= k400 and set(RENAMED.values()) <= plain and not set(RENAMED) & k600
    new = load_class_list("kinetics600_new")
    assert new.classes == tuple(sorted(plain - set(RENAMED.values())))
    assert len(new) == 220 and dataset_spec("kinetics600_new").layout == "kinetics600_new"


def test_er_zsar_draws_are_three_distinct_sets_of_160_of_the_220():
    new = set(load_class_list("kinetics600_new").classes)
    official = dataset_spec("kinetics600_new").official_splits
    draws = [load_class_list(str(official.class_list_path(k))).classes for k in (1, 2, 3)]
    assert official.count == 3 and all(len(d) == len(set(d)) == 160 and set(d) <= new for d in draws)
    assert len({frozenset(d) for d in draws}) == 3
    # ER-ZSAR numbers the new classes 400..619 in this order; split 1 holds out these 60 for validation
    # (datasets/Kinetics/zsl220/val_class_idxs.json, first list, its first entries 402, 403, 405, 415)
    ordered = load_class_list("kinetics600_new").classes
    assert [ordered[i - 400] not in draws[0] for i in (402, 403, 405, 415)] == [True] * 4
    assert "yarn spinning" in draws[0] and "yarn spinning" not in draws[1]


def test_class_subsets_are_seeded_draws_and_a_half_is_the_references_split():
    draws = class_subsets(220, 160, repeats=3, first_seed=0)
    assert [len(d) for d in draws] == [160] * 3 and all(len(set(d)) == 160 and d.max() < 220 for d in draws)
    assert len({frozenset(d.tolist()) for d in draws}) == 3  # three distinct draws
    again = class_subsets(220, 160, repeats=2, first_seed=1)  # seed k gives the same draw wherever it starts
    assert [d.tolist() for d in again] == [d.tolist() for d in draws[1:]]
    assert [d.tolist() for d in class_subsets(101, 50, 10)] == [d.tolist() for d in half_class_splits(101)]
    state = np.random.get_state()[1].copy()
    class_subsets(220, 160, 3)
    assert (np.random.get_state()[1] == state).all()  # the global generator is left as it was
    with pytest.raises(ValueError, match="cannot draw 221 of 220"):
        class_subsets(220, 221, 1)


# --- scoring -----------------------------------------------------------------------------------------


def test_official_and_subset_splits_select_rows_and_columns_of_one_matrix():
    # 3 classes, 6 videos; the nearest class of each video: 0, 1, 1, 2, 0, 2 (labels 0, 0, 1, 1, 2, 2)
    distances = np.array([[0, 1, 2], [1, 0, 2], [2, 0, 1], [2, 1, 0], [0, 2, 1], [1, 2, 0]], dtype=float)
    labels = np.array([0, 0, 1, 1, 2, 2])
    official = [
        Selection(rows=np.array([1, 0, 1, 0, 1, 0], bool)),  # videos 0, 2, 4: hit, hit, miss -> 66.7
        Selection(rows=np.array([0, 1, 0, 1, 0, 1], bool)),  # videos 1, 3, 5: miss, miss, hit -> 33.3
        Selection(classes=np.array([1, 2])),  # classes 1, 2 only: videos 2, 3, 4, 5 -> 2 1 2 2: 75.0
    ]
    splits = [{"kind": "official", "repeats": 3, "first_seed": 0}, {"kind": "all", "repeats": 1, "first_seed": 0}]
    out = score_protocol(distances, labels, ["a", "b", "c"], splits, ["top1"], official=official)
    values = [200 / 3, 100 / 3, 75.0]
    assert out["official"]["top1"]["values"] == pytest.approx(values)
    assert out["official"]["top1"]["mean"] == pytest.approx(np.mean(values))
    assert out["official"]["top1"]["std"] == pytest.approx(np.std(values))  # population std, as random_half's
    assert out["official"]["videos_per_split"] == [3, 3, 4] and out["official"]["classes_per_split"] == [3, 3, 2]
    assert out["all"]["top1"] == pytest.approx(50.0)
    with pytest.raises(ValueError, match="official"):
        score_protocol(distances, labels, ["a", "b", "c"], splits, ["top1"], official=official[:2])
    subset = score_protocol(
        distances, labels, ["a", "b", "c"], [{"kind": "random_subset", "classes": 2, "repeats": 2, "first_seed": 4}]
    )["random_subset"]
    assert (subset["repeats"], subset["first_seed"], subset["classes_per_split"]) == (2, 4, 2)


# --- protocols -------------------------------------------------------------------------------------


def test_shipped_protocols_train_on_all_of_kinetics400_and_score_the_official_splits():
    for name in (CLIP_ERA, ER_ZSAR):
        protocol = load_protocol(name)
        assert protocol.train_source == "kinetics400" and protocol.tau == 0.0
        assert protocol.data["evaluation"]["splits"] == [{"kind": "official", "repeats": 3, "first_seed": 0},
                                                         {"kind": "all", "repeats": 1, "first_seed": 0}]  # fmt: skip
        filtered = load_protocol(f"{name}-filtered")
        assert filtered.tau == 0.05 and filtered.data["evaluation"] == protocol.data["evaluation"]
        assert {name, f"{name}-filtered"} <= set(shipped_protocols())
    assert load_protocol(CLIP_ERA).test == ["ucf101", "hmdb51"] and load_protocol(ER_ZSAR).test == ["kinetics600_new"]


@pytest.mark.parametrize(
    ("base", "splits", "message"),
    [
        ("brattoli2020-k700-ucf-hmdb-anet", "[{kind: official}]", "activitynet200 has no official test splits"),
        (CLIP_ERA, "[{kind: official, repeats: 4}]", "repeats 4, but ucf101 has 3"),
        (CLIP_ERA, "[{kind: official, first_seed: 2}]", "'official' split is not seeded"),
        (CLIP_ERA, "[{kind: official, classes: 10}]", "'official' split takes no `classes`"),
        (ER_ZSAR, "[{kind: random_subset, repeats: 3}]", "'random_subset' split needs `classes`"),
        (ER_ZSAR, "[{kind: random_subset, classes: 300}]", "300 classes, but kinetics600_new has 220"),
    ],
)
def test_protocol_refuses_official_and_subset_splits_that_do_not_fit(base, splits, message, tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(f"include: {base}\nname: p\nevaluation:\n  splits: {splits}\n")
    with pytest.raises(ZslbenchError, match=message.replace("(", r"\(")):
        read_protocol(path)


def test_protocols_list_and_show_name_the_new_protocols(runner):
    listed = runner.invoke(app, ["protocols", "list"])
    assert listed.exit_code == 0 and CLIP_ERA in listed.stdout and f"{ER_ZSAR}-filtered" in listed.stdout
    shown = runner.invoke(app, ["protocols", "show", ER_ZSAR])
    assert shown.exit_code == 0 and "kinetics600_new" in shown.stdout and "official" in shown.stdout


# --- official test lists on real files -------------------------------------------------------------


def test_hmdb51_split_files_beside_the_folder_select_each_splits_test_videos(tmp_path):
    root = tmp_path / "hmdb51"
    for name in ("brush_hair/a.avi", "brush_hair/b.avi", "brush_hair/c.avi", "cartwheel/d.avi", "cartwheel/e.avi"):
        write_index_video(root / name, frames=4)
    lists = tmp_path / "testTrainMulti_7030_splits"  # beside the dataset's folder
    lists.mkdir()
    marks = {"brush_hair": {1: "2 1 1", 2: "1 2 0", 3: "1 1 2"}, "cartwheel": {1: "2 1", 2: "1 2", 3: "2 2"}}
    for label, per_split in marks.items():
        videos = ["a", "b", "c"] if label == "brush_hair" else ["d", "e"]
        for number, line in per_split.items():
            rows = "".join(f"{v}.avi {m} \n" for v, m in zip(videos, line.split(), strict=True))
            (lists / f"{label}_test_split{number}.txt").write_text(rows)
    records = index_dataset("hmdb51", root).manifest.records  # a b c d e
    membership = official_membership("hmdb51", records, 3)
    assert membership.astype(int).tolist() == [[1, 0, 0, 1, 0], [0, 1, 0, 0, 1], [0, 0, 1, 1, 1]]
    (lists / "cartwheel_test_split3.txt").unlink()
    with pytest.raises(ZslbenchError, match="split 3 lists no test video of 1 class"):
        official_membership("hmdb51", records, 3)


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory) -> Path:
    pytest.importorskip("transformers")
    from video_text_models import save_clip_folder, tiny_clip

    return save_clip_folder(tiny_clip(seed=0), tmp_path_factory.mktemp("clip") / "tiny-clip")


def eval_ucf(runner, clip_folder: Path, root: Path, results: Path, *extra: str):
    args = ["eval", "--model", "clip_frames", "--weights", str(clip_folder), "--protocol", CLIP_ERA,
            "--dataset", "ucf101", "--data", f"ucf101={root}", "--image-text", "none", "--finetuned-on", "kinetics400",
            "--out", str(results), "--json", *extra]  # fmt: skip
    return runner.invoke(app, args)


def test_each_official_split_scores_exactly_its_test_lists_videos(runner, clip_folder, tmp_path):
    root = ucf_stand_in(tmp_path / "UCF-101")
    done = eval_ucf(runner, clip_folder, root, tmp_path / "results", "--log-samples")
    assert done.exit_code == 0, done.stderr[-2000:]
    (record,) = json.loads(done.stdout)
    official = record["metrics"]["official"]
    assert official["videos_per_split"] == [3, 4, 3] and official["classes_per_split"] == [101] * 3
    assert record["metrics"]["all"]["videos"] == 12  # the full set: every video, each embedded once
    (samples,) = (tmp_path / "results").rglob("*.samples.jsonl")
    hit = {}
    for line in samples.read_text().splitlines():
        row = json.loads(line)
        hit[f"{row['label']}/{Path(row['path']).name}"] = row["top5"][0]["class"] == row["label"]
    expected = [100 * np.mean([hit[entry] for entry in UCF_TESTS[k]]) for k in (1, 2, 3)]
    assert official["top1"]["values"] == pytest.approx(expected)
    assert (official["top1"]["mean"], official["top1"]["std"]) == pytest.approx((np.mean(expected), np.std(expected)))
    table = runner.invoke(app, ["table", str(tmp_path / "results")])
    assert table.exit_code == 0 and f"{CLIP_ERA}@v1 · ucf101 · official · top1" in table.stdout
    assert f"{official['top1']['mean']:.1f} ± {official['top1']['std']:.1f}" in table.stdout
    # extracted once to a features file, which then carries which videos each split tests
    out = tmp_path / "ucf.npz"
    extracted = runner.invoke(app, ["extract", "--model", "clip_frames", "--weights", str(clip_folder),
                                    "--protocol", CLIP_ERA, "--data", f"ucf101={root}", "--out", str(out),
                                    "--image-text", "none", "--finetuned-on", "kinetics400"])  # fmt: skip
    assert extracted.exit_code == 0, extracted.stderr[-2000:]
    assert np.load(out)["official_test"].sum(axis=1).tolist() == [3, 4, 3]
    scored = runner.invoke(app, ["eval", "--features", str(out), "--protocol", CLIP_ERA,
                                 "--out", str(tmp_path / "b"), "--json"])  # fmt: skip
    assert scored.exit_code == 0, scored.stderr[-2000:]
    assert json.loads(scored.stdout)[0]["metrics"] == record["metrics"]


@pytest.mark.parametrize(
    ("tests", "message"),
    [
        ({}, "split file testlist01.txt not found in"),
        ({**UCF_TESTS, 2: [*UCF_TESTS[2], "Archery/v_Archery_g07_c01.avi"]}, "split 2 lists 1 test video(s) that are"),
    ],
)
def test_missing_split_files_or_videos_are_one_line_exit_2(runner, clip_folder, tmp_path, tests, message):
    root = ucf_stand_in(tmp_path / "UCF-101", tests)
    done = eval_ucf(runner, clip_folder, root, tmp_path / "results")
    assert done.exit_code == 2
    assert message in single_error_line(done)


# --- features files --------------------------------------------------------------------------------


def test_a_features_file_carries_which_videos_each_official_split_tests(runner, tmp_path):
    vectors = class_vectors(CLIP_ERA, "ucf101")
    labels = [name for name in UCF_CLASSES for _ in range(4)]  # videos 0-3, 4-7, 8-11
    # hits: split 1 (videos 0, 4, 8) all; split 2 (1, 5, 9, 6) two of four; split 3 (3, 7, 11) one of three
    hits = {0, 4, 8, 1, 6, 3}
    assert len({tuple(vectors[name]) for name in (*UCF_CLASSES, "YoYo")}) == 4  # distinct class vectors
    embeddings = np.stack([vectors[label] if i in hits else vectors["YoYo"] for i, label in enumerate(labels)])
    tests = np.zeros((3, 12), bool)
    for k, videos in enumerate([(0, 4, 8), (1, 5, 9, 6), (3, 7, 11)]):
        tests[k, list(videos)] = True
    path = tmp_path / "ucf.npz"
    np.savez(path, embeddings=embeddings, labels=np.array(labels), official_test=tests)
    ((_, record),) = evaluate_features(path, CLIP_ERA, "m", "ucf101", tmp_path / "results").records
    official = record["metrics"]["official"]
    assert official["top1"]["values"] == pytest.approx([100.0, 50.0, 100 / 3])
    assert official["top1"]["std"] == pytest.approx(np.std([100.0, 50.0, 100 / 3]))
    assert record["metrics"]["all"]["top1"] == pytest.approx(50.0)
    np.savez(path, embeddings=embeddings, labels=np.array(labels))  # no official_test
    done = runner.invoke(app, ["eval", "--features", str(path), "--protocol", CLIP_ERA, "--dataset", "ucf101",
                               "--out", str(tmp_path / "r2")])  # fmt: skip
    assert done.exit_code == 2
    assert "does not say which videos ucf101's official splits test" in single_error_line(done)


def test_kinetics600_new_splits_rank_each_draws_videos_against_its_160_classes(tmp_path):
    vectors = class_vectors(ER_ZSAR, "kinetics600_new")
    classes = load_class_list("kinetics600_new").classes
    official = dataset_spec("kinetics600_new").official_splits
    draws = [set(load_class_list(str(official.class_list_path(k))).classes) for k in (1, 2, 3)]
    wrong = "arguing"  # in all three draws: a video embedded as its vector is a miss in every draw
    assert all(wrong in draw for draw in draws) and len({tuple(v) for v in vectors.values()}) == 220
    # one video per class, a hit exactly for the classes of draw 1
    embeddings = np.stack([vectors[c] if c in draws[0] else vectors[wrong] for c in classes])
    path = tmp_path / "k600.npz"
    np.savez(path, embeddings=embeddings, labels=np.array(classes))
    sets = ["evaluation.splits=[{kind: official, repeats: 3}, {kind: random_subset, classes: 160, repeats: 3}]"]
    protocol = load_protocol(ER_ZSAR, sets=sets)
    ((_, record),) = evaluate_features(path, protocol, "m", None, tmp_path / "results").records
    scored = record["metrics"]["official"]
    assert scored["videos_per_split"] == scored["classes_per_split"] == [160] * 3
    expected = [100 * len(draws[0] & draw) / 160 for draw in draws]  # draw 1: 100.0
    assert scored["top1"]["values"] == pytest.approx(expected) and expected[0] == 100.0
    subset = record["metrics"]["random_subset"]
    assert subset["classes_per_split"] == 160 and subset["videos_per_split"] == [160] * 3
    chosen = [{classes[i] for i in sorted(classes_index)} for classes_index in class_subsets(220, 160, 3)]
    assert subset["top1"]["values"] == pytest.approx([100 * len(draws[0] & c) / 160 for c in chosen])
