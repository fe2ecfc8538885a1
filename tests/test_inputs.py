"""Bad inputs meet every route with their own reason, and nothing hangs (issue 11).

A named pipe listed as a video once made `eval` block forever (opening it to hash) and `data check`
call it "file not found". Here a real dataset has one video replaced by a FIFO and one by a folder,
and each command that reads videos must name both for what they are. A watchdog opens the pipes for
writing after a while, so a reader that blocks on one is released and the test fails instead of hanging.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from zslbench.cli import app
from zslbench.video.manifest import read_manifest

PIPE = "not a regular file (a named pipe)"
FOLDER = "not a regular file (a folder)"
HANG_S = 90.0


@contextlib.contextmanager
def no_hang(fifos: list[Path], seconds: float = HANG_S) -> Iterator[None]:
    """Fail, rather than block, when something waits on one of `fifos`: after `seconds` a writer
    opens and closes each again and again, so a blocked reader sees end-of-file and returns."""
    done, hung = threading.Event(), []

    def watch() -> None:
        if done.wait(seconds):
            return
        hung.append(True)
        while not done.is_set():
            for fifo in fifos:
                with contextlib.suppress(OSError):  # ENXIO: nobody has it open to read right now
                    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            done.wait(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
    assert not hung, f"a reader blocked on a named pipe for more than {seconds:g} s"


@dataclass
class OddDataset:
    root: Path
    fifos: list[Path]
    reasons: dict[str, str]  # path -> the reason every route must give


@pytest.fixture
def odd(synth_dataset, tmp_path) -> OddDataset:
    """The synthetic benchmark with, in both its source and target manifests, one video replaced by a
    named pipe and one by a folder."""
    root = tmp_path / "s"
    shutil.copytree(synth_dataset.root, root)
    fifos, reasons = [], {}
    for part in ("source", "target"):
        records = read_manifest(root / f"{part}.csv").records
        pipe, folder = records[0].path, records[3].path
        pipe.unlink()
        os.mkfifo(pipe)
        folder.unlink()
        folder.mkdir()
        fifos.append(pipe)
        reasons.update({str(pipe): PIPE, str(folder): FOLDER})
    return OddDataset(root, fifos, reasons)


def of_target(odd: OddDataset) -> dict[str, str]:
    return {path: why for path, why in odd.reasons.items() if f"{os.sep}target{os.sep}" in path}


def test_data_check_names_a_pipe_and_a_folder(runner, odd):
    with no_hang(odd.fifos):
        result = runner.invoke(app, ["data", "check", str(odd.root / "target.csv"), "--json"])
    assert result.exit_code == 1, result.stderr
    report = json.loads(result.stdout)
    assert {f["path"]: f["reason"] for f in report["failed"]} == of_target(odd) and report["ok"] == 14


@pytest.mark.parametrize("layout", ["folder", "csv"])
def test_data_index_skips_a_pipe_and_a_folder_by_kind(runner, odd, tmp_path, layout):
    if layout == "folder":
        root = odd.root / "target"
    else:  # a CSV naming every target video, the odd ones included
        root = tmp_path / "rows.csv"
        rows = [f'"{r.path}",{r.label}' for r in read_manifest(odd.root / "target.csv").records]
        root.write_text("path,label\n" + "\n".join(rows) + "\n")
    args = ["data", "index", layout, str(root), "--classes", str(odd.root / "synth-target.txt")]
    with no_hang(odd.fifos):
        result = runner.invoke(app, [*args, "-o", str(tmp_path / "m.csv"), "--json"])
        human = runner.invoke(app, [*args, "-o", str(tmp_path / "m2.csv")])
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    skipped = {str(Path(s["path"]).absolute()): s["reason"] for s in summary["skipped"]}
    assert skipped == of_target(odd) and summary["videos"] == 14
    assert human.exit_code == 0 and "2 unusable files, skipped" in human.stderr and PIPE in human.stderr


def test_a_pipe_or_folder_given_as_a_manifest_or_csv_is_one_line_exit_2(runner, odd, tmp_path):
    os.mkfifo(tmp_path / "pipe.csv")
    odd.fifos.append(tmp_path / "pipe.csv")
    (tmp_path / "folder.csv").mkdir()
    cases = [
        (["data", "check", str(tmp_path / "pipe.csv")], f"manifest {tmp_path / 'pipe.csv'}: {PIPE}"),
        (["data", "check", str(tmp_path / "folder.csv")], f"manifest {tmp_path / 'folder.csv'}: {FOLDER}"),
        (["data", "index", "csv", str(tmp_path / "pipe.csv")], f"CSV {tmp_path / 'pipe.csv'}: {PIPE}"),
        (["data", "prepare", str(tmp_path / "pipe.csv"), "-o", str(tmp_path / "p")], PIPE),
    ]
    with no_hang(odd.fifos):
        results = [(runner.invoke(app, args), message) for args, message in cases]
    for result, message in results:
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and message in lines[0], result.stderr


def test_data_prepare_names_a_pipe_and_a_folder(runner, odd, tmp_path):
    with no_hang(odd.fifos):
        result = runner.invoke(
            app, ["data", "prepare", str(odd.root / "target.csv"), "-o", str(tmp_path / "p"), "--json"]
        )
    assert result.exit_code == 1, result.stderr
    report = json.loads(result.stdout)
    assert {f["path"]: f["reason"] for f in report["failed"]} == of_target(odd) and report["prepared"] == 14


def test_train_names_a_pipe_and_a_folder(runner, odd, tmp_path):
    args = ["train", "--model", "e2e_r2plus1d", "--option", "width=0.125", "--epochs", "1", "--protocol",
            str(odd.root / "synth.yaml"), "--data", f"synth-source={odd.root / 'source.csv'}",
            "--out", str(tmp_path / "run"), "--failure-budget", "0.1"]  # fmt: skip
    with no_hang(odd.fifos):
        result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    failures = json.loads((tmp_path / "run" / "decode_failures.json").read_text())
    assert failures == {path: why for path, why in odd.reasons.items() if path not in of_target(odd)}


def test_eval_and_extract_name_a_pipe_and_a_folder(runner, odd, trained_tiny, tmp_path):
    data = f"synth-target={odd.root / 'target.csv'}"
    with no_hang(odd.fifos):
        evaluated = runner.invoke(
            app, ["eval", "--weights", str(trained_tiny), "--data", data, "--out", str(tmp_path / "r"),
                  "--failure-budget", "0.2", "--json"],
        )  # fmt: skip
        extracted = runner.invoke(
            app, ["extract", "--weights", str(trained_tiny), "--dataset", "synth-target", "--data", data,
                  "--out", str(tmp_path / "e.npz"), "--json"],
        )  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.stderr
    (record,) = json.loads(evaluated.stdout)
    failures = {f["path"]: f["reason"] for f in record["data"]["failures"]}
    assert failures == {path: f"cannot read: {why}" for path, why in of_target(odd).items()}
    assert record["data"]["expected"] == 16 and record["data"]["scored"] == 14
    assert extracted.exit_code == 0, extracted.stderr
    assert json.loads(extracted.stdout)["failed"] == 2
    assert len(np.load(tmp_path / "e.npz")["labels"]) == 14


def test_decoder_verification_names_a_pipe_and_a_folder(runner, odd):
    pytest.importorskip("decord")
    with no_hang(odd.fifos):
        result = runner.invoke(
            app, ["data", "check", str(odd.root / "target.csv"), "--verify-decoder", "decord", "--json"]
        )
    report = json.loads(result.stdout)
    details = {p["path"]: p["detail"] for p in report["problems"]}
    assert details == {path: f"unreadable: {why}" for path, why in of_target(odd).items()}


@pytest.fixture
def mixed_manifest(synth_dataset, tmp_path) -> Path:
    """The target manifest plus a repeated row (the same video and label, its path spelled another
    way) and two rows of source classes, written beside the synthetic data."""
    root = tmp_path / "s"
    shutil.copytree(synth_dataset.root, root)
    lines = (root / "target.csv").read_text().splitlines()
    first = lines[2].split(",")
    repeated = ",".join([first[0].replace("target/", "target/../target/", 1), *first[1:]])
    source = (root / "source.csv").read_text().splitlines()[2:4]
    (root / "mixed.csv").write_text("\n".join([*lines, repeated, *source]) + "\n")
    return root / "mixed.csv"


def test_repeated_and_foreign_rows_are_left_out_and_accounted(mixed_manifest, synth_dataset):
    from zslbench.protocol.spec import load_protocol
    from zslbench.video.sources import ignored_warnings, select_videos

    (target,) = load_protocol(str(synth_dataset.protocol)).test_classes()
    selected = select_videos(target, {target.name: mixed_manifest})
    assert len(selected.manifest) == 16 and len({r.path for r in selected.manifest.records}) == 16
    described = selected.ignored.describe()
    assert described["rows"] == 3 and described["duplicate_rows"]["rows"] == 1
    foreign = described["labels_not_in_dataset"]
    assert foreign["rows"] == 2 and {e["label"] for e in foreign["examples"]} == {
        line.split(",")[1] for line in mixed_manifest.read_text().splitlines()[-2:]
    }
    lines = ignored_warnings(described, target.name)
    assert len(lines) == 2 and "counted once" in lines[0] and f"not classes of {target.name}" in lines[1]


def test_eval_scores_a_repeated_row_once(runner, mixed_manifest, trained_tiny, tmp_path):
    args = ["eval", "--weights", str(trained_tiny), "--data", f"synth-target={mixed_manifest}",
            "--out", str(tmp_path / "r"), "--json"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    (record,) = json.loads(result.stdout)
    assert record["data"]["expected"] == 16 and record["data"]["scored"] == 16
    ignored = record["data"]["ignored"]
    assert ignored["duplicate_rows"]["rows"] == 1 and ignored["labels_not_in_dataset"]["rows"] == 2
    shown = runner.invoke(app, [*args[:-1], "--overwrite"])  # without --json: the user is told
    assert shown.exit_code == 0 and "warning:" in shown.stderr


def test_a_manifest_of_only_other_labels_is_one_line_naming_them(runner, synth_dataset, trained_tiny, tmp_path):
    args = ["eval", "--weights", str(trained_tiny), "--data", f"synth-target={synth_dataset.root / 'source.csv'}",
            "--out", str(tmp_path / "r")]  # fmt: skip
    result = runner.invoke(app, args)
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.stderr
    assert "has no videos of the 4 synth-target classes (its 48 rows are labelled '" in lines[0]


@pytest.mark.parametrize("option", ["--train", "--embedding"])
def test_a_named_pipe_as_class_list_or_vectors_file_is_one_line_not_a_hang(option, tmp_path):
    """Opening a FIFO blocks until a writer comes; a class list or a vectors file must be refused first."""
    import subprocess
    import sys

    pipe = tmp_path / "lists.txt"
    os.mkfifo(pipe)
    value = str(pipe) if option == "--train" else f"glove:{pipe}"
    run = subprocess.run([sys.executable, "-m", "zslbench", "split", option, value, "--test", "ucf101"],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)  # fmt: skip
    assert run.returncode == 2 and "not a regular file (a named pipe)" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
