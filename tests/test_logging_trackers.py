"""Progress in a log file (plain lines when stderr is no terminal) and the experiment trackers (--logger).

The tracker tests run each library that is installed (`tensorboard` comes with the dev extra); the
others skip. A missing library is simulated by a module first on the path that raises ImportError.
"""

import json
import os
import re
import subprocess
import sys

import pytest
from tiny_runs import tiny_config

from zslbench.cli import app
from zslbench.cli.progress import counting, per_epoch, progress_interval
from zslbench.core.errors import ZslbenchError
from zslbench.training.trainer import train

ANSI = re.compile(r"\x1b\[|\r")
TIME = r"\d+:\d\d:\d\d"
STEP_LINE = re.compile(
    rf"^epoch 1 step (\d)/48 \(\d+%\) loss \d+\.\d{{4}} lr 0\.001( \d+\.\d clips/s ETA {TIME})? elapsed {TIME}$"
)


def cli_train(synth, out, *extra, env=None) -> subprocess.CompletedProcess:
    """`zslbench train` in its own process, stderr to a pipe (no terminal): 2 steps of 1 video."""
    command = [
        sys.executable, "-m", "zslbench", "train", "--model", "e2e_r2plus1d", "--width", "0.125", "--epochs", "1",
        "--batch-size", "1", "--max-steps", "2", "--protocol", str(synth.protocol),
        "--data", f"synth-source={synth.root / 'source.csv'}", "--out", str(out), *extra,
    ]  # fmt: skip
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300)


def test_train_prints_plain_progress_lines_when_stderr_is_not_a_terminal(synth_dataset, tmp_path):
    done = cli_train(synth_dataset, tmp_path / "run", env={"ZSLBENCH_PROGRESS_INTERVAL": "0"})
    assert done.returncode == 0, done.stderr
    assert not ANSI.search(done.stderr), done.stderr
    steps = [STEP_LINE.match(line) for line in done.stderr.splitlines() if line.startswith("epoch")]
    assert all(steps) and [m.group(1) for m in steps] == ["1", "2"], done.stderr
    assert steps[0].group(2) is None and steps[1].group(2) is not None  # the first step has no rate yet
    assert "stopped early" in done.stdout  # progress stays on stderr


def test_plain_lines_are_throttled_but_each_phase_shows_its_first_and_last(monkeypatch, capsys):
    monkeypatch.setenv("ZSLBENCH_PROGRESS_INTERVAL", "3600")
    with counting("checking", 5) as advance:
        for _ in range(5):
            advance()
    with per_epoch() as update:
        for epoch in (1, 2):
            for step in (1, 2, 3):
                update({"epoch": epoch, "step": step, "steps": 3, "loss": 0.5, "lr": 1e-3, "clips": 4,
                        "elapsed_s": 2.0 * (3 * epoch + step)})  # fmt: skip
        update({"epoch": 3, "step": 1, "steps": 3, "loss": 0.25, "clips": 4, "elapsed_s": 20.0, "unit": "videos"})
    shown = capsys.readouterr().err.splitlines()
    assert [line.split(" (")[0] for line in shown] == [
        "checking 1/5", "checking 5/5",
        "epoch 1 step 1/3", "epoch 1 step 3/3", "epoch 2 step 1/3", "epoch 2 step 3/3", "epoch 3 step 1/3",
    ]  # fmt: skip
    assert shown[5].endswith("loss 0.5000 lr 0.001 2.0 clips/s ETA 0:00:00 elapsed 0:00:18")
    assert shown[6].endswith("loss 0.2500 2.0 videos/s ETA 0:00:04 elapsed 0:00:20")  # no lr: none shown


def test_no_plain_lines_with_json_or_on_other_ranks(monkeypatch, capsys):
    monkeypatch.setenv("ZSLBENCH_PROGRESS_INTERVAL", "0")
    with counting("checking", 2, enabled=False) as advance:  # --json
        advance(2)
    monkeypatch.setenv("RANK", "1")
    with counting("checking", 2) as advance:
        advance(2)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("value", ["soon", "-1", "nan"])
def test_a_bad_progress_interval_is_refused(monkeypatch, value):
    monkeypatch.setenv("ZSLBENCH_PROGRESS_INTERVAL", value)
    with pytest.raises(ZslbenchError, match="ZSLBENCH_PROGRESS_INTERVAL"):
        progress_interval()


