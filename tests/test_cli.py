import itertools
import json
import os
import subprocess
import sys

import pytest
from cli_output import single_error_line
from embedding_files import WORDS, random_vectors, train_fasttext, write_word2vec_binary

from zslbench.cli import app
from zslbench.core.errors import ZslbenchError
from zslbench.protocol.spec import load_protocol


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_split_with_only_a_threshold_writes_the_kept_list_and_report(runner, in_tmp):
    result = runner.invoke(app, ["split", "--threshold", "0.05"])
    assert result.exit_code == 0, result.stderr
    (folder,) = (in_tmp / "runs" / "splits").iterdir()
    report = json.loads((folder / "split.json").read_text())
    kept_lines = [line for line in (folder / "kept_classes.txt").read_text().splitlines() if not line.startswith("#")]
    assert len(kept_lines) == report["counts"]["kept"] == sum(c["kept"] for c in report["classes"])
    assert report["protocol"]["fingerprint"] == load_protocol().fingerprint
    assert f"kept {report['counts']['kept']} / 700" in result.stdout
    removed = [c for c in report["classes"] if not c["kept"]]
    assert all(c["distance"] < 0.05 for c in removed)
    assert removed and all(c["name"] in result.stdout for c in removed[:3])

    audited = runner.invoke(app, ["audit", str(folder / "kept_classes.txt")])
    assert audited.exit_code == 0, audited.stderr
    assert "COMPLIANT" in audited.stdout and "NOT COMPLIANT" not in audited.stdout


