"""Per-video predictions (`eval --log-samples`) and the confusion report (`table --confusion`)."""

import json
from collections import Counter

import numpy as np
import pytest
from cli_output import single_error_line
from scipy.spatial.distance import cdist

from zslbench.cli import app
from zslbench.evaluation.records import load_record
from zslbench.evaluation.run import EvalConfig, evaluate
from zslbench.video.manifest import read_manifest

PROTOCOL = "brattoli2020-k700-ucf-hmdb"


def read_rows(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def top1_of(rows):
    """top-1 percent recomputed from the rows: a scored video whose nearest class is its own is a hit,
    an unusable one a miss, a failed one not counted (as the metrics count them)."""
    counted = [row for row in rows if row["status"] != "failed"]
    return float(
        100 * np.mean([row["status"] == "scored" and row["top5"][0]["class"] == row["label"] for row in counted])
    )


def expected_confusion(rows):
    """(true, predicted) -> count of the wrongly predicted videos, straight from the rows."""
    return Counter((r["label"], r["top5"][0]["class"]) for r in rows if r["status"] == "scored" and r["rank"] > 0)


@pytest.fixture(scope="module")
def ucf_features(tmp_path_factory):
    """A UCF101 features file: 5 noisy videos per class near its class vector, shuffled; one zero row
    and one NaN row (unusable embeddings). Returns (path, embeddings, labels, class vectors, order)."""
    from zslbench.protocol.spec import load_protocol
    from zslbench.text import load_embedder
    from zslbench.text.class_vectors import embed_class_lists
    from zslbench.text.vocab import ClassList

    protocol = load_protocol(PROTOCOL)
    (ucf,) = [t for t in protocol.test_classes() if t.name == "ucf101"]
    order = sorted(ucf.classes) if protocol.data["evaluation"]["class_order"] == "sorted" else list(ucf.classes)
    embedder = load_embedder(protocol.embedding, word_norm=protocol.word_norm)
    (vectors,) = embed_class_lists([ClassList("ucf101", tuple(order), ucf.source)], embedder)
    rng = np.random.default_rng(1)
    ids = rng.permutation(np.repeat(np.arange(len(order)), 5))
    embeddings = vectors.vectors[ids] + 0.6 * rng.normal(size=(len(ids), vectors.vectors.shape[1]))
    embeddings[7] = 0.0
    embeddings[11, 3] = np.nan
    path = tmp_path_factory.mktemp("features") / "ucf.npz"
    labels = np.array(order)[ids]
    np.savez(path, embeddings=embeddings, labels=labels, model=np.array("noisy"))
    return path, embeddings, labels, vectors.vectors, order


def test_checkpoint_route_logs_a_row_per_video_that_agrees_with_the_record(trained_tiny, synth_dataset, tmp_path):
    data = {"synth-target": synth_dataset.root / "target.csv"}
    config = EvalConfig(weights=trained_tiny, data=data, label="tiny", results=tmp_path / "r", log_samples=True)
    ((path, record),) = evaluate(config).records
    assert record["data"]["samples"] == "synth-target.samples.jsonl" == load_record(path)["data"]["samples"]
    rows = read_rows(path.with_name("synth-target.samples.jsonl"))
    manifest = read_manifest(synth_dataset.root / "target.csv").records
    assert [row["index"] for row in rows] == list(range(len(manifest))) == list(range(record["data"]["expected"]))
    assert [(row["path"], row["label"]) for row in rows] == [(str(r.path), r.label) for r in manifest]
    assert {row["status"] for row in rows} == {"scored"} and all(row["reason"] is None for row in rows)
    assert top1_of(rows) == record["metrics"]["all"]["top1"]  # exactly: the same distances, the same ranks
    for row in rows:
        classes = [entry["class"] for entry in row["top5"]]
        distances = [entry["distance"] for entry in row["top5"]]
        assert len(classes) == len(set(classes)) == record["dataset"]["classes"] == 4  # all 4, fewer than 5
        assert distances == sorted(distances) and all(0.0 <= d <= 2.0 for d in distances)
        assert row["rank"] == classes.index(row["label"])  # with every class listed, the rank is its place
    per_class = {
        c: 100 * np.mean([r["rank"] == 0 for r in rows if r["label"] == c]) for c in {r["label"] for r in rows}
    }
    assert per_class == pytest.approx(record["metrics"]["all"]["per_class"], abs=0)


def test_without_log_samples_nothing_is_written_and_the_record_names_no_samples(trained_tiny, synth_dataset, tmp_path):
    data = {"synth-target": synth_dataset.root / "target.csv"}
    ((path, record),) = evaluate(EvalConfig(weights=trained_tiny, data=data, results=tmp_path / "r")).records
    assert "samples" not in record["data"] and "samples" not in load_record(path)["data"]
    assert sorted(p.name for p in (tmp_path / "r").rglob("*") if p.is_file()) == ["synth-target.json"]


def test_features_route_ranks_equal_an_independent_cdist(runner, ucf_features, tmp_path):
    path, embeddings, labels, class_vectors, order = ucf_features
    args = ["eval", "--features", str(path), "--protocol", PROTOCOL, "--out", str(tmp_path / "r"), "--json"]
    done = runner.invoke(app, [*args, "--log-samples", "--failure-budget", "0.01"])
    assert done.exit_code == 0, done.stderr
    (record,) = json.loads(done.stdout)
    rows = read_rows(tmp_path / "r" / "noisy" / f"{PROTOCOL}@v1" / record["data"]["samples"])
    assert [(row["index"], row["label"], row["path"]) for row in rows] == [
        (i, str(c), None) for i, c in enumerate(labels)
    ]

    distances = cdist(embeddings, class_vectors, "cosine")  # scipy, in the protocol's class order
    truth = np.array([order.index(c) for c in labels])
    own = distances[np.arange(len(labels)), truth][:, None]
    ranks = ((distances < own) | ((distances == own) & (np.arange(len(order)) < truth[:, None]))).sum(axis=1)
    nearest = np.argsort(distances, axis=1, kind="stable")[:, :5]
    for i, row in enumerate(rows):
        if i in (7, 11):
            assert row["status"] == "unusable" and row["rank"] is None and row["top5"] == []
            assert row["reason"].startswith("embedding is all zeros" if i == 7 else "embedding is not finite")
            continue
        assert row["status"] == "scored" and row["rank"] == ranks[i]
        assert [e["class"] for e in row["top5"]] == [order[j] for j in nearest[i]]
        assert [e["distance"] for e in row["top5"]] == pytest.approx(distances[i, nearest[i]], abs=1e-12)
    hits = ranks == 0
    hits[[7, 11]] = False  # no direction: a miss
    assert top1_of(rows) == float(100 * np.mean(hits)) == record["metrics"]["all"]["top1"]


def test_confusion_report_counts_match_the_rows(runner, ucf_features, tmp_path):
    path = ucf_features[0]
    base = ["eval", "--features", str(path), "--protocol", PROTOCOL, "--out", str(tmp_path / "r")]
    assert runner.invoke(app, [*base, "--log-samples", "--failure-budget", "0.01"]).exit_code == 0
    (record_file,) = (tmp_path / "r").rglob("*.json")
    rows = read_rows(record_file.with_name(load_record(record_file)["data"]["samples"]))
    expected = expected_confusion(rows)
    report = runner.invoke(app, ["table", "--confusion", str(record_file), "--top", "100000", "--json"])
    assert report.exit_code == 0, report.stderr
    summary = json.loads(report.stdout)
    assert {(p["true"], p["predicted"]): p["count"] for p in summary["pairs"]} == expected
    videos = Counter(r["label"] for r in rows)  # every class keeps all its videos: unusable ones count
    assert all(
        p["videos"] == videos[p["true"]] and p["share"] == 100 * p["count"] / p["videos"] for p in summary["pairs"]
    )
    counts = [p["count"] for p in summary["pairs"]]
    assert counts == sorted(counts, reverse=True) and summary["misclassified"] == sum(expected.values())
    assert (summary["videos"], summary["scored"], summary["unusable"], summary["failed"]) == (
        len(rows),
        len(rows),
        2,
        0,
    )
    assert summary["top1"] == load_record(record_file)["metrics"]["all"]["top1"]

    shown = runner.invoke(app, ["table", "--confusion", str(record_file), "--top", "3"])
    assert shown.exit_code == 0, shown.stderr
    first = summary["pairs"][0]
    assert first["true"] in shown.stdout and first["predicted"] in shown.stdout
    assert f"{summary['misclassified']} misclassified, of {len(rows)} scored videos" in shown.stdout
    assert "2 unusable embedding(s)" in shown.stdout
    short = json.loads(runner.invoke(app, ["table", "--confusion", str(record_file), "--top", "3", "--json"]).stdout)
    assert short["pairs"] == summary["pairs"][:3]


def test_a_record_without_samples_and_misused_options_are_one_line_errors(runner, ucf_features, tmp_path):
    path = ucf_features[0]
    base = ["eval", "--features", str(path), "--protocol", PROTOCOL, "--out", str(tmp_path / "r")]
    assert runner.invoke(app, [*base, "--failure-budget", "0.01"]).exit_code == 0
    (record_file,) = (tmp_path / "r").rglob("*.json")
    assert [p.name for p in (tmp_path / "r").rglob("*") if p.is_file()] == ["ucf101.json"]
    assert "samples" not in load_record(record_file)["data"]
    missing = runner.invoke(app, ["table", "--confusion", str(record_file)])
    assert missing.exit_code == 2 and "eval --log-samples" in single_error_line(missing)
    for extra in (["--published"], ["--format", "csv"], [str(tmp_path / "r")]):
        clash = runner.invoke(app, ["table", "--confusion", str(record_file), *extra])
        assert clash.exit_code == 2 and "does not go with --confusion" in single_error_line(clash)
    alone = runner.invoke(app, ["table", str(tmp_path / "r"), "--top", "3"])
    assert alone.exit_code == 2 and "go with --confusion" in single_error_line(alone)

    again = runner.invoke(app, [*base, "--failure-budget", "0.01", "--log-samples"])  # the same maker: refreshed
    assert again.exit_code == 0 and load_record(record_file)["data"]["samples"] == "ucf101.samples.jsonl"
    assert runner.invoke(app, ["table", "--confusion", str(record_file)]).exit_code == 0


def test_another_makers_record_keeps_its_samples(runner, ucf_features, tmp_path):
    """A refused eval (another model's embeddings under the same name) writes no samples over the
    existing record's."""
    path, embeddings, labels, _, _ = ucf_features
    other = tmp_path / "other.npz"
    np.savez(other, embeddings=embeddings[::-1], labels=labels[::-1], model=np.array("noisy"))
    base = [
        "eval",
        "--protocol",
        PROTOCOL,
        "--out",
        str(tmp_path / "r"),
        "--failure-budget",
        "0.01",
        "--log-samples",
    ]
    assert runner.invoke(app, [*base, "--features", str(path)]).exit_code == 0
    (samples,) = (tmp_path / "r").rglob("*.samples.jsonl")
    before = samples.read_bytes()
    refused = runner.invoke(app, [*base, "--features", str(other)])
    assert refused.exit_code == 2 and "--overwrite" in refused.stderr
    assert samples.read_bytes() == before
