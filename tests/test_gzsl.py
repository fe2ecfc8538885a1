"""Test-side splits (TruZe, Gowda et al. GCPR 2021) and generalized zero-shot scores (issue 14, items 3, 4).

Every number is checked against an independent numpy / scipy computation: the seen / unseen partition
from a cdist of class vectors, the zero-shot ranking over the unseen classes only, and the GZSL ranking
over all classes.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from zslbench.cli.app import app
from zslbench.core.errors import ZslbenchError
from zslbench.evaluation.run import evaluate_features
from zslbench.evaluation.scoring import score_protocol
from zslbench.metrics import GZSL_METRICS, gzsl_scores, harmonic_mean, metric
from zslbench.protocol.spec import load_protocol, read_protocol, shipped_protocols
from zslbench.protocol.test_side import seen_unseen_split
from zslbench.reporting.gate import compare, load_baseline, write_baseline
from zslbench.reporting.observations import from_record
from zslbench.reporting.tables import build_table
from zslbench.text import load_embedder
from zslbench.text.class_vectors import embed_class_lists
from zslbench.text.vocab import ClassList

TRUZE = "truze-k400-ucf-hmdb"
ALL_SPLITS = "[{kind: random_half, repeats: 3}, {kind: all}, {kind: unseen}, {kind: gzsl}]"


def test_harmonic_mean_and_gzsl_scores_by_hand():
    assert harmonic_mean(50.0, 50.0) == 50.0
    assert harmonic_mean(80.0, 20.0) == pytest.approx(32.0)  # 2 * 80 * 20 / 100
    assert harmonic_mean(0.0, 0.0) == 0.0
    assert math.isnan(harmonic_mean(float("nan"), 40.0))
    # classes 0, 1 seen; 2 unseen. Videos: two of class 0 (one hit), one of class 2 (a hit).
    scores = gzsl_scores(np.array([0, 3, 0]), np.array([0, 0, 2]), np.array([True, True, False]))
    assert scores == {"gzsl_seen": 50.0, "gzsl_unseen": 100.0, "gzsl_h": pytest.approx(200 / 3)}
    only_seen = gzsl_scores(np.array([0]), np.array([1]), np.array([True, True, False]))
    assert only_seen["gzsl_seen"] == 100.0 and math.isnan(only_seen["gzsl_unseen"]) and math.isnan(only_seen["gzsl_h"])


def test_score_protocol_unseen_and_gzsl_match_numpy():
    rng = np.random.default_rng(3)
    n_classes, n_videos = 12, 300
    distances = rng.uniform(0, 2, size=(n_videos, n_classes))
    labels = rng.integers(0, n_classes, n_videos)
    seen = rng.random(n_classes) < 0.4
    names = [f"c{i:02d}" for i in range(n_classes)]
    splits = [{"kind": k, "repeats": 1, "first_seed": 0} for k in ("all", "unseen", "gzsl")]
    out = score_protocol(distances, labels, names, splits, ["top1", "top5"], seen=seen)

    unseen = np.flatnonzero(~seen)
    mine = np.isin(labels, unseen)
    nearest_unseen = unseen[distances[np.ix_(mine, unseen)].argmin(1)]
    assert out["unseen"]["top1"] == pytest.approx(100 * np.mean(nearest_unseen == labels[mine]))
    assert out["unseen"]["classes"] == len(unseen) and out["unseen"]["videos"] == mine.sum()
    assert out["unseen"]["seen_classes"] == seen.sum() and set(out["unseen"]["per_class"]) <= {names[i] for i in unseen}

    hit = distances.argmin(1) == labels
    s, u = 100 * hit[seen[labels]].mean(), 100 * hit[~seen[labels]].mean()
    assert out["gzsl"]["gzsl_seen"] == pytest.approx(s) and out["gzsl"]["gzsl_unseen"] == pytest.approx(u)
    assert out["gzsl"]["gzsl_h"] == pytest.approx(2 * s * u / (s + u))
    assert out["gzsl"]["seen"] == [names[i] for i in np.flatnonzero(seen)]
    assert out["gzsl"]["seen_videos"] + out["gzsl"]["unseen_videos"] == n_videos
    assert out["all"] == score_protocol(distances, labels, names, splits[:1], ["top1", "top5"])["all"]  # unchanged
    with pytest.raises(ValueError, match="partition"):
        score_protocol(distances, labels, names, splits[1:2], ["top1"])


def test_truze_protocol_sizes_follow_the_rule():
    """The sizes docs/protocol.md states, and the rule behind them, from an independent cdist."""
    protocol = load_protocol(TRUZE)
    embedder = load_embedder(protocol.embedding, word_norm=protocol.word_norm)
    sizes = {}
    for test in protocol.test_classes():
        split = seen_unseen_split(protocol, test, embedder)
        source, target = embed_class_lists([protocol.source_classes(), test], embedder)
        nearest = cdist(target.vectors.astype(np.float64), source.vectors.astype(np.float64), "cosine").min(1)
        np.testing.assert_allclose(split.distance, nearest, atol=1e-9)
        assert list(split.seen) == list(nearest < protocol.tau)
        sizes[test.name] = (len(split.seen_classes()), len(split.unseen_classes()))
    assert sizes == {"ucf101": (36, 65), "hmdb51": (15, 36)}  # TruZe's lists: 70 / 31 and 29 / 22


def test_protocol_checks_for_the_new_split_kinds(tmp_path):
    data = load_protocol(TRUZE).data["evaluation"]
    assert [s["kind"] for s in data["splits"]] == ["unseen", "gzsl"]
    repeated = tmp_path / "repeated.yaml"
    repeated.write_text(f"include: {TRUZE}\nevaluation:\n  splits: [{{kind: gzsl, repeats: 2}}]\n")
    with pytest.raises(ZslbenchError, match="'gzsl' split has repeats 1"):
        read_protocol(repeated)
    listed = tmp_path / "listed.yaml"
    listed.write_text(f"include: {TRUZE}\nevaluation:\n  metrics: [top1, gzsl_h]\n")
    with pytest.raises(ZslbenchError, match="gzsl_h, which need the seen / unseen partition"):
        read_protocol(listed)
    with pytest.raises(ZslbenchError, match="needs the seen / unseen partition"):
        metric("gzsl_h").function(np.zeros(1, dtype=np.int64), np.zeros(1, dtype=int), 1)


def test_protocols_commands_handle_the_truze_protocol(runner):
    listed = runner.invoke(app, ["protocols", "list"])
    assert listed.exit_code == 0 and TRUZE in listed.stdout
    valid = runner.invoke(app, ["protocols", "validate", str(shipped_protocols()[TRUZE])])
    assert valid.exit_code == 0, valid.stderr
    shown = runner.invoke(app, ["protocols", "show", TRUZE])
    assert shown.exit_code == 0 and "kind: unseen" in shown.stdout and "kind: gzsl" in shown.stdout


@pytest.fixture
def synth_gzsl(synth_dataset, tmp_path):
    """A protocol over the synthetic benchmark with every split kind, at a tau that makes about half of
    the target classes "seen" (the synth targets are all >= 0.05 from the source classes by design),
    and a features file of noisy class vectors: (protocol path, features path, embeddings, labels)."""
    base = read_protocol(synth_dataset.protocol)
    embedder = load_embedder(base.embedding, word_norm=base.word_norm)
    (target,) = base.test_classes()
    tau = float(np.median(seen_unseen_split(base, target, embedder).distance)) + 1e-6
    path = tmp_path / "synth-gzsl.yaml"
    path.write_text(
        f"include: {synth_dataset.protocol}\nname: synth-gzsl\noverlap:\n  tau: {tau!r}\n"
        f"evaluation:\n  splits: {ALL_SPLITS}\n"
    )
    (vectors,) = embed_class_lists([target], embedder)
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(len(target)), 15)
    embeddings = vectors.vectors[labels] + 0.25 * rng.normal(size=(len(labels), vectors.vectors.shape[1]))
    features = tmp_path / "features.npz"
    np.savez(features, embeddings=embeddings.astype(np.float32), labels=np.array(target.classes)[labels])
    return path, features, embeddings.astype(np.float32), labels


def test_eval_on_synth_scores_unseen_and_gzsl_like_numpy(synth_gzsl, tmp_path, runner):
    path, features, embeddings, labels = synth_gzsl
    protocol = read_protocol(path)
    embedder = load_embedder(protocol.embedding, word_norm=protocol.word_norm)
    (target,) = protocol.test_classes()
    ((_, record),) = evaluate_features(features, str(path), "m", None, tmp_path / "results").records

    order = sorted(target.classes)  # class_order: sorted
    source, test = embed_class_lists(
        [protocol.source_classes(), ClassList(target.name, tuple(order), target.source)], embedder
    )
    seen = cdist(test.vectors, source.vectors, "cosine").min(1) < protocol.tau
    assert 0 < seen.sum() < len(order)
    truth = np.array([order.index(target.classes[i]) for i in labels])
    distances = cdist(embeddings.astype(np.float64), test.vectors.astype(np.float64), "cosine")
    unseen = np.flatnonzero(~seen)
    mine = np.isin(truth, unseen)
    zsl = 100 * np.mean(unseen[distances[np.ix_(mine, unseen)].argmin(1)] == truth[mine])
    hit = distances.argmin(1) == truth
    s, u = 100 * hit[seen[truth]].mean(), 100 * hit[~seen[truth]].mean()

    metrics = record["metrics"]
    assert metrics["unseen"]["top1"] == pytest.approx(zsl) and metrics["unseen"]["classes"] == len(unseen)
    assert metrics["gzsl"]["gzsl_seen"] == pytest.approx(s) and metrics["gzsl"]["gzsl_unseen"] == pytest.approx(u)
    assert metrics["gzsl"]["gzsl_h"] == pytest.approx(2 * s * u / (s + u))
    assert metrics["all"]["top1"] == pytest.approx(100 * hit.mean())
    assert u <= zsl  # more candidates can only cost the unseen videos hits

    rows = from_record(record)
    assert {(o.split, o.metric) for o in rows if o.split == "gzsl"} == {("gzsl", m) for m in GZSL_METRICS}
    assert {o.metric for o in rows if o.split == "unseen"} == {"top1", "top5", "mean_class_accuracy"}
    columns = list(build_table(rows).columns)
    assert (
        columns.index("synth-gzsl@v1 · synth-target · all · top1")
        < columns.index("synth-gzsl@v1 · synth-target · unseen · top1")
        < columns.index("synth-gzsl@v1 · synth-target · gzsl · gzsl_seen")
        < columns.index("synth-gzsl@v1 · synth-target · gzsl · gzsl_h")
    )
    baseline = write_baseline(rows, tmp_path / "baseline.json")
    compared = compare(rows, load_baseline(baseline))
    assert {c.status for c in compared} == {"pass"} and {"unseen", "gzsl"} <= {c.split for c in compared}


def test_cli_eval_table_and_check_with_the_new_splits(synth_gzsl, tmp_path, runner):
    path, features, _, _ = synth_gzsl
    results = tmp_path / "results"
    done = runner.invoke(app, ["eval", "--features", str(features), "--protocol", str(path), "--out", str(results)])
    assert done.exit_code == 0, done.stderr
    (record_file,) = results.rglob("*.json")
    gzsl = json.loads(record_file.read_text())["metrics"]["gzsl"]
    summary = " ".join(done.stdout.split())
    assert "unseen top-1" in summary and "GZSL H" in summary and f"{gzsl['gzsl_h']:.1f}" in summary
    table = runner.invoke(app, ["table", str(results), "--format", "csv"])
    header = table.stdout.splitlines()[0].split(",")
    assert "synth-gzsl@v1 · synth-target · gzsl · gzsl_h" in header
    assert "synth-gzsl@v1 · synth-target · unseen · top1" in header
    only = runner.invoke(app, ["table", str(results), "--format", "csv", "--metric", "gzsl_h"])
    column = "synth-gzsl@v1 · synth-target · gzsl · gzsl_h"
    assert only.stdout.splitlines()[0].split(",")[3:] == [column, f"{column} · std"]  # numbers, std beside
    baseline = tmp_path / "baseline.json"
    assert runner.invoke(app, ["check", str(results), "--write-baseline", str(baseline)]).exit_code == 0
    entries = json.loads(baseline.read_text())["entries"]
    assert {e["metric"] for e in entries if e["split"] == "gzsl"} == set(GZSL_METRICS)
    checked = runner.invoke(app, ["check", str(results), "--against", str(baseline), "--strict", "--json"])
    assert checked.exit_code == 0, checked.stdout
    assert {row["status"] for row in json.loads(checked.stdout)} == {"pass"}


def test_a_result_with_no_seen_classes_passes_against_its_own_baseline(synth_gzsl, tmp_path, runner):
    """At tau 0 no test class is seen: GZSL seen and H are undefined (NaN) in the record and in its
    baseline, and the same undefined number again is a pass, not a fail of the CI gate."""
    path, features, _, _ = synth_gzsl
    results, baseline = tmp_path / "results", tmp_path / "baseline.json"
    args = ["eval", "--features", str(features), "--protocol", str(path), "--set", "overlap.tau=0"]
    assert runner.invoke(app, [*args, "--out", str(results)]).exit_code == 0
    (record_file,) = results.rglob("*.json")
    assert math.isnan(json.loads(record_file.read_text())["metrics"]["gzsl"]["gzsl_seen"])
    assert runner.invoke(app, ["check", str(results), "--write-baseline", str(baseline)]).exit_code == 0
    checked = runner.invoke(app, ["check", str(results), "--against", str(baseline), "--strict", "--json"])
    assert checked.exit_code == 0, checked.stdout
    assert {row["status"] for row in json.loads(checked.stdout)} == {"pass"}
