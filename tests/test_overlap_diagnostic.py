"""How much a number owes to overlap (issue 22, item 2): the test-side subset against a model's declared
training classes, and the per-class distance diagnostic, checked against scipy on HMDB51 and
Kinetics-400's shipped class lists with crafted embeddings (features files, through the library and
the CLI)."""

from __future__ import annotations

import itertools
import json
import time

import numpy as np
import pytest
from cli_output import single_error_line
from scipy.spatial.distance import cdist

from zslbench.cli.app import app
from zslbench.evaluation.class_space import TextTowerSpace, space_arrays
from zslbench.evaluation.dataset_record import Embedded, Maker, record_and_distances
from zslbench.evaluation.run import evaluate_features
from zslbench.models.video_text.declared import Declared
from zslbench.protocol.spec import read_protocol
from zslbench.protocol.test_side import declared_classes
from zslbench.reporting.overlap import record_overlap
from zslbench.text import load_embedder
from zslbench.text.class_vectors import embed_class_lists
from zslbench.text.vocab import ClassList, load_class_list

EDGES = [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 2.0]  # the protocol-embedding bins at tau 0.05
DECLARED = ("brushing hair", "cartwheeling", "abseiling", "riding a bike")  # a small fine-tuning list


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    """(protocol path, protocol, embedder, HMDB51 in the protocol's class order, its unit class vectors,
    Kinetics-400's): the shipped Brattoli protocol scoring `all`, `unseen` and `gzsl`."""
    path = tmp_path_factory.mktemp("protocol") / "overlap-test.yaml"
    path.write_text(
        "include: brattoli2020-k700-ucf-hmdb\nname: overlap-test\n"
        "evaluation:\n  splits: [{kind: all}, {kind: unseen}, {kind: gzsl}]\n"
    )
    protocol = read_protocol(path)
    embedder = load_embedder(protocol.embedding, word_norm=protocol.word_norm)
    (listed,) = [t for t in protocol.test_classes() if t.name == "hmdb51"]
    hmdb = ClassList("hmdb51", tuple(sorted(listed.classes)), listed.source)  # class_order: sorted
    k400 = load_class_list("kinetics400")
    hmdb_vectors, k400_vectors = embed_class_lists([hmdb, k400], embedder)
    return path, protocol, embedder, hmdb, hmdb_vectors.vectors.astype(np.float64), k400, k400_vectors.vectors


def fine_tuned_on_everything(setting, tmp_path, **extra):
    """A features file of a model fine-tuned on all of Kinetics-400: its HMDB51 videos are their class
    vector (plus a little noise) for the classes within tau of a Kinetics-400 class, noise for the rest.
    Returns (path, labels [videos] as indices into HMDB51, the within-tau mask [classes])."""
    _, protocol, _, hmdb, vectors, k400, k400_vectors = setting
    within = cdist(vectors, k400_vectors, "cosine").min(axis=1) < protocol.tau
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(len(hmdb)), 3)
    right = vectors[labels] + 0.02 * rng.normal(size=(len(labels), vectors.shape[1]))
    embeddings = np.where(within[labels, None], right, rng.normal(size=right.shape))
    path = tmp_path / "everything.npz"
    arrays = {"embeddings": embeddings.astype(np.float32), "labels": np.array(hmdb.classes)[labels]}
    np.savez(path, **arrays, training_classes=np.array(k400.classes), **extra)
    return path, labels, within


def by_hand_top1(embeddings: np.ndarray, labels: np.ndarray, vectors: np.ndarray, classes: np.ndarray) -> float:
    """Top-1 (percent) of the videos of `classes`, each ranked among `classes` only."""
    mine = np.isin(labels, classes)
    nearest = classes[cdist(embeddings[mine], vectors[classes], "cosine").argmin(axis=1)]
    return float(100 * np.mean(nearest == labels[mine]))


