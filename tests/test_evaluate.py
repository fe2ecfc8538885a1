import json
import os
import shutil
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
from ports import free_port

from zslbench.cli import app
from zslbench.core.errors import ZslbenchError
from zslbench.evaluation.feature_cache import cache_summary
from zslbench.evaluation.records import find_records, load_record
from zslbench.evaluation.run import EvalConfig, evaluate, evaluate_features
from zslbench.video.manifest import read_manifest, write_manifest


@pytest.fixture
def target_copy(synth_dataset, tmp_path):
    """The synthetic target videos in a folder this test may damage."""
    shutil.copytree(synth_dataset.root, tmp_path / "s")
    return tmp_path / "s"


def run(trained, root, tmp_path, **changes):
    config = EvalConfig(
        weights=trained, data={"synth-target": root / "target.csv"}, label="tiny", results=tmp_path / "results"
    )
    for key, value in changes.items():
        setattr(config, key, value)
    return evaluate(config)


def test_eval_writes_one_complete_record_per_dataset(trained_tiny, synth_dataset, tmp_path, fresh_cache):
    outcome = run(trained_tiny, synth_dataset.root, tmp_path)
    ((path, record),) = outcome.records
    assert path == tmp_path / "results" / "tiny" / "synth-seed0@v1" / "synth-target.json"
    assert load_record(path)["metrics"] == record["metrics"]
    assert record["schema"] == 1 and record["protocol"]["resolved"]["clips"]["test_clips"] == 4
    reading = record["data"].pop("reading")
    assert record["data"].pop("ignored")["rows"] == 0  # no repeated rows, no rows of other datasets
    assert record["data"] == {
        "expected": 16, "scored": 16, "unusable_embeddings": 0, "failed": 0, "failures": [], "clips_per_video": 4,
        "failure_budget": 0.005, "complete": True,
    }  # fmt: skip
    suffixes = Counter(r.path.suffix for r in read_manifest(synth_dataset.root / "target.csv").records)
    assert reading["videos_read"] == {"seek": suffixes[".mp4"], "sequential": suffixes[".avi"]}  # AVI is counted
    assert reading["decoder"]["backend"] == "pyav" and reading["decoder"] == record["model"]["identity"]["decoder"]
    assert reading["prepared"] is None
    assert record["compliance"]["verdict"] == "compliant" and record["compliance"]["violations"] == []
    half = record["metrics"]["random_half"]
    assert half["repeats"] == 10 and len(half["top1"]["values"]) == 10 and half["classes_per_split"] == 2
    assert set(record["metrics"]["all"]["per_class"]) == {c.name for c in synth_dataset.target}
    assert len(record["model"]["identity"]["model"]["weights_sha256"]) == 64
    assert record["versions"]["zslbench"] and "extract_s" in record["timing"]


def test_cache_hits_unchanged_videos_and_misses_a_changed_one(trained_tiny, target_copy, tmp_path, fresh_cache):
    first = run(trained_tiny, target_copy, tmp_path).records[0][1]
    (namespace,) = cache_summary()
    assert namespace["videos"] == 16
    victim = read_manifest(target_copy / "target.csv").records[5].path
    victim.write_bytes(victim.read_bytes()[:500])  # new content: a miss, and it no longer decodes
    second = run(trained_tiny, target_copy, tmp_path, failure_budget=0.1).records[0][1]
    assert second["data"]["scored"] == 15 and second["data"]["failures"][0]["path"] == str(victim)
    assert second["data"]["complete"] and cache_summary()[0]["videos"] == 16  # nothing new was cached
    assert first["metrics"]["all"]["per_class"] != {} and len(cache_summary()) == 1


