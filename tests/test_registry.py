import sys

import pytest

from zslbench.errors import ZslbenchError
from zslbench.registry import Registry


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


def test_entry_point_colliding_with_a_builtin_is_an_error(tmp_path, monkeypatch):
    make_plugin(tmp_path, "zslbench.test_clash", dist="clash-plugin", module="zsl_clash_mod", name="builtin")
    monkeypatch.syspath_prepend(str(tmp_path))
    things = Registry("thing", entry_point_group="zslbench.test_clash")
    things.add("builtin", object())
    with pytest.raises(ZslbenchError, match="by zslbench and by clash-plugin"):
        things.names()
