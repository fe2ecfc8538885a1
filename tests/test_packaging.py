"""The wheel carries protocols/ and class_lists/, and an installed wheel finds them."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    pytest.importorskip("hatchling")
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(REPO)],
        check=True,
        capture_output=True,
    )
    (path,) = out.glob("zslbench-*.whl")
    return path


def test_wheel_contains_the_data_folders(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "zslbench/_data/protocols/brattoli2020-k700-ucf-hmdb.yaml" in names
    assert "zslbench/_data/class_lists/kinetics700.txt" in names
    assert "zslbench/_data/class_lists/overrides.yaml" in names
    assert "zslbench/py.typed" in names  # type checkers read the package's hints (PEP 561)


def test_installed_wheel_runs_from_anywhere(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    code = "import sys; from zslbench.cli import main; sys.argv = ['zslbench', 'protocols', 'list', '--json']; main()"
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    paths = [Path(p["path"]) for p in json.loads(run.stdout)]
    assert paths and all(target in p.parents for p in paths)
