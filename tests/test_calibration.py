"""tau calibration across embedding spaces (`zslbench split --embedding E --calibrate-to REF`, issue 22 part 3):
exact on real files written here, hand-computed agreement on crafted vectors, the CLI, a tiny CLIP text tower."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from cli_output import single_error_line
from embedding_files import WORDS, train_fasttext, write_word2vec_binary

from zslbench.cli import app
from zslbench.protocol.calibration import calibrate, calibrate_protocol
from zslbench.protocol.overlap import protocol_overlap
from zslbench.protocol.spec import load_protocol

TEST_WORD = "zebra"  # the one test class of the crafted lists
# source class -> (distance to zebra in REF, distance in E); REF removes d < 0.05
CRAFTED = {
    "kite": (0.01, 0.35),
    "lamp": (0.02, 0.05),
    "mango": (0.03, 0.08),
    "nest": (0.04, 0.12),
    "opal": (0.10, 0.10),
    "pear": (0.20, 0.50),
    "quill": (0.045, 0.90),
    "rose": (0.50, 0.70),
    "sand": (0.60, 0.80),
}


def at_distances(distances: dict[str, float]) -> dict[str, np.ndarray]:
    """2-d word vectors: the test word on the x axis, each other word at cosine distance d from it."""
    vectors = {TEST_WORD: np.array([1.0, 0.0], dtype=np.float32)}
    for word, d in distances.items():
        angle = math.acos(1.0 - d)
        vectors[word] = np.array([math.cos(angle), math.sin(angle)], dtype=np.float32)
    return vectors


def crafted_protocol(folder, distances: dict[str, tuple[float, float]]):
    """(protocol with E = a word2vec file, REF spec): source words at the given (REF, E) cosine
    distances from the one test class."""
    (folder / "src.txt").write_text("\n".join(distances) + "\n")
    (folder / "tst.txt").write_text(TEST_WORD + "\n")
    ref = write_word2vec_binary(folder / "ref.bin", at_distances({w: d[0] for w, d in distances.items()}))
    mine = write_word2vec_binary(folder / "e.bin", at_distances({w: d[1] for w, d in distances.items()}))
    protocol = load_protocol().replace(
        train_source=str(folder / "src.txt"), test=[str(folder / "tst.txt")], embedding=f"word2vec:{mine}"
    )
    return protocol, f"word2vec:{ref}"


@pytest.fixture
def crafted(tmp_path):
    """The crafted source list against one test class."""
    return crafted_protocol(tmp_path, CRAFTED)


def test_an_embedding_calibrated_to_itself_removes_exactly_its_own_set():
    protocol = load_protocol("brattoli2020-k700-ucf-hmdb")
    result = calibrate_protocol(protocol, protocol.embedding)
    expected = ~protocol_overlap(protocol).kept(protocol.tau)
    assert expected.sum() > 0 and np.array_equal(result.removed, expected)
    assert result.agreement.f1 == result.agreement.jaccard == result.agreement.precision == 1.0
    low, high = result.interval
    assert low < protocol.tau <= high and low < result.tau <= high


def test_crafted_vectors_give_the_hand_computed_tau_and_agreement(crafted):
    """REF removes kite lamp mango nest quill. E's sets, growing in E's distance order (lamp mango opal
    nest kite pear rose sand quill), score F1 2/6, 4/7, 4/8, 6/9, 8/10, 8/11, 8/12, 8/13, 10/14: the
    best removes the five closest: any tau above kite's 0.35 and up to pear's 0.5; the shortest such is 0.4."""
    protocol, reference = crafted
    result = calibrate_protocol(protocol, reference)
    assert result.tau == 0.4
    assert result.interval == pytest.approx((0.35, 0.5), abs=1e-6)
    a = result.agreement
    assert (a.removed_reference, a.removed, a.both) == (5, 5, 4)
    assert (a.precision, a.recall, a.f1) == pytest.approx((0.8, 0.8, 0.8))
    assert a.jaccard == pytest.approx(4 / 6)
    names = np.array(result.reference.source.classes)
    assert list(names[result.removed_reference & ~result.removed]) == ["quill"]
    assert list(names[result.removed & ~result.removed_reference]) == ["opal"]


def test_ties_go_to_the_smallest_tau(tmp_path):
    """REF removes a and b; E orders a c d b: removing {a} and {a, c, d, b} both score F1 2/3."""
    distances = {"kite": (0.01, 0.10), "lamp": (0.02, 0.40), "mango": (0.5, 0.25), "nest": (0.6, 0.30)}
    result = calibrate_protocol(*crafted_protocol(tmp_path, distances))
    assert result.agreement.f1 == pytest.approx(2 / 3) and result.agreement.removed == 1
    assert result.tau == 0.2


def test_no_tau_beats_the_calibrated_one_with_a_real_fasttext_model(tmp_path):
    """E = a fastText model trained here, REF = the shipped GloVe: the F1 at every candidate
    threshold, and on a fine grid of taus, computed by plain set arithmetic, is at most the answer's."""
    model = train_fasttext(tmp_path / "ft.bin", dim=20)
    words = sorted(set(WORDS) - {"pool", "ocean", "snow"})
    (tmp_path / "src.txt").write_text("\n".join(f"{a} {b}" for a in words[:6] for b in words[6:]) + "\n")
    (tmp_path / "tst.txt").write_text("play guitar\nswim pool\nride horse\nski snow\nocean\n")
    protocol = load_protocol().replace(
        train_source=str(tmp_path / "src.txt"), test=[str(tmp_path / "tst.txt")], embedding=f"fasttext:{model}"
    )
    result = calibrate(protocol_overlap(protocol.replace(embedding="glove-6b-50d")), protocol_overlap(protocol), 0.15)
    ref = set(np.flatnonzero(result.removed_reference))
    assert 0 < len(ref) < len(result.removed) and 0 < result.agreement.removed < len(result.removed)
    assert 0 < result.agreement.f1 < 1  # the two spaces disagree: a case worth searching

    def f1(tau: float) -> float:
        mine = set(np.flatnonzero(result.other.distance < tau))
        return 2 * len(ref & mine) / (len(ref) + len(mine))

    taus = [*result.other.distance, *np.linspace(0, 2, 2001)]
    assert result.agreement.f1 == pytest.approx(max(f1(t) for t in taus))
    assert result.agreement.f1 == pytest.approx(f1(result.tau))
    better_or_equal = [t for t in taus if f1(t) >= result.agreement.f1 - 1e-12]
    assert set(np.flatnonzero(result.removed)) == set(np.flatnonzero(result.other.distance < min(better_or_equal)))


