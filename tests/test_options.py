"""Bad values of numeric options, and typer's own usage errors: one line, exit 2, before any work.

Every number is checked against its one range in zslbench.core.bounds (NaN and inf refused, -0.0 read as 0.0).
"""

import json

import pytest

from zslbench.cli import app
from zslbench.core.bounds import MAX_SWEEP_POINTS, SEED, WIDTH


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def one_line(result) -> str:
    """The single `error: ...` line of a refused command (nothing else on stderr, no traceback, no box)."""
    assert result.exit_code == 2, (result.exit_code, result.stdout[-500:], result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout and "╭" not in result.stderr
    return lines[0]


EXTRACT = ["extract", "--backbone", "r3d_18", "--data", "d=missing.csv", "--out", "f.npz"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["split", "-t", "nan"], "--threshold nan is not a number in [0, 2]"),
        (["split", "-t", "inf"], "--threshold inf is outside [0, 2]"),
        (["split", "--sweep", "0:0.3:nan"], "not finite"),
        (["split", "--sweep", "0:2:0.0000001"], f"more than {MAX_SWEEP_POINTS} points"),
        (["split", "--sweep", "0:2:1e-320"], f"more than {MAX_SWEEP_POINTS} points"),
        (["check", "--tolerance", "-1"], "--tolerance -1 is outside [0, 100]"),
        (["check", "--tolerance", "nan"], "--tolerance nan is not a number"),
        (["check", "--std-k", "-5"], "--std-k -5 is outside"),
        (["check", "--std-k", "nan"], "--std-k nan"),
        (["check", "--format", "xml"], "unknown format 'xml'"),
        ([*EXTRACT, "--width", "0"], "--width 0 is outside [0.0625, 4]"),
        ([*EXTRACT, "--width", "-1"], "--width -1 is outside"),
        ([*EXTRACT, "--width", "1e-9"], "--width 1e-09 is outside"),
        ([*EXTRACT, "--width", "nan"], "--width nan"),
        ([*EXTRACT, "--width", "inf"], "--width inf is outside"),
        ([*EXTRACT, "--seed", "-1"], "--seed -1 is outside [0, 4294967295]"),
        ([*EXTRACT, "--seed", str(10**20)], "--seed 100000000000000000000 is outside"),
        ([*EXTRACT, "--seed", "1e20"], "'--seed'"),
        ([*EXTRACT, "--batch-size", "0"], "--batch-size 0 is outside"),
        ([*EXTRACT, "--device", "gpu"], "unknown device 'gpu'"),
        (["eval", "--features", "f.npz", "--workers", "-1"], "--workers -1 is outside [0, 1024]"),
        (["eval", "--features", "f.npz", "--prefetch", "0"], "--prefetch 0 is outside [1, 1024]"),
        (["eval", "--features", "f.npz", "--failure-budget", "nan"], "--failure-budget nan"),
        (["eval", "--features", "f.npz", "--failure-budget", "2"], "--failure-budget 2 is outside [0, 1]"),
        (["eval", "--features", "f.npz", "--device", "cuda:x"], "unknown device 'cuda:x'"),
        (["cache", "prune", "--older-than", "nan"], "--older-than nan"),
    ],
)
def test_a_number_out_of_its_range_is_one_line_naming_the_option(runner, in_tmp, args, message):
    line = one_line(runner.invoke(app, args))
    assert message in line
    assert "(hint: " in line
    assert sorted(p.name for p in in_tmp.iterdir()) == []  # refused before anything is written


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (["split", "--bogus"], "no such option: --bogus", "see `zslbench split --help`"),
        (["audit"], "missing argument 'train_classes'", "see `zslbench audit --help`"),
        (["splitt"], "no such command 'splitt'", "see `zslbench --help`"),
        (["extract", "--out", "f.npz", "--seed", "x"], "'--seed'", "see `zslbench extract --help`"),
        (["protocols", "show"], "missing argument", "see `zslbench protocols show --help`"),
    ],
)
def test_typer_usage_errors_read_like_every_other_error(runner, in_tmp, args, message, hint):
    line = one_line(runner.invoke(app, args))
    assert message in line and line.endswith(f"(hint: {hint})")


