"""Result records: one JSON file per (model, protocol, test dataset), self-describing and versioned.

A record holds the metrics (summary and per split), the resolved protocol and its fingerprint, the
compliance verdict with the violating classes, the model's identity (weights hash), the data counts
(expected, scored, undecodable), library versions, the git commit and timing. Tables and checks are
pure reductions over these files.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from zslbench.core.atomic import write_text
from zslbench.core.errors import ZslbenchError, named
from zslbench.core.paths import PACKAGE_DIR, path_component

SCHEMA = 1
KIND = "zslbench-result"


def record_path(root: Path, model_label: str, protocol_name: str, version: int, dataset: str) -> Path:
    """results/<model>/<protocol>@v<version>/<dataset>.json, each name mapped one-to-one into one
    folder name (`paths.path_component`): distinct labels never share a file, none leaves `root`."""
    label, protocol = path_component(model_label), path_component(protocol_name)
    return Path(root) / label / f"{protocol}@v{version}" / f"{path_component(dataset)}.json"


def maker(model: str, identity: dict[str, Any], protocol_fingerprint: str) -> dict[str, Any]:
    """What made a record's numbers: the model name and its weights hash (or the features file's
    content fingerprint), under which protocol. Two records with different makers are different
    results: `results/<label>/<protocol>@v<version>/` holds one, and a `--set` changes the protocol's
    fingerprint but not its name."""
    made_by = identity.get("model", {}).get("weights_sha256") or identity.get("file_fingerprint")
    made = {"model": model, "weights": made_by, "protocol": protocol_fingerprint}
    if identity.get("card"):  # a video-text model's input: other frames or views are other numbers
        made["card"] = identity["card"]
    if identity.get("limit") is not None:  # eval --limit: a quick look never replaces a result, nor the reverse
        made["limit"] = identity["limit"]
    return made


def record_maker(record: dict[str, Any]) -> dict[str, Any]:
    """What made a saved record's numbers (`maker` of its model name, identity and protocol fingerprint)."""
    return maker(record["model"]["name"], record["model"]["identity"], record["protocol"]["fingerprint"])


