"""Shared fixtures: an isolated cache, the CLI runner, and the optional ../shared folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache per test session, so tests never read or write the user's ~/.cache; and an empty
    settings folder, so the user's own overrides or dataset roots never change what a test sees."""
    path = tmp_path_factory.mktemp("zslbench-cache")
    os.environ["ZSLBENCH_CACHE"] = str(path)
    os.environ["ZSLBENCH_CONFIG"] = str(tmp_path_factory.mktemp("zslbench-config"))
    os.environ["ZSLBENCH_DATA"] = str(tmp_path_factory.mktemp("zslbench-data"))  # the weights zoo
    for name in ("ZSLBENCH_OVERRIDES", "ZSLBENCH_DATASETS"):
        os.environ.pop(name, None)
    return path


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache for tests that count cache hits and misses."""
    path = tmp_path / "cache"
    monkeypatch.setenv("ZSLBENCH_CACHE", str(path))
    return path


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def shared_dir() -> Path:
    """../shared (class lists, real videos, reference files); absent in a user's clone."""
    if not SHARED.is_dir():
        pytest.skip("../shared is not present in this checkout")
    return SHARED


@pytest.fixture(scope="session")
def synth_dataset(tmp_path_factory: pytest.TempPathFactory, session_cache: Path):
    """The default synthetic benchmark (seed 0), written once per test session."""
    from zslbench.video.synth import make_synth

    return make_synth(tmp_path_factory.mktemp("synth") / "data", n_classes=16, videos_per_class=4, seed=0)


@pytest.fixture(scope="session")
def trained_tiny(synth_dataset, tmp_path_factory: pytest.TempPathFactory):
    """A tiny model trained for two epochs on `synth_dataset`'s source classes (a few seconds)."""
    from zslbench.training.trainer import TrainConfig, train

    out = tmp_path_factory.mktemp("trained") / "tiny"
    data = {"synth-source": synth_dataset.root / "source.csv"}
    train(TrainConfig("e2e_r2plus1d", out, data, str(synth_dataset.protocol), {"width": 0.125}, epochs=2))
    return out


@pytest.fixture(scope="session")
def synth_e2e(tmp_path_factory: pytest.TempPathFactory, session_cache: Path):
    """`synth_e2e(seed)` -> (data folder, run folder): the default synthetic benchmark and the tiny
    end-to-end model trained on it through the CLI (about 50 s per seed, once per session). The CI
    gate scores these runs; the feature models use their backbone as the pretrained extractor."""
    from zslbench.cli import app

    runs: dict[int, tuple[Path, Path]] = {}
    runner = CliRunner()

    def make(seed: int) -> tuple[Path, Path]:
        if seed not in runs:
            root = tmp_path_factory.mktemp(f"synth-e2e-{seed}")
            data, run = root / "data", root / "run"
            steps = [
                ["synth", str(data), "--seed", str(seed)],
                ["train", "--model", "e2e_r2plus1d", "--width", "0.25", "--protocol", str(data / "synth.yaml"),
                 "--data", f"synth-source={data / 'source.csv'}", "--out", str(run)],
            ]  # fmt: skip
            for step in steps:
                done = runner.invoke(app, step)
                assert done.exit_code == 0, (step[0], done.stdout[-500:], done.stderr[-1500:])
            runs[seed] = (data, run)
        return runs[seed]

    return make
