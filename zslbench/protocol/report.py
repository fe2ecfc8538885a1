"""Split, audit and sweep results as plain data: the JSON report, the kept-class file, and where they go."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from zslbench import __version__
from zslbench.core.atomic import write_files
from zslbench.core.paths import path_component
from zslbench.protocol.overlap import OverlapTable
from zslbench.protocol.spec import Protocol

REPORT_SCHEMA = 1
RULE = "keep a source class iff its minimum cosine distance to every test class >= tau"


def overlap_report(table: OverlapTable, protocol: Protocol, tau: float, kind: str) -> dict[str, Any]:
    """Everything a split or an audit found, JSON-ready; classes listed in source order."""
    kept = table.kept(tau)
    return {
        **_header(table, protocol, tau, kind),
        "classes": [
            {
                "name": name,
                "words": list(table.words[i]),
                "oov": list(table.oov[i]),
                "nearest": table.nearest[i],
                "nearest_dataset": table.nearest_dataset[i],
                "distance": float(table.distance[i]),
                "kept": bool(kept[i]),
            }
            for i, name in enumerate(table.source.classes)
        ],
        "test_oov": {name: {c: list(w) for c, w in oov.items()} for name, oov in table.test_oov.items()},
    }


def sweep_report(table: OverlapTable, protocol: Protocol, taus: np.ndarray, tau: float) -> dict[str, Any]:
    """Kept and removed counts for each tau of a sweep."""
    total = len(table.distance)
    rows = zip(taus, table.kept_counts(taus), strict=True)
    return {
        **_header(table, protocol, tau, "sweep"),
        "sweep": [{"tau": float(t), "kept": int(k), "removed": total - int(k)} for t, k in rows],
    }


def _header(table: OverlapTable, protocol: Protocol, tau: float, kind: str) -> dict[str, Any]:
    kept = int(table.kept(tau).sum())
    return {
        "schema": REPORT_SCHEMA,
        "kind": kind,
        "zslbench_version": __version__,
        "protocol": protocol.describe(),
        "embedding": {"spec": protocol.embedding, "id": table.embedder_id, "word_norm": protocol.word_norm},
        "tau": tau,
        "rule": RULE,
        "source": _list_info(table.source),
        "tests": [_list_info(test) for test in table.tests],
        "counts": {"source": len(table.distance), "kept": kept, "removed": len(table.distance) - kept},
    }


def _list_info(class_list) -> dict[str, Any]:
    return {
        "name": class_list.name,
        "source": class_list.source,
        "classes": len(class_list),
        "sha256": class_list.sha256,
    }


def default_split_dir(protocol: Protocol, tau: float) -> Path:
    """runs/splits/<protocol>-tau<tau>-<fingerprint>: the protocol's `name:` is mapped into one folder
    name (`paths.path_component`), so a name like `../x` or `/abs` cannot place it elsewhere."""
    tau = tau + 0.0  # -0.0 names the same folder as 0
    return Path("runs") / "splits" / path_component(f"{protocol.name}-tau{tau:g}-{protocol.fingerprint[:8]}")


def write_split(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write kept_classes.txt (a class list zslbench reads back) and split.json, its report, together:
    both or neither (a full disk must not leave a kept list whose report is missing or stale)."""
    kept = [c["name"] for c in report["classes"] if c["kept"]]
    tests = ", ".join(t["name"] for t in report["tests"])
    header = [
        f"# zslbench split: {report['source']['name']} vs {tests} at tau {report['tau']:g}",
        f"# rule: {report['rule']}",
        f"# protocol {report['protocol']['name']} v{report['protocol']['version']},"
        f" fingerprint {report['protocol']['fingerprint']}",
        f"# embedding {report['embedding']['id']}",
        f"# {len(kept)} of {report['counts']['source']} classes kept",
    ]
    classes_path = out_dir / "kept_classes.txt"
    report_path = out_dir / "split.json"
    write_files(
        {
            classes_path: "\n".join(header + kept) + "\n",
            report_path: json.dumps(report, indent=2, ensure_ascii=False) + "\n",
        }
    )
    return classes_path, report_path
