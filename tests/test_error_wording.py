"""Errors raised from Python name settings as Python callers give them: a flag such as `--data` is
written with `zslbench.core.errors.named`, so `.message` reads the Python form and `.cli_message`
(what the CLI prints) the flag. Checked on the source, then on real calls."""

import ast
import re
from pathlib import Path

import pytest

from zslbench.core.errors import ZslbenchError

PACKAGE = Path(__file__).resolve().parent.parent / "zslbench"
# Calls whose string arguments become a ZslbenchError's message or hint; names (constants, locals,
# keyword arguments) that hold such text on its way to one.
MAKERS = {"ZslbenchError", "SchemaError", "unknown_name_error", "located_error"}
CARRIERS = re.compile(r"hint|message|usage", re.IGNORECASE)
FLAG = re.compile(r"--[a-z\x00]")
# A command for the user to run may name its flags: in backticks (`zslbench eval --log-samples`), or
# bare up to the end of its clause (zslbench weights add RUN --id ID).
COMMAND = re.compile(r"`[^`]*`|\bzslbench [a-z][^,;()`]*")
HOLE = "\x00"  # stands for an f-string's replacement field, or a `named(...)` part
# (file, flag text) that may stay: each with why.
ALLOWED = {
    # the CLI's own traceback switch: from Python the traceback is already there
    ("core/registry.py", "rerun with --debug and report it"),
}


def assignments(tree: ast.Module) -> dict[str, list[ast.expr]]:
    """Every value assigned to a plain name anywhere in the module (constants and locals alike)."""
    found: dict[str, list[ast.expr]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            targets = [t for t in node.targets if isinstance(t, ast.Name)]
            for target in targets:
                found.setdefault(target.id, []).append(node.value)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            found.setdefault(node.target.id, []).append(node.value)
    return found


def is_named(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "named"


def texts(node: ast.AST, values: dict[str, list[ast.expr]], seen: set[str]) -> list[str]:
    """The literal text `node` contributes to a message, outside `named(...)` parts; f-strings whole,
    with HOLE for each field, so a backticked command split by a field still reads as one."""
    if is_named(node):
        return []
    if isinstance(node, ast.Constant):
        return [node.value] if isinstance(node.value, str) else []
    if isinstance(node, ast.Name):
        if node.id in seen:
            return []
        return [t for value in values.get(node.id, []) for t in texts(value, values, seen | {node.id})]
    if isinstance(node, ast.JoinedStr):
        whole, inner = "", []
        for part in node.values:
            if isinstance(part, ast.Constant):
                whole += part.value
            else:
                whole += HOLE
                inner += texts(part.value, values, seen)
        return [whole, *inner]
    return [t for child in ast.iter_child_nodes(node) for t in texts(child, values, seen)]


def carried(node: ast.AST) -> list[ast.expr]:
    """The expressions `node` hands to an error: a maker's arguments, a `hint=`/`message=` argument,
    or the value of a name such as `HINT` or `message`."""
    if isinstance(node, ast.Call):
        func = node.func
        if (getattr(func, "id", None) or getattr(func, "attr", None)) in MAKERS:
            return [*node.args, *(k.value for k in node.keywords)]
        return [k.value for k in node.keywords if k.arg and CARRIERS.search(k.arg)]
    if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if any(isinstance(t, ast.Name) and CARRIERS.search(t.id) for t in targets):
            return [node.value]
    return []


def flagged() -> list[str]:
    """'file:line: text' for each error text that names a flag outside `named(...)` and backticks."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        where = path.relative_to(PACKAGE).as_posix()
        if where.startswith("cli/"):
            continue
        tree = ast.parse(path.read_text(), str(path))
        values = assignments(tree)
        for node in ast.walk(tree):
            for arg in carried(node):
                for text in texts(arg, values, set()):
                    if FLAG.search(COMMAND.sub("", text)) and (where, text) not in ALLOWED:
                        found.append(f"{where}:{node.lineno}: {text!r}")
    return found


def test_errors_name_flags_only_through_named():
    assert flagged() == []


def raised(call, *args, **kwargs) -> ZslbenchError:
    with pytest.raises(ZslbenchError) as caught:
        call(*args, **kwargs)
    return caught.value


def test_a_malformed_override_is_named_as_python_gave_it():
    import zslbench

    err = raised(zslbench.load_protocol, "brattoli2020-k700-ucf-hmdb", sets=["clips.clip_len"])
    assert err.message == "override 'clips.clip_len' is not KEY=VALUE"
    assert err.hint == "e.g. override clips.clip_len=8"
    assert err.cli_message == "--set 'clips.clip_len' is not KEY=VALUE"
    assert err.cli_hint == "e.g. --set clips.clip_len=8"


def test_training_settings_are_named_as_train_config_fields(tmp_path: Path):
    import zslbench

    config = zslbench.TrainConfig("devise", tmp_path / "run", {}, features=tmp_path / "f.npz", resume=True)
    err = raised(zslbench.train, config)
    assert err.hint == "drop resume=True"
    assert err.cli_hint == "drop --resume"
    assert "--" not in str(err)


def test_prepare_settings_are_named_as_arguments(tmp_path: Path):
    from zslbench.video.prepare import prepare_manifest

    err = raised(prepare_manifest, tmp_path / "videos.csv", tmp_path / "prepared", workers=-1)
    assert (err.message, err.hint) == ("workers=-1 must be >= 0", "0 prepares in this process; e.g. workers=8")
    assert (err.cli_message, err.cli_hint) == (
        "--workers -1 must be >= 0",
        "0 prepares in this process; e.g. --workers 8",
    )
