"""The example plugin under examples/ is found through its entry point, listed, and trained."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "zslbench-example-plugin"


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory):
    """`pip install` of examples/zslbench-example-plugin (no network: its build backend, hatchling, is a
    dev dependency) into a folder of its own, as a user's site-packages would hold it."""
    pytest.importorskip("hatchling", reason="building the example plugin needs hatchling (the dev extra)")
    site = tmp_path_factory.mktemp("plugin-site")
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index"]
    done = subprocess.run([*pip, "--target", str(site), str(EXAMPLE)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return site


@pytest.fixture
def plugin_env(installed_plugin, tmp_path):
    """The environment of a user who installed the plugin, with a zoo and a cache of their own."""
    path = os.pathsep.join([str(installed_plugin), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "ZSLBENCH_DATA": str(tmp_path / "data-home")}


def zslbench(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "zslbench", *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_plugin_model_trains_evaluates_enters_the_zoo_and_exports(plugin_env, synth_dataset, tmp_path):
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
        f"synth-target={synth_dataset.root / 'target.csv'}", "--out", str(tmp_path / "results"), "--json",
    )  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr  # eval once added an `init` option frame_cnn never declared
    (record,) = json.loads(evaluated.stdout)
    assert record["model"]["name"] == "frame_cnn" and record["compliance"]["verdict"] == "compliant"
    plugin = record["model"]["identity"]["model"]["plugin"]  # in the record and in the feature cache's key
    assert plugin["distribution"] == "zslbench-example-plugin" and plugin["version"] == "0.1.0"
    added = zslbench(plugin_env, "weights", "add", str(tmp_path / "run"), "--id", "frame-synth", "--json")
    assert added.returncode == 0, added.stderr
    exported = zslbench(plugin_env, "weights", "export", "frame-synth", "--out", str(tmp_path / "export"))
    assert exported.returncode == 0, exported.stderr
    from_zoo = zslbench(
        plugin_env, "eval", "--model", "frame_cnn", "--data", f"synth-target={synth_dataset.root / 'target.csv'}",
        "--out", str(tmp_path / "from-zoo"), "--json",
    )  # fmt: skip
    from_export = zslbench(
        plugin_env, "eval", "--weights", str(tmp_path / "export"), "--name", "exported",
        "--data", f"synth-target={synth_dataset.root / 'target.csv'}", "--out", str(tmp_path / "from-export"), "--json",
    )  # fmt: skip
    assert from_zoo.returncode == 0 and from_export.returncode == 0, from_zoo.stderr + from_export.stderr
    again = [json.loads(done.stdout)[0] for done in (from_zoo, from_export)]
    assert all(r["metrics"] == record["metrics"] for r in again)  # the same weights, the same numbers


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
        "--out", str(tmp_path / "results"), "--json",
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


NOTEBOOK = '''
import json, sys
from pathlib import Path

import torch
import zslbench
from zslbench.models import register_model
from zslbench.models.checkpoint import export_checkpoint
from zslbench.models.weights import add
from zslbench.models.zeroshot import ZeroShotVideoModel


class MeanConv(torch.nn.Module):
    """clips [N, 3, T, H, W] -> [N, 8]: one 3D convolution, averaged."""

    def __init__(self):
        super().__init__()
        self.conv, self.feature_dim = torch.nn.Conv3d(3, 8, 3, padding=1), 8

    def forward(self, clips):
        return self.conv(clips).mean(dim=(2, 3, 4))


@register_model("notebook_conv", kind="end_to_end", backbone="conv3d", summary="from a notebook", feature_dim=8)
def notebook_conv(embed_dim):
    return ZeroShotVideoModel(MeanConv(), embed_dim)


root, out, protocol = map(Path, sys.argv[1:4])
zslbench.train(zslbench.TrainConfig("notebook_conv", out / "run", {"synth-source": root / "source.csv"},
                                    str(protocol), epochs=1))
target = {"synth-target": root / "target.csv"}
(_, record), = zslbench.evaluate(zslbench.EvalConfig(weights=out / "run", data=target, results=out / "r")).records
entry = add(out / "run", "notebook-conv")
export_checkpoint(out / "run", out / "export")
(_, again), = zslbench.evaluate(
    zslbench.EvalConfig(weights=out / "export", data=target, results=out / "r2", label="exported")
).records
print(json.dumps({"record": record, "again": again, "entry": entry.id}))
'''


def test_a_model_registered_in_a_notebook_trains_evaluates_enters_the_zoo_and_exports(synth_dataset, tmp_path):
    """The same contract without a package: its record names its module and the hash of its source."""
    script = tmp_path / "notebook.py"
    script.write_text(NOTEBOOK)
    env = {**os.environ, "ZSLBENCH_DATA": str(tmp_path / "data-home")}
    args = [sys.executable, str(script), str(synth_dataset.root), str(tmp_path), str(synth_dataset.protocol)]
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout.strip().splitlines()[-1])
    plugin = shown["record"]["model"]["identity"]["model"]["plugin"]
    assert plugin["module"] == "__main__" and plugin["distribution"] is None and len(plugin["code_sha256"]) == 64
    assert shown["again"]["metrics"] == shown["record"]["metrics"] and shown["entry"] == "notebook-conv"


CELL = """
import json
from zslbench.models import model_provenance, register_model

SIZE = {size}


class Net:
    def forward(self, clips):
        return clips[..., :{cut}]


@register_model("cell_model", kind="end_to_end", backbone="none", summary="typed into a notebook cell", feature_dim=8)
def cell_model(embed_dim):
    return Net()


print(json.dumps(model_provenance("cell_model")))
"""


def test_code_with_no_source_file_is_keyed_by_its_compiled_code():
    """Code piped to `python -` (as a notebook cell or exec has no file): an edit to a method, or to a
    module constant, is a new key, so no embedding of the old code is reused; the same code, the same key."""

    def key(size: int, cut: int) -> str:
        done = subprocess.run(
            [sys.executable, "-"], input=CELL.format(size=size, cut=cut), capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        provenance = json.loads(done.stdout)
        assert provenance["module"] == "__main__" and provenance["distribution"] is None
        return provenance["code_sha256"]

    same = key(8, 4)
    assert key(8, 4) == same and key(8, 3) != same and key(9, 4) != same
