"""Run the README's and the walkthrough's commands and keep what they print and write.

A refactor must not move one byte of what users see: run this before and after, then
`diff -r BEFORE AFTER`. Timings, host facts and the temporary folder's path are blanked; every
other byte of stdout, stderr, the exit code, each JSON/CSV/text output and each checkpoint's
tensors is kept.

    python .ci/walkthrough_snapshot.py OUT_DIR [--quick]

`--quick` trains 2 epochs instead of 12 (the commands' shapes are the same).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SPLIT = "runs/splits/brattoli2020-k700-ucf-hmdb-tau0.05-26ea9e05/kept_classes.txt"
TRAIN = (
    "zslbench train --model e2e_r2plus1d --width 0.25 --protocol data/synth/synth.yaml "
    "--data synth-source=data/synth/source.csv --out runs/tiny"
)
EXTRACT = "zslbench extract --backbone r2plus1d_18 --init runs/tiny --protocol data/synth/synth.yaml"
COMMANDS = [
    "zslbench --help",
    "zslbench split --threshold 0.05",
    "zslbench split --threshold 0.05 --json",
    "zslbench split --sweep 0:0.3:0.01",
    f"zslbench audit {SPLIT}",
    "zslbench audit kinetics400",
    "zslbench audit kinetics400 --json",
    "zslbench protocols list",
    "zslbench protocols show brattoli2020-k700-ucf-hmdb",
    "zslbench audit kinetics700 --test ucf101,hmbd51",
    "printf 'name: mine\\nversion: 1\\ntrain:\\n  source: kinetics700\\ntest: [ucf101]\\noverlap:\\n"
    "  tau: five percent\\n' > mine.yaml && zslbench protocols validate mine.yaml",
    "zslbench protocols show brattoli2020-k700-ucf-hmdb --json",
    "zslbench models list",
    "zslbench embeddings",
    "zslbench synth data/synth",
    "zslbench data check data/synth/source.csv --workers 2",
    "zslbench split --protocol data/synth/synth.yaml",
    "{train}",
    "zslbench eval --weights runs/tiny --data synth-target=data/synth/target.csv --name tiny-e2e",
    "zslbench eval --weights runs/tiny --data synth-target=data/synth/target.csv --name tiny-e2e --json",
    "zslbench table --format md --metric top1",
    "zslbench table --published --metric top1",
    "zslbench check --write-baseline baseline.json",
    "zslbench check --against baseline.json",
    "zslbench check --against baseline.json --format json",
    "zslbench check --against published",
    f"{EXTRACT} --data synth-source=data/synth/source.csv --out features/source.npz",
    "zslbench train --model eszsl --features features/source.npz --protocol data/synth/synth.yaml --out runs/eszsl",
    f"{EXTRACT} --data synth-target=data/synth/target.csv --out features/target.npz",
    "zslbench eval --weights runs/eszsl --data synth-target=features/target.npz",
    "zslbench table --format md",
]
VOLATILE_KEY = re.compile(r"time|seconds|elapsed|created|started|host|git_|duration|per_s|pid|_at$|_s$", re.I)
# Values that change with every run of the same code: file mtimes enter the videos' identity, and an
# npz's zip entries carry the time they were written.
VOLATILE_PATHS = (".videos.sha256", ".features.fingerprint")
WORK = Path(tempfile.gettempdir()) / "zsl-walkthrough"  # one folder, so paths in outputs do not vary
VOLATILE_TEXT = [
    (re.compile(r"\b\d+(\.\d+)? ?(s|ms|seconds|minutes)\b"), "<T>"),
    (re.compile(r"\b\d+(\.\d+)? clips/s\b"), "<R>"),
    (re.compile(r'"(git_commit|git_dirty|created|[a-z_]+_s)": [^,\n]+'), r'"\1": <V>'),
]


def blank(value, work: str):
    """Volatile values replaced, the temporary folder's path made relative."""
    if isinstance(value, dict):
        return {k: "<V>" if VOLATILE_KEY.search(k) else blank(v, work) for k, v in value.items()}
    if isinstance(value, list):
        return [blank(v, work) for v in value]
    if isinstance(value, str):
        return value.replace(work, "<WORK>")
    return value


def blank_text(text: str, work: str) -> str:
    text = text.replace(work, "<WORK>")
    for pattern, repl in VOLATILE_TEXT:
        text = pattern.sub(repl, text)
    return text


def tensors_digest(path: Path) -> str:
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    lines: list[str] = []

    def walk(prefix: str, obj) -> None:
        if isinstance(obj, torch.Tensor):
            digest = hashlib.sha256(obj.detach().contiguous().numpy().tobytes()).hexdigest()[:16]
            lines.append(f"{prefix}: {tuple(obj.shape)} {obj.dtype} {digest}")
        elif prefix in VOLATILE_PATHS:
            lines.append(f"{prefix}: <V>")
        elif isinstance(obj, dict):
            for key in sorted(obj, key=str):
                if not VOLATILE_KEY.search(str(key)):
                    walk(f"{prefix}.{key}", obj[key])
        elif isinstance(obj, (list, tuple)):
            for i, item in enumerate(obj):
                walk(f"{prefix}[{i}]", item)
        else:
            lines.append(f"{prefix}: {obj!r}")

    walk("", state)
    return "\n".join(lines) + "\n"


def snapshot_outputs(work: Path, out: Path) -> None:
    for path in sorted(work.rglob("*")):
        rel = path.relative_to(work)
        if not path.is_file() or rel.parts[0] in {"cache", "config"} or "/.frame_index" in str(rel):
            continue
        target = out / "files" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".json":
            data = blank(json.loads(path.read_text()), str(work))
            target.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        elif path.suffix == ".jsonl":
            rows = [blank(json.loads(line), str(work)) for line in path.read_text().splitlines() if line]
            target.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
        elif path.suffix in {".txt", ".csv", ".yaml", ".md"}:
            target.write_text(blank_text(path.read_text(), str(work)))
        elif path.suffix == ".pt":
            target.with_suffix(".pt.tensors").write_text(tensors_digest(path))
        elif path.suffix == ".npz":
            import numpy as np

            with np.load(path, allow_pickle=False) as npz:
                text = "".join(
                    f"{k}: {npz[k].shape} {npz[k].dtype} {hashlib.sha256(npz[k].tobytes()).hexdigest()[:16]}\n"
                    for k in sorted(npz.files)
                )
            target.with_suffix(".npz.arrays").write_text(text)
        else:
            target.with_suffix(path.suffix + ".size").write_text(f"{path.stat().st_size > 0}\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--quick", action="store_true", help="train 2 epochs, not 12")
    args = parser.parse_args()
    train = TRAIN + (" --epochs 2" if args.quick else "")
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir()
    try:
        work = WORK
        env = {**os.environ, "ZSLBENCH_CACHE": str(work / "cache"), "ZSLBENCH_CONFIG": str(work / "config")}
        env.update(COLUMNS="110", LINES="50", MPLBACKEND="Agg", PYTHONHASHSEED="0")
        env.pop("ZSLBENCH_OVERRIDES", None)
        for number, command in enumerate(COMMANDS, 1):
            command = command.format(train=train)
            done = subprocess.run(["bash", "-c", command], cwd=work, env=env, capture_output=True, text=True)
            text = f"$ {command}\n{done.stdout}--- stderr\n{done.stderr}--- exit {done.returncode}\n"
            (args.out / f"{number:02d}.txt").write_text(blank_text(text, str(work)))
            print(f"{number:02d} exit {done.returncode}  {command[:90]}", file=sys.stderr)
        snapshot_outputs(work, args.out)
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