def test_a_failure_above_the_budget_makes_the_run_incomplete_exit_1(runner, trained_tiny, target_copy, tmp_path):
    victim = read_manifest(target_copy / "target.csv").records[0].path
    victim.write_bytes(b"")
    args = ["eval", "--weights", str(trained_tiny), "--data", f"synth-target={target_copy / 'target.csv'}",
            "--out", str(tmp_path / "r"), "--json"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    (record,) = json.loads(result.stdout)
    assert record["data"]["complete"] is False and record["data"]["failures"][0]["reason"] == "empty file (0 bytes)"
    assert (tmp_path / "r" / "e2e_r2plus1d" / "synth-seed0@v1" / "synth-target.json").exists()


def test_checkpoint_of_another_model_or_protocol_is_refused(trained_tiny, synth_dataset, tmp_path):
    with pytest.raises(ZslbenchError, match="checkpoint of 'e2e_r2plus1d', not 'e2e_r3d'"):
        run(trained_tiny, synth_dataset.root, tmp_path, model="e2e_r3d")
    with pytest.raises(ZslbenchError, match="was trained under synth-seed0 v1"):
        run(trained_tiny, synth_dataset.root, tmp_path, protocol="brattoli2020-k700-ucf-hmdb")


def test_features_file_route_matches_the_checkpoint_route(runner, trained_tiny, synth_dataset, tmp_path):
    direct = run(trained_tiny, synth_dataset.root, tmp_path).records[0][1]
    npz = tmp_path / "emb.npz"
    args = ["extract", "--weights", str(trained_tiny), "--dataset", "synth-target", "--out", str(npz),
            "--data", f"synth-target={synth_dataset.root / 'target.csv'}"]  # fmt: skip
    extracted = runner.invoke(app, args)
    assert extracted.exit_code == 0, extracted.stderr
    (_, record) = evaluate_features(
        npz, str(synth_dataset.protocol), "from-features", None, tmp_path / "results"
    ).records[0]
    assert record["metrics"] == direct["metrics"]
    assert record["compliance"]["verdict"] == "compliant"  # the npz carries the training classes
    assert record["model"]["label"] == "from-features"
    other = ["eval", "--features", str(npz), "--protocol", str(synth_dataset.protocol), "--set", "clips.clip_len=4"]
    refused = runner.invoke(app, [*other, "--name", "from-features", "--out", str(tmp_path / "results")])
    assert refused.exit_code == 2 and "was extracted under protocol training fingerprint" in refused.stderr


def test_a_record_under_another_protocol_fingerprint_is_not_silently_replaced(runner, tmp_path):
    """`--set` changes a protocol's fingerprint, not its name: the record's folder is the same."""
    path = write_npz(tmp_path / "f.npz", embeddings=np.eye(2, 50), labels=np.array(["Archery", "Diving"]))
    args = ["eval", "--features", str(path), "--name", "m", "--out", str(tmp_path / "r")]
    assert runner.invoke(app, args).exit_code == 0
    assert runner.invoke(app, args).exit_code == 0  # the same maker refreshes its record
    changed = runner.invoke(app, [*args, "--protocol", "brattoli2020-k700-ucf-hmdb", "--set", "overlap.tau=0.1"])
    assert changed.exit_code == 2 and "under protocol" in changed.stderr and "--overwrite" in changed.stderr


def write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"embeddings": np.zeros((3, 50)), "labels": np.array(["Archery"] * 2)}, "do not pair up"),
        ({"embeddings": np.ones((2, 50), dtype=int), "labels": np.array(["Archery"] * 2)}, "not floats"),
        ({"embeddings": np.ones((2, 50)), "labels": np.array(["Archery", "Quidditch"])}, "'Quidditch'"),
        (
            {"embeddings": np.ones((2, 7)), "labels": np.array(["Archery"] * 2)},
            "7-d but glove-6b-50d class vectors are 50-d",
        ),
        ({"labels": np.array(["Archery"])}, "no 'embeddings' array"),
    ],
)
def test_bad_features_files(tmp_path, arrays, message):
    path = write_npz(tmp_path / "f.npz", **arrays)
    with pytest.raises(ZslbenchError, match=message):
        evaluate_features(path, "brattoli2020-k700-ucf-hmdb", None, None, tmp_path / "results")
    assert not (tmp_path / "results").exists()