def test_a_model_fine_tuned_on_everything_gets_its_honest_number_on_the_test_side_subset(setting, tmp_path):
    path_, _, embedder, hmdb, vectors, _, _ = setting
    features, labels, within = fine_tuned_on_everything(setting, tmp_path)
    ((_, record),) = evaluate_features(features, str(path_), "tuned", "hmdb51", tmp_path / "r").records
    metrics = record["metrics"]
    embeddings = np.load(features)["embeddings"].astype(np.float64)
    unseen = np.flatnonzero(~within)
    assert 0 < within.sum() < len(hmdb)  # the crafted model is right on exactly the overlapping classes
    assert metrics["unseen"]["classes"] == len(unseen) and metrics["unseen"]["seen_classes"] == within.sum()
    assert metrics["unseen"]["top1"] == pytest.approx(by_hand_top1(embeddings, labels, vectors, unseen))
    assert metrics["all"]["top1"] == pytest.approx(by_hand_top1(embeddings, labels, vectors, np.arange(len(hmdb))))
    assert metrics["unseen"]["top1"] < metrics["all"]["top1"] / 3  # what the number owed to overlap
    against = {"name": "training classes", "classes": 400, "declared": True, "parts": ["training: 400 classes"]}
    assert metrics["unseen"]["against"] == metrics["gzsl"]["against"] == record["overlap"]["against"] == against
    assert metrics["gzsl"]["seen"] == [c for c, s in zip(hmdb.classes, within, strict=True) if s]

    undeclared = tmp_path / "undeclared.npz"  # the same embeddings, no training classes: the old partition
    np.savez(undeclared, embeddings=embeddings.astype(np.float32), labels=np.load(features)["labels"])
    ((_, old),) = evaluate_features(undeclared, str(path_), "plain", "hmdb51", tmp_path / "r").records
    source = setting[1].source_classes()
    (source_vectors,) = embed_class_lists([source], embedder)
    near_source = cdist(vectors, source_vectors.vectors, "cosine").min(axis=1) < setting[1].tau
    assert old["metrics"]["unseen"]["classes"] == (~near_source).sum() != len(unseen)
    assert old["metrics"]["unseen"]["against"] == {
        "name": "kinetics700",
        "classes": 700,
        "declared": False,
        "parts": ["protocol source: kinetics700 (700 classes)"],
    }
    assert old["overlap"] is None  # nothing declared, nothing to measure


def test_the_diagnostic_equals_a_computation_by_hand(setting, tmp_path):
    path_, _, _, hmdb, vectors, k400, k400_vectors = setting
    features, labels, _ = fine_tuned_on_everything(setting, tmp_path)
    ((_, record),) = evaluate_features(features, str(path_), "tuned", "hmdb51", tmp_path / "r").records
    distances = cdist(vectors, k400_vectors, "cosine")
    embeddings = np.load(features)["embeddings"].astype(np.float64)
    hits = cdist(embeddings, vectors, "cosine").argmin(axis=1) == labels
    rows = record["overlap"]["classes"]
    assert [row["class"] for row in rows] == list(hmdb.classes)
    for i, row in enumerate(rows):
        assert row["protocol_embedding"]["distance"] == pytest.approx(distances[i].min(), abs=1e-9)
        assert distances[i, k400.classes.index(row["protocol_embedding"]["nearest"])] == pytest.approx(
            distances[i].min(), abs=1e-9
        )
        assert row["videos"] == 3 and row["top1"] == pytest.approx(100 * hits[labels == i].mean())
    assert "text_tower" not in record["overlap"]["spaces"]  # scored in the protocol's word vectors

    bins = record_overlap(record).bins["protocol_embedding"]
    nearest = distances.min(axis=1)
    assert [(b.low, b.high) for b in bins] == list(itertools.pairwise(EDGES))
    for b in bins:
        members = np.flatnonzero((nearest >= b.low) & (nearest < b.high))
        assert (b.classes, b.videos) == (len(members), 3 * len(members))
        per_class = [100 * hits[labels == i].mean() for i in members]
        assert b.top1 == (pytest.approx(np.mean(per_class)) if len(members) else None)
    assert bins[0].top1 == 100.0 and bins[0].example["distance"] == pytest.approx(0, abs=1e-9)


def text_tower_model(setting, tmp_path):
    """A tiny video-text model's features file: random 8-d class texts (2 templates) for HMDB51 and the
    declared fine-tuning classes, and videos that are their class text plus noise. Returns (texts,
    path of the declared list, embeddings, label names)."""
    hmdb = setting[3]
    rng = np.random.default_rng(1)
    texts = {name: rng.normal(size=(2, 8)).astype(np.float32) for name in (*hmdb.classes, *DECLARED)}
    texts = {name: t / np.linalg.norm(t, axis=1, keepdims=True) for name, t in texts.items()}
    declared = tmp_path / "declared.txt"
    declared.write_text("\n".join(DECLARED) + "\n")
    labels = np.repeat(np.array(hmdb.classes), 2)
    embeddings = np.stack([texts[name].mean(axis=0) for name in labels]) + 0.3 * rng.normal(size=(len(labels), 8))
    return texts, declared, embeddings.astype(np.float32), labels


