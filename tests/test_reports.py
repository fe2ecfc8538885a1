"""zslbench table and zslbench check over real result records."""

import json
import xml.etree.ElementTree as ET

import pytest

from zslbench.cli import app
from zslbench.evaluation.run import EvalConfig, evaluate
from zslbench.reporting.gate import compare, junit_xml, markdown_summary
from zslbench.reporting.observations import Observation, from_record
from zslbench.reporting.tables import build_table, render


@pytest.fixture(scope="module")
def results(trained_tiny, synth_dataset, tmp_path_factory):
    folder = tmp_path_factory.mktemp("results")
    evaluate(
        EvalConfig(
            weights=trained_tiny, data={"synth-target": synth_dataset.root / "target.csv"}, label="tiny", results=folder
        )
    )
    return folder


def obs(who="m", value=50.0, std=None, version=1, fingerprint="f" * 64, model="e2e_r2plus1d", published=False, **kw):
    fields = {
        "who": who, "model": model, "published": published, "protocol": "p", "version": version,
        "fingerprint": fingerprint, "protocol_note": "", "dataset": "ucf101", "split": "random_half", "metric": "top1",
        "value": value, "std": std, "compliance": "compliant", "embedding": "glove-6b-50d", "source": "",
    }  # fmt: skip
    return Observation(**{**fields, **kw})


def test_pass_fail_missing_stale():
    ref = obs(who="m", value=50.0, std=2.0)
    rows = compare([obs(value=53.9)], [ref], tolerance=1.0, std_k=2.0)
    assert [(r.status, r.allowed) for r in rows] == [("pass", 4.0)]
    assert compare([obs(value=54.1)], [ref])[0].status == "fail"
    assert compare([obs(value=50.0, dataset="hmdb51")], [ref])[0].status == "missing"
    assert compare([obs(value=50.0, version=2)], [ref])[0].reason == "protocol version 2 vs 1"
    assert compare([obs(value=50.0, fingerprint="e" * 64)], [ref])[0].status == "stale"
    published = obs(
        who="paper", value=48.0, fingerprint="", published=True, embedding="word2vec:GoogleNews-vectors-negative300.bin"
    )
    (row,) = compare([obs(value=48.0)], [published])
    assert row.status == "stale" and "embedding" in row.reason
    (row,) = compare([obs(value=48.3, embedding="word2vec:/data/GoogleNews-vectors-negative300.bin")], [published])
    assert row.status == "pass"


def test_junit_and_markdown_reports():
    rows = compare([obs(value=60.0), obs(who="x", value=1.0)], [obs(value=50.0), obs(who="x", value=1.0), obs(who="y")])
    suite = ET.fromstring(junit_xml(rows))
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    assert "**1** pass, **1** fail, **1** missing" in markdown_summary(rows)


def test_table_formats_compliance_and_fingerprint_columns(results):
    from zslbench.evaluation.records import find_records

    observations = [o for r in find_records([results]) for o in from_record(r)]
    frame = build_table(observations)
    assert list(frame.index) == ["tiny"] and frame.loc["tiny", "compliance"] == "compliant"
    half = [c for c in frame.columns if c.endswith("half · top1")]
    assert half and "±" in frame.loc["tiny", half[0]]
    assert render(frame, "md").startswith("| model | protocol | compliance |")
    assert "\\begin{tabular}" in render(frame, "latex") and "$\\pm$" in render(frame, "latex")
    assert "<table" in render(frame, "html") and render(frame, "csv").startswith("model,protocol,compliance")
    other = [Observation(**{**o.__dict__, "who": "other", "fingerprint": "0" * 64}) for o in observations]
    split = build_table(observations + other)
    assert any("#" in c for c in split.columns) and len(split.columns) == 2 * len(frame.columns) - 2
    mixed = build_table(observations + other, allow_mixed=True)
    assert all("(mixed protocols)" in c for c in mixed.columns[2:])


def test_cli_table_check_and_baseline(runner, results, tmp_path):
    shown = runner.invoke(
        app, ["table", str(results), "--published", "--format", "csv", "--plot", str(tmp_path / "p.png")]
    )
    assert shown.exit_code == 0, shown.stderr
    assert "[published] Brattoli2020 e2e R(2+1)D-18, 664 classes" in shown.stdout
    assert (tmp_path / "p.png").read_bytes().startswith(b"\x89PNG")
    baseline = tmp_path / "base.json"
    assert runner.invoke(app, ["check", str(results), "--write-baseline", str(baseline)]).exit_code == 0
    checked = runner.invoke(
        app, ["check", str(results), "--against", str(baseline), "--junit", str(tmp_path / "j.xml"), "--json"]
    )
    assert checked.exit_code == 0 and {r["status"] for r in json.loads(checked.stdout)} == {"pass"}
    payload = json.loads(baseline.read_text())
    payload["entries"][0]["value"] += 50
    baseline.write_text(json.dumps(payload))
    failed = runner.invoke(
        app, ["check", str(results), "--against", str(baseline), "--summary", str(tmp_path / "s.md")]
    )
    assert failed.exit_code == 1 and "fail" in (tmp_path / "s.md").read_text()
    empty = runner.invoke(app, ["table", str(tmp_path / "nothing")])
    assert empty.exit_code == 2 and "does not exist" in empty.stderr