def test_compliance_from_training_and_pretraining_classes(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.array(["Archery", "PlayingGuitar", "Surfing", "Typing"] * 5)
    base = {"embeddings": rng.normal(size=(20, 50)), "labels": labels}

    def verdict(**extra):
        path = write_npz(tmp_path / "f.npz", **base, **extra)
        outcome = evaluate_features(path, "brattoli2020-k700-ucf-hmdb", "m", None, tmp_path / "r", overwrite=True)
        return outcome.records[0][1]["compliance"]

    assert verdict()["verdict"] == "unknown"
    tailored = verdict(training_classes=np.array(["playing guitar", "abseiling"]))
    assert tailored["verdict"] == "not_compliant"
    assert [(v["role"], v["class"], v["nearest"]) for v in tailored["violations"]] == [
        ("training", "playing guitar", "PlayingGuitar")
    ]
    pretrained = verdict(training_classes=np.array(["abseiling"]), pretrained_on=np.array("kinetics400"))
    assert pretrained["verdict"] == "not_compliant" and {v["role"] for v in pretrained["violations"]} == {"pretraining"}
    assert verdict(training_classes=np.array(["abseiling"]))["verdict"] == "compliant"


def test_results_of_another_schema_or_nothing_at_all(tmp_path):
    (tmp_path / "r.json").write_text(json.dumps({"kind": "zslbench-result", "schema": 99}))
    with pytest.raises(ZslbenchError, match="result schema 99"):
        find_records([tmp_path])
    (tmp_path / "r.json").unlink()
    with pytest.raises(ZslbenchError, match="no result records"):
        find_records([tmp_path])


def test_torchrun_shards_extraction_and_scores_the_same(trained_tiny, synth_dataset, tmp_path):
    single = run(trained_tiny, synth_dataset.root, tmp_path).records[0][1]
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={free_port()}",
        "-m", "zslbench", "eval", "--weights", str(trained_tiny),
        "--data", f"synth-target={synth_dataset.root / 'target.csv'}",
        "--out", str(tmp_path / "ddp"), "--name", "tiny", "--json",
    ]  # fmt: skip
    env = {**os.environ, "ZSLBENCH_CACHE": str(tmp_path / "empty-cache"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    sharded = load_record(tmp_path / "ddp" / "tiny" / "synth-seed0@v1" / "synth-target.json")
    assert sharded["metrics"] == single["metrics"] and sharded["data"]["scored"] == 16
    assert len(list((tmp_path / "empty-cache" / "features").rglob("*.npy"))) == 16  # both ranks' shares


def test_a_manifest_path_that_disappeared_is_accounted(trained_tiny, synth_dataset, tmp_path):
    manifest = read_manifest(synth_dataset.root / "target.csv")
    missing = type(manifest.records[0])(tmp_path / "gone.mp4", manifest.records[0].label)
    write_manifest(type(manifest)((*manifest.records, missing), manifest.vocabulary), tmp_path / "m.csv")
    shutil.copy(synth_dataset.root / "synth-target.txt", tmp_path / "synth-target.txt")
    record = evaluate(
        EvalConfig(
            weights=trained_tiny, data={"synth-target": tmp_path / "m.csv"}, results=tmp_path / "r", failure_budget=0.1
        )
    ).records[0][1]
    assert record["data"]["expected"] == 17 and record["data"]["failed"] == 1
    assert record["data"]["failures"][0]["reason"].startswith("cannot read")


def test_cache_info_and_prune(runner, trained_tiny, synth_dataset, tmp_path, fresh_cache):
    run(trained_tiny, synth_dataset.root, tmp_path)
    info = runner.invoke(app, ["cache", "info", "--json"])
    (namespace,) = json.loads(info.stdout)["namespaces"]
    assert namespace["model"] == "e2e_r2plus1d" and namespace["videos"] == 16
    assert runner.invoke(app, ["cache", "prune"]).exit_code == 2  # says what to prune
    assert runner.invoke(app, ["cache", "prune", "--older-than", "30"]).stdout.startswith("removed 0")
    assert runner.invoke(app, ["cache", "prune", "--all"]).stdout.startswith("removed 1")
    assert json.loads(runner.invoke(app, ["cache", "info", "--json"]).stdout)["namespaces"] == []


def test_zero_and_non_finite_embeddings_are_failed_videos_and_misses(tmp_path):
    """An HMDB51-sized features file where one video per class collapsed to zero (and two to NaN/inf):
    they are listed as failed videos, make the run incomplete, and score as misses, never as hits."""
    from scipy.spatial.distance import cdist

    from zslbench.protocol.spec import load_protocol
    from zslbench.text import load_embedder
    from zslbench.text.class_vectors import embed_class_lists

    protocol = load_protocol("brattoli2020-k700-ucf-hmdb")
    (hmdb,) = [t for t in protocol.test_classes() if t.name == "hmdb51"]
    (vectors,) = embed_class_lists([hmdb], load_embedder(protocol.embedding, word_norm=protocol.word_norm))
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(len(hmdb)), 20)
    embeddings = (vectors.vectors[labels] + 0.3 * rng.normal(size=(len(labels), 50))).astype(np.float32)
    collapsed = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])  # the first video of every class
    embeddings[collapsed] = 0.0
    embeddings[collapsed[:2], 0] = [np.nan, np.inf]
    path = write_npz(tmp_path / "f.npz", embeddings=embeddings, labels=np.array(hmdb.classes)[labels])
    ((_, record),) = evaluate_features(path, protocol.name, "m", "hmdb51", tmp_path / "r").records

    hits = cdist(np.nan_to_num(embeddings), vectors.vectors, "cosine").argmin(1) == labels
    hits[collapsed] = False  # the right value: a video without an embedding is not recognised
    assert record["metrics"]["all"]["top1"] == float(100 * np.mean(hits)) > 0
    assert record["data"]["failed"] == record["data"]["unusable_embeddings"] == len(hmdb)
    assert {f["index"] for f in record["data"]["failures"]} == set(collapsed.tolist())
    reasons = Counter(f["reason"] for f in record["data"]["failures"])
    assert reasons == {"embedding is all zeros (no direction to score)": len(hmdb) - 2,
                       "embedding is not finite (NaN or inf)": 2}  # fmt: skip
    assert not record["data"]["complete"]  # 51 of 1020 is over the 0.5% failure budget


