"""Metrics as a registry: a protocol's `evaluation.metrics` chooses what is scored, recorded, tabled
and checked; a name no metric is registered under is refused when the protocol loads."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from zslbench.cli import app
from zslbench.core.errors import ZslbenchError
from zslbench.core.paths import data_dir
from zslbench.evaluation.scoring import score_protocol
from zslbench.metrics import (
    BUILTIN_METRICS,
    metric,
    metric_names,
    register_metric,
)
from zslbench.protocol.spec import read_protocol

SPLITS = [{"kind": "random_half", "repeats": 10, "first_seed": 0}, {"kind": "all", "repeats": 1, "first_seed": 0}]
UCF = ["ApplyEyeMakeup", "Archery", "Basketball", "Biking", "Bowling", "Diving", "Fencing", "Surfing", "Typing"]


@register_metric("top3", label="top-3", short="top3")  # registered once per process; a re-import is a no-op
def top3(rank: np.ndarray, labels: np.ndarray, n_classes: int) -> float:
    return float(100 * np.mean(rank < 3))


def protocol_naming(tmp_path, metrics: str):
    """The shipped default protocol with another `evaluation.metrics` line."""
    text = (data_dir("protocols") / "brattoli2020-k700-ucf-hmdb.yaml").read_text()
    shipped = "metrics: [top1, top5, mean_class_accuracy]"
    assert shipped in text
    path = tmp_path / "mine.yaml"
    path.write_text(text.replace("name: brattoli2020-k700-ucf-hmdb", "name: mine").replace(shipped, metrics))
    return path


def features_near_their_class(tmp_path, protocol):
    """UCF101 video embeddings: each its class vector plus noise, so top-1 < top-3 < 100."""
    from zslbench.text import load_embedder
    from zslbench.text.class_vectors import embed_class_lists
    from zslbench.text.vocab import ClassList

    (ucf,) = [t for t in protocol.test_classes() if t.name == "ucf101"]
    order = sorted(ucf.classes)
    (vectors,) = embed_class_lists([ClassList(ucf.name, tuple(order), ucf.source)], load_embedder(protocol.embedding))
    labels = np.repeat([order.index(name) for name in UCF], 6)
    rng = np.random.default_rng(0)
    embeddings = vectors.vectors[labels] + 0.12 * rng.normal(size=(len(labels), vectors.vectors.shape[1]))
    path = tmp_path / "f.npz"
    np.savez(path, embeddings=embeddings, labels=np.array(order)[labels], model="m")
    return path, embeddings, labels, vectors.vectors


def test_builtins_have_their_words_and_order():
    words = [(metric(n).label, metric(n).short) for n in BUILTIN_METRICS]
    assert words == [("top-1", "top1"), ("top-5", "top5"), ("mean class accuracy", "mca")]
    assert metric_names()[:3] == list(BUILTIN_METRICS) and "top3" in metric_names()
    with pytest.raises(ZslbenchError, match=r"unknown metric 'top_1'\. Did you mean 'top1'"):
        metric("top_1")
    with pytest.raises(ZslbenchError, match="registered twice"):
        register_metric("top1", lambda rank, labels, n_classes: 0.0, label="x", short="x")
    assert metric("top1").label == "top-1"  # the clash changed nothing


def test_score_protocol_computes_exactly_the_named_metrics_in_their_order():
    rng = np.random.default_rng(1)
    distances, labels = rng.random((200, 20)), rng.integers(0, 20, size=200)
    default = score_protocol(distances, labels, [f"c{i}" for i in range(20)], SPLITS)
    chosen = score_protocol(distances, labels, [f"c{i}" for i in range(20)], SPLITS, ["top3", "top1"])
    assert list(default["all"]) == [*BUILTIN_METRICS, "classes", "videos", "per_class"]
    assert list(chosen["all"]) == ["top3", "top1", "classes", "videos", "per_class"]
    assert list(chosen["random_half"])[3:5] == ["top3", "top1"]
    assert chosen["random_half"]["top1"] == default["random_half"]["top1"]
    ranks = (distances < distances[np.arange(200), labels][:, None]).sum(axis=1)  # no ties in random floats
    assert chosen["all"]["top3"] == float(100 * np.mean(ranks < 3)) != chosen["all"]["top1"]


def test_a_registered_metric_named_by_a_protocol_is_scored_tabled_and_checked(runner, tmp_path):
    path = protocol_naming(tmp_path, "metrics: [top1, top3]")
    features, embeddings, labels, classes = features_near_their_class(tmp_path, read_protocol(path))
    results = tmp_path / "results"
    args = ["eval", "--features", str(features), "--protocol", str(path), "--dataset", "ucf101"]
    done = runner.invoke(app, [*args, "--out", str(results)])
    assert done.exit_code == 0, done.stderr
    assert "half top-1" in done.stdout and "all top-3" in done.stdout and "top-5" not in done.stdout
    (record_path,) = results.rglob("*.json")
    record = json.loads(record_path.read_text())
    assert list(record["metrics"]["all"])[:2] == ["top1", "top3"] and "top5" not in record["metrics"]["random_half"]
    from scipy.spatial.distance import cdist

    ranked = cdist(embeddings, classes, "cosine").argsort(1)
    expected = 100 * np.mean([label in row[:3] for label, row in zip(labels, ranked, strict=True)])
    assert record["metrics"]["all"]["top3"] == expected > record["metrics"]["all"]["top1"]

    table = runner.invoke(app, ["table", str(results), "--format", "csv"])
    header = table.stdout.splitlines()[0].split(",")
    settings = [f"mine@v1 · ucf101 · {s} · {m}" for s in ("half", "all") for m in ("top1", "top3")]
    assert header[3:] == [name for setting in settings for name in (setting, f"{setting} · std")]
    row = table.stdout.splitlines()[1].split(",")
    assert float(row[header.index("mine@v1 · ucf101 · all · top3")]) == pytest.approx(expected, abs=0.05)
    only = runner.invoke(app, ["table", str(results), "--format", "csv", "--metric", "top3"])
    assert only.stdout.splitlines()[0].split(",")[3::2] == [
        "mine@v1 · ucf101 · half · top3",
        "mine@v1 · ucf101 · all · top3",
    ]
    typo = runner.invoke(app, ["table", str(results), "--metric", "top_3"])
    assert typo.exit_code == 2 and "Did you mean 'top3'" in typo.stderr

    baseline = tmp_path / "base.json"
    assert runner.invoke(app, ["check", str(results), "--write-baseline", str(baseline)]).exit_code == 0
    checked = runner.invoke(app, ["check", str(results), "--against", str(baseline), "--json"])
    assert sorted((r["split"], r["metric"]) for r in json.loads(checked.stdout)) == sorted(
        (s, m) for s in ("random_half", "all") for m in ("top1", "top3")
    )
    shown = runner.invoke(app, ["check", str(results), "--against", str(baseline)])
    assert shown.exit_code == 0 and shown.stdout.count(" top3 ") == 2  # its short name, half and all


def test_an_unknown_metric_in_a_protocol_is_refused_with_a_hint(runner, tmp_path):
    path = protocol_naming(tmp_path, "metrics: [top1, top_7]")
    with pytest.raises(ZslbenchError, match=r"mine.yaml:\d+: evaluation.metrics\[1\] must be one of top1, top5,"):
        read_protocol(path)
    refused = runner.invoke(app, ["protocols", "validate", str(path)])
    assert refused.exit_code == 2
    (line,) = refused.stderr.strip().splitlines()
    assert "got 'top_7'" in line and "hint: evaluation.metrics[1]: a registered metric, see docs/plugins.md" in line


def test_a_protocol_without_metrics_gets_the_builtins(tmp_path):
    text = (data_dir("protocols") / "brattoli2020-k700-ucf-hmdb.yaml").read_text()
    path = tmp_path / "p.yaml"
    path.write_text(text.replace("  metrics: [top1, top5, mean_class_accuracy]\n", ""))
    assert read_protocol(path).data["evaluation"]["metrics"] == list(BUILTIN_METRICS)


def test_a_metric_from_an_installed_package_is_found_through_its_entry_point(tmp_path):
    """What pip leaves for a package declaring `[project.entry-points."zslbench.metrics"]`."""
    (tmp_path / "zsl_top2.py").write_text(
        textwrap.dedent(
            """\
            import numpy as np
            from zslbench.metrics import register_metric

            @register_metric("top2", label="top-2", short="t2")
            def top2(rank, labels, n_classes):
                return float(100 * np.mean(rank < 2))
            """
        )
    )
    info = tmp_path / "zsl_top2-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: zsl-top2\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[zslbench.metrics]\ntop2 = zsl_top2:top2\n")
    protocol = protocol_naming(tmp_path, "metrics: [top2]")
    code = textwrap.dedent(
        f"""\
        import numpy as np
        from zslbench.metrics import metric
        from zslbench.evaluation.scoring import score_protocol
        from zslbench.protocol.spec import read_protocol
        names = read_protocol({str(protocol)!r}).data["evaluation"]["metrics"]
        distances = np.array([[0.1, 0.2, 0.3], [0.1, 0.2, 0.3], [0.1, 0.2, 0.3]])
        scored = score_protocol(distances, np.array([0, 1, 2]), ["a", "b", "c"], [{{"kind": "all"}}], names)
        print(names, metric("top2").origin, metric("top2").short, round(scored["all"]["top2"], 4))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["['top2']", "zsl_top2", "t2", "66.6667"]
