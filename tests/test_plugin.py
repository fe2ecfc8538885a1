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
    evaluated = zslbench(
        plugin_env, "eval", "--weights", str(tmp_path / "run"), "--data",
        f"synth-target={synth_dataset.root / 'target.csv'}", "--results", str(tmp_path / "results"), "--json",
    )  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr  # eval once added an `init` option frame_cnn never declared
    (record,) = json.loads(evaluated.stdout)
    assert record["model"]["name"] == "frame_cnn" and record["compliance"]["verdict"] == "compliant"


def test_a_plugin_video_text_model_is_listed_and_evaluated(plugin_env, synth_dataset, tmp_path):
    listed = zslbench(plugin_env, "models", "list", "--json")
    model = next(m for m in json.loads(listed.stdout) if m["name"] == "frame_text")
    assert model["kind"] == "video_text" and model["input"]["frames"] == 4 and model["text"]["templates"]
    weights = tmp_path / "frame_text.pt"
    saved = subprocess.run(
        [sys.executable, "-c", "import sys, torch; from zslbench_example_plugin.video_text import load_frame_text; "
         "torch.save(load_frame_text(None).state_dict(), sys.argv[1])", str(weights)],
        capture_output=True, text=True, env=plugin_env, timeout=120,
    )  # fmt: skip
    assert saved.returncode == 0, saved.stderr
    evaluated = zslbench(
        plugin_env, "eval", "--model", "frame_text", "--weights", str(weights), "--protocol",
        str(synth_dataset.protocol), "--data", f"synth-target={synth_dataset.root / 'target.csv'}",
        "--option", "views=2", "--image-text", "none", "--finetuned-on", "none",
        "--results", str(tmp_path / "results"), "--json",
    )  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr
    (record,) = json.loads(evaluated.stdout)
    assert record["card"]["input"]["views"] == 2 and record["card"]["input"]["size"] == 48
    assert record["class_embeddings"]["text"]["templates"] == ["a video of {}."]
    assert record["data"]["scored"] == record["data"]["expected"] > 0
    assert record["compliance"]["verdict"] == "compliant"


def test_without_the_plugin_the_name_is_unknown(synth_dataset):
    shown = zslbench(dict(os.environ), "models", "show", "frame_cnn")
    assert shown.returncode == 2 and "unknown model 'frame_cnn'" in shown.stderr


def dist(site: Path, name: str, points: dict[str, str]) -> None:
    """A .dist-info declaring `points` in the zslbench.models group, as pip leaves one."""
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[zslbench.models]\n" + "".join(f"{k} = {v}\n" for k, v in points.items()))


@pytest.fixture
def broken_plugins_env(plugin_env, tmp_path):
    """Next to the example plugin: one plugin whose import raises, one whose entry point names no
    builder, and a good one whose builder is re-exported from a submodule."""
    site = tmp_path / "broken-site"
    site.mkdir()
    (site / "zsl_boom_mod.py").write_text("raise RuntimeError('kaboom at import')\n")
    (site / "zsl_plain_mod.py").write_text("thing = 42\n")
    (site / "zsl_reexport").mkdir()
    (site / "zsl_reexport" / "__init__.py").write_text("from zsl_reexport.impl import tiny_reexport\n")
    (site / "zsl_reexport" / "impl.py").write_text(
        "from zslbench.models import register_model\n\n\n"
        "@register_model('tiny_reexport', kind='end_to_end', backbone='none', summary='re-exported', feature_dim=8)\n"
        "def tiny_reexport(embed_dim):\n    raise NotImplementedError\n"
    )
    dist(site, "boom-plugin", {"boom": "zsl_boom_mod:builder"})
    dist(site, "plain-plugin", {"plain": "zsl_plain_mod:thing"})
    dist(site, "reexport-plugin", {"tiny_reexport": "zsl_reexport:tiny_reexport"})
    return {**plugin_env, "PYTHONPATH": os.pathsep.join([str(site), plugin_env["PYTHONPATH"]])}


def test_a_broken_plugin_is_one_warning_and_the_rest_are_listed(broken_plugins_env):
    listed = zslbench(broken_plugins_env, "models", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    names = {m["name"] for m in json.loads(listed.stdout)}
    assert {"e2e_r2plus1d", "eszsl", "frame_cnn", "tiny_reexport"} <= names and not names & {"boom", "plain"}
    warnings = listed.stderr.strip().splitlines()
    assert len(warnings) == 2, listed.stderr
    boom = next(line for line in warnings if "'boom'" in line)
    assert "boom = zsl_boom_mod:builder, from boom-plugin" in boom and "RuntimeError: kaboom at import" in boom
    plain = next(line for line in warnings if "'plain'" in line)
    assert "plain = zsl_plain_mod:thing" in plain and "not a model builder" in plain
    human = zslbench(broken_plugins_env, "models", "list")
    assert human.returncode == 0 and "frame_cnn" in human.stdout and "e2e_r3d" in human.stdout


def test_using_a_broken_plugin_is_one_line_exit_2(broken_plugins_env):
    shown = zslbench(broken_plugins_env, "models", "show", "boom")
    assert shown.returncode == 2 and shown.stderr.count("\n") == 1
    assert "boom-plugin" in shown.stderr and "kaboom at import" in shown.stderr and "Traceback" not in shown.stderr
    assert zslbench(broken_plugins_env, "models", "show", "e2e_r3d").returncode == 0