def test_a_record_of_other_weights_is_never_silently_replaced(runner, tmp_path):
    """Two models' embeddings under one model name: the second eval is refused (exit 2), --name keeps
    both, --overwrite replaces; the same file again refreshes its own record."""
    rng = np.random.default_rng(0)
    labels = np.array(["Archery", "PlayingGuitar", "Surfing", "Typing"] * 5)
    first, second = (write_npz(tmp_path / f"{k}.npz", embeddings=rng.normal(size=(20, 50)), labels=labels, model="m")
                     for k in ("first", "second"))  # fmt: skip
    base = ["eval", "--protocol", "brattoli2020-k700-ucf-hmdb", "--out", str(tmp_path / "r"), "--json"]
    made = runner.invoke(app, [*base, "--features", str(first)])
    assert made.exit_code == 0, made.stderr
    (path,) = (tmp_path / "r").rglob("*.json")
    before = path.read_bytes()
    refused = runner.invoke(app, [*base, "--features", str(second)])
    assert (
        refused.exit_code == 2 and "already holds a result of m" in refused.stderr and "--overwrite" in refused.stderr
    )
    assert path.read_bytes() == before
    assert runner.invoke(app, [*base, "--features", str(first)]).exit_code == 0  # its own record: refreshed
    kept = runner.invoke(app, [*base, "--features", str(second), "--name", "m-second"])
    assert kept.exit_code == 0 and len(list((tmp_path / "r").rglob("*.json"))) == 2
    replaced = runner.invoke(app, [*base, "--features", str(second), "--overwrite"])
    assert replaced.exit_code == 0 and json.loads(path.read_text())["model"]["identity"]["file"] == str(second)


def test_a_checkpoint_eval_is_refused_before_extracting(runner, trained_tiny, synth_dataset, tmp_path):
    args = ["eval", "--weights", str(trained_tiny), "--data", f"synth-target={synth_dataset.root / 'target.csv'}",
            "--out", str(tmp_path / "r"), "--name", "tiny"]  # fmt: skip
    assert runner.invoke(app, args).exit_code == 0
    (path,) = (tmp_path / "r").rglob("*.json")
    record = json.loads(path.read_text())
    record["model"]["identity"]["model"]["weights_sha256"] = "0" * 64  # as another training run would have
    path.write_text(json.dumps(record))
    refused = runner.invoke(app, [*args, "--json"])
    assert refused.exit_code == 2 and "already holds a result of e2e_r2plus1d (000000000000)" in refused.stderr
    assert refused.stdout == ""  # refused up front: nothing was extracted or printed


