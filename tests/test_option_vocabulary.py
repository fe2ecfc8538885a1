"""One vocabulary of options on every command: one spelling and one meaning each, the old spellings
still read for a version (with one warning line), and --help shows the defaults taken from the protocol."""

from __future__ import annotations

import pytest
from typer.main import get_command

from zslbench.cli import app
from zslbench.cli.aliases import renamed
from zslbench.protocol.spec import load_protocol

# Each short spelling means one long option wherever either appears.
PAIRS = {
    "-o": "--out",
    "-w": "--weights",
    "-j": "--workers",
    "-p": "--protocol",
    "-m": "--model",
    "-e": "--embedding",
    "-t": "--threshold",
    "-f": "--format",
}
WIDE = {"COLUMNS": "400"}  # --help on one line per option


def leaf_commands(command=None, path=()):
    command = command or get_command(app)
    for name, sub in getattr(command, "commands", {}).items():
        if getattr(sub, "commands", None):
            yield from leaf_commands(sub, (*path, name))
        else:
            yield (*path, name), sub


COMMANDS = list(leaf_commands())


def test_every_command_spells_each_option_one_way():
    assert len(COMMANDS) > 30
    named = []
    for path, command in COMMANDS:
        for param in command.params:
            opts = set(getattr(param, "opts", ())) | set(getattr(param, "secondary_opts", ()))
            where = f"{' '.join(path)} {sorted(opts)}"
            assert "[default:" not in (getattr(param, "help", None) or ""), f"{where}: use show_default"
            if param.param_type_name != "option" or param.hidden:
                continue
            assert "--results" not in opts, where
            for short, long in PAIRS.items():
                assert (short in opts) == (long in opts), f"{where}: {short} goes with {long}, and only with it"
            if "--name" in opts:
                named.append(path)
    assert named == [("eval",)]  # --name is the label of results; a zoo entry has an --id
    add = dict(COMMANDS)[("weights", "add")]
    assert any("--id" in param.opts for param in add.params)


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(path) for path, _ in COMMANDS])
def test_help_shows_only_the_vocabulary(runner, path, command):
    shown = runner.invoke(app, [*path, "--help"], env=WIDE)
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert not [line for line in lines if "--results" in line]
    for short, long in (("-w", "--weights"), ("-j", "--workers"), ("-o", "--out")):
        for line in lines:
            if f" {short} " in line.replace("│", " "):
                assert long in line, line


def test_help_shows_the_defaults_taken_from_the_protocol(runner):
    protocol = load_protocol(None)
    train = protocol.data["train"]

    def shown(value):
        return f"[default: (the protocol's: {value} in {protocol.name}"

    text = runner.invoke(app, ["train", "--help"], env=WIDE).stdout
    for key in ("epochs", "batch_size", "lr", "loss", "seed"):
        assert shown(train[key]) in text, key
    assert f"Protocol name or YAML file [default: ({protocol.name})]" in text
    split = runner.invoke(app, ["split", "--help"], env=WIDE).stdout
    assert shown(protocol.tau) in split and shown(", ".join(protocol.test)) in split
    assert shown(protocol.embedding) in split


OLD_SPELLINGS = [
    (("train",), ["-m", "m", "-o", "o"], "-w", "-j", "3", "workers", "warning: -w is deprecated; use -j (--workers)"),
    (("pretrain-images",), ["--images", "i", "-o", "o"], "-w", "-j", "2", "workers", None),
    (("data", "check"), ["m.csv"], "-w", "-j", "2", "workers", None),
    (("data", "prepare"), ["m.csv", "-o", "o"], "-w", "-j", "2", "workers", None),
    (("eval",), [], "--results", "--out", "r", "out", "warning: --results is deprecated; use --out"),
    (("weights", "add"), ["f.pt"], "--name", "--id", "mine", "entry_id", "warning: --name is deprecated; use --id"),
]


@pytest.mark.parametrize(("path", "base", "old", "new", "value", "name", "warning"), OLD_SPELLINGS)
def test_an_old_spelling_reads_as_the_new_one_with_one_warning(capsys, path, base, old, new, value, name, warning):
    command = dict(COMMANDS)[path]
    current = command.make_context(path[-1], [*base, new, value]).params[name]
    assert capsys.readouterr().err == ""
    assert command.make_context(path[-1], [*base, old, value, old, value]).params[name] == current
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"warning: {old} is deprecated; use {new}")
    assert warning is None or lines == [warning]


def test_eval_results_still_writes_the_records_there(runner, tmp_path):
    import numpy as np

    features = tmp_path / "f.npz"
    np.savez(features, embeddings=np.ones((2, 50)), labels=np.array(["Archery", "Typing"]))
    args = ["eval", "--features", str(features), "--protocol", "brattoli2020-k700-ucf-hmdb", "--json"]
    done = runner.invoke(app, [*args, "--results", str(tmp_path / "old")])
    assert done.exit_code in (0, 1), done.output
    assert "warning: --results is deprecated; use --out" in done.stderr.splitlines()
    assert [p.name for p in (tmp_path / "old").rglob("*.json")] == ["ucf101.json"]


def test_a_renamed_option_keeps_its_prefix():
    assert set(renamed({"--results": "--out", "-w": "-j"})) == {"token_normalize_func"}
    with pytest.raises(ValueError, match="keeps its prefix"):
        renamed({"-w": "--workers"})
