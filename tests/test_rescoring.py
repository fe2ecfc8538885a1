"""Scoring settings change without retraining; runs and exports carry their protocol with them."""

import json
import shutil

import pytest

from zslbench.core.errors import ZslbenchError
from zslbench.evaluation.extract import extract_embeddings
from zslbench.evaluation.run import EvalConfig, evaluate, evaluate_features
from zslbench.models.checkpoint import export_checkpoint, load_checkpoint
from zslbench.protocol.snapshot import write_snapshot
from zslbench.protocol.spec import load_protocol
from zslbench.training.trainer import TrainConfig, train

ONLY_TOP1 = {"evaluation.metrics": ["top1"], "evaluation.splits": [{"kind": "all"}]}


def scored(trained, synth_dataset, tmp_path, **changes):
    data = {"synth-target": synth_dataset.root / "target.csv"}
    config = EvalConfig(weights=trained, data=data, results=tmp_path / "results", overwrite=True, **changes)
    return evaluate(config).records[0][1]


def test_metrics_and_splits_change_at_evaluation_without_retraining(trained_tiny, synth_dataset, tmp_path):
    trained = load_checkpoint(trained_tiny)["protocol"]
    record = scored(trained_tiny, synth_dataset, tmp_path, sets=ONLY_TOP1)
    assert set(record["metrics"]) == {"all"} and "top1" in record["metrics"]["all"]
    assert "top5" not in record["metrics"]["all"] and "mean_class_accuracy" not in record["metrics"]["all"]
    assert record["protocol"]["fingerprint"] != trained["fingerprint"]  # the record says how it was scored
    assert record["protocol"]["training_fingerprint"] == trained["training_fingerprint"]
    assert sorted(record["protocol"]["changed"]) == ["evaluation.metrics", "evaluation.splits"]
    as_text = scored(trained_tiny, synth_dataset, tmp_path, sets=["evaluation.metrics=[top1]"])
    assert "top5" not in as_text["metrics"]["all"] and len(as_text["metrics"]) == 2  # both splits again


def test_a_training_setting_still_binds_the_checkpoint(trained_tiny, synth_dataset, tmp_path):
    with pytest.raises(ZslbenchError, match="not only in its scoring settings"):
        scored(trained_tiny, synth_dataset, tmp_path, sets={"clips.clip_len": 4})
    with pytest.raises(ZslbenchError, match="not only in its scoring settings"):
        scored(trained_tiny, synth_dataset, tmp_path, protocol="brattoli2020-k700-ucf-hmdb")


def test_a_features_file_is_rescored_but_not_under_other_clips(trained_tiny, synth_dataset, tmp_path):
    data = {"synth-target": synth_dataset.root / "target.csv"}
    npz = tmp_path / "emb.npz"
    extract_embeddings(EvalConfig(weights=trained_tiny, data=data), "synth-target", npz)
    rescored = load_protocol(str(synth_dataset.protocol), sets=ONLY_TOP1)
    (_, record) = evaluate_features(npz, rescored, results=tmp_path / "results").records[0]
    assert set(record["metrics"]) == {"all"}
    other_clips = load_protocol(str(synth_dataset.protocol), sets={"clips.clip_len": 4})
    with pytest.raises(ZslbenchError, match="was extracted under protocol training fingerprint"):
        evaluate_features(npz, other_clips, results=tmp_path / "other")