def test_distinct_labels_map_to_distinct_record_files_inside_the_results_folder(tmp_path):
    from zslbench.core.paths import path_component
    from zslbench.evaluation.records import record_path

    names = ["a/b", "a_b", "a%2Fb", ".", "..", "....", ".hidden", "a b", "a\\b", "\x1b[2J", "é", "x" * 300, "/abs"]
    components = [path_component(n) for n in names]
    assert len(set(components)) == len(names)
    assert all("/" not in c and "\\" not in c and not c.startswith(".") and len(c) <= 200 for c in components)
    paths = [record_path(tmp_path, n, n, 1, n) for n in names]
    assert len(set(paths)) == len(names)
    assert all(
        p.resolve().is_relative_to(tmp_path.resolve()) and len(p.relative_to(tmp_path).parts) == 3 for p in paths
    )
    with pytest.raises(ValueError, match="empty"):
        path_component("")


def test_float64_embeddings_beyond_float32_range_are_scored_not_failed(tmp_path):
    """1e39 and 1e-46 fit float64 but not float32: casting would turn usable rows into inf and zero."""
    rng = np.random.default_rng(3)
    labels = np.array(["Archery", "PlayingGuitar", "Surfing", "Typing"] * 2)
    embeddings = rng.normal(size=(8, 50))
    embeddings[0] *= 1e39
    embeddings[1] *= 1e-46
    path = write_npz(tmp_path / "f.npz", embeddings=embeddings, labels=labels)
    ((_, record),) = evaluate_features(path, "brattoli2020-k700-ucf-hmdb", "m", None, tmp_path / "r").records
    assert record["data"]["failed"] == 0 and record["data"]["scored"] == 8


def test_a_read_only_feature_cache_is_still_read(runner, trained_tiny, synth_dataset, tmp_path, fresh_cache):
    """A cache shared read-only (a CI artifact, a team folder): hits are served, its age stays as it was."""
    run(trained_tiny, synth_dataset.root, tmp_path)
    (identity,) = fresh_cache.rglob("identity.json")
    locked = (
        subprocess.run(["chattr", "+i", str(identity)], capture_output=True).returncode == 0
        if os.geteuid() == 0
        else False
    )
    if not locked:
        if os.geteuid() == 0:
            pytest.skip("root ignores permissions and chattr is unavailable here")
        identity.chmod(0o444)
        identity.parent.chmod(0o555)
    try:
        args = ["eval", "--weights", str(trained_tiny), "--data", f"synth-target={synth_dataset.root / 'target.csv'}",
                "--out", str(tmp_path / "again")]  # fmt: skip
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.stderr
    finally:
        if locked:
            subprocess.run(["chattr", "-i", str(identity)], check=True)
        else:
            identity.parent.chmod(0o755)


def test_an_empty_name_is_refused_not_replaced(runner, tmp_path):
    path = write_npz(tmp_path / "f.npz", embeddings=np.ones((2, 50)), labels=np.array(["Archery"] * 2))
    args = ["eval", "--features", str(path), "--protocol", "brattoli2020-k700-ucf-hmdb", "--name", " "]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "--name is empty" in result.stderr and not (tmp_path / "r").exists()