def by_hand_text_nearest(texts: dict[str, np.ndarray], classes) -> tuple[list[str], np.ndarray]:
    """Each class's nearest declared class between mean template embeddings, by scipy."""
    mean = np.stack([texts[name].mean(axis=0) for name in classes])
    declared = np.stack([texts[name].mean(axis=0) for name in DECLARED])
    distances = cdist(mean.astype(np.float64), declared.astype(np.float64), "cosine")
    return [DECLARED[j] for j in distances.argmin(axis=1)], distances.min(axis=1)


def test_a_video_text_model_is_measured_in_its_own_text_space_too(setting, tmp_path):
    path_, protocol, embedder, hmdb, vectors, _, _ = setting
    texts, declared, embeddings, labels = text_tower_model(setting, tmp_path)
    space = TextTowerSpace(texts, "embedding", 1, {"text_tower": "tiny"})
    features = tmp_path / "clip.npz"
    np.savez(features, embeddings=embeddings, labels=labels, image_text=np.array("none"),
             finetuned_on=np.array(str(declared)), **space_arrays(space))  # fmt: skip
    ((_, record),) = evaluate_features(features, str(path_), "clip", "hmdb51", tmp_path / "r").records
    nearest, distance = by_hand_text_nearest(texts, hmdb.classes)
    rows = record["overlap"]["classes"]
    assert [row["text_tower"]["nearest"] for row in rows] == nearest
    np.testing.assert_allclose([row["text_tower"]["distance"] for row in rows], distance, atol=1e-6)
    assert record["overlap"]["against"]["parts"] == [f"fine-tuning: declared ({len(DECLARED)} classes)"]
    assert len(record_overlap(record).bins["text_tower"]) == 4  # quartiles: no tau in a text space
    (declared_vectors,) = embed_class_lists([load_class_list(str(declared))], embedder)
    within = cdist(vectors, declared_vectors.vectors, "cosine").min(axis=1) < protocol.tau
    seen = [c for c, s in zip(hmdb.classes, within, strict=True) if s]
    assert record["metrics"]["gzsl"]["seen"] == seen == ["brush_hair", "cartwheel", "ride_bike"]

    # Through the evaluator with a space of the test classes only: the text tower (`Maker.class_texts`)
    # embeds the declared classes, and without it their text-space distances are said to be missing.
    test_only = TextTowerSpace({name: texts[name] for name in hmdb.classes}, "embedding", 1, {})
    state = {"model": {"name": "clip", "options": {}}, **Declared("none", str(declared)).state()}
    embedded = Embedded([None] * len(labels), list(embeddings), {}, list(labels))

    def overlap_of(class_texts):
        maker = Maker("clip", state, {}, space=test_only, class_texts=class_texts)
        return record_and_distances(protocol, hmdb, embedder, embedded, maker, time.perf_counter())[0]["overlap"]

    asked: list[list[str]] = []
    hooked = overlap_of(lambda names: asked.append(names) or {name: texts[name] for name in names})
    assert asked == [list(DECLARED)] and hooked["classes"] == rows
    missing = overlap_of(None)
    assert "4 declared training classes" in missing["spaces"]["text_tower"]["unavailable"]
    assert "text_tower" not in missing["classes"][0]


def test_what_a_model_declares_it_saw(tmp_path):
    kept = {"classes": ["abseiling", "archery"], "model": {"name": "m", "options": {}}}
    assert declared_classes({"model": {"name": "m", "options": {}}}) is None
    assert declared_classes(kept).parts == ("training: 2 classes",) and not declared_classes(kept).note
    pretrained = declared_classes({**kept, "pretrained_on": "hmdb51"})
    assert pretrained.parts == ("training: 2 classes", "pretraining: hmdb51 (51 classes)")
    assert len(pretrained.classes) == 53 and pretrained.classes.classes[:2] == ("abseiling", "archery")
    unknown = declared_classes({**kept, "model": {"name": "m", "options": {"init": "w.pt"}}})
    assert "pretraining classes are unknown" in unknown.note and len(unknown.classes) == 2
    nothing = declared_classes({"model": {"name": "c", "options": {}}, **Declared("OpenAI CLIP", "none").state()})
    assert nothing.parts == ("fine-tuning: none",) and len(nothing.classes) == 0