def test_an_export_evaluates_where_its_protocol_file_is_gone(synth_dataset, tmp_path, monkeypatch):
    """A custom protocol file and its class lists, deleted after training: the run folder and the export
    still evaluate, under the same fingerprint, from another folder."""
    own = tmp_path / "own-protocol"
    own.mkdir()
    for name in ("synth.yaml", "synth-source.txt", "synth-target.txt"):
        shutil.copy(synth_dataset.root / name, own / name)
    data = {"synth-source": synth_dataset.root / "source.csv"}
    run = tmp_path / "run"
    train(TrainConfig("e2e_r2plus1d", run, data, str(own / "synth.yaml"), {"width": 0.125}, epochs=1))
    fingerprint = load_protocol(str(own / "synth.yaml")).fingerprint
    export = export_checkpoint(run, tmp_path / "export")
    assert load_protocol(str(export / "protocol" / "protocol.yaml")).fingerprint == fingerprint
    shutil.rmtree(own)
    monkeypatch.chdir(tmp_path)  # nothing of the old folder is reachable by name either
    record = scored(export, synth_dataset, tmp_path)
    assert record["protocol"]["fingerprint"] == fingerprint and record["compliance"]["verdict"] == "compliant"
    assert load_protocol(str(run / "protocol" / "protocol.yaml")).fingerprint == fingerprint


@pytest.mark.parametrize(
    ("lists", "why"),
    [
        ({"../../escaped.txt": ["a"]}, "outside"),
        ({"lists/0/../../../escaped.txt": ["a"]}, "parent"),
        ({"lists/0/x.txt": "a\nb"}, "not a list"),
        ({"lists/0/x.txt": ["a\nb"]}, "newline in a name"),
    ],
)
def test_a_hostile_snapshot_writes_nothing(tmp_path, lists, why):
    saved = {"format": "zslbench-protocol-snapshot-v1", "protocol": {"name": "x"}, "class_lists": lists}
    with pytest.raises(ZslbenchError, match="snapshot is malformed"):
        write_snapshot(saved, tmp_path / "inside" / "protocol")
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "inside").exists(), why


def test_dry_run_shows_the_plan_and_reads_nothing(runner, trained_tiny, synth_dataset, tmp_path):
    from zslbench.cli import app

    args = ["eval", "--weights", str(trained_tiny), "--data", f"synth-target={synth_dataset.root / 'target.csv'}",
            "--out", str(tmp_path / "results"), "--set", "evaluation.metrics=[top1]",
            "--limit", "3", "--dry-run"]  # fmt: skip
    done = runner.invoke(app, [*args, "--json"])
    assert done.exit_code == 0, done.stderr
    plan = json.loads(done.stdout)
    (dataset,) = plan["datasets"]
    assert dataset["name"] == "synth-target" and dataset["videos"] == 16 and dataset["read"] == 3
    assert plan["protocol"]["metrics"] == ["top1"] and plan["protocol"]["changed"] == ["evaluation.metrics"]
    assert not (tmp_path / "results").exists()
    human = runner.invoke(app, args)
    assert human.exit_code == 0 and "3 of 16 videos" in human.stdout and "changed: evaluation.metrics" in human.stdout
    refused = runner.invoke(app, [*args[:5], "--set", "clips.crop=48", "--dry-run"])
    assert refused.exit_code == 2 and "not only in its scoring settings" in refused.stderr


def test_train_dry_run_applies_the_rule_and_trains_nothing(runner, synth_dataset, tmp_path):
    from zslbench.cli import app

    args = ["train", "--model", "e2e_r2plus1d", "--width", "0.125", "--protocol", str(synth_dataset.protocol),
            "--data", f"synth-source={synth_dataset.root / 'source.csv'}", "--out", str(tmp_path / "run"),
            "--epochs", "3", "--dry-run", "--json"]  # fmt: skip
    plan = json.loads(runner.invoke(app, args).stdout)
    assert plan["classes"]["kept"] == plan["classes"]["total"] == 12 and plan["videos"] == 48
    assert plan["settings"]["epochs"] == 3 and plan["settings"]["batch_size"] == 8
    strict = json.loads(runner.invoke(app, [*args, "--set", "overlap.tau=0.5"]).stdout)
    assert strict["classes"]["kept"] < 12 and strict["classes"]["removed"] == 12 - strict["classes"]["kept"]
    assert strict["videos"] == 4 * strict["classes"]["kept"] and not (tmp_path / "run").exists()