def test_a_stopped_runs_checkpoint_evaluates_cleanly(runner, synth_dataset, tmp_path):
    """--max-steps stops a run on purpose: its eval is complete (exit 0) and says training did not finish."""
    from tiny_runs import tiny_config

    from zslbench.training.trainer import train

    train(tiny_config(synth_dataset, tmp_path / "run", max_steps=2))
    args = ["eval", "--weights", str(tmp_path / "run"), "--out", str(tmp_path / "r"), "--json",
            "--data", f"synth-target={synth_dataset.root / 'target.csv'}"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    (record,) = json.loads(result.stdout)
    assert record["training"]["finished"] is False and record["training"]["data"]["complete"] is True


def test_a_model_trained_with_set_is_evaluated_under_the_same_overrides(runner, synth_dataset, tmp_path):
    """`train --set` is recorded in the checkpoint: eval reloads it, and the file alone is refused."""
    data = ["--data", f"synth-target={synth_dataset.root / 'target.csv'}", "--out", str(tmp_path / "r")]
    trained = runner.invoke(
        app,
        ["train", "--model", "e2e_r2plus1d", "--width", "0.125", "--protocol", str(synth_dataset.protocol),
         "--set", "overlap.tau=0.04", "--data", f"synth-source={synth_dataset.root / 'source.csv'}",
         "--out", str(tmp_path / "run"), "--max-steps", "2"],
    )  # fmt: skip
    assert trained.exit_code == 0, trained.stderr
    result = runner.invoke(app, ["eval", "--weights", str(tmp_path / "run"), "--json", *data])
    assert result.exit_code == 0, result.stderr
    (record,) = json.loads(result.stdout)
    assert record["compliance"]["tau"] == 0.04
    plain = runner.invoke(
        app, ["eval", "--weights", str(tmp_path / "run"), "--protocol", str(synth_dataset.protocol), *data]
    )
    assert plain.exit_code == 2 and "--set overlap.tau=0.04" in plain.stderr
    alone = runner.invoke(app, ["eval", "--weights", str(tmp_path / "run"), "--set", "overlap.tau=0.03", *data])
    assert alone.exit_code == 2 and "not only in its scoring settings" in alone.stderr  # over the checkpoint's own


def test_python_callers_may_give_paths_as_text(trained_tiny, synth_dataset, tmp_path):
    """TrainConfig and EvalConfig take str where they take a Path (data, out, weights, results): a
    str once failed deep inside with "'str' object has no attribute 'is_file'"."""
    from zslbench.training.trainer import TrainConfig, train

    source = {"synth-source": str(synth_dataset.root / "source.csv")}
    config = TrainConfig("e2e_r2plus1d", str(tmp_path / "run"), source, str(synth_dataset.protocol), {"width": 0.125})
    config.max_steps = 1
    assert train(config).checkpoint == tmp_path / "run" / "checkpoint.pt"
    data = {"synth-target": str(synth_dataset.root / "target.csv")}
    outcome = evaluate(EvalConfig(str(trained_tiny), data, results=str(tmp_path / "results")))
    ((path, record),) = outcome.records
    assert path.is_relative_to(tmp_path / "results") and record["dataset"]["name"] == "synth-target"


def test_limit_reads_the_first_videos_and_the_record_says_it_is_no_result(
    runner, trained_tiny, synth_dataset, tmp_path
):
    """`eval --limit N`: the first N videos of the manifest, recorded, marked incomplete for the gate
    (exit 0: incomplete by design); its records are another result than a full evaluation's."""
    from cli_output import single_error_line

    from zslbench.evaluation.records import incomplete_reason

    data = ["--data", f"synth-target={synth_dataset.root / 'target.csv'}", "--out", str(tmp_path / "r")]
    done = runner.invoke(app, ["eval", "--weights", str(trained_tiny), *data, "--limit", "3", "--json"])
    assert done.exit_code == 0, done.stderr[-1500:]
    (shown,) = json.loads(done.stdout)
    first = [str(row.path) for row in read_manifest(synth_dataset.root / "target.csv").records[:3]]
    assert shown["data"]["limit"] == 3 and shown["data"]["expected"] == shown["data"]["scored"] == 3
    assert shown["metrics"]["all"]["videos"] == 3 and len(first) == 3
    assert incomplete_reason(shown) == "incomplete: only the first 3 videos were read (eval --limit)"
    checked = runner.invoke(app, ["check", str(tmp_path / "r"), "--json"])
    assert checked.exit_code == 1 and {row["status"] for row in json.loads(checked.stdout)} == {"incomplete"}
    full = runner.invoke(app, ["eval", "--weights", str(trained_tiny), *data])  # never mixed with the quick look
    assert full.exit_code == 2 and "--overwrite" in single_error_line(full)
    features = tmp_path / "f.npz"
    np.savez(features, embeddings=np.eye(2, 50), labels=np.array(["Archery", "Diving"]))
    refused = runner.invoke(app, ["eval", "--features", str(features), "--limit", "3"])
    assert refused.exit_code == 2 and "--limit reads videos" in single_error_line(refused)