def claim_record(path: Path, made_by: dict[str, Any], overwrite: bool = False) -> None:
    """Refuse to replace a record that another model's weights or embeddings made (unless
    `overwrite`); a record of the same maker is replaced, as a re-run refreshes it.

    Called before the work (so a refusal costs nothing) and again when writing.
    """
    if overwrite or not Path(path).exists():
        return
    try:
        existing = record_maker(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        existing = None  # unreadable or not a record: never silently replaced either
    if existing == made_by:
        return
    theirs = _described(existing) if existing else "something unreadable"
    raise ZslbenchError(
        f"{path} already holds a result of {theirs}, not of {_described(made_by)}",
        named(
            "pass --name to keep both, or --overwrite to replace it",
            "give another label to keep both, or overwrite=True to replace it",
        ),
    )


def _described(made_by: dict[str, Any]) -> str:
    """`model (hash) under protocol P`: the first 12 hex digits of the weights hash or of the file
    fingerprint's hash, and of the protocol's fingerprint; a video-text model's card too."""
    weights = str(made_by["weights"]).rpartition("-")[2][:12]
    card = f" with card {str(made_by['card'])[:12]}" if made_by.get("card") else ""
    limit = (
        f" on its first {made_by['limit']} videos ({named('--limit', 'limit')})"
        if made_by.get("limit") is not None
        else ""
    )
    return f"{made_by['model']} ({weights}) under protocol {str(made_by.get('protocol'))[:12]}{card}{limit}"


def save_record(record: dict[str, Any], root: Path, overwrite: bool = False) -> Path:
    """Write `record` as JSON at its `record_path` under `root`, atomically; returns the path.

    Raises ZslbenchError when the file holds another maker's result and not `overwrite` (`claim_record`)."""
    protocol = record["protocol"]
    path = record_path(root, record["model"]["label"], protocol["name"], protocol["version"], record["dataset"]["name"])
    claim_record(path, record_maker(record), overwrite)
    write_text(path, json.dumps(record, indent=2, ensure_ascii=False, sort_keys=False) + "\n")
    return path


def load_record(path: Path) -> dict[str, Any]:
    """A result record written by `zslbench eval`, with its path added as `_path`.

    Raises ZslbenchError for an unreadable or non-JSON file, one that is not a result record, or a
    record of another result schema."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ZslbenchError(
            f"cannot read result {path}: {err}", "results are JSON files written by `zslbench eval`"
        ) from None
    if not isinstance(record, dict) or record.get("kind") != KIND:
        raise ZslbenchError(f"{path} is not a zslbench result record", "pass files written by `zslbench eval`")
    if record.get("schema") != SCHEMA:
        raise ZslbenchError(
            f"{path} has result schema {record.get('schema')!r}; this zslbench reads schema {SCHEMA}",
            "re-run `zslbench eval` with this version, or use the zslbench that wrote it",
        )
    record["_path"] = str(path)
    return record


def incomplete_reason(record: dict[str, Any]) -> str:
    """Why a record's numbers are not the model's on the dataset, or "" when they are: more failed
    test videos than the budget, or a model whose training lost more videos than its own budget (a
    class it never saw). A stopped run is not incomplete: its checkpoint is what it is, and says so."""
    data = record["data"]
    if data.get("limit") is not None:
        return f"incomplete: only the first {data['limit']} videos were read (eval --limit)"
    if not data.get("complete", True):
        return f"incomplete: {data['failed']} of {data['expected']} videos failed (budget {data['failure_budget']:.1%})"
    trained = (record.get("training") or {}).get("data") or {}
    if trained.get("complete") is False:
        return f"training incomplete: {trained.get('why')}"
    return ""


def find_records(paths: Iterable[Path | str]) -> list[dict[str, Any]]:
    """Every record in the given files and folders (recursively), in a stable order."""
    files: list[Path] = []
    for item in map(Path, paths):
        if item.is_dir():
            files += sorted(item.rglob("*.json"))
        elif item.is_file():
            files.append(item)
        else:
            raise ZslbenchError(f"{item} does not exist", "pass result files or folders written by `zslbench eval`")
    records = [load_record(path) for path in files]
    if not records:
        raise ZslbenchError(f"no result records in {', '.join(map(str, paths))}", "run `zslbench eval` first")
    return records


def environment() -> dict[str, Any]:
    """Versions of what can move a number, and the git commit of this checkout when there is one."""
    from zslbench.core.versions import library_versions

    versions = library_versions()  # the one list of what can move pixels, vectors or numbers
    commit, dirty = _git_state()
    return {"versions": versions, "git_commit": commit, "git_dirty": dirty, "platform": platform.platform()}


@functools.cache  # one answer per process: an eval writes a record per dataset
def _git_state() -> tuple[str | None, bool | None]:
    """(zslbench's own commit, whether its tracked files differ from it), when it runs from a git
    checkout of zslbench; else (None, None).

    Only the checkout that holds this package counts: zslbench installed inside a user's repository
    (a venv in their project) must not record the user's commit, nor may $GIT_DIR redirect git.
    """
    checkout = PACKAGE_DIR.parent
    if not (checkout / ".git").exists() or not _is_zslbench_project(checkout / "pyproject.toml"):
        return None, None
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}

    def git(*args: str) -> subprocess.CompletedProcess | None:
        try:
            command = ["git", "-C", str(checkout), *args]
            return subprocess.run(command, capture_output=True, text=True, timeout=5, env=env)
        except (OSError, subprocess.SubprocessError):
            return None

    head = git("rev-parse", "--show-toplevel", "HEAD")
    lines = head.stdout.split() if head else []
    if not head or head.returncode != 0 or len(lines) != 2 or Path(lines[0]).resolve() != checkout:
        return None, None
    status = git("status", "--porcelain", "--untracked-files=no")
    return lines[1], (bool(status.stdout.strip()) if status and status.returncode == 0 else None)


def _is_zslbench_project(pyproject: Path) -> bool:
    import tomllib

    try:
        return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["name"] == "zslbench"
    except (OSError, ValueError, KeyError, TypeError):
        return False