def test_cli_prints_the_agreement_writes_the_split_and_its_tau_types_back(runner, crafted, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    protocol, reference = crafted
    base = ["split", "--train", "src.txt", "--test", "tst.txt", "--embedding", protocol.embedding]
    shown = runner.invoke(app, [*base, "--calibrate-to", reference, "--out", "cal"])
    assert shown.exit_code == 0, shown.stderr
    for text in ("Calibrated tau", "0.4", "precision 0.800", "recall 0.800", "Jaccard 0.667", "quill", "opal"):
        assert text in shown.stdout, text
    data = runner.invoke(app, [*base, "--calibrate-to", reference, "--out", "cal", "--json"])
    report = json.loads(data.stdout)
    calibration = report["calibration"]
    assert report["tau"] == calibration["tau"] == 0.4 and calibration["reference"]["tau"] == 0.05
    assert [row["name"] for row in calibration["only_reference"]] == ["quill"]
    assert calibration["only_embedding"][0]["reference"]["distance"] == pytest.approx(0.10, abs=1e-6)
    assert report["protocol"]["changed"] == ["train.source", "test", "embedding.model", "overlap.tau"]
    written = json.loads(Path("cal/split.json").read_text())
    assert written["calibration"] == calibration
    plain = runner.invoke(app, [*base, "--threshold", f"{report['tau']:g}", "--out", "plain"])
    assert plain.exit_code == 0, plain.stderr
    assert Path("plain/kept_classes.txt").read_text() == Path("cal/kept_classes.txt").read_text()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--calibrate-to", "glove6b"], "unknown embedding"),
        (["--calibrate-to", "word2vec:missing.bin"], "does not exist"),
        (["--calibrate-to", "glove-6b-50d", "--embedding", "clip:missing"], "CLIP weights missing do not exist"),
        (["--calibrate-to", "glove-6b-50d", "--embedding", "clip:"], "clip needs its weights"),
        (["--calibrate-to", "glove-6b-50d", "--sweep", "0:0.1:0.05"], "cannot be combined"),
        (["--calibrate-to", "glove-6b-50d", "--threshold", "3"], "outside [0, 2]"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(runner, tmp_path, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["split", *extra])
    assert result.exit_code == 2 and message in single_error_line(result)
    assert not (tmp_path / "runs").exists()


@pytest.fixture(scope="module")
def clip_folders(tmp_path_factory):
    """Two tiny random CLIPs as HF folders (seeds 0 and 1), and seed 0 again with a changed tokenizer."""
    pytest.importorskip("transformers")
    from video_text_models import save_clip_folder, tiny_clip

    root = tmp_path_factory.mktemp("clip-text")
    folders = [save_clip_folder(tiny_clip(seed=seed), root / f"seed{seed}") for seed in (0, 1)]
    retokened = save_clip_folder(tiny_clip(seed=0), root / "retokened")
    (retokened / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 16}))
    return [*folders, retokened]


def test_a_tiny_clip_text_tower_is_an_embedding_and_a_calibration_target(clip_folders, crafted, runner, tmp_path):
    from zslbench.models.video_text.clip_frames import load_clip_frames
    from zslbench.text import load_embedder

    embedder = load_embedder(f"clip:{clip_folders[0]}")
    vectors = embedder.embed([("play", "guitar"), ("swim",)]).vectors
    expected = load_clip_frames(clip_folders[0]).encode_text(["play guitar", "swim"]).numpy()
    assert vectors.dtype == np.float32 and np.allclose(vectors, expected, atol=1e-6)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    ids = [load_embedder(f"clip:{folder}").id for folder in clip_folders]
    assert len(set(ids)) == 3 and all(i.startswith("clip@") for i in ids)  # weights and tokenizer both count
    copy = tmp_path / "copy"
    copy.mkdir()
    for file in clip_folders[0].iterdir():
        (copy / file.name).write_bytes(file.read_bytes())
    assert load_embedder(f"clip:{copy}").id == ids[0]  # content, not path

    protocol, reference = crafted
    result = calibrate_protocol(protocol.replace(embedding=f"clip:{clip_folders[0]}"), reference)
    assert result.agreement.removed_reference == 5 and 0 <= result.tau <= 2
    assert np.array_equal(result.removed, result.other.distance < result.tau)
