"""The example plugin under examples/ is found through its entry point, listed, and trained."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "zslbench-example-plugin"


@pytest.fixture
def plugin_env(tmp_path):
    """What `pip install -e examples/zslbench-example-plugin` leaves behind: the package importable
    and a .dist-info declaring its entry point (read from the example's own pyproject)."""
    import tomllib

    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    info = tmp_path / "site" / f"zslbench_example_plugin-{project['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    points = project["entry-points"]["zslbench.models"]
    (info / "entry_points.txt").write_text("[zslbench.models]\n" + "".join(f"{k} = {v}\n" for k, v in points.items()))
    path = os.pathsep.join([str(tmp_path / "site"), str(EXAMPLE), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path}


def zslbench(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "zslbench", *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_plugin_model_is_listed_and_trains(plugin_env, synth_dataset, tmp_path):
    listed = zslbench(plugin_env, "models", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    models = {m["name"]: m for m in json.loads(listed.stdout)}
    assert models["frame_cnn"]["origin"] == "zslbench_example_plugin" and "e2e_r2plus1d" in models
    trained = zslbench(
        plugin_env, "train", "--model", "frame_cnn", "--epochs", "1", "--protocol", str(synth_dataset.protocol),
        "--data", f"synth-source={synth_dataset.root / 'source.csv'}", "--out", str(tmp_path / "run"), "--json",
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert json.loads(trained.stdout)["steps"] == 6


def test_without_the_plugin_the_name_is_unknown(synth_dataset):
    shown = zslbench(dict(os.environ), "models", "show", "frame_cnn")
    assert shown.returncode == 2 and "unknown model 'frame_cnn'" in shown.stderr
