"""`train --select-on-test`: the reference's model selection on the test set, opt-in and recorded.

One tiny real run (2 epochs on the synthetic benchmark, stopped mid-run and resumed) is scored after
each epoch with one clip per video (the reference's per-epoch test); the tests recompute each epoch's
score the ordinary way (`eval` of the same weights under a one-clip protocol) and follow the note
through `eval` and `check`.
"""

import json

import pytest
import torch

from zslbench.cli import app
from zslbench.evaluation.records import find_records
from zslbench.models.checkpoint import load_checkpoint
from zslbench.training.settings import TEST_SET_SELECTION


def train_args(synth, out, *extra):
    source = f"synth-source={synth.root / 'source.csv'}"
    model = ["--model", "e2e_r2plus1d", "--width", "0.125", "--protocol", str(synth.protocol)]
    return ["train", *model, "--data", source, "--epochs", "2", "--out", str(out), *extra]


def target(synth):
    return ["--data", f"synth-target={synth.root / 'target.csv'}"]


@pytest.fixture(scope="module")
def selected_run(synth_dataset, tmp_path_factory):
    """A 2-epoch run with --select-on-test, stopped by --max-steps inside epoch 2, then resumed: the
    resumed run must continue the comparison. Also returns what a resume without the flag said."""
    from typer.testing import CliRunner

    runner, out = CliRunner(), tmp_path_factory.mktemp("selected") / "run"
    args = train_args(synth_dataset, out, *target(synth_dataset), "--select-on-test")
    first = runner.invoke(app, [*args, "--max-steps", "7"])
    assert first.exit_code == 0, (first.stdout, first.stderr)
    without = runner.invoke(app, [*train_args(synth_dataset, out, *target(synth_dataset)), "--resume"])
    resumed = runner.invoke(app, [*args, "--resume"])
    assert resumed.exit_code == 0, (resumed.stdout, resumed.stderr)
    return out, without


@pytest.fixture(scope="module")
def one_clip_epochs(synth_dataset, tmp_path_factory):
    """{epoch: (all top-1 with one test clip, weights)} made the ordinary way, without the flag: the same
    seed trains the same weights, under a protocol whose test reads one clip per video, evaluated by
    `eval` into records after epoch 1 and after epoch 2 (a finished run continued with --epochs 2)."""
    from typer.testing import CliRunner

    runner, root = CliRunner(), tmp_path_factory.mktemp("one_clip")
    out, epochs = root / "run", {}
    for epoch in (1, 2):
        args = train_args(synth_dataset, out, "--set", "clips.test_clips=1")
        args[args.index("--epochs") + 1] = str(epoch)
        trained = runner.invoke(app, [*args, *(["--resume"] if epoch == 2 else [])])
        assert trained.exit_code == 0, trained.stderr
        results = root / f"results{epoch}"
        evaluated = runner.invoke(app, ["eval", "--weights", str(out), *target(synth_dataset), "--out", str(results)])
        assert evaluated.exit_code == 0, evaluated.stderr
        (record,) = find_records([results])
        assert record["data"]["clips_per_video"] == 1
        epochs[epoch] = (record["metrics"]["all"]["top1"], load_checkpoint(out)["state_dict"])
    return epochs


def test_the_selected_checkpoint_is_the_epoch_with_the_best_one_clip_test_top1(selected_run, one_clip_epochs):
    out, _ = selected_run
    state = json.loads((out / "selection" / "selection.json").read_text())
    assert sorted(state["epochs"]) == ["1", "2"]  # every epoch scored, the one before the stop included
    for epoch, (top1, _) in one_clip_epochs.items():  # one clip per video, as the reference's per-epoch test
        assert state["epochs"][str(epoch)]["top1"] == {"synth-target": pytest.approx(top1)}
    best = max((1, 2), key=lambda epoch: one_clip_epochs[epoch][0])  # ties: the earliest (strictly greater)
    selected = load_checkpoint(out / "selected_on_test.pt")
    assert selected["epoch"] == best and selected["selected_on_test"]["epoch"] == best == state["best"]["epoch"]
    assert selected["selected_on_test"]["value"] == pytest.approx(one_clip_epochs[best][0])
    weights = one_clip_epochs[best][1]
    assert all(torch.equal(selected["state_dict"][name], weights[name]) for name in weights)
    assert selected["settings"]["model_selection"] == f"{TEST_SET_SELECTION}: epoch {best}"
    last = load_checkpoint(out / "checkpoint.pt")  # the last state stays the run's checkpoint
    assert last["epoch"] == 2 and last["finished"] and last["settings"]["select_on_test"] is True
    assert "model_selection" not in last["settings"]  # the last state was not chosen by the test set
    assert not list((out / "selection").glob("epoch_*"))  # no records: one clip is not the protocol's test