def tracked_run(synth, out, logger: str) -> list[dict]:
    """Two steps of 1 video with the tracker, every step logged; returns metrics.jsonl's rows."""
    train(tiny_config(synth, out, loggers=(logger,), batch_size=1, max_steps=2, log_every=1))
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_tensorboard_gets_the_rows_of_metrics_jsonl(synth_dataset, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    rows = tracked_run(synth_dataset, tmp_path / "run", "tensorboard")
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    for tag, key in [("train/loss", "loss"), ("train/lr", "lr")]:
        logged = [(event.step, event.value) for event in events.Scalars(tag)]
        assert logged == [(row["global_step"], pytest.approx(row[key], rel=1e-6)) for row in rows]
    config = events.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert '"lr": 0.001' in config and '"name": "e2e_r2plus1d"' in config


def test_mlflow_gets_the_rows_and_the_settings(synth_dataset, tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps the file store for opt-ins only
    rows = tracked_run(synth_dataset, tmp_path / "run", "mlflow")
    client = MlflowClient()
    (run,) = client.search_runs([client.get_experiment_by_name("zslbench").experiment_id])
    history = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, "train/loss"))
    assert history == [(row["global_step"], pytest.approx(row["loss"])) for row in rows]
    assert run.data.params["settings.lr"] == "0.001" and run.data.params["model.name"] == "e2e_r2plus1d"
    assert run.info.status == "FINISHED" and run.info.run_name == "run"


def wandb_logged(log: bytes, key: str) -> list[float]:
    """The values of `key` in a W&B transaction log (run-*.wandb): its history and summary items are
    protobufs (key: field 2, value_json: field 16), short enough to be read without wandb's reader."""
    marker = re.escape(b"\x12" + bytes([len(key)]) + key.encode() + b"\x82\x01")
    return [float(log[m.end() + 1 : m.end() + 1 + log[m.end()]]) for m in re.finditer(marker, log)]


def test_wandb_writes_an_offline_run_with_the_history(synth_dataset, tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    rows = tracked_run(synth_dataset, tmp_path / "run", "wandb")
    wandb.teardown()  # its service writes the log's last records when it stops (as at the process's exit)
    (folder,) = (tmp_path / "wandb").glob("offline-run-*")
    (log,) = folder.glob("run-*.wandb")  # what `wandb sync` uploads
    assert set(wandb_logged(log.read_bytes(), "train/loss")) == {row["loss"] for row in rows}


def test_a_missing_tracker_library_is_one_line_before_any_work(runner, synth_dataset, tmp_path, monkeypatch):
    shims = tmp_path / "shims"  # a wandb that does not import, first on the path
    (shims / "wandb").mkdir(parents=True)
    (shims / "wandb" / "__init__.py").write_text("raise ImportError('wandb is hidden by this test')\n")
    monkeypatch.syspath_prepend(str(shims))
    monkeypatch.delitem(sys.modules, "wandb", raising=False)
    args = [
        "train",
        "--model",
        "e2e_r2plus1d",
        "--protocol",
        str(synth_dataset.protocol),
        "--out",
        str(tmp_path / "run"),
    ]
    done = runner.invoke(
        app, [*args, "--data", f"synth-source={synth_dataset.root / 'source.csv'}", "--logger", "wandb"]
    )
    assert done.exit_code == 2 and not (tmp_path / "run").exists()
    assert done.stderr.splitlines() == [
        "error: --logger wandb needs the wandb package (wandb is hidden by this test) "
        '(hint: pip install "zslbench[wandb]")'
    ]


def test_unknown_logger_and_the_deprecated_tensorboard_flag(runner, synth_dataset, tmp_path):
    args = [
        "train",
        "--model",
        "e2e_r2plus1d",
        "--out",
        str(tmp_path / "run"),
        "--protocol",
        str(synth_dataset.protocol),
    ]
    unknown = runner.invoke(app, [*args, "--logger", "tensorbord"])
    assert unknown.exit_code == 2 and "unknown logger 'tensorbord'. Did you mean 'tensorboard'?" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1
    images = runner.invoke(app, ["pretrain-images", "--images", str(tmp_path), *args[1:], "--logger", "nope"])
    assert images.exit_code == 2 and "unknown logger 'nope'" in images.stderr
    old = runner.invoke(app, [*args, "--tensorboard", "--logger", "nope"])  # refused after the warning
    assert old.stderr.splitlines()[0] == "warning: --tensorboard is deprecated; use --logger tensorboard"
