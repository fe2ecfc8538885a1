"""The Python API (`import zslbench`): the README's story from Python alone, typed and documented.

The story is examples/python_api.py's `story` (docs/api.md shows its output): it imports nothing but
zslbench, which the first test holds it to, then runs it on a tiny synthetic benchmark (a model at
1/8 width, one epoch). mypy checks the same file against the facade's types.
"""

from __future__ import annotations

import ast
import copy
import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

import zslbench

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "python_api.py"


def imported_modules(path: Path) -> set[str]:
    """Every module an `import` or `from ... import` anywhere in the file names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
    return names


def load_file(path: Path):
    """A Python file (the example, the docs builder) as a module."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, session_cache: Path) -> tuple[Path, zslbench.GateResult]:
    """The example's story, run once: (its folder, the gate it returned)."""
    folder = tmp_path_factory.mktemp("api") / "demo"
    return folder, load_file(EXAMPLE).story(str(folder))


def test_the_story_imports_only_zslbench_and_runs_from_split_to_gate(demo, capsys):
    assert imported_modules(EXAMPLE) == {"zslbench"}
    folder, gate = demo
    assert isinstance(gate, zslbench.GateResult) and gate.passed and gate.counts["pass"] == 6
    assert (folder / "split" / "kept_classes.txt").is_file() and (folder / "split" / "split.json").is_file()
    (result,) = zslbench.load_results(folder / "results")
    assert (result.label, result.dataset, result.verdict, result.complete) == (
        "e2e_r2plus1d",
        "synth-target",
        "compliant",
        True,
    )
    half = result.score("random_half", "top1")
    assert isinstance(half.mean, float) and half.n == 10 and half.std is not None
    assert result.score("all", "top1").std is None and result.raw["dataset"]["name"] == "synth-target"
    with pytest.raises(TypeError):
        result.raw["dataset"]["name"] = "other"  # the record behind a Result is read-only too


def test_results_come_as_a_long_numeric_frame_and_a_numeric_table(demo):
    folder, _ = demo
    frame = zslbench.results_frame(folder / "results")
    assert list(frame.columns)[:8] == [
        "label",
        "model",
        "protocol",
        "version",
        "fingerprint",
        "dataset",
        "split",
        "metric",
    ]
    assert {str(frame[c].dtype) for c in ("mean", "std")} == {"float64"} and str(frame["n"].dtype) == "int64"
    assert len(frame) == 6 and frame["complete"].all()
    single = frame[(frame.split == "all") & (frame.metric == "top1")]
    assert single["n"].item() == 1 and math.isnan(single["std"].item())
    made = zslbench.table(zslbench.load_results(folder / "results"))
    half = "synth-seed0@v1 · synth-target · half · top1"
    assert made.frame[half].dtype == "float64" and made.frame.loc["e2e_r2plus1d", "compliance"] == "compliant"
    assert (
        made.frame.loc["e2e_r2plus1d", half]
        == frame[(frame.split == "random_half") & (frame.metric == "top1")]["mean"].item()
    )
    assert " ± " in made.cells.loc["e2e_r2plus1d", half] and made.text("md").startswith("| model | protocol |")


def test_audit_takes_a_class_list_or_a_checkpoint_and_names_each_violation(demo, tmp_path, runner):
    from zslbench.cli import app

    folder, _ = demo
    protocol = folder / "data" / "synth.yaml"
    target = (folder / "data" / "synth-target.txt").read_text().split("\n")[1]  # the first target class
    listed = tmp_path / "mine.txt"
    listed.write_text(f"{target}\n")
    found = zslbench.audit(listed, protocol)
    assert found.verdict == "not_compliant" and not found.compliant
    (violation,) = found.violations
    assert (violation.name, violation.nearest, violation.distance) == (target, target, 0.0)
    trained = (folder / "data" / "synth-source.txt").read_text().split("\n")[1]  # a class the checkpoint saw
    listed.write_text(f"{trained}\n")
    seen = zslbench.audit(folder / "run", test=[str(listed)])  # a checkpoint, against another test list
    assert seen.verdict == "not_compliant" and seen.datasets == {"mine": "not_compliant"}
    assert [(v.name, v.role, v.distance) for v in seen.violations] == [(trained, "training", 0.0)]
    shown = runner.invoke(app, ["audit", str(folder / "run"), "--test", str(listed), "--json"])  # the CLI's face
    assert shown.exit_code == 1 and json.loads(shown.stdout)["verdict"] == "not_compliant"


