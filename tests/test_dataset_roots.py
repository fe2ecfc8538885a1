"""Dataset roots set once (`zslbench data add`, zslbench.yaml, $ZSLBENCH_DATASETS): the nearer layer
wins, `--data` wins over all of them, and train, eval and extract find a configured root by itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_output import single_error_line

from zslbench.cli import app
from zslbench.core.errors import ZslbenchError
from zslbench.datasets.roots import add_root, configured_roots
from zslbench.text.vocab import load_class_list
from zslbench.video.sources import data_source, dataset_videos

MISSING_SOURCE = (
    "error: no data for synth-source (hint: pass --data synth-source=PATH, or set it once with "
    "zslbench data add synth-source PATH)"
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with its own empty settings folder and no $ZSLBENCH_DATASETS."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZSLBENCH_CONFIG", str(tmp_path / "config"))
    monkeypatch.delenv("ZSLBENCH_DATASETS", raising=False)
    for name in ("near", "middle", "far"):
        (tmp_path / name).mkdir()
    return tmp_path


def invoke(runner, args: list, code: int = 0):
    done = runner.invoke(app, [str(a) for a in args])
    assert done.exit_code == code, (args, done.stdout[-1500:], done.stderr[-1500:])
    return done


def test_nearer_layers_win_and_data_list_says_which(runner, home, monkeypatch):
    invoke(runner, ["data", "add", "ucf101", home / "far"])
    (home / "env").mkdir()
    (home / "env" / "roots.yaml").write_text("ucf101: ../middle  # relative to this file\nhmdb51: ../far\n")
    monkeypatch.setenv("ZSLBENCH_DATASETS", str(home / "env" / "roots.yaml"))
    (home / "zslbench.yaml").write_text("# the project's data\ndatasets:\n  ucf101: near\n")

    roots = configured_roots()
    assert roots["ucf101"].path == home / "near" and roots["ucf101"].where == f"{home / 'zslbench.yaml'}:3"
    assert [(o.layer, o.path) for o in roots["ucf101"].overrides] == [
        ("$ZSLBENCH_DATASETS", home / "middle"),
        ("user", home / "far"),
    ]
    assert roots["hmdb51"].path == home / "far" and roots["hmdb51"].layer == "$ZSLBENCH_DATASETS"

    listed = json.loads(invoke(runner, ["data", "list", "--json"]).stdout)
    assert [layer["layer"] for layer in listed["layers"]] == ["project", "$ZSLBENCH_DATASETS", "user"]
    rows = {row["name"]: row for row in listed["datasets"]}
    assert rows["ucf101"]["layer"] == "project" and rows["ucf101"]["line"] == 3
    assert [o["layer"] for o in rows["ucf101"]["overrides"]] == ["$ZSLBENCH_DATASETS", "user"]
    assert rows["ucf101"]["effective_layout"] == "ucf101" and rows["ucf101"]["layout"] is None
    human = invoke(runner, ["data", "list"]).stdout
    assert "project" in human and "ucf101 (default)" in human and "nearest layer wins" in human

    (home / "zslbench.yaml").unlink()
    assert configured_roots()["ucf101"].path == home / "middle"
    monkeypatch.delenv("ZSLBENCH_DATASETS")
    assert configured_roots()["ucf101"].path == home / "far"


def test_data_add_replaces_its_line_and_keeps_the_rest(runner, home):
    user = home / "config" / "datasets.yaml"
    user.parent.mkdir()
    user.write_text("# my datasets\nhmdb51: far  # the old disk\n\n# next\nucf101:\n  path: far\n  layout: folder\n")
    added = json.loads(invoke(runner, ["data", "add", "ucf101", home / "near", "--json"]).stdout)
    assert added["line"] == 5 and added["replaced"]["path"] == str(user.parent / "far")
    assert added["kind"] == "folder" and added["effective_layout"] == "ucf101" and added["warning"] is None
    assert user.read_text() == f"# my datasets\nhmdb51: far  # the old disk\n\n# next\nucf101: {home / 'near'}\n"

    shown = invoke(runner, ["data", "add", "hmdb51", home / "middle", "--layout", "folder"])
    assert f"saved in {user}:2, replacing {user.parent / 'far'}" in shown.stdout
    assert "hmdb51 -> " in shown.stdout and "(folder, layout folder)" in shown.stdout
    assert configured_roots()["hmdb51"].layout == "folder"

    (home / "zslbench.yaml").write_text("datasets:\n  hmdb51: near\n")
    shadowed = invoke(runner, ["data", "add", "hmdb51", home / "far"])
    assert f"{home / 'zslbench.yaml'}:2 also sets hmdb51 and is nearer" in shadowed.stderr


def test_data_remove_drops_its_lines_and_keeps_the_rest(runner, home):
    user = home / "config" / "datasets.yaml"
    user.parent.mkdir()
    user.write_text("# my datasets\nhmdb51: far  # the old disk\n\n# next\nucf101:\n  path: far\n  layout: folder\n")
    removed = json.loads(invoke(runner, ["data", "remove", "ucf101", "--json"]).stdout)
    assert removed["name"] == "ucf101" and removed["path"] == str(user.parent / "far") and removed["now"] is None
    assert user.read_text() == "# my datasets\nhmdb51: far  # the old disk\n\n# next\n"
    assert set(configured_roots()) == {"hmdb51"}

    (home / "zslbench.yaml").write_text("datasets:\n  hmdb51: near\n  kinetics700: near\n")
    shown = invoke(runner, ["data", "remove", "hmdb51"])  # the user file's entry; the project's stays in use
    assert f"removed hmdb51 -> {user.parent / 'far'} from {user}" in shown.stdout
    assert f"hmdb51 is still set in {home / 'zslbench.yaml'}:2 (project)" in shown.stderr
    assert user.read_text() == "# my datasets\n\n# next\n"

    elsewhere = invoke(runner, ["data", "remove", "kinetics700"], code=2)
    assert f"kinetics700 is set in {home / 'zslbench.yaml'}:3 (project)" in single_error_line(elsewhere)
    unknown = invoke(runner, ["data", "remove", "ucf10"], code=2)
    assert f"{user} sets no root for 'ucf10' (hint: it sets no dataset)" in single_error_line(unknown)


def test_data_option_wins_over_configured_roots(home, synth_dataset):
    add_root("synth-source", synth_dataset.root / "target.csv")  # a manifest with no source class
    classes = load_class_list(str(synth_dataset.root / "synth-source.txt"))
    with pytest.raises(ZslbenchError, match="has no videos of the 12 synth-source classes"):
        dataset_videos(classes, {})
    given = {"synth-source": synth_dataset.root / "source.csv"}
    assert data_source("synth-source", given).origin == "--data"
    assert len(dataset_videos(classes, given)) == 48


def test_train_eval_and_extract_find_the_configured_roots(runner, home, synth_dataset):
    """No --data anywhere: train reads the source root, eval and extract the target root; a model on
    features still takes its features file from --data (a video root is no features file)."""
    invoke(runner, ["data", "add", "synth-source", synth_dataset.root / "source.csv"])
    invoke(runner, ["data", "add", "synth-target", synth_dataset.root / "target", "--layout", "folder"])
    protocol = synth_dataset.protocol
    trained = invoke(runner, ["train", "--model", "e2e_r2plus1d", "--width", "0.125", "--max-steps", "2",
                              "--protocol", protocol, "--out", home / "run", "--json"])  # fmt: skip
    assert json.loads(trained.stdout)["videos"] == 48
    (record,) = json.loads(invoke(runner, ["eval", "--weights", home / "run", "--json"]).stdout)
    assert record["dataset"]["name"] == "synth-target" and record["data"]["scored"] == 16
    misspelt = ["eval", "--weights", home / "run", "--data", f"synth-targt={synth_dataset.root / 'target.csv'}"]
    refused = single_error_line(invoke(runner, misspelt, code=2))  # not ignored for the configured root
    assert "'synth-targt' is not a dataset of this run. Did you mean 'synth-target'" in refused

    for part in ("source", "target"):
        invoke(runner, ["extract", "--backbone", "r2plus1d_18", "--width", "0.125", "--protocol", protocol,
                        "--dataset", f"synth-{part}", "--out", home / f"{part}.npz"])  # fmt: skip
    invoke(runner, ["train", "--model", "eszsl", "--features", home / "source.npz", "--protocol", protocol,
                    "--out", home / "eszsl"])  # fmt: skip
    refused = invoke(runner, ["eval", "--weights", home / "eszsl", "--out", home / "r"], code=2)
    assert "no --data for synth-target" in single_error_line(refused)
    invoke(runner, ["eval", "--weights", home / "eszsl", "--data", f"synth-target={home / 'target.npz'}",
                    "--out", home / "r"])  # fmt: skip


def test_a_dataset_with_no_data_is_one_line(runner, home, synth_dataset):
    args = ["train", "--model", "e2e_r2plus1d", "--protocol", synth_dataset.protocol, "--out", home / "run"]
    assert single_error_line(invoke(runner, args, code=2)) == MISSING_SOURCE
    assert not (home / "run").exists()


def test_a_name_close_to_a_registered_dataset_is_a_warning(runner, home):
    added = invoke(runner, ["data", "add", "ucf11", home / "near"])
    assert "warning: 'ucf11' is not a registered dataset. Did you mean 'ucf101'?" in added.stderr
    assert configured_roots()["ucf11"].path == home / "near"
    assert "Did you mean 'ucf101'?" in invoke(runner, ["data", "list"]).stderr
    with pytest.raises(ZslbenchError, match=r"no data for ucf101 \('ucf11' is set at .*datasets.yaml:1: a typo\?\)"):
        data_source("ucf101", {})
    assert not invoke(runner, ["data", "add", "synth-source", home / "near"]).stderr  # an unregistered name is fine


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("datasets:\n  ucf101: near\n  ucf101: far\n", 3, "dataset 'ucf101' is set twice (also line 2)"),
        ("datasets:\n  ucf101: {path: near, layot: ucf101}\n", 2, "unknown key 'layot'. Did you mean 'layout'?"),
        ("datasets:\n  hmdb51: far\n  ucf101:\n", 3, "ucf101 must be a path"),
        ("datasets:\n  ucf101: [near]\n", 2, "ucf101 must be a path"),
        ("datasets:\n  ucf101: {layout: ucf101}\n", 2, "ucf101 has no path"),
        ("# roots\ndataset:\n  ucf101: near\n", 2, "unknown key 'dataset'. Did you mean 'datasets'?"),
        ("datasets:\n  ucf101: near\n bad\n", 3, "YAML syntax error"),
        ("datasets:\n  my data: near\n", 2, "'my data' is not a dataset name"),
        ("- ucf101\n", 1, "the file must be a mapping with the key datasets:"),
    ],
)
def test_a_malformed_file_names_its_line(runner, home, text, line, message):
    (home / "zslbench.yaml").write_text(text)
    shown = single_error_line(invoke(runner, ["data", "list"], code=2))
    assert shown.startswith(f"error: {home / 'zslbench.yaml'}:{line}: ") and message in shown, shown


def test_malformed_user_and_env_files_name_their_line(runner, home, monkeypatch):
    user = home / "config" / "datasets.yaml"
    user.parent.mkdir()
    user.write_text("ucf101: near\ndatasets:\n  hmdb51: far\n")
    assert f"{user}:2: datasets.yaml lists its entries at the top" in single_error_line(
        invoke(runner, ["data", "list"], code=2)
    )
    assert f"{user}:2:" in single_error_line(invoke(runner, ["data", "add", "ucf101", home / "far"], code=2))
    monkeypatch.setenv("ZSLBENCH_DATASETS", str(home / "absent.yaml"))
    assert "$ZSLBENCH_DATASETS names" in single_error_line(invoke(runner, ["data", "list"], code=2))


def test_a_configured_root_that_is_gone_or_has_an_unknown_layout(home, synth_dataset):
    classes = load_class_list(str(synth_dataset.root / "synth-target.txt"))
    project = home / "zslbench.yaml"
    project.write_text("datasets:\n  synth-target: {path: gone, layout: folder}\n")
    with pytest.raises(ZslbenchError, match=rf"{home / 'gone'} does not exist \(the synth-target root set at .*:2\)"):
        dataset_videos(classes, {})
    project.write_text(f"datasets:\n\n  synth-target: {{path: {synth_dataset.root / 'target'}, layout: foldr}}\n")
    with pytest.raises(ZslbenchError, match=r"zslbench.yaml:3: unknown layout 'foldr' .*Did you mean 'folder'"):
        dataset_videos(classes, {})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ucf101", "nowhere"], "nowhere does not exist"),
        (["ucf101", "near", "--layout", "ucf"], "unknown layout 'ucf'. Did you mean 'ucf101'?"),
        (["ucf101", "zslbench.yaml", "--layout", "ucf101"], "is a file; --layout ucf101 indexes a folder"),
        (["ucf101", "near", "--layout", "csv"], "the csv layout reads a file"),
        (["my data", "near"], "'my data' is not a dataset name"),
    ],
)
def test_data_add_refuses_bad_input(runner, home, args, message):
    (home / "zslbench.yaml").write_text("datasets:\n")
    assert message in single_error_line(invoke(runner, ["data", "add", *args], code=2))
    assert not (home / "config" / "datasets.yaml").exists()
