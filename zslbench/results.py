"""Result records: one JSON file per (model, protocol, test dataset), self-describing and versioned.

A record holds the metrics (summary and per split), the resolved protocol and its fingerprint, the
compliance verdict with the violating classes, the model's identity (weights hash), the data counts
(expected, scored, undecodable), library versions, the git commit and timing. Tables and checks are
pure reductions over these files.
"""

from __future__ import annotations

import json
import platform
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from zslbench import __version__
from zslbench.atomic import write_text
from zslbench.errors import ZslbenchError

SCHEMA = 1
KIND = "zslbench-result"


def record_path(root: Path, model_label: str, protocol_name: str, version: int, dataset: str) -> Path:
    """results/<model>/<protocol>@v<version>/<dataset>.json"""
    return Path(root) / _safe(model_label) / f"{_safe(protocol_name)}@v{version}" / f"{_safe(dataset)}.json"


def save_record(record: dict[str, Any], root: Path) -> Path:
    protocol = record["protocol"]
    path = record_path(root, record["model"]["label"], protocol["name"], protocol["version"], record["dataset"]["name"])
    write_text(path, json.dumps(record, indent=2, ensure_ascii=False, sort_keys=False) + "\n")
    return path


def load_record(path: Path) -> dict[str, Any]:
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
    from importlib.metadata import PackageNotFoundError, version

    versions = {"zslbench": __version__, "python": platform.python_version()}
    for package in ("torch", "numpy", "av", "lemminflect"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return {"versions": versions, "git_commit": _git_commit(), "platform": platform.platform()}


def _git_commit() -> str | None:
    try:
        run = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return (run.stdout.strip() or None) if run.returncode == 0 else None


def _safe(name: str) -> str:
    """A path component: no separators, nothing hidden."""
    cleaned = "".join(c if c.isalnum() or c in "-_.@+" else "_" for c in name).strip(".")
    return cleaned or "_"
