"""The dataset registry: a registered dataset is a name everywhere zslbench takes one, and a broken
dataset plugin is reported, not a crash."""

import json
import subprocess
import sys

import pytest
from cli_output import single_error_line

import zslbench.datasets as datasets
from zslbench.cli import app
from zslbench.core.errors import ZslbenchError
from zslbench.core.registry import Registry
from zslbench.datasets import DatasetSpec, all_dataset_specs, dataset_names, dataset_spec, register_dataset
from zslbench.reporting.published import published_numbers
from zslbench.text.vocab import DATASETS, load_class_list
from zslbench.video.layouts import LAYOUTS, IndexOptions, index_dataset

SHIPPED = ["activitynet200", "hmdb51", "kinetics400", "kinetics600", "kinetics600_new", "kinetics700", "ucf101"]


@pytest.fixture
def registry(monkeypatch):
    """A registry holding the shipped datasets that stands in for zslbench's own during one test,
    so what the test registers (or installs as a plugin) is gone afterwards."""
    fresh = Registry("dataset", entry_point_group="zslbench.datasets")
    for spec in all_dataset_specs():
        fresh.add(spec.name, spec)
    monkeypatch.setattr(datasets, "DATASET_SPECS", fresh)
    return fresh


@pytest.fixture
def mydata(registry, tmp_path):
    path = tmp_path / "lists" / "mydata.txt"
    path.parent.mkdir()
    path.write_text("# a test's own dataset\nplaying guitar\nbaking cookies\nplaying guitar\n")
    return register_dataset("mydata", class_list=path, summary="a test dataset", layout="folder", aliases=("my-data",))


def test_shipped_datasets_name_their_files_layouts_and_published_names(tmp_path):
    specs = {spec.name: spec for spec in all_dataset_specs()}
    assert sorted(specs) == dataset_names() == list(DATASETS) == SHIPPED
    for name, spec in specs.items():
        assert spec.class_list_path.is_file() and load_class_list(name).classes
        assert LAYOUTS.get(spec.layout)(tmp_path, IndexOptions())[0] == name  # its layout indexes its vocabulary
    published = {spec.published for spec in specs.values()}
    assert {number.dataset for number in published_numbers()} <= published


def test_a_registered_dataset_is_found_by_name_and_alias(mydata):
    found = load_class_list("mydata")
    assert found.classes == ("playing guitar", "baking cookies") and found.duplicates == ("playing guitar",)
    assert found.builtin and found.name == "mydata"  # stored by name in manifests and protocols
    assert load_class_list("my-data").name == "mydata" and dataset_spec("my-data") is mydata
    assert "mydata" in DATASETS and "my-data" in DATASETS and "mydata" in list(DATASETS)
    assert load_class_list("ucf101").classes[0] == "ApplyEyeMakeup"


def test_an_alias_and_its_dataset_give_one_protocol_fingerprint(mydata):
    from zslbench.protocol.spec import load_protocol

    by_alias = load_protocol(sets=["test=[ucf101, my-data]"])
    by_name = load_protocol(sets=["test=[ucf101, mydata]"])
    assert by_alias.fingerprint == by_name.fingerprint != load_protocol().fingerprint


def test_a_registered_dataset_is_in_the_unknown_dataset_hint(mydata):
    with pytest.raises(ZslbenchError) as caught:
        load_class_list("mydat")
    assert str(caught.value) == (
        "unknown dataset 'mydat' and no such file. Did you mean 'mydata'? (hint: datasets: activitynet200, "
        "hmdb51, kinetics400, kinetics600, kinetics600_new, kinetics700, mydata, ucf101; or pass a text file with "
        "one class "
        "name per line)"
    )


def test_audit_tests_against_a_registered_dataset(mydata, runner):
    result = runner.invoke(app, ["audit", "kinetics400", "--test", "mydata", "--json"])
    assert result.exit_code == 1, result.stderr  # Kinetics-400 has "playing guitar" too
    report = json.loads(result.stdout)
    assert [test["name"] for test in report["tests"]] == ["mydata"]
    violations = {c["name"]: c for c in report["classes"] if not c["kept"]}
    assert violations["playing guitar"]["nearest"] == "playing guitar"
    assert violations["playing guitar"]["nearest_dataset"] == "mydata"