def test_a_protocol_is_read_only_so_its_fingerprint_always_fits_it():
    given = {"clips.clip_len": 8}
    protocol = zslbench.load_protocol("brattoli2020-k400-ucf-hmdb", sets=given)
    fingerprint = protocol.fingerprint
    for change in (
        lambda: protocol.data.__setitem__("name", "x"),
        lambda: protocol.data["clips"].update(clip_len=4),
        lambda: protocol.data["evaluation"]["splits"][0].pop("kind"),
        lambda: protocol.data["test"].append("hmdb51"),
        lambda: protocol.data["train"]["lr_milestones"].sort(),
    ):
        with pytest.raises(TypeError, match="read-only"):
            change()
    with pytest.raises(AttributeError):
        protocol.data = {}  # type: ignore[misc]
    plain = copy.deepcopy(protocol.data)  # a mutable copy to change
    plain["clips"]["clip_len"] = 4
    assert type(plain["test"]) is list and protocol.data["clips"]["clip_len"] == 8
    assert (
        protocol.fingerprint
        == fingerprint
        == zslbench.load_protocol("brattoli2020-k400-ucf-hmdb", sets=given).fingerprint
    )
    assert protocol.replace(tau=0.1).fingerprint != fingerprint  # changes go through a new Protocol


def test_errors_raised_from_python_name_parameters_and_the_cli_names_flags(runner, tmp_path):
    from zslbench.cli import app

    with pytest.raises(zslbench.ZslbenchError) as bad:
        zslbench.split(threshold=0.1, sets={"overlap.tau": 0.2}, write=False)
    assert str(bad.value) == "threshold and override overlap.tau=0.2 both set overlap.tau (hint: give it once)"
    with pytest.raises(zslbench.ZslbenchError) as bad:
        zslbench.load_protocol(sets={"clips.clip_len": "eight"})
    assert bad.value.message.startswith('override clips.clip_len="eight": clips.clip_len must be an integer')
    with pytest.raises(zslbench.ZslbenchError) as bad:
        zslbench.synth(tmp_path / "s", videos_per_class=0)
    assert str(bad.value) == "videos_per_class=0 is outside 1..1000 (hint: e.g. videos_per_class=6)"
    shown = runner.invoke(app, ["synth", str(tmp_path / "s"), "--videos-per-class", "0"])
    assert shown.exit_code == 2 and "error: --videos-per-class 0 is outside 1..1000" in shown.stderr
    both = runner.invoke(app, ["split", "--threshold", "0.1", "--set", "overlap.tau=0.2"])
    assert both.exit_code == 2 and "--threshold and --set overlap.tau=0.2 both set" in both.stderr


def test_every_exported_name_resolves_and_has_its_own_docstring():
    from zslbench import _API

    assert sorted(zslbench.__all__) == sorted([*_API, "__version__"])
    for name in _API:
        value = getattr(zslbench, name)
        doc = (value.__doc__ or "").strip()
        assert doc and not doc.startswith(f"{getattr(value, '__name__', name)}("), name  # not a dataclass's stub


def test_the_example_type_checks_against_the_facade_and_a_type_mistake_is_caught(tmp_path):
    pytest.importorskip("mypy")
    wrong = tmp_path / "wrong.py"
    wrong.write_text("import zslbench\n\ngate = zslbench.check('results')\nn: int = gate.passed + 'x'\n")
    checked = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--cache-dir",
            str(tmp_path / "cache"),
            str(EXAMPLE),
            "zslbench/__init__.py",
            str(wrong),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    errors = [line for line in checked.stdout.splitlines() if ": error:" in line]
    assert errors and all(line.startswith(str(wrong)) for line in errors), checked.stdout[-3000:]


def test_the_api_reference_is_generated_from_the_current_docstrings():
    pytest.importorskip("pdoc")
    build = load_file(REPO / "docs" / "api" / "build.py")
    assert build.reference() == (REPO / "docs" / "api" / "reference.md").read_text(encoding="utf-8"), (
        "docs/api/reference.md is stale: run python docs/api/build.py"
    )
