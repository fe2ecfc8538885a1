"""Result records name what made them: zslbench's own commit, never the commit of a repository that
merely contains an installed zslbench."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import zslbench

PACKAGE = Path(zslbench.__file__).resolve().parent


def git(cwd: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", *args]
    return subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def recorded_commit(package_parent: Path, **env: str) -> str:
    code = (
        "from zslbench.evaluation.records import environment; e = environment(); print(e['git_commit'], e['git_dirty'])"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=package_parent, capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": str(package_parent), **env},
    )  # fmt: skip
    return run.stdout.strip()


@pytest.fixture
def user_repo(tmp_path):
    """A user's own repository with zslbench installed inside it (as a venv's site-packages would be)."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "user-project"
    site = repo / ".venv" / "site-packages"
    shutil.copytree(PACKAGE, site / "zslbench", ignore=shutil.ignore_patterns("__pycache__"))
    git(repo, "init", "-q")
    (repo / "train.py").write_text("print('the user's code')\n")
    git(repo, "add", "train.py")
    git(repo, "commit", "-q", "-m", "user commit")
    return repo, site


def test_an_install_inside_a_users_repository_records_no_commit(user_repo):
    repo, site = user_repo
    assert git(repo, "rev-parse", "HEAD")  # the user's commit exists and must not be recorded
    assert recorded_commit(site) == "None None"
    assert recorded_commit(site, GIT_DIR=str(repo / ".git")) == "None None"


def test_a_zslbench_checkout_records_its_own_commit(user_repo):
    """The package's parent is a zslbench checkout (pyproject names zslbench): its HEAD is recorded."""
    repo, site = user_repo
    (site / "pyproject.toml").write_text('[project]\nname = "zslbench"\n')
    git(site, "init", "-q")
    git(site, "add", "pyproject.toml")
    git(site, "commit", "-q", "-m", "zslbench")
    commit = git(site, "rev-parse", "HEAD")
    assert recorded_commit(site) == f"{commit} False" and commit != git(repo, "rev-parse", "HEAD")
    (site / "pyproject.toml").write_text('[project]\nname = "zslbench"\nversion = "0.0.1"\n')
    assert recorded_commit(site) == f"{commit} True"  # an edit not committed: the commit alone would lie