def test_a_model_declared_to_have_seen_no_class_is_zero_shot_on_every_class(setting, tmp_path):
    path_, _, _, hmdb, _, _, _ = setting
    texts, _, embeddings, labels = text_tower_model(setting, tmp_path)
    features = tmp_path / "clip.npz"
    np.savez(features, embeddings=embeddings, labels=labels, image_text=np.array("OpenAI CLIP"),
             finetuned_on=np.array("none"), **space_arrays(TextTowerSpace(texts, "embedding", 1, {})))  # fmt: skip
    ((_, record),) = evaluate_features(features, str(path_), "clip", "hmdb51", tmp_path / "r").records
    assert record["overlap"] is None
    assert record["metrics"]["unseen"]["classes"] == len(hmdb) and record["metrics"]["unseen"]["seen_classes"] == 0
    assert record["metrics"]["unseen"]["top1"] == record["metrics"]["all"]["top1"]


def test_eval_and_table_show_the_diagnostic(setting, tmp_path, runner):
    path_, *_ = setting
    features, _, within = fine_tuned_on_everything(setting, tmp_path)
    results = tmp_path / "results"
    done = runner.invoke(app, ["eval", "--features", str(features), "--protocol", str(path_), "--name", "tuned",
                               "--out", str(results)])  # fmt: skip
    assert done.exit_code == 0, done.stderr
    (record_file,) = results.rglob("*.json")
    bins = record_overlap(json.loads(record_file.read_text())).bins["protocol_embedding"]
    first = f"[0, 0.05) < tau │ {within.sum()} │ {3 * within.sum()} │ 100.0"
    printed = " ".join(done.stdout.split())
    assert "overlap: tuned on hmdb51, against training: 400 classes" in printed
    assert first in printed and f"{within.sum()} of 51 test classes within tau 0.05" in printed

    shown = runner.invoke(app, ["table", str(results), "--overlap", "--plot", str(tmp_path / "o.png")])
    assert shown.exit_code == 0, shown.stderr
    assert first in " ".join(shown.stdout.split()) and f"wrote {tmp_path / 'o.png'}" in shown.stdout
    assert (tmp_path / "o.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    as_json = runner.invoke(app, ["table", str(results), "--overlap", "--json"])
    assert as_json.exit_code == 0, as_json.stderr
    (row,) = json.loads(as_json.stdout)
    got = [(b["low"], b["high"], b["classes"], b["top1"]) for b in row["bins"]["protocol_embedding"]]
    assert got == [(b.low, b.high, b.classes, b.top1) for b in bins] and row["within_tau"] == within.sum()

    refused = runner.invoke(app, ["table", str(results), "--overlap", "--format", "csv"])
    assert refused.exit_code == 2 and "--format does not go with --overlap" in single_error_line(refused)
    plain = tmp_path / "plain"
    np.savez(tmp_path / "p.npz", embeddings=np.eye(2, 50), labels=np.array(["brush_hair", "cartwheel"]))
    assert runner.invoke(app, ["eval", "--features", str(tmp_path / "p.npz"), "--protocol", str(path_),
                               "--out", str(plain)]).exit_code == 0  # fmt: skip
    none = runner.invoke(app, ["table", str(plain), "--overlap"])
    assert none.exit_code == 2 and "has an overlap diagnostic" in single_error_line(none)


def test_a_protocol_without_a_rule_still_names_the_overlap(setting, tmp_path):
    """Under tau 0 (today's papers' unfiltered protocols) Eq. 3 calls nothing too close; the diagnostic
    then counts overlap at the paper's tau 0.05 and says so, and the compliance verdict says tau is 0."""
    features, _, within = fine_tuned_on_everything(setting, tmp_path)
    path = tmp_path / "no-rule.yaml"
    path.write_text(
        "include: brattoli2020-k700-ucf-hmdb\nname: no-rule\noverlap: {tau: 0.0}\n"
        "evaluation:\n  splits: [{kind: all}]\n"
    )
    ((_, record),) = evaluate_features(features, str(path), "tuned", "hmdb51", tmp_path / "r").records
    overlap = record["overlap"]
    assert overlap["tau"] == 0.05 and "sets tau 0" in overlap["tau_source"]
    assert overlap["within_tau"] == int(within.sum()) > 0
    assert record["compliance"]["verdict"] == "compliant" and "tau 0 (no rule)" in record["compliance"]["why"]