def test_audit_of_unfiltered_kinetics_fails_with_exit_1_and_names_violations(runner):
    result = runner.invoke(app, ["audit", "kinetics700", "--test", "ucf101,hmdb51", "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["compliant"] is False
    violations = {c["name"]: c for c in report["classes"] if not c["kept"]}
    assert violations["playing guitar"]["nearest"] == "PlayingGuitar"
    assert violations["playing guitar"]["nearest_dataset"] == "ucf101"


def test_audit_tau_zero_is_always_compliant_and_test_option_repeats(runner):
    result = runner.invoke(app, ["audit", "kinetics400", "--test", "ucf101", "--test", "hmdb51", "-t", "0", "--json"])
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert [t["name"] for t in report["tests"]] == ["ucf101", "hmdb51"]
    assert report["protocol"]["changed"] == ["train.source", "overlap.tau"]


def test_split_json_and_custom_lists(runner, in_tmp):
    (in_tmp / "src.txt").write_text("playing guitar\nswimming\nplaying guitar\n")
    result = runner.invoke(app, ["split", "--train", "src.txt", "--test", "ucf101", "--out", "out", "--json"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert [c["name"] for c in report["classes"]] == ["playing guitar", "swimming"]
    assert [c["kept"] for c in report["classes"]] == [False, True]
    assert (in_tmp / "out" / "kept_classes.txt").read_text().splitlines()[-1] == "swimming"
    assert "more than once" in result.stderr


def test_sweep_prints_counts_and_writes_a_png(runner, in_tmp):
    result = runner.invoke(app, ["split", "--sweep", "0:0.3:0.01", "--out", "sw", "--json"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    kept = [row["kept"] for row in report["sweep"]]
    assert len(kept) == 31 and kept[0] == 700 and all(a >= b for a, b in itertools.pairwise(kept))
    png = (in_tmp / "sw" / "sweep.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    human = runner.invoke(app, ["split", "--sweep", "0:0.1:0.05", "--plot", "p.png"])
    assert human.exit_code == 0 and "0.05 <" in human.stdout and (in_tmp / "p.png").exists()


def test_a_second_split_with_a_fasttext_model_does_not_load_it(runner, in_tmp):
    model = train_fasttext(in_tmp / "ft.bin")
    args = ["split", "--train", "kinetics400", "--embedding", f"fasttext:{model}", "--out", "o", "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.stderr
    code = (
        "import sys, json; from zslbench.cli import app\n"
        "try: app(sys.argv[1:], prog_name='zslbench')\n"
        "except SystemExit as e: assert e.code in (0, None), e.code\n"
        "assert 'fasttext' not in sys.modules, 'the model was loaded again'\n"
    )
    second = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["counts"] == json.loads(first.stdout)["counts"]


def bad_protocol(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nversion: 1\ntrain:\n  source: kinetics400\ntest: [ucf101]\noverlap:\n  tua: 0.1\n")
    return str(path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["split", "--train", "kinetics4000"], "unknown dataset 'kinetics4000'"),
        (["split", "--protocol", "brattoli"], "unknown protocol"),
        (["split", "--embedding", "glove6b"], "unknown embedding"),
        (["split", "--embedding", "fasttext:missing.bin"], "does not exist"),
        (["split", "-t", "2.5"], "outside [0, 2]"),
        (["split", "-t", "-0.1"], "outside [0, 2]"),
        (["audit", "missing.txt"], "does not exist"),
        (["audit", "empty.txt"], "is empty"),
        (["audit", "odd.txt"], "no words left"),
        (["split", "--embedding", "word2vec:cut.bin"], "truncated"),
        (["split", "--embedding", "word2vec:ft.txt"], "first line"),
        (
            ["split", "--train", "unknown_words.txt", "--embedding", "word2vec:w.bin"],
            "no word the word2vec vectors know",
        ),
        (["split", "--protocol", "bad.yaml"], "bad.yaml:7: unknown key 'tua'"),
        (["split", "--sweep", "1:0:1"], "sweep"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(runner, in_tmp, args, message):
    (in_tmp / "empty.txt").write_text("# nothing\n")
    (in_tmp / "odd.txt").write_text("the\n")
    (in_tmp / "unknown_words.txt").write_text("zzzqx blorp\n")
    vectors = random_vectors(WORDS, 4)
    write_word2vec_binary(in_tmp / "w.bin", vectors)
    (in_tmp / "cut.bin").write_bytes((in_tmp / "w.bin").read_bytes()[:-30])
    (in_tmp / "ft.txt").write_text("play 0.1 0.2\n")
    bad_protocol(in_tmp)
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in single_error_line(result)
    assert not (in_tmp / "runs").exists()


def test_debug_shows_the_traceback(runner):
    result = runner.invoke(app, ["--debug", "audit", "nope"])
    assert isinstance(result.exception, ZslbenchError)


def test_protocols_list_show_validate(runner, tmp_path):
    listed = runner.invoke(app, ["protocols", "list", "--json"])
    assert listed.exit_code == 0
    names = {p["name"]: p for p in json.loads(listed.stdout)}
    assert names["brattoli2020-k700-ucf-hmdb-anet"]["test"] == ["ucf101", "hmdb51", "activitynet200"]
    human = runner.invoke(app, ["protocols", "list"])
    assert "brattoli2020-k400-ucf-hmdb" in human.stdout

    shown = runner.invoke(app, ["protocols", "show", "brattoli2020-k400-ucf-hmdb"])
    fingerprint = load_protocol("brattoli2020-k400-ucf-hmdb").fingerprint
    assert shown.exit_code == 0 and f"# fingerprint: {fingerprint}" in shown.stdout
    assert "test_clips: 25" in shown.stdout
    shown_json = json.loads(runner.invoke(app, ["protocols", "show", "brattoli2020-k400-ucf-hmdb", "--json"]).stdout)
    assert shown_json["fingerprint"] == fingerprint and shown_json["resolved"]["train"]["source"] == "kinetics400"

    good = load_protocol().path
    ok = runner.invoke(app, ["protocols", "validate", str(good)])
    assert ok.exit_code == 0 and ok.stdout.startswith("ok")
    bad = runner.invoke(app, ["protocols", "validate", str(good), bad_protocol(tmp_path)])
    assert bad.exit_code == 2
    assert "bad.yaml:7: unknown key 'tua' in overlap" in single_error_line(bad)


def test_embeddings_and_classes(runner):
    listed = runner.invoke(app, ["embeddings", "--json"])
    assert {row["name"] for row in json.loads(listed.stdout)} >= {"glove-6b-50d", "fasttext", "word2vec", "glove"}
    shown = runner.invoke(app, ["classes", "ucf101", "--json"])
    rows = {row["name"]: row for row in json.loads(shown.stdout)["classes"]}
    assert rows["Skijet"]["words"] == ["jet", "ski"] and rows["Skijet"]["oov"] == []


def test_module_entry_point_and_no_heavy_imports(tmp_path):
    version = subprocess.run([sys.executable, "-m", "zslbench", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("zslbench ")
    code = (
        "import sys; from zslbench.cli import app\n"
        "try: app(['split', '--out', sys.argv[1], '--json'], prog_name='zslbench')\n"
        "except SystemExit as e: assert e.code in (0, None), e.code\n"
        "heavy = [m for m in ('torch', 'decord', 'fasttext', 'pandas', 'matplotlib') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "out")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize("name", ["../../escape", "/tmp/abs-escape", "..", "."])
def test_a_protocol_name_cannot_place_the_split_outside_runs_splits(runner, in_tmp, name):
    from zslbench.core.paths import data_dir

    text = (data_dir("protocols") / "brattoli2020-k700-ucf-hmdb.yaml").read_text()
    (in_tmp / "deep" / "er").mkdir(parents=True)
    protocol = in_tmp / "deep" / "er" / "p.yaml"
    protocol.write_text(text.replace("name: brattoli2020-k700-ucf-hmdb", f"name: {json.dumps(name)}"))
    result = runner.invoke(app, ["split", "--protocol", str(protocol), "--json"])
    assert result.exit_code == 0, result.stderr
    (folder,) = (in_tmp / "runs" / "splits").iterdir()
    assert (folder / "split.json").is_file() and not folder.name.startswith(".")
    assert sorted(p.name for p in in_tmp.iterdir()) == ["deep", "runs"]  # nothing written beside it


def test_text_from_files_cannot_control_the_terminal(runner, in_tmp):
    """A class list whose names carry an OSC title sequence, a screen clear and an emoji code: all of it
    is shown as written, escaped, on stdout and stderr alike."""
    (in_tmp / "src.txt").write_text("playing guitar\x1b]0;pwned\x07\nabseiling\x1b[2J\nsurfing :x:\n")
    result = runner.invoke(app, ["split", "--train", "src.txt", "--test", "ucf101", "--out", "o"])
    assert result.exit_code == 0, result.stderr
    shown = result.stdout + result.stderr
    assert "\x1b" not in shown and "\x07" not in shown
    assert "\\x1b[2" in shown and "\\x1b]0;" in shown and ":x:" in shown and "❌" not in shown


def test_help_lists_commands_in_workflow_order_and_flags_take_no_value(runner):
    shown = runner.invoke(app, ["--help"], env={"COLUMNS": "120"})
    assert shown.exit_code == 0
    listed = [line.split()[1] for line in shown.stdout.splitlines() if line.startswith("│ ") and line[2] != " "]
    commands = [name for name in listed if not name.startswith("-")]
    workflow = ["protocols", "embeddings", "classes", "split", "audit", "synth", "data", "models", "weights",
                "pretrain-images", "train", "extract", "eval", "table", "check", "report", "cache"]  # fmt: skip
    assert commands == workflow
    panels = [line.strip("╭─ ").split(" ─")[0] for line in shown.stdout.splitlines() if line.startswith("╭─ ")]
    assert panels == ["Options", "The rule", "Data", "Models and training", "Evaluation and reports", "Housekeeping"]
    for args in (["--help"], ["eval", "--help"], ["train", "--help"], ["check", "--help"], ["data", "check", "-h"]):
        page = runner.invoke(app, args, env={"COLUMNS": "200"}).stdout
        assert "--json" in page or "--debug" in page or "--no-pin-memory" in page
        assert "<bool>" not in page, args


def test_protocols_list_keeps_every_value_when_not_a_terminal(runner):
    """CI reads the output through a pipe at 80 columns: no value may become `…` or be split."""
    from zslbench.protocol.spec import read_protocol, shipped_protocols

    listed = runner.invoke(app, ["protocols", "list"], env={"COLUMNS": "80"})
    assert listed.exit_code == 0 and "…" not in listed.stdout
    rows = listed.stdout.splitlines()  # every shipped protocol's row, TruZe-style ones included
    for path in shipped_protocols().values():
        proto = read_protocol(path)
        (row,) = [r for r in rows if f" {proto.name} v{proto.version} " in r]
        for value in (
            proto.train_source,
            ", ".join(proto.test),
            f"{proto.tau:g}",
            proto.embedding,
            proto.fingerprint[:12],
        ):
            assert value in row, (value, row)


@pytest.fixture(scope="module")
def long_named_results(trained_tiny, synth_dataset, tmp_path_factory):
    from zslbench.evaluation.run import EvalConfig, evaluate

    folder = tmp_path_factory.mktemp("results")
    data = {"synth-target": synth_dataset.root / "target.csv"}
    label = "r2plus1d-width-one-eighth-from-the-nightly-matrix"
    evaluate(EvalConfig(weights=trained_tiny, data=data, label=label, results=folder))
    return folder, label


def test_check_keeps_every_number_at_80_columns_and_prints_markdown(runner, long_named_results, tmp_path):
    results, label = long_named_results
    baseline = tmp_path / "base.json"
    assert runner.invoke(app, ["check", str(results), "--write-baseline", str(baseline)]).exit_code == 0
    rows = json.loads(runner.invoke(app, ["check", str(results), "--against", str(baseline), "--json"]).stdout)
    assert rows and {r["status"] for r in rows} == {"pass"}

    table = runner.invoke(app, ["check", str(results), "--against", str(baseline)], env={"COLUMNS": "80"})
    assert table.exit_code == 0 and "…" not in table.stdout
    lines = [line for line in table.stdout.splitlines() if line.startswith("│ pass")]
    assert len(lines) == len(rows)
    for row, line in zip(rows, lines, strict=True):
        assert label in line and f"{row['ours']:.2f}" in line and f"±{row['allowed']:.2f}" in line

    md = runner.invoke(app, ["check", str(results), "--against", str(baseline), "--format", "md"])
    assert md.exit_code == 0 and md.stdout.startswith("## zslbench check")
    cells = [line.split(" | ") for line in md.stdout.splitlines() if line.startswith("| pass |")]
    assert len(cells) == len(rows) and all(c[1] == label for c in cells)
    assert [c[6] for c in cells] == [f"{r['ours']:.2f}" for r in rows]


def test_the_documented_error_lines_are_what_the_commands_print(runner, in_tmp):
    """docs/cli.md shows real runs of bad input: each documented command still prints its documented line."""
    import re
    import shlex
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text(encoding="utf-8")
    block = re.search(r"## Errors\n.*?```console\n(.*?)```", doc, re.DOTALL).group(1).splitlines()
    pairs = list(zip(block[::2], block[1::2], strict=True))
    assert len(pairs) >= 10
    for command, line in pairs:
        assert command.startswith("$ zslbench ")
        result = runner.invoke(app, shlex.split(command)[2:])
        assert result.exit_code == 2 and result.stderr.strip() == line, (command, result.stderr)


def test_outputs_obey_the_umask_not_mkstemps_0600(runner, in_tmp):
    """Results and splits must be readable by a group or a CI artifact step, as the umask says."""
    import os

    import numpy as np

    np.savez(in_tmp / "f.npz", embeddings=np.ones((2, 50)), labels=np.array(["Archery", "Typing"]))
    old = os.umask(0o022)
    try:
        assert runner.invoke(app, ["split", "--threshold", "0.05", "--out", "s"]).exit_code == 0
        args = ["eval", "--features", "f.npz", "--protocol", "brattoli2020-k700-ucf-hmdb", "--out", "r"]
        assert runner.invoke(app, args).exit_code in (0, 1)
    finally:
        os.umask(old)
    written = [in_tmp / "s" / "split.json", in_tmp / "s" / "kept_classes.txt", *(in_tmp / "r").rglob("*.json")]
    assert len(written) == 3 and {oct(path.stat().st_mode & 0o777) for path in written} == {"0o644"}


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("zslbench sp", ["split"]),
        (
            "zslbench split --protocol brattoli2020-k7",
            [
                "brattoli2020-k700-ucf-hmdb",
                "brattoli2020-k700-ucf-hmdb-anet",
                "brattoli2020-k700-ucf-hmdb-anet-reference",
                "brattoli2020-k700-ucf-hmdb-reference",
            ],
        ),
        ("zslbench models show e2e_r", ["e2e_r2plus1d", "e2e_r3d"]),
    ],
)
def test_shell_completion_completes_commands_protocols_and_models(words, expected):
    """What `zslbench --install-completion` wires into bash: the completion protocol of click."""
    env = {"_ZSLBENCH_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)}
    done = subprocess.run(
        [sys.executable, "-m", "zslbench"], env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.split()) == expected