def test_an_incomplete_run_fails_the_gate_and_is_marked_in_tables(runner, results, synth_dataset, tmp_path):
    """eval marks a run that lost more videos than its budget incomplete (exit 1); check must not pass
    it, even when its numbers match, and a table must not show it as a plain number."""
    import shutil

    from zslbench.evaluation.records import find_records
    from zslbench.video.manifest import read_manifest

    shutil.copytree(synth_dataset.root, tmp_path / "s")
    read_manifest(tmp_path / "s" / "target.csv").records[0].path.write_bytes(b"")
    (complete,) = find_records([results])
    outcome = evaluate(
        EvalConfig(
            weights=complete["model"]["checkpoint"], data={"synth-target": tmp_path / "s" / "target.csv"}, label="tiny",
            results=tmp_path / "broken",
        )
    )  # fmt: skip
    assert not outcome.complete  # `zslbench eval` exits 1
    baseline = tmp_path / "base.json"
    assert runner.invoke(app, ["check", str(results), "--write-baseline", str(baseline)]).exit_code == 0
    checked = runner.invoke(app, ["check", str(tmp_path / "broken"), "--against", str(baseline), "--json"])
    assert checked.exit_code == 1
    assert {r["status"] for r in json.loads(checked.stdout)} == {"incomplete"}
    refused = runner.invoke(app, ["check", str(tmp_path / "broken"), "--write-baseline", str(tmp_path / "b2.json")])
    assert refused.exit_code == 2 and "incomplete: 1 of 16 videos failed" in refused.stderr
    table = runner.invoke(app, ["table", str(tmp_path / "broken"), "--format", "csv"])
    assert table.exit_code == 0 and "· note" in table.stdout and ",incomplete" in table.stdout
    assert "incomplete" not in runner.invoke(app, ["table", str(results), "--format", "csv"]).stdout
    assert "(incomplete)" in runner.invoke(app, ["table", str(tmp_path / "broken")]).stdout  # the text table


def test_strict_fails_when_nothing_is_comparable(runner, results):
    """The synthetic protocol has no published numbers: a gate that compared nothing proves nothing."""
    assert runner.invoke(app, ["check", str(results)]).exit_code == 0
    strict = runner.invoke(app, ["check", str(results), "--strict"])
    assert strict.exit_code == 1 and "nothing to compare" in strict.stderr


def test_an_incomplete_run_fails_even_with_no_reference_or_a_stale_one():
    broken = obs(value=50.0, incomplete="incomplete: 3 of 16 videos failed (budget 0.5%)")
    assert [r.status for r in compare([broken], [])] == ["incomplete"]  # nothing to compare with
    assert [r.status for r in compare([broken], [obs(value=50.0, version=2)])] == ["incomplete"]  # stale ref
    rows = compare([broken], [obs(who="other")])  # the reference is someone else's: missing, and ours still fails
    assert sorted(r.status for r in rows) == ["incomplete", "missing"]
    assert "incomplete" in markdown_summary(rows) and 'failures="1"' in junit_xml(rows)


def test_checks_legend_explains_only_the_metrics_it_can_show(runner, tmp_path):
    """Registered metrics that no row shows (GZSL's) stay out of the legend; the built-ins' stay in."""
    import numpy as np

    path = tmp_path / "f.npz"
    np.savez(path, embeddings=np.eye(2, 50), labels=np.array(["Archery", "Diving"]))
    results, baseline = tmp_path / "r", tmp_path / "b.json"
    assert runner.invoke(app, ["eval", "--features", str(path), "--out", str(results)]).exit_code == 0
    assert runner.invoke(app, ["check", str(results), "--write-baseline", str(baseline)]).exit_code == 0
    shown = runner.invoke(app, ["check", str(results), "--against", str(baseline)])
    last = shown.stdout.strip().splitlines()[-1]
    assert last.endswith("(half: 10 half-class splits; mca: mean class accuracy)"), last