def test_minus_zero_is_zero_one_folder_and_one_fingerprint(runner, in_tmp):
    zero = json.loads(runner.invoke(app, ["split", "-t", "0", "--json"]).stdout)
    minus = runner.invoke(app, ["split", "-t", "-0.0", "--json"])
    assert minus.exit_code == 0, minus.stderr
    minus = json.loads(minus.stdout)
    assert minus["files"] == zero["files"] and "tau0-" in zero["files"]["report"]
    assert minus["protocol"]["fingerprint"] == zero["protocol"]["fingerprint"] and minus["tau"] == 0.0
    assert [p.name for p in (in_tmp / "runs" / "splits").iterdir()] == [zero["files"]["report"].split("/")[-2]]
    swept = json.loads(runner.invoke(app, ["split", "--sweep", "-0:0.1:0.05", "--json"]).stdout)
    assert json.dumps(swept["sweep"][0]["tau"]) == "0.0"


def test_the_library_refuses_what_the_cli_refuses():
    from zslbench.core.errors import ZslbenchError
    from zslbench.protocol.spec import load_protocol

    assert WIDTH.check(0.125, "width") == 0.125 and SEED.check(0, "seed") == 0
    for bad in (0.0, float("nan"), float("inf"), 5.0):
        with pytest.raises(ZslbenchError):
            WIDTH.check(bad, "width")
    with pytest.raises(ZslbenchError, match="not a number"):
        load_protocol().replace(tau=float("nan"))
    assert str(load_protocol().replace(tau=-0.0).tau) == "0.0"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--model", "e2e_r2plus1d", "--out", "o", "--lr", "0"], "--lr 0 is outside (0, 1]"),
        (["train", "--model", "e2e_r2plus1d", "--out", "o", "--lr", "inf"], "--lr inf is outside"),
        (["train", "--model", "e2e_r2plus1d", "--out", "o", "--width", "0"], "--width 0 is outside"),
        (["train", "--model", "e2e_r2plus1d", "--out", "o", "--dropout", "2"], "--dropout 2 is outside [0, 1)"),
        (["train", "--model", "e2e_r2plus1d", "--out", "o", "--dropout", "nan"], "--dropout nan"),
        (["train", "--model", "e2e_r2plus1d", "--out", "o", "--seed", "-1"], "--seed -1 is outside"),
        (["train", "--model", "e2e_r2plus1d", "--out", "o", "--device", "gpu"], "unknown device 'gpu'"),
        (["synth", "s", "--seed", "-1"], "--seed -1 is outside"),
    ],
)
def test_train_and_synth_numbers_out_of_range(runner, in_tmp, args, message):
    assert message in one_line(runner.invoke(app, args))


@pytest.mark.parametrize(("tau", "accepted"), [("-0.0", True), (".nan", False), (".inf", False)])
def test_a_protocol_file_tau_of_minus_zero_is_zero_and_nan_is_refused(tmp_path, tau, accepted):
    from zslbench.core.errors import ZslbenchError
    from zslbench.core.paths import data_dir
    from zslbench.protocol.spec import load_protocol

    text = (data_dir("protocols") / "brattoli2020-k700-ucf-hmdb.yaml").read_text()
    path = tmp_path / "p.yaml"
    path.write_text(text.replace("  tau: 0.05", f"  tau: {tau}"))
    if accepted:
        (path.parent / "zero.yaml").write_text(text.replace("  tau: 0.05", "  tau: 0.0"))
        assert load_protocol(str(path)).fingerprint == load_protocol(str(path.parent / "zero.yaml")).fingerprint
    else:
        with pytest.raises(ZslbenchError, match=r"overlap\.tau must be"):
            load_protocol(str(path))