def test_a_registered_dataset_indexes_with_its_layout(mydata, tmp_path):
    root = tmp_path / "videos"
    (root / "Playing_Guitar").mkdir(parents=True)
    (root / "Playing_Guitar" / "a.mp4").write_bytes(b"not empty")
    report = index_dataset("mydata", root)
    assert report.manifest.vocabulary == "mydata" and report.vocabulary.classes == ("playing guitar", "baking cookies")
    assert [record.label for record in report.manifest.records] == ["playing guitar"]
    register_dataset("nolayout", class_list=mydata.class_list, summary="no layout")
    with pytest.raises(ZslbenchError, match="names no layout"):
        index_dataset("nolayout", root)


@pytest.mark.parametrize("name", ["my.data", "a/b", "", "two words"])
def test_a_dataset_name_cannot_read_as_a_file(name):
    with pytest.raises(ZslbenchError, match="not a plain name"):
        DatasetSpec(name, "x.txt", "bad")


def test_a_name_is_registered_once(mydata):
    with pytest.raises(ZslbenchError, match="registered twice"):
        register_dataset("ucf101", class_list=mydata.class_list, summary="again")


def dist(site, name, points):
    """A .dist-info declaring `points` in the zslbench.datasets group, as pip leaves one."""
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[zslbench.datasets]\n" + "".join(f"{k} = {v}\n" for k, v in points.items()))


@pytest.fixture
def plugins(registry, tmp_path, monkeypatch):
    """Installed dataset plugins: a good one, one whose import raises, one naming no spec, and one
    claiming a shipped name."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "zsl_good_ds.txt").write_text("playing guitar\nsurfing\n")
    (site / "zsl_good_ds.py").write_text(
        "from pathlib import Path\nfrom zslbench.datasets import register_dataset\n\n"
        "GOOD = register_dataset('gooddata', class_list=Path(__file__).with_name('zsl_good_ds.txt'), summary='ok')\n"
    )
    (site / "zsl_boom_ds.py").write_text("raise RuntimeError('kaboom at import')\n")
    (site / "zsl_plain_ds.py").write_text("SPEC = 42\n")
    dist(site, "good-datasets", {"gooddata": "zsl_good_ds:GOOD", "ucf101": "zsl_good_ds:GOOD"})
    dist(site, "boom-datasets", {"boom": "zsl_boom_ds:SPEC"})
    dist(site, "plain-datasets", {"plain": "zsl_plain_ds:SPEC"})
    monkeypatch.syspath_prepend(str(site))
    yield site
    for module in ("zsl_good_ds", "zsl_boom_ds", "zsl_plain_ds"):
        sys.modules.pop(module, None)


def test_dataset_plugins_load_and_broken_ones_are_reported(plugins):
    assert load_class_list("gooddata").classes == ("playing guitar", "surfing")
    assert len(load_class_list("ucf101")) == 101  # the clashing plugin is left out, the shipped list stays
    problems = []
    assert [spec.name for spec in all_dataset_specs(problems.append)] == sorted([*SHIPPED, "gooddata"])
    assert len(problems) == 3, problems
    assert any("'ucf101' (ucf101 = zsl_good_ds:GOOD, from good-datasets) is left out" in p for p in problems)
    assert any("boom = zsl_boom_ds:SPEC, from boom-datasets" in p and "kaboom at import" in p for p in problems)
    assert any("plain = zsl_plain_ds:SPEC" in p and "not a dataset spec" in p for p in problems)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "boom",
            "dataset plugin 'boom' (boom = zsl_boom_ds:SPEC, from boom-datasets) cannot be loaded: "
            "RuntimeError: kaboom at import (hint: fix or uninstall boom-datasets)",
        ),
        (
            "plain",
            "dataset plugin 'plain' (plain = zsl_plain_ds:SPEC, from plain-datasets) is not a dataset spec "
            "registered under that name (it is of type int)",
        ),
    ],
)
def test_using_a_broken_dataset_plugin_is_one_error_line(plugins, runner, name, expected):
    result = runner.invoke(app, ["classes", name])
    assert result.exit_code == 2
    assert single_error_line(result).startswith(f"error: {expected}")


def test_the_registry_needs_only_zslbench_core_and_loads_its_builtins_first():
    code = (
        "import sys\nfrom zslbench.datasets import dataset_spec\n"
        "assert dataset_spec('kinetics700').layout == 'kinetics700'\n"
        "import json; print(json.dumps(sorted(m for m in sys.modules if m.startswith('zslbench'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = json.loads(done.stdout)
    assert "zslbench.datasets.builtin" in loaded
    assert all(m.startswith(("zslbench.core", "zslbench.datasets")) for m in loaded if m != "zslbench"), loaded