def test_selection_leaves_the_training_untouched_and_the_default_never_selects(selected_run, trained_tiny):
    """`trained_tiny` is the same run without the flag: the same weights, but no selection and no note."""
    out, _ = selected_run
    plain = load_checkpoint(trained_tiny / "checkpoint.pt")
    assert "model_selection" not in plain["settings"] and "select_on_test" not in plain["settings"]
    assert not (trained_tiny / "selection").exists() and not (trained_tiny / "selected_on_test.pt").exists()
    ours = load_checkpoint(out / "checkpoint.pt")["state_dict"]
    assert all(torch.equal(ours[key], value) for key, value in plain["state_dict"].items())


def test_a_resume_cannot_switch_selection_off(selected_run):
    _, without = selected_run
    assert without.exit_code == 2 and "Traceback" not in without.stderr
    assert "trained with --select-on-test" in without.stderr and len(without.stderr.strip().splitlines()) == 1


def test_eval_and_check_show_that_the_test_set_chose_the_model(runner, selected_run, synth_dataset, tmp_path):
    out, _ = selected_run
    results, baseline = tmp_path / "results", tmp_path / "baseline.json"
    args = ["eval", "--weights", str(out / "selected_on_test.pt"), *target(synth_dataset), "--out", str(results)]
    evaluated = runner.invoke(app, args)
    assert evaluated.exit_code == 0, evaluated.stderr
    note = load_checkpoint(out / "selected_on_test.pt")["settings"]["model_selection"]
    assert note.startswith(TEST_SET_SELECTION) and f"note: {note}" in evaluated.stderr
    last = [*args[:2], str(out / "checkpoint.pt"), *args[3:-1], str(tmp_path / "last")]
    plain = runner.invoke(app, last)
    assert plain.exit_code == 0 and "note:" not in plain.stderr  # the last state was not chosen by the test set
    assert runner.invoke(app, ["check", str(results), "--write-baseline", str(baseline)]).exit_code == 0
    shown = runner.invoke(app, ["check", str(results), "--against", str(baseline)])
    assert shown.exit_code == 0, shown.stdout
    assert f"* e2e_r2plus1d: {note}" in shown.stdout
    assert any(cell.endswith("*") for line in shown.stdout.splitlines() for cell in line.split())  # marked number
    rows = json.loads(runner.invoke(app, ["check", str(results), "--against", str(baseline), "--json"]).stdout)
    assert rows and all(row["note"] == note for row in rows)
    markdown = runner.invoke(app, ["check", str(results), "--against", str(baseline), "--format", "md"]).stdout
    assert f"\\* e2e_r2plus1d: {note}" in markdown


def test_without_the_test_data_the_flag_fails_before_training(runner, synth_dataset, tmp_path):
    for extra, message in [
        ((), "no data for synth-target"),
        (("--data", f"synth-target={tmp_path / 'missing.csv'}"), "does not exist"),
    ]:
        out = tmp_path / "run"
        failed = runner.invoke(app, train_args(synth_dataset, out, *extra, "--select-on-test"))
        assert failed.exit_code == 2, (failed.stdout, failed.stderr)
        assert message in failed.stderr and "--select-on-test" in failed.stderr
        assert len(failed.stderr.strip().splitlines()) == 1 and "Traceback" not in failed.stderr
        assert not out.exists()  # refused before the first step: no checkpoint, no metrics


def test_a_run_killed_while_its_last_epoch_is_scored_resumes_into_the_scoring(selected_run, synth_dataset, tmp_path):
    """The state such a kill leaves (the final checkpoint written unfinished, the last epoch not in
    selection.json), made from a finished run's own files: --resume scores it and finishes the run."""
    import shutil

    from zslbench.models.checkpoint import save_checkpoint

    out = tmp_path / "run"
    shutil.copytree(selected_run[0], out)
    state = load_checkpoint(out / "checkpoint.pt")
    state.pop("format", None)
    save_checkpoint(out / "checkpoint.pt", {**state, "finished": False})
    selection = json.loads((out / "selection" / "selection.json").read_text())
    scored = selection["epochs"].pop("2")
    if selection["best"]["epoch"] == 2:
        selection["best"] = {"epoch": 1, "value": selection["epochs"]["1"]["value"]}
    (out / "selection" / "selection.json").write_text(json.dumps(selection))

    from typer.testing import CliRunner

    args = train_args(synth_dataset, out, *target(synth_dataset), "--select-on-test", "--resume")
    resumed = CliRunner().invoke(app, args)
    assert resumed.exit_code == 0, resumed.stderr
    after = json.loads((out / "selection" / "selection.json").read_text())
    assert after["epochs"]["2"] == scored and load_checkpoint(out / "checkpoint.pt")["finished"]
    original = json.loads((selected_run[0] / "selection" / "selection.json").read_text())
    assert after["best"] == original["best"]
