"""The user's machine, not zslbench, is at fault: a read-only folder, a full disk, a missing GPU.

Each is one line with the path and a hint, exit 2 (not "internal error", exit 3), and outputs that
belong together (kept_classes.txt and split.json) are written both or neither.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from zslbench.cli import app


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr and "internal error" not in stderr
    return lines[0]


def run_limited(args: list[str], cwd: Path, max_bytes: int) -> subprocess.CompletedProcess:
    """`zslbench ARGS` in a process that may write no file larger than `max_bytes`: a full disk, as far
    as the writes can tell (SIGXFSZ ignored, so a write past the limit fails with EFBIG)."""
    code = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({max_bytes}, {max_bytes}))\n"
        "from zslbench.cli import main\n"
        "sys.argv = ['zslbench', *sys.argv[1:]]\n"
        "main()\n"
    )
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_a_full_disk_during_split_leaves_neither_file_and_is_one_line(runner, in_tmp):
    warm = runner.invoke(app, ["split", "--out", "warm"])  # the class-vector cache is written now, not below
    assert warm.exit_code == 0, warm.stderr
    assert (
        (in_tmp / "warm" / "kept_classes.txt").stat().st_size < 64_000 < (in_tmp / "warm" / "split.json").stat().st_size
    )

    full = run_limited(["split", "--out", "full"], in_tmp, 64_000)
    assert full.returncode == 2, full.stderr
    line = one_line(full.stderr)
    assert "full/split.json: file too large" in line and "(hint: " in line
    assert not (in_tmp / "full").exists()  # neither file, nor the folder made for them
    assert not [p for p in in_tmp.rglob(".*") if p.is_file()]  # no temporary file left behind

    before = {name: (in_tmp / "warm" / name).read_bytes() for name in ("kept_classes.txt", "split.json")}
    again = run_limited(["split", "--out", "warm", "-t", "0.2"], in_tmp, 64_000)
    assert again.returncode == 2, again.stderr
    after = {name: (in_tmp / "warm" / name).read_bytes() for name in before}
    assert after == before  # the old pair, whole: not a new list beside the old report
    assert json.loads(after["split.json"])["tau"] == 0.05


def test_stdout_on_a_full_device_is_one_line(tmp_path):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    for args in (["protocols", "list"], ["protocols", "list", "--json"]):
        with open("/dev/full", "w") as full:
            run = subprocess.run(
                [sys.executable, "-m", "zslbench", *args], stdout=full, stderr=subprocess.PIPE, text=True
            )
        assert run.returncode == 2, run.stderr
        assert "no space left on the device" in one_line(run.stderr)


def _permissions_apply(folder: Path) -> bool:
    """Whether a 0o555 folder really refuses a new file here (root, or CAP_DAC_OVERRIDE, ignores it)."""
    folder.mkdir()
    folder.chmod(0o555)
    try:
        (folder / "probe").touch()
    except PermissionError:
        return True
    finally:
        folder.chmod(0o755)
    (folder / "probe").unlink()
    return False


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.parametrize(
    ("args", "path"),
    [
        (["split", "--out", "ro/split"], "ro/split"),
        (["split", "--sweep", "0:0.1:0.05", "--plot", "ro/sweep.png"], "ro/sweep.png"),
    ],
)
def test_a_read_only_folder_is_one_line_naming_the_path(runner, in_tmp, args, path):
    if not _permissions_apply(in_tmp / "ro"):
        pytest.skip("permissions do not apply to this user (root)")
    (in_tmp / "ro").chmod(0o555)
    try:
        result = runner.invoke(app, args)
    finally:
        (in_tmp / "ro").chmod(0o755)
    assert result.exit_code == 2, result.stderr
    line = one_line(result.stderr)
    assert f"{path}: permission denied" in line and "(hint: " in line
    assert list((in_tmp / "ro").iterdir()) == []


def _missing_device() -> tuple[str, str]:
    """A device this machine lacks, and what the error says about it."""
    import torch

    if not torch.backends.cuda.is_built():
        return "cuda", "was built without CUDA"
    if torch.cuda.device_count() == 0:
        return "cuda", "no CUDA GPU is visible"
    return f"cuda:{torch.cuda.device_count()}", "does not exist"


@pytest.mark.parametrize("command", ["extract", "train"])
def test_a_device_this_machine_lacks_is_one_line_exit_2(runner, synth_dataset, tmp_path, command):
    device, message = _missing_device()
    protocol = ["--protocol", str(synth_dataset.protocol), "--out", str(tmp_path / "out"), "--device", device]
    args = {
        "extract": ["extract", "--backbone", "r3d_18", "--width", "0.125", "--data",
                    f"synth-target={synth_dataset.root / 'target.csv'}", *protocol],
        "train": ["train", "--model", "e2e_r2plus1d", "--width", "0.125", "--data",
                  f"synth-source={synth_dataset.root / 'source.csv'}", *protocol],
    }[command]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    line = one_line(result.stderr)
    assert f"device '{device}'" in line and message in line and "(hint: " in line
    assert not (tmp_path / "out").exists()


def test_a_device_name_nobody_knows_is_refused_before_any_work(runner, tmp_path):
    from zslbench.core.distributed import resolve_device
    from zslbench.core.errors import ZslbenchError

    for bad in ("gpu", "cuda:", "cuda:-1", "CPU", "tpu"):
        with pytest.raises(ZslbenchError, match="unknown device"):
            resolve_device(bad)
    assert str(resolve_device("cpu")) == "cpu"
    result = runner.invoke(app, ["eval", "--features", str(tmp_path / "f.npz"), "--device", "cuda1"])
    assert "unknown device 'cuda1'" in one_line(result.stderr) and result.exit_code == 2
