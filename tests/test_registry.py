import subprocess
import sys

import pytest

from zslbench.core.errors import ZslbenchError
from zslbench.core.registry import Registry


def make_plugin(root, group, dist="zsl-plugin", module="zsl_plugin_mod", name="plugin_thing"):
    """A real installed distribution on sys.path: a module plus a .dist-info with entry points."""
    (root / f"{module}.py").write_text("LOADS = []\nclass Thing:\n    kind = 'plugin'\nLOADS.append(1)\n")
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n{name} = {module}:Thing\n")


def test_decorator_lazy_entries_and_suggestions():
    things = Registry("thing")

    @things.register("alpha", summary="first")
    class Alpha:
        pass

    things.add("json_dumps", "json:dumps")
    assert things.names() == ["alpha", "json_dumps"]
    assert things.get("alpha") is Alpha
    assert things.entry("alpha").info == {"summary": "first"}
    assert "json" not in sys.modules or things.get("json_dumps") is sys.modules["json"].dumps
    with pytest.raises(ZslbenchError, match="Did you mean 'alpha'"):
        things.get("alpah")


def test_name_collisions_are_errors():
    things = Registry("thing")
    things.add("x", object())
    with pytest.raises(ZslbenchError, match="registered twice"):
        things.add("x", object())


def test_entry_points_are_scanned_lazily_once(tmp_path, monkeypatch):
    make_plugin(tmp_path, "zslbench.test_things")
    monkeypatch.syspath_prepend(str(tmp_path))
    things = Registry("thing", entry_point_group="zslbench.test_things")
    things.add("builtin", object())
    assert "zsl_plugin_mod" not in sys.modules
    assert things.names() == ["builtin", "plugin_thing"]
    assert "zsl_plugin_mod" not in sys.modules  # listing does not import the plugin
    assert things.get("plugin_thing").kind == "plugin"
    assert things.entry("plugin_thing").origin == "zsl-plugin"
    monkeypatch.delitem(sys.modules, "zsl_plugin_mod")


def test_entry_point_colliding_with_a_builtin_is_left_out_and_reported(tmp_path, monkeypatch):
    make_plugin(tmp_path, "zslbench.test_clash", dist="clash-plugin", module="zsl_clash_mod", name="builtin")
    monkeypatch.syspath_prepend(str(tmp_path))
    things = Registry("thing", entry_point_group="zslbench.test_clash")
    builtin = object()
    things.add("builtin", builtin)
    assert things.names() == ["builtin"] and things.get("builtin") is builtin  # the registry still works
    (problem,) = things.problems()
    assert "'builtin' (builtin = zsl_clash_mod:Thing, from clash-plugin)" in problem
    assert "by zslbench and by clash-plugin" in problem


def test_two_plugins_claiming_one_name_leave_the_second_out(tmp_path, monkeypatch):
    make_plugin(tmp_path, "zslbench.test_twice", dist="first-plugin", module="zsl_first_mod", name="same")
    make_plugin(tmp_path, "zslbench.test_twice", dist="second-plugin", module="zsl_second_mod", name="same")
    monkeypatch.syspath_prepend(str(tmp_path))
    things = Registry("thing", entry_point_group="zslbench.test_twice")
    assert things.names() == ["same"]
    (problem,) = things.problems()
    assert "registered twice" in problem and "first-plugin" in problem and "second-plugin" in problem


# Each runs as the first code of a new process: a registry must load its built-ins (and plugins)
# before any lookup, whichever lookup comes first.
FIRST_CALLS = [
    "from zslbench.models import MODELS; assert 'e2e_r3d' in MODELS",
    "from zslbench.models import MODELS; assert 'e2e_r2plus1d' in MODELS.names(), MODELS.names()",
    "from zslbench.models import MODELS; assert MODELS.get('eszsl').model_spec.kind == 'features'",
    "from zslbench.models import MODELS; assert {'devise', 'conse'} <= {entry.name for entry in MODELS}",
    "from zslbench.models import MODELS; assert MODELS.entry('e2e_r3d').origin == 'zslbench'",
    "from zslbench.models import model_spec; assert model_spec('e2e_r3d').backbone == 'r3d_18'",
    "from zslbench.models import all_model_specs; assert len(all_model_specs()) >= 6",
    "from zslbench.models import build_model; assert build_model('e2e_r3d', 16, width=0.125).training",
    "from zslbench.text import EMBEDDERS; assert 'glove' in EMBEDDERS and EMBEDDERS.get('word2vec')",
    "from zslbench.video.layouts import LAYOUTS; assert 'ucf101' in LAYOUTS and LAYOUTS.get('hmdb51')",
]


@pytest.mark.parametrize("code", FIRST_CALLS)
def test_every_lookup_works_as_the_first_call_of_a_process(code):
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
